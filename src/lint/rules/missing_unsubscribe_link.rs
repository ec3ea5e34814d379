//! `missing-unsubscribe-link`: a marketing email whose template shows no
//! `{{unsubscribe_url}}`.

use super::{Check, Context, Rule};
use crate::language::model::{Action, Channel};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "missing-unsubscribe-link",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "A marketing email's template has no visible `{{unsubscribe_url}}` link.",
    what: "Looks at every email action (including split variants) not marked `transactional: true` and warns when neither its text template nor its HTML part reads `unsubscribe_url`.",
    why: "Marketing email without a working unsubscribe link is not legal to send in the EU, and people who cannot leave mark the mail as spam instead, which costs the whole list its delivery. The `List-Unsubscribe` header goes with every marketing email anyway; the visible link is for the reader.",
    example: "# templates/offer.hbs\nsubject: Our offer\n---\nHello {{contact.first_name}}, ...\n# add: To stop these emails: {{unsubscribe_url}}",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for step in cx.funnel.stages.iter().flat_map(|s| &s.steps) {
        let Some(action) = &step.action else {
            continue;
        };
        for template in marketing_emails(action) {
            let text = cx.templates.templates.get(template);
            let html = cx.templates.html.get(template);
            // A missing template is `missing-template`'s to report.
            if text.is_none() && html.is_none() {
                continue;
            }
            if text.is_some_and(|t| t.shows_unsubscribe)
                || html.is_some_and(|t| t.shows_unsubscribe)
            {
                continue;
            }
            found.push(
                Diagnostic::new(
                    &RULE,
                    cx.funnel.source,
                    step.span,
                    format!(
                        "step `{}` sends the marketing email `{template}`, whose template has no unsubscribe link",
                        step.id
                    ),
                )
                .label("a marketing email")
                .help(format!(
                    "add `{{{{unsubscribe_url}}}}` to templates/{template}.hbs, or mark the email `transactional: true` if it is a receipt or a confirmation the contact asked for"
                )),
            );
        }
    }
    found
}

/// The templates of the marketing emails `action` can send.
fn marketing_emails(action: &Action) -> Vec<&str> {
    match action {
        Action::Message {
            channel: Channel::Email,
            template,
            transactional: false,
        } => vec![template.as_str()],
        Action::Split(variants) => variants
            .iter()
            .filter_map(|v| v.action.as_ref())
            .flat_map(marketing_emails)
            .collect(),
        _ => Vec::new(),
    }
}
