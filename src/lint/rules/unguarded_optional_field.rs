//! `unguarded-optional-field`: a template reads an optional contact field
//! bare, outside a block that tests it. The template scanner
//! (`template/guards.rs`) finds the unguarded reads; this rule keeps those
//! of fields the funnel declares optional.

use super::{Check, Context, Rule};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "unguarded-optional-field",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "A template reads an optional contact field (`string?`) outside an `{{#if}}` that tests it.",
    what: "For every template the funnel uses (text and HTML parts), reports each `{{contact.x}}` (or a helper's `contact.x` argument) where `x` is declared optional and no enclosing `{{#if contact.x}}`, `{{#unless contact.x}}` or `{{#with contact.x}}` block tests it, and a `{{#with contact.x}}` without `{{else}}` (strict rendering fails it on a missing field). Reads in a block's opening tag, and in the `{{else}}` of such a block, are not reported. Conditions in the funnel (a branch on `has(contact.x)` before the step) are not looked at: the contact's data can change between the branch and the render, so the template tests the field itself.",
    why: "Templates render strictly: a field the contact has no value for fails the action, so every contact without the optional field gets no message at all (it is recorded as failed in `funnel status`).",
    example: "contact: { first_name: string, referral_code: string? }\n# templates/refer.hbs:\nYour code: {{contact.referral_code}}        # fails for contacts without a code\n{{#if contact.referral_code}}Your code: {{contact.referral_code}}{{/if}}   # fine",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    let optional = |name: &str| funnel.fields.get(name).is_some_and(|f| f.optional);
    let mut found = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &funnel.templates {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        for template in cx.templates.parts(name) {
            for (field, span) in template.unguarded.iter().filter(|(f, _)| optional(f)) {
                found.push(
                    Diagnostic::new(
                        &RULE,
                        template.source,
                        *span,
                        format!(
                            "template `{name}` reads `contact.{field}`, optional in funnel `{}`, without testing it first",
                            funnel.name
                        ),
                    )
                    .label("a contact without it gets no message: the render fails")
                    .help(format!(
                        "wrap it in `{{{{#if contact.{field}}}}}...{{{{/if}}}}`, or declare the field required"
                    )),
                );
            }
        }
    }
    found
}
