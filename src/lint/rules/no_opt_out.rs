//! `no-opt-out`: a funnel sends marketing messages but has no global exit.

use super::{Check, Context, Rule};
use crate::language::model::Action;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "no-opt-out",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "The funnel sends marketing messages and has no global `exit` (opt-out).",
    what: "Looks for email, SMS or messenger actions (including split variants) not marked `transactional: true`, and warns when the funnel has no top-level `exit`.",
    why: "A contact who says stop must leave every automation at once and never be contacted again; without an exit checked before every step, the funnel keeps messaging them. That is harassment, and in most countries illegal.",
    example: "# add:\nexit:\n  - { when: \"contact.unsubscribed\", to: opted-out }",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    if !funnel.exits.is_empty() {
        return Vec::new();
    }
    let marketing = funnel.stages.iter().flat_map(|s| &s.steps).find(|step| {
        step.action.as_ref().is_some_and(|a| {
            Action::messages(a)
                .iter()
                .any(|(_, transactional)| !transactional)
        })
    });
    match marketing {
        Some(step) => vec![
            Diagnostic::new(&RULE, funnel.source, funnel.name_span, format!("funnel `{}` sends marketing messages but has no opt-out exit", funnel.name))
                .label(format!("step `{}` sends a marketing message", step.id))
                .help("add `exit: [{ when: \"contact.unsubscribed\", to: opted-out }]` and a terminal `opted-out` stage, or mark confirmations `transactional: true`"),
        ],
        None => Vec::new(),
    }
}
