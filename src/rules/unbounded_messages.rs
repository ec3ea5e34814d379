//! `unbounded-messages`: the worst-case number of messages a contact can get
//! in a week exceeds the funnel's cap.

use chrono::TimeDelta;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::{Check, Context, Rule, describe};
use crate::diagnostic::{Diagnostic, Severity};
use crate::graph::Node;
use crate::model::{Channel, Funnel};

/// The limit used when a funnel declares no caps at all.
pub const DEFAULT_PER_WEEK: u64 = 7;

/// Search states explored before giving up with a lower bound; far above
/// what any real funnel needs (the 2,000-stage benchmark needs ~12,000).
const MAX_STATES: usize = 500_000;

pub const RULE: Rule = Rule {
    id: "unbounded-messages",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "On some path a contact can receive more messages in 7 days than the funnel's cap.",
    what: "Computes on the graph the worst case: the most messages (in total, and per capped channel) a contact can receive within any 7 days, assuming goals, exits and positive outcomes can happen at once, `after` delays and negative wait windows take their full time, and a split sends one variant. Compares it with `caps` (scaled to a week), or with 7 per week when the funnel declares no caps.",
    why: "Every message costs attention. The runner will hold back messages past the cap, so a design that exceeds it does not do what it says; and a funnel without a bound harasses its most active contacts.",
    example: "caps: { messages: 2 per week }\nsteps:\n  - { id: a, email: { template: a } }\n  - { id: b, after: 1d, email: { template: b } }\n  - { id: c, after: 1d, sms: { template: c } }   # 3 messages in 2 days",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    let caps = funnel.caps;
    let none_declared = caps == crate::model::Caps::default();
    let mut limits: Vec<(&str, Option<Channel>, u64)> = Vec::new();
    match caps.messages {
        Some(cap) => limits.push(("messages", None, cap.per_week())),
        None if none_declared => limits.push(("messages", None, DEFAULT_PER_WEEK)),
        None => {}
    }
    for (channel, cap) in [
        (Channel::Email, caps.email),
        (Channel::Sms, caps.sms),
        (Channel::Messenger, caps.messenger),
    ] {
        if let Some(cap) = cap {
            limits.push((channel.name(), Some(channel), cap.per_week()));
        }
    }
    let span = funnel.caps_span.unwrap_or(funnel.name_span);
    limits
        .into_iter()
        .filter_map(|(name, channel, limit)| {
            let worst = worst_week(cx, channel);
            (worst.count > limit).then(|| {
                let path: Vec<String> = worst.path.iter().map(|n| describe(funnel, *n)).collect();
                let what = if channel.is_some() {
                    format!("{name} messages")
                } else {
                    "messages".to_string()
                };
                let bound = if worst.complete { "" } else { "at least " };
                let cap = if none_declared {
                    format!("the default limit is {limit} per week")
                } else {
                    format!("the cap is {limit} per week")
                };
                Diagnostic::new(
                    &RULE,
                    funnel.source,
                    span,
                    format!(
                        "a contact can receive {bound}{} {what} in 7 days; {cap}",
                        worst.count
                    ),
                )
                .help(format!(
                    "space the steps out or raise the cap; the worst path: {}",
                    path.join(" -> ")
                ))
            })
        })
        .collect()
}

struct Worst {
    count: u64,
    path: Vec<Node>,
    complete: bool,
}

/// Messages a node's action sends on `channel` (or on any, with `None`).
fn sends(funnel: &Funnel, node: Node, channel: Option<Channel>) -> u64 {
    let Node::Step(s, i) = node else { return 0 };
    let Some(action) = &funnel.stages[s].steps[i].action else {
        return 0;
    };
    let any = action
        .messages()
        .iter()
        .any(|(c, _)| channel.is_none_or(|want| *c == want));
    u64::from(any)
}

/// Longest-count search over (node, time since the window opened), keeping
/// per node only states not dominated by one that is earlier and has sent
/// at least as many.
fn worst_week(cx: &Context, channel: Option<Channel>) -> Worst {
    struct State {
        node: NodeIndex,
        elapsed: TimeDelta,
        count: u64,
        parent: Option<usize>,
    }
    let graph = &cx.graph.graph;
    let week = TimeDelta::weeks(1);
    let mut states: Vec<State> = Vec::new();
    let mut front: Vec<Vec<(TimeDelta, u64)>> = vec![Vec::new(); graph.node_count()];
    let mut queue: Vec<usize> = Vec::new();
    for node in graph.node_indices() {
        let count = sends(cx.funnel, graph[node], channel);
        if count > 0 {
            front[node.index()].push((TimeDelta::zero(), count));
            states.push(State {
                node,
                elapsed: TimeDelta::zero(),
                count,
                parent: None,
            });
            queue.push(states.len() - 1);
        }
    }
    let mut complete = true;
    while let Some(current) = queue.pop() {
        if states.len() >= MAX_STATES {
            complete = false;
            break;
        }
        let (node, elapsed, count) = (
            states[current].node,
            states[current].elapsed,
            states[current].count,
        );
        for edge in graph.edges(node) {
            let at = elapsed + edge.weight().delay;
            if at >= week {
                continue;
            }
            let next = edge.target();
            let total = count + sends(cx.funnel, graph[next], channel);
            let known = &mut front[next.index()];
            if known.iter().any(|&(e, c)| e <= at && c >= total) {
                continue;
            }
            known.retain(|&(e, c)| !(at <= e && total >= c));
            known.push((at, total));
            states.push(State {
                node: next,
                elapsed: at,
                count: total,
                parent: Some(current),
            });
            queue.push(states.len() - 1);
        }
    }
    let Some(best) = (0..states.len()).max_by_key(|&i| states[i].count) else {
        return Worst {
            count: 0,
            path: Vec::new(),
            complete,
        };
    };
    let mut path = Vec::new();
    let mut at = Some(best);
    while let Some(i) = at {
        path.push(graph[states[i].node]);
        at = states[i].parent;
    }
    path.reverse();
    path.retain(|n| matches!(n, Node::Step(..)));
    Worst {
        count: states[best].count,
        path,
        complete,
    }
}
