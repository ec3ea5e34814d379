//! `trapped-stage`: a stage from which no terminal stage can be reached.

use super::{Check, Context, Rule};
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "trapped-stage",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "Contacts in the stage can never reach a terminal stage (not counting global exits and `expire`).",
    what: "Walks the graph backwards from every terminal stage, ignoring global exits and `expire` (they apply everywhere and would hide the problem), and reports reachable non-terminal stages that are never reached.",
    why: "Contacts there circle forever, or until they opt out: the funnel can neither win nor lose them, and its conversion figures never settle.",
    example: "nurture: { steps: [...], exhausted: follow-up }\nfollow-up: { steps: [...], exhausted: nurture }   # round and round, no way out",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    let graph = cx.graph;
    let terminals: Vec<_> = funnel
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.terminal)
        .map(|(i, _)| graph.stages[i])
        .collect();
    let can_finish = graph.reach(&terminals, true, |e| !e.kind.global());
    let reached = &graph.reached;
    funnel
        .stages
        .iter()
        .enumerate()
        .filter(|(s, stage)| {
            let node = graph.stages[*s].index();
            !stage.terminal && reached[node] && !can_finish[node]
        })
        .map(|(_, stage)| {
            let help = if terminals.is_empty() {
                "the funnel has no terminal stage: add e.g. `won: { terminal: true }` and `lost: { terminal: true }`".to_string()
            } else {
                "give it a goal, an `exhausted` or a negative branch that leads, eventually, to a terminal stage".to_string()
            };
            Diagnostic::new(&RULE, funnel.source, stage.span, format!("contacts in stage `{}` can never reach a terminal stage", stage.name)).help(help)
        })
        .collect()
}
