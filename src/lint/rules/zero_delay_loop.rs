//! `zero-delay-loop`: a cycle a contact could go round without time passing.

use petgraph::algo::tarjan_scc;
use petgraph::visit::EdgeFiltered;

use super::{Check, Context, Rule, describe, span_of};
use crate::language::graph::Node;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "zero-delay-loop",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "A cycle of moves that can all happen at once, with no delay or wait window on the way.",
    what: "Keeps only the graph edges that can fire without time passing and without a new event (no `after`, no wait window on a negative branch; goals, exits and positive outcomes on conditions may fire at once; a move on an event consumes that event, so it cannot repeat at once) and reports every strongly connected component that forms a cycle.",
    why: "The runner would move such a contact round and round within one run, sending the cycle's messages each time: a message storm, or a run that never ends.",
    example: "- id: check\n  branch: { when: \"contact.score > 5\", yes: check, no: lost }   # `yes` comes straight back",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let graph = &cx.graph.graph;
    // An edge fired by an event consumes it: going round again needs a new
    // event, so only edges that fire on their own can loop at once.
    let at_once =
        |e: &crate::language::graph::Edge| e.delay <= chrono::TimeDelta::zero() && !e.event;
    let instant = EdgeFiltered::from_fn(graph, |e| at_once(e.weight()));
    let mut found = Vec::new();
    for component in tarjan_scc(&instant) {
        let cycle = component.len() > 1
            || graph.contains_edge(component[0], component[0]) && {
                graph
                    .edges_connecting(component[0], component[0])
                    .any(|e| at_once(e.weight()))
            };
        if !cycle {
            continue;
        }
        let mut nodes: Vec<(usize, Node)> = component
            .iter()
            .map(|&n| {
                let node = cx.graph.node(n);
                (span_of(cx.funnel, node).offset, node)
            })
            .collect();
        nodes.sort_by_key(|(offset, _)| *offset);
        let names: Vec<String> = nodes.iter().map(|(_, n)| describe(cx.funnel, *n)).collect();
        let first = nodes[0].1;
        found.push(
            Diagnostic::new(&RULE, cx.funnel.source, span_of(cx.funnel, first), format!("contacts can loop without any time passing through {}", names.join(" -> ")))
                .help("put a delay (`after:`) or a wait window on the way round, or send one outcome somewhere else"),
        );
    }
    found
}
