//! `unknown-channel`: an action goes to a channel funnel.toml does not define.

use super::{Check, Project, Rule};
use crate::language::model::{Action, Funnel};
use crate::lint::diagnostic::{Diagnostic, Severity, suggest};

pub const RULE: Rule = Rule {
    id: "unknown-channel",
    severity: Severity::Error,
    check: Check::Project(check),
    summary: "An email, SMS, messenger or webhook action whose channel is not in funnel.toml's `[channels]`.",
    what: "When funnel.toml defines any `[channels.NAME]`, checks that every `email`, `sms` and `messenger` action has the channel of that name and every `webhook` names a defined `endpoint`. (`notify` falls back to `email`, then to the file outbox.) With no channels at all, everything goes to the JSON Lines outbox and this rule is silent.",
    why: "A message whose channel does not exist can never be sent: it would sit in the queue while the contact waits, and nobody would notice until a customer asks.",
    example: "# funnel.toml defines [channels.email] only, but a step says:\nwebhook: { endpoint: crm, template: deal-won }\n# add [channels.crm] with kind = \"http\" and the CRM's URL",
};

/// Every channel name a funnel's actions send to, with the step's span.
fn uses(funnel: &Funnel) -> Vec<(String, crate::language::source::Span, String)> {
    let mut found = Vec::new();
    for step in funnel.stages.iter().flat_map(|s| &s.steps) {
        let mut actions: Vec<&Action> = Vec::new();
        match &step.action {
            Some(Action::Split(variants)) => {
                actions.extend(variants.iter().filter_map(|v| v.action.as_ref()))
            }
            Some(action) => actions.push(action),
            None => {}
        }
        for action in actions {
            let name = match action {
                Action::Message { channel, .. } => channel.name().to_string(),
                Action::Webhook { endpoint, .. } => endpoint.clone(),
                _ => continue,
            };
            found.push((name, step.span, step.id.clone()));
        }
    }
    found
}

fn check(project: &Project) -> Vec<Diagnostic> {
    let Some(delivery) = project.delivery else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let funnels = project.dirs.iter().flat_map(|(_, funnels)| funnels);
    for funnel in funnels {
        for (name, span, step) in uses(funnel) {
            if delivery.has(&name) {
                continue;
            }
            let known = suggest(&name, delivery.channels.keys().map(String::as_str));
            found.push(
                Diagnostic::new(
                    &RULE,
                    funnel.source,
                    span,
                    format!("step `{step}` sends to channel `{name}`, which funnel.toml does not define"),
                )
                .label(format!("no [channels.{name}]"))
                .help(format!(
                    "add [channels.{name}] to funnel.toml (kind = \"smtp\", \"http\" or \"file\"); {known}"
                )),
            );
        }
    }
    found
}
