//! `wait-longer-than-funnel`: a wait whose window outlasts the funnel itself.

use petgraph::algo::dijkstra;

use super::{Check, Context, Rule};
use crate::language::duration;
use crate::language::model::Outcome;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "wait-longer-than-funnel",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "A wait's window ends after the funnel's `expire` has already moved every contact out.",
    what: "Finds, on the graph, the earliest time a contact can reach each waiting step after entering the funnel, adds the wait's `within` and compares it with `expire.after`.",
    why: "The negative branch of such a wait can never fire: `expire` takes the contact first. The funnel does something other than what the wait says.",
    example: "expire: { after: 30d, to: lost }\n...\n- id: wait-for-order\n  wait: { event: order.placed, within: 45d, yes: won, no: win-back }   # `no` never happens",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let Some(expire) = &cx.funnel.expire else {
        return Vec::new();
    };
    let graph = cx.graph;
    let earliest = dijkstra(&graph.graph, graph.entry, None, |e| {
        e.weight().delay.num_seconds().max(0)
    });
    let mut found = Vec::new();
    for (s, stage) in cx.funnel.stages.iter().enumerate() {
        for (i, step) in stage.steps.iter().enumerate() {
            let Outcome::Wait(wait) = &step.outcome else {
                continue;
            };
            let (Some(within), Some(&start)) = (wait.within, earliest.get(&graph.steps[s][i]))
            else {
                continue;
            };
            // Edge delays are clamped, so `start` fits; a huge `within` saturates.
            let ends = chrono::TimeDelta::try_seconds(start)
                .and_then(|s| s.checked_add(&within))
                .unwrap_or(chrono::TimeDelta::MAX);
            if ends >= expire.after {
                found.push(
                    Diagnostic::new(&RULE, cx.funnel.source, wait.within_span, format!("the wait of step `{}` ends at the earliest {} after entry, but `expire` moves contacts out after {}", step.id, duration::format(ends), duration::format(expire.after)))
                        .help("shorten `within`, or lengthen `expire.after`"),
                );
            }
        }
    }
    found
}
