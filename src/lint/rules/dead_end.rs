//! `dead-end`: a place where a contact who does not react is silently dropped.

use super::{Check, Context, Rule};
use crate::language::model::{Outcome, Stage, StageId, Target};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "dead-end",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "A contact can get stuck: steps run out with no `exhausted`, or a wait has no negative branch or no time window.",
    what: "Reports, in non-terminal stages, steps that run out (the last step goes on, or a wait or branch says `next` after it) when the stage has no `exhausted`, and stages with no steps and no `exhausted`; and in every stage, waits without `no` or without `within`.",
    why: "The variability principle: every step has a positive and a negative outcome. A step with only the happy path silently drops the contact who does not react, and that contact is exactly the one the funnel should work on.",
    example: "- id: ask\n  email: { template: ask }\n  wait: { event: email.clicked, yes: next }   # what if they never click? add `within: 3d` and `no: reminder`",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (s, stage) in cx.funnel.stages.iter().enumerate() {
        waits(cx, stage, &mut found);
        if stage.terminal || stage.exhausted.is_some() {
            continue;
        }
        if stage.steps.is_empty() {
            found.push(
                Diagnostic::new(&RULE, cx.funnel.source, stage.span, format!("stage `{}` has no steps and no `exhausted`: contacts wait here forever unless the goal is reached", stage.name))
                    .help("add a step that waits (e.g. `- id: give-up\\n  after: 14d`) and `exhausted: <stage>`, or mark it `terminal: true`"),
            );
            continue;
        }
        if let Some(step) = runs_out(stage, s) {
            found.push(
                Diagnostic::new(&RULE, cx.funnel.source, stage.steps[step].span, format!("after step `{}` the steps of stage `{}` run out, and the stage has no `exhausted`", stage.steps[step].id, stage.name))
                    .help("add `exhausted: <stage>` to say where contacts go when the steps run out without the goal"),
            );
        }
    }
    found
}

/// The first step from which a contact falls off the end of the stage.
fn runs_out(stage: &Stage, s: StageId) -> Option<usize> {
    let last = stage.steps.len().checked_sub(1)?;
    stage.steps.iter().enumerate().find_map(|(i, step)| {
        let out = match &step.outcome {
            Outcome::Continue => i == last,
            Outcome::Wait(wait) => {
                wait.yes == Target::Exhausted(s) || wait.no == Some(Target::Exhausted(s))
            }
            Outcome::Branch(branch) => {
                branch.yes == Target::Exhausted(s) || branch.no == Target::Exhausted(s)
            }
        };
        out.then_some(i)
    })
}

fn waits(cx: &Context, stage: &Stage, found: &mut Vec<Diagnostic>) {
    for step in &stage.steps {
        let Outcome::Wait(wait) = &step.outcome else {
            continue;
        };
        if wait.no.is_none() {
            found.push(
                Diagnostic::new(&RULE, cx.funnel.source, wait.span, format!("the wait of step `{}` has no negative branch", step.id))
                    .label("what happens to contacts who do not react?")
                    .help("add `no: <step or stage>`: a reminder, another channel, a call task or a lost stage"),
            );
        }
        if wait.within.is_none() && wait.within_span == wait.span {
            found.push(
                Diagnostic::new(
                    &RULE,
                    cx.funnel.source,
                    wait.span,
                    format!("the wait of step `{}` has no time window", step.id),
                )
                .help(
                    "add `within: <duration>`: how long to wait before taking the negative branch",
                ),
            );
        }
    }
}
