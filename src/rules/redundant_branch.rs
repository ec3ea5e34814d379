//! `redundant-branch`: both outcomes of a wait or branch go to the same place.

use super::{Check, Context, Rule};
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::{Outcome, Target};

pub const RULE: Rule = Rule {
    id: "redundant-branch",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "A wait or branch sends its positive and negative outcome to the same target.",
    what: "Compares the resolved `yes` and `no` targets of every wait and branch.",
    why: "If reacting and not reacting lead to the same place, the step does not react to the contact at all: a fake funnel. Either the branch is useless or one side is a mistake.",
    example: "wait: { event: email.opened, within: 2d, yes: next, no: next }   # both go on",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for step in cx.funnel.stages.iter().flat_map(|s| &s.steps) {
        let (yes, no, span) = match &step.outcome {
            Outcome::Wait(wait) => (wait.yes, wait.no, wait.span),
            Outcome::Branch(branch) => (branch.yes, Some(branch.no), branch.span),
            Outcome::Continue => continue,
        };
        if no == Some(yes) && yes != Target::Unresolved {
            found.push(
                Diagnostic::new(&RULE, cx.funnel.source, span, format!("both outcomes of step `{}` go to the same place", step.id))
                    .help("send the negative outcome somewhere that reacts to it (a reminder, another channel, a call task), or drop the wait"),
            );
        }
    }
    found
}
