//! `redundant-branch`: both outcomes of a wait or branch go to the same place.

use super::{Check, Context, Rule};
use crate::language::model::{Outcome, Target};
use crate::lint::diagnostic::{Diagnostic, Severity};

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
        // Compare where the outcomes land: `next` after the last step and
        // the stage named by `exhausted` are the same place.
        let land = |t: Target| cx.graph.land(cx.funnel, t).map(|(node, _)| node);
        let same = no.is_some_and(|no| no == yes || land(no).is_some() && land(no) == land(yes));
        if same && yes != Target::Unresolved {
            found.push(
                Diagnostic::new(&RULE, cx.funnel.source, span, format!("both outcomes of step `{}` go to the same place", step.id))
                    .help("send the negative outcome somewhere that reacts to it (a reminder, another channel, a call task), or drop the wait"),
            );
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use crate::language::template::TemplateDir;
    use crate::lint::linter::check_text;

    /// Regression: `yes: next` after the last step lands on `exhausted`,
    /// which was compared as a different target from the same stage.
    #[test]
    fn next_after_the_last_step_is_the_exhausted_stage() {
        let text = "funnel: t\nenter: [{ when: 'true', stage: a }]\nstages:\n  a:\n    steps:\n      - id: s\n        wait: { event: e, within: 1d, yes: next, no: lost }\n    exhausted: lost\n  lost: { terminal: true }\n";
        let checked = check_text("t.yaml".as_ref(), text, TemplateDir::default());
        let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["redundant-branch"]);
    }
}
