//! `unknown-field`: a condition, template or assignment reads a contact field
//! the funnel does not declare.

use super::{Check, Context, Rule};
use crate::lint::diagnostic::{Diagnostic, Severity, suggest};

pub const RULE: Rule = Rule {
    id: "unknown-field",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "A condition, template, assignee or `set` uses a contact field that is not declared under `contact:`.",
    what: "Lists every `contact.<field>` read by the funnel's CEL expressions (through their syntax tree), its templates (`{{contact.x}}`), `contact.FIELD` assignees, `inactive` fields and `set` targets, and reports those the `contact:` block does not declare. `contact.id` is always declared.",
    why: "The feed is read by the declared fields: an undeclared field is never loaded, so a condition on it is never true and a template renders it empty. Usually it is a typo.",
    example: "contact:\n  first_name: string\nstages:\n  new:\n    goal: { when: \"contact.frist_name != ''\", to: known }   # did you mean `first_name`?",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    let declared = |name: &str| name == "id" || funnel.fields.contains_key(name);
    let help = |name: &str| {
        format!(
            "{} Declare it under `contact:`, e.g. `{name}: string?`",
            suggest(name, funnel.fields.keys().map(String::as_str))
        )
    };
    let mut found: Vec<Diagnostic> = funnel
        .reads
        .iter()
        .filter(|(name, _)| !declared(name))
        .map(|(name, span)| {
            Diagnostic::new(
                &RULE,
                funnel.source,
                *span,
                format!("contact field `{name}` is not declared"),
            )
            .help(help(name))
        })
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &funnel.templates {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        for template in cx.templates.parts(name) {
            for (field, span) in template.fields.iter().filter(|(f, _)| !declared(f)) {
                found.push(
                Diagnostic::new(
                    &RULE,
                    template.source,
                    *span,
                    format!("template `{name}` reads `contact.{field}`, which funnel `{}` does not declare", funnel.name),
                )
                .help(help(field)),
            );
            }
        }
    }
    found
}
