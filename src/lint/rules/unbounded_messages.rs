//! `unbounded-messages`: the worst-case number of marketing messages a
//! contact can get in a week exceeds the funnel's cap. Transactional
//! messages are left out, as the runner's caps leave them out; a loop that
//! sends with no time passing is `zero-delay-loop`'s.

use chrono::TimeDelta;
use petgraph::algo::tarjan_scc;
use petgraph::graph::NodeIndex;
use petgraph::visit::{EdgeFiltered, EdgeRef};

use super::{Check, Context, Rule, describe};
use crate::language::graph::Node;
use crate::language::model::{Channel, Funnel};
use crate::lint::diagnostic::{Diagnostic, Severity};

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
    what: "Computes on the graph the worst case: the most marketing messages (in total, and per capped channel; `transactional: true` ones are not capped, so not counted) a contact can receive within any 7 days, assuming goals, exits and positive outcomes can happen at once, `after` delays and negative wait windows take their full time, and a split sends one variant. Compares it with `caps` (scaled to a week), or with 7 per week when the funnel declares no caps. Each worst path is reported once, with every limit it breaks; a loop on it is written once with how often it goes round.",
    why: "Every message costs attention. The runner will hold back messages past the cap, so a design that exceeds it does not do what it says; and a funnel without a bound harasses its most active contacts.",
    example: "caps: { messages: 2 per week }\nsteps:\n  - { id: a, email: { template: a } }\n  - { id: b, after: 1d, email: { template: b } }\n  - { id: c, after: 1d, sms: { template: c } }   # 3 messages in 2 days",
};

/// Steps of the worst path named in full; longer paths are shortened.
const PATH_SHOWN: usize = 8;

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    // A message storm with no time passing is `zero-delay-loop`'s (an
    // error); searching it here would only count round the loop until the
    // search gives up, and name the same path again.
    if storms(cx) {
        return Vec::new();
    }
    let none_declared = funnel.caps == crate::language::model::Caps::default();
    // One finding per worst path, naming every limit it breaks.
    let mut found: Vec<(Worst, Vec<String>)> = Vec::new();
    for (channel, limit) in limits(funnel) {
        let worst = worst_week(cx, channel);
        if worst.count <= limit {
            continue;
        }
        let what = channel.map_or("marketing messages".to_string(), |c| {
            format!("marketing {} messages", c.name())
        });
        let bound = if worst.complete { "" } else { "at least " };
        let cap = if none_declared {
            "the default limit"
        } else {
            "cap"
        };
        let broken = format!("{bound}{} {what} ({cap} {limit} per week)", worst.count);
        match found.iter_mut().find(|(w, _)| w.path == worst.path) {
            Some((_, broken_too)) => broken_too.push(broken),
            None => found.push((worst, vec![broken])),
        }
    }
    let span = funnel.caps_span.unwrap_or(funnel.name_span);
    found
        .into_iter()
        .map(|(worst, broken)| {
            Diagnostic::new(
                &RULE,
                funnel.source,
                span,
                format!("a contact can receive {} in 7 days", broken.join(" and ")),
            )
            .help(format!(
                "space the steps out or raise the cap; the worst path: {}",
                show_path(funnel, &worst.path)
            ))
        })
        .collect()
}

/// The limits to check, per week: the channel (`None` for all messages)
/// and its cap, or the default when the funnel declares no caps.
fn limits(funnel: &Funnel) -> Vec<(Option<Channel>, u64)> {
    let caps = funnel.caps;
    let mut limits = Vec::new();
    match caps.messages {
        Some(cap) => limits.push((None, cap.per_week())),
        None if caps == crate::language::model::Caps::default() => {
            limits.push((None, DEFAULT_PER_WEEK))
        }
        None => {}
    }
    for (channel, cap) in [
        (Channel::Email, caps.email),
        (Channel::Sms, caps.sms),
        (Channel::Messenger, caps.messenger),
    ] {
        if let Some(cap) = cap {
            limits.push((Some(channel), cap.per_week()));
        }
    }
    limits
}

/// Whether some marketing message lies on a cycle of moves that can all
/// happen at once.
fn storms(cx: &Context) -> bool {
    let graph = &cx.graph.graph;
    let instant = EdgeFiltered::from_fn(graph, |e| e.weight().delay <= TimeDelta::zero());
    tarjan_scc(&instant).iter().any(|component| {
        let cycle = component.len() > 1
            || graph
                .edges_connecting(component[0], component[0])
                .any(|e| e.weight().delay <= TimeDelta::zero());
        cycle
            && component
                .iter()
                .any(|&n| sends(cx.funnel, graph[n], None) > 0)
    })
}

/// The path as `step `a` -> step `b``, a loop gone round many times
/// written once with its count, and cut after [`PATH_SHOWN`] steps: a loop
/// of two steps once named its steps 125,000 times.
fn show_path(funnel: &Funnel, path: &[Node]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut at = 0;
    while at < path.len() {
        let (len, times) = repeat_at(path, at);
        if times > 1 {
            let names: Vec<String> = path[at..at + len]
                .iter()
                .map(|n| describe(funnel, *n))
                .collect();
            parts.push(format!("({}) {times} times", names.join(" -> ")));
            at += len * times;
        } else {
            parts.push(describe(funnel, path[at]));
            at += 1;
        }
    }
    let hidden = parts.len().saturating_sub(PATH_SHOWN);
    parts.truncate(PATH_SHOWN);
    if hidden > 0 {
        parts.push(format!("... ({hidden} more)"));
    }
    parts.join(" -> ")
}

/// The shortest run of nodes starting at `at` that repeats right after
/// itself, and how many times in a row it occurs (1: no repeat).
fn repeat_at(path: &[Node], at: usize) -> (usize, usize) {
    let rest = &path[at..];
    for len in 1..=rest.len() / 2 {
        let times = rest
            .chunks(len)
            .take_while(|chunk| *chunk == &rest[..len])
            .count();
        if times > 1 {
            return (len, times);
        }
    }
    (1, 1)
}

struct Worst {
    count: u64,
    path: Vec<Node>,
    complete: bool,
}

/// Marketing messages a node's action sends on `channel` (or on any, with
/// `None`). Transactional messages are neither held nor counted by caps.
fn sends(funnel: &Funnel, node: Node, channel: Option<Channel>) -> u64 {
    let Node::Step(s, i) = node else { return 0 };
    let Some(action) = &funnel.stages[s].steps[i].action else {
        return 0;
    };
    let any = action
        .messages()
        .iter()
        .any(|(c, transactional)| !transactional && channel.is_none_or(|want| *c == want));
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
