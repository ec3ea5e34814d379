//! `invalid-template`: a template file that handlebars cannot compile.

use super::{Check, Project, Rule};
use crate::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "invalid-template",
    severity: Severity::Error,
    check: Check::Project(check),
    summary: "A template file has a handlebars syntax error.",
    what: "Compiles every `templates/*.hbs` file (text and `.html.hbs`) with handlebars and reports syntax errors at their line and column.",
    why: "A template that does not compile fails every message that uses it, at send time, contact by contact.",
    example: "Hi {{contact.first_name}},\n{{#if contact.vip}}an offer for you   # `{{/if}}` is missing",
};

fn check(project: &Project) -> Vec<Diagnostic> {
    project
        .dirs
        .iter()
        .flat_map(|(dir, _)| dir.all())
        .filter_map(|template| {
            let (message, span) = template.error.as_ref()?;
            Some(
                Diagnostic::new(&RULE, template.source, *span, format!("template `{}` does not compile: {message}", template.name))
                    .help("check that every {{#if}}, {{#each}} and {{#unless}} is closed and every `{{` has its `}}`"),
            )
        })
        .collect()
}
