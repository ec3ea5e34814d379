//! `unreachable-step`: a step that every path skips.

use super::{Check, Context, Rule};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "unreachable-step",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "A step in a reachable stage that no path reaches.",
    what: "Reports steps of reachable stages that the graph walk from the entry triggers never visits, typically because the step before it jumps elsewhere on both outcomes.",
    why: "Its action never runs; whoever wrote it expected it to.",
    example: "- id: ask\n  wait: { event: replied, within: 2d, yes: won, no: lost }\n- id: remind        # both outcomes above leave: never runs\n  email: { template: remind }",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    if cx.funnel.entries.is_empty() {
        return Vec::new();
    }
    let reached = &cx.graph.reached;
    let mut found = Vec::new();
    for (s, stage) in cx.funnel.stages.iter().enumerate() {
        if !reached[cx.graph.stages[s].index()] {
            continue; // `unreachable-stage` covers the whole stage.
        }
        for (i, step) in stage.steps.iter().enumerate() {
            if !reached[cx.graph.steps[s][i].index()] {
                found.push(
                    Diagnostic::new(
                        &RULE,
                        cx.funnel.source,
                        step.span,
                        format!("no path reaches step `{}`", step.id),
                    )
                    .help(format!(
                        "point a wait or branch of stage `{}` at `{}`, or delete the step",
                        stage.name, step.id
                    )),
                );
            }
        }
    }
    found
}
