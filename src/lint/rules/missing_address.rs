//! `missing-address`: a funnel sends email, SMS or messenger messages but
//! declares no contact field the runner can take the address from. The
//! runner reads an email's address from the field named `email` and an SMS
//! or messenger message's from the field named `phone` (as text); this rule
//! knows those two names and nothing else about delivery.

use super::{Check, Context, Rule};
use crate::language::model::{Channel, FieldType, Funnel, Step};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "missing-address",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "The funnel sends email but declares no `email` field, or SMS/messenger but no `phone` field.",
    what: "Looks for email, SMS and messenger actions (including split variants) and checks that `contact:` declares the field the runner takes the address from: `email` for email, `phone` for SMS and messenger, holding text (`email`, `phone` or `string`, optional or not). Reported once per field, at the first step that needs it.",
    why: "The runner addresses an email to `contact.email` and a text message to `contact.phone`. A funnel that calls the field `mail` or `mobile`, or does not declare it, loads no address: every message is queued without one and fails at delivery, for every contact.",
    example: "contact:\n  mail: email        # the runner reads `email`: rename it `email: email`\nstages:\n  new:\n    steps:\n      - { id: thanks, email: { template: thanks } }",
};

/// The field each channel's address is read from, and its usual type.
fn address(channel: Channel) -> (&'static str, &'static str) {
    match channel {
        Channel::Email => ("email", "email"),
        Channel::Sms | Channel::Messenger => ("phone", "phone"),
    }
}

/// Field types the runner can read an address from as text.
fn holds_text(kind: FieldType) -> bool {
    matches!(
        kind,
        FieldType::String | FieldType::Email | FieldType::Phone
    )
}

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    let mut found = Vec::new();
    for field in ["email", "phone"] {
        let Some((step, channel)) = first_sender(funnel, field) else {
            continue;
        };
        let (_, kind) = address(channel);
        let problem = match funnel.fields.get(field) {
            None => format!("declares no `{field}` field"),
            Some(declared) if !holds_text(declared.kind) => {
                format!("its `{field}` field is not text")
            }
            Some(_) => continue,
        };
        found.push(
            Diagnostic::new(
                &RULE,
                funnel.source,
                step.span,
                format!(
                    "funnel `{}` sends {} messages but {problem}: the runner takes their address from `contact.{field}`",
                    funnel.name,
                    channel.name()
                ),
            )
            .label(format!("step `{}` sends {}", step.id, channel.name()))
            .help(format!("declare `{field}: {kind}` under `contact:` (rename the field that holds the address)")),
        );
    }
    found
}

/// The first step with a message addressed through `field`, and its channel.
fn first_sender<'a>(funnel: &'a Funnel, field: &str) -> Option<(&'a Step, Channel)> {
    funnel
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .find_map(|step| {
            let action = step.action.as_ref()?;
            action
                .messages()
                .into_iter()
                .map(|(channel, _)| channel)
                .find(|channel| address(*channel).0 == field)
                .map(|channel| (step, channel))
        })
}
