//! `unreachable-stage`: a stage no contact can ever be in.

use super::{Check, Context, Rule};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "unreachable-stage",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "No path leads from any entry trigger to the stage.",
    what: "Walks the funnel graph from the entry triggers along every transition (steps, waits, branches, goals, exits, `exhausted`, `expire`) and reports stages never reached.",
    why: "A stage nobody can enter is dead automation; usually a goal or `exhausted` that should point at it names another stage.",
    example: "enter: [{ when: \"true\", stage: new }]\nstages:\n  new: { goal: { event: paid, to: won }, ... }\n  nurture: { ... }    # nothing leads here\n  won: { terminal: true }",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    if cx.funnel.entries.is_empty() {
        return Vec::new(); // `invalid-entry` already says nobody can enter.
    }
    let reached = &cx.graph.reached;
    cx.funnel
        .stages
        .iter()
        .enumerate()
        .filter(|(s, _)| !reached[cx.graph.stages[*s].index()])
        .map(|(_, stage)| {
            Diagnostic::new(
                &RULE,
                cx.funnel.source,
                stage.span,
                format!("no contact can reach stage `{}`", stage.name),
            )
            .help("point a trigger, goal, exit, wait or `exhausted` at it, or delete it")
        })
        .collect()
}
