//! `missing-template`: a step names a template file that does not exist.

use super::{Check, Context, Rule};
use crate::lint::diagnostic::{Diagnostic, Severity, suggest};

pub const RULE: Rule = Rule {
    id: "missing-template",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "A message, task or notification names a template with no `templates/NAME.hbs` file.",
    what: "Checks every `template:` against the `.hbs` files in the `templates/` directory beside the funnel file.",
    why: "The runner renders templates when it queues an action; a missing one fails that action for every contact who reaches the step.",
    example: "email: { template: thank-you }   # but the file is templates/thanks.hbs",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let known = || cx.templates.templates.keys().map(String::as_str);
    cx.funnel
        .templates
        .iter()
        .filter(|(name, _)| !cx.templates.templates.contains_key(name))
        .map(|(name, span)| {
            let file = cx.templates.dir.join(format!("{name}.hbs"));
            let help = if cx.templates.html.contains_key(name) {
                // An HTML body alone has no subject and nothing for mail
                // clients that show text only.
                format!(
                    "{name}.html.hbs is only the HTML part: create {} with the subject and the plain-text body",
                    file.display()
                )
            } else {
                format!("{} Or create {}", suggest(name, known()), file.display())
            };
            Diagnostic::new(
                &RULE,
                cx.funnel.source,
                *span,
                format!("no template `{name}`"),
            )
            .label(format!("expected {}", file.display()))
            .help(help)
        })
        .collect()
}
