//! `invalid-template`: a template file that would fail every render: it
//! does not compile, calls a helper or decorator that does not exist (or
//! one of funnel's helpers with arguments it refuses), or includes a
//! partial that is not a template of its directory.

use super::{Check, Project, Rule};
use crate::language::template::helpers::{self, Literals};
use crate::language::template::{Template, TemplateDir};
use crate::lint::diagnostic::{Diagnostic, Severity, suggest};

pub const RULE: Rule = Rule {
    id: "invalid-template",
    severity: Severity::Error,
    check: Check::Project(check),
    summary: "A template file has a handlebars syntax error, an unknown helper or a missing partial.",
    what: "Compiles every `templates/*.hbs` file (text and `.html.hbs`) with handlebars and reports syntax errors at their line and column. Then walks each compiled template, blocks and subexpressions included: every helper must be one of handlebars' own or funnel's (`time`, `date`, `relative`, `urlencode`, `number`, `currency`, called with the arguments they take), every decorator `inline`, and every `{{> partial}}` another template of the same directory and part (`{{> footer}}` in a text template is `templates/footer.hbs`, in an HTML one `templates/footer.html.hbs`), with no partial including itself again.",
    why: "A template that does not compile, or names a helper or partial that is not there, fails every message that uses it, at send time, contact by contact.",
    example: "Hi {{contact.first_name}},\n{{#if contact.vip}}an offer for you   # `{{/if}}` is missing\n{{frobnicate contact.first_name}}   # no such helper\n{{> ../secrets}}   # partials are templates of templates/, by name",
};

fn check(project: &Project) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (dir, _) in &project.dirs {
        for template in dir.all() {
            if let Some((message, span)) = &template.error {
                found.push(
                    Diagnostic::new(&RULE, template.source, *span, format!("template `{}` does not compile: {message}", template.name))
                        .help("check that every {{#if}}, {{#each}} and {{#unless}} is closed and every `{{` has its `}}`"),
                );
            }
            found.extend(calls(template));
            found.extend(partials(dir, template));
        }
    }
    found
}

/// Unknown helpers and decorators, and funnel helpers with bad arguments.
fn calls(template: &Template) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let at = |span, message: String, help: String| {
        Diagnostic::new(&RULE, template.source, span, message).help(help)
    };
    for call in &template.references.helpers {
        if !helpers::known().any(|name| name == call.name) {
            found.push(at(
                call.span,
                format!(
                    "template `{}` calls the unknown helper `{}`",
                    template.name, call.name
                ),
                suggest(&call.name, helpers::known()),
            ));
            continue;
        }
        let literals = Literals {
            params: call.params.iter().map(Option::as_ref).collect(),
            hash: call
                .hash
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_ref()))
                .collect(),
        };
        if let Some(why) = helpers::check_call(&call.name, &literals) {
            found.push(at(
                call.span,
                format!("template `{}`: {why}", template.name),
                format!(
                    "write it as `{}`; see \"Template helpers\" in docs/language.md",
                    helpers::usage(&call.name).unwrap_or_default()
                ),
            ));
        }
    }
    for (name, span) in &template.references.decorators {
        if name != "inline" {
            found.push(at(
                *span,
                format!(
                    "template `{}` uses the unknown decorator `{name}`",
                    template.name
                ),
                "`{{#*inline \"name\"}}...{{/inline}}` is the only decorator".to_string(),
            ));
        }
    }
    found
}

/// Partials that are not templates of the same part of `dir`, and cycles.
fn partials(dir: &TemplateDir, template: &Template) -> Vec<Diagnostic> {
    let html = dir
        .html
        .get(&template.name)
        .is_some_and(|t| std::ptr::eq(t, template));
    let (part, suffix) = if html {
        (&dir.html, ".html.hbs")
    } else {
        (&dir.templates, ".hbs")
    };
    let mut found = Vec::new();
    for (name, span) in &template.references.partials {
        if template.references.inline.contains(name) {
            continue;
        }
        let message = |why: &str| format!("template `{}` includes `{name}`, {why}", template.name);
        let diagnostic = if !part.contains_key(name) {
            let help = if name.contains(['/', '\\']) || name.starts_with('.') {
                format!(
                    "a partial is another template in {}/, by its name (`{{{{> footer}}}}` is footer{suffix}); paths, and files outside the directory, are not read",
                    dir.dir.display()
                )
            } else {
                format!(
                    "{} Or create {}",
                    suggest(name, part.keys().map(String::as_str)),
                    dir.dir.join(format!("{name}{suffix}")).display()
                )
            };
            Diagnostic::new(
                &RULE,
                template.source,
                *span,
                message(&format!(
                    "which is not a template in {}/",
                    dir.dir.display()
                )),
            )
            .help(help)
        } else if includes(part, name, &template.name) {
            Diagnostic::new(&RULE, template.source, *span, message("which includes it again"))
                .help("a template cannot include itself, directly or through other partials: rendering would never end")
        } else {
            continue;
        };
        found.push(diagnostic);
    }
    found
}

/// Whether the template `from` includes `target`, through any chain of
/// partials of `part`.
fn includes(part: &indexmap::IndexMap<String, Template>, from: &str, target: &str) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut next = vec![from];
    while let Some(name) = next.pop() {
        if name == target {
            return true;
        }
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        if let Some(template) = part.get(name) {
            next.extend(template.references.partials.iter().map(|(n, _)| n.as_str()));
        }
    }
    false
}
