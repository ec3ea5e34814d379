//! The funnel as a petgraph graph: a virtual entry node, a node per stage
//! and per step, and an edge for every move a contact can make, labelled
//! with the least time that must pass before it lands. Graph rules and the
//! diagrams read this; the runner walks the [`Funnel`] itself.

use chrono::TimeDelta;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::language::model::{Funnel, Outcome, Signal, StageId, Target};

/// The longest delay an edge records: a century is "never" for a funnel.
pub const MAX_DELAY: TimeDelta = TimeDelta::days(36_525);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Entry,
    Stage(StageId),
    Step(StageId, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    Enter,
    Next,
    Yes,
    No,
    Goal,
    Exit,
    GlobalExit,
    Exhausted,
    Expire,
}

impl EdgeKind {
    /// Positive moves are drawn solid, negative ones dashed.
    pub fn positive(self) -> bool {
        matches!(
            self,
            EdgeKind::Enter | EdgeKind::Next | EdgeKind::Yes | EdgeKind::Goal
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            EdgeKind::Enter => "enter",
            EdgeKind::Next => "",
            EdgeKind::Yes => "yes",
            EdgeKind::No => "no",
            EdgeKind::Goal => "goal",
            EdgeKind::Exit => "exit",
            EdgeKind::GlobalExit => "exit",
            EdgeKind::Exhausted => "exhausted",
            EdgeKind::Expire => "expire",
        }
    }

    /// Ways out that apply everywhere (opt-out, expiry). They are real moves,
    /// but they must not hide a stage that is otherwise trapped.
    pub fn global(self) -> bool {
        matches!(self, EdgeKind::GlobalExit | EdgeKind::Expire)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub kind: EdgeKind,
    /// The least time that passes between leaving the source and the
    /// target's action.
    pub delay: TimeDelta,
    /// Fired by an event: the event is consumed by the move, so the edge
    /// cannot fire again without a new event (no loop at once).
    pub event: bool,
}

pub struct FunnelGraph {
    pub graph: DiGraph<Node, Edge>,
    pub entry: NodeIndex,
    pub stages: Vec<NodeIndex>,
    pub steps: Vec<Vec<NodeIndex>>,
    /// Which nodes some path from the entry reaches, by node index.
    pub reached: Vec<bool>,
}

impl FunnelGraph {
    pub fn build(funnel: &Funnel) -> Self {
        let mut graph = DiGraph::new();
        let entry = graph.add_node(Node::Entry);
        let stages: Vec<NodeIndex> = (0..funnel.stages.len())
            .map(|s| graph.add_node(Node::Stage(s)))
            .collect();
        let steps = funnel
            .stages
            .iter()
            .enumerate()
            .map(|(s, stage)| {
                (0..stage.steps.len())
                    .map(|i| graph.add_node(Node::Step(s, i)))
                    .collect()
            })
            .collect();
        let mut this = FunnelGraph {
            graph,
            entry,
            stages,
            steps,
            reached: Vec::new(),
        };
        this.connect(funnel);
        this.reached = this.reach(&[entry], false, |_| true);
        this
    }

    /// The node a target lands on and the extra delay of landing there.
    pub fn land(&self, funnel: &Funnel, target: Target) -> Option<(NodeIndex, TimeDelta)> {
        match target {
            Target::Stage(s) => Some((self.stages[s], TimeDelta::zero())),
            Target::Step(s, i) => Some((self.steps[s][i], funnel.stages[s].steps[i].min_delay())),
            Target::Exhausted(s) => match funnel.stages[s].exhausted {
                Some((Target::Stage(t), _)) => Some((self.stages[t], TimeDelta::zero())),
                _ => None,
            },
            Target::Unresolved => None,
        }
    }

    fn link(
        &mut self,
        funnel: &Funnel,
        from: NodeIndex,
        target: Target,
        kind: EdgeKind,
        base: TimeDelta,
    ) {
        if let Some((to, extra)) = self.land(funnel, target) {
            // Clamped so that sums along any path stay far from overflow.
            let delay = base
                .checked_add(&extra)
                .map_or(MAX_DELAY, |d| d.min(MAX_DELAY));
            self.graph.add_edge(
                from,
                to,
                Edge {
                    kind,
                    delay,
                    event: false,
                },
            );
        }
    }

    /// Like `link`, for a move fired by `signal`: an event signal marks the
    /// edge as consuming its event.
    fn link_on(
        &mut self,
        funnel: &Funnel,
        (from, target): (NodeIndex, Target),
        kind: EdgeKind,
        signal: Option<&Signal>,
    ) {
        let before = self.graph.edge_count();
        self.link(funnel, from, target, kind, TimeDelta::zero());
        if matches!(signal, Some(Signal::Event { .. }))
            && let Some(edge) = self
                .graph
                .edge_weight_mut(petgraph::graph::EdgeIndex::new(before))
        {
            edge.event = true;
        }
    }

    fn connect(&mut self, funnel: &Funnel) {
        let zero = TimeDelta::zero();
        for trigger in &funnel.entries {
            self.link(funnel, self.entry, trigger.stage, EdgeKind::Enter, zero);
        }
        for (s, stage) in funnel.stages.iter().enumerate() {
            let here = self.stages[s];
            let anywhere_in_stage: Vec<NodeIndex> = std::iter::once(here)
                .chain(self.steps[s].iter().copied())
                .collect();
            match stage.steps.first() {
                Some(_) => self.link(funnel, here, Target::Step(s, 0), EdgeKind::Next, zero),
                None => self.link(
                    funnel,
                    here,
                    Target::Exhausted(s),
                    EdgeKind::Exhausted,
                    zero,
                ),
            }
            for (i, step) in stage.steps.iter().enumerate() {
                let node = self.steps[s][i];
                let next = if i + 1 < stage.steps.len() {
                    Target::Step(s, i + 1)
                } else {
                    Target::Exhausted(s)
                };
                match &step.outcome {
                    Outcome::Continue => {
                        let kind = if i + 1 < stage.steps.len() {
                            EdgeKind::Next
                        } else {
                            EdgeKind::Exhausted
                        };
                        self.link(funnel, node, next, kind, zero);
                    }
                    Outcome::Wait(wait) => {
                        self.link_on(
                            funnel,
                            (node, wait.yes),
                            EdgeKind::Yes,
                            wait.signal.as_ref(),
                        );
                        if let Some(no) = wait.no {
                            self.link(funnel, node, no, EdgeKind::No, wait.within.unwrap_or(zero));
                        }
                    }
                    Outcome::Branch(branch) => {
                        self.link(funnel, node, branch.yes, EdgeKind::Yes, zero);
                        self.link(funnel, node, branch.no, EdgeKind::No, zero);
                    }
                }
            }
            // A goal or exit can fire at any moment in the stage: from every node of it.
            let moves = stage
                .goal
                .iter()
                .chain(&stage.more_goals)
                .map(|g| (g, EdgeKind::Goal))
                .chain(stage.exits.iter().map(|e| (e, EdgeKind::Exit)));
            let globals = funnel.exits.iter().map(|e| (e, EdgeKind::GlobalExit));
            let moves: Vec<(&crate::language::model::Transition, EdgeKind)> = if stage.terminal {
                moves.collect()
            } else {
                moves.chain(globals).collect()
            };
            for &node in &anywhere_in_stage {
                for &(transition, kind) in &moves {
                    let signal = Some(&transition.signal);
                    self.link_on(funnel, (node, transition.to), kind, signal);
                }
            }
            if let (Some(expire), false) = (&funnel.expire, stage.terminal) {
                self.link(funnel, here, expire.to, EdgeKind::Expire, expire.after);
            }
        }
    }

    pub fn node(&self, index: NodeIndex) -> Node {
        self.graph[index]
    }

    /// Which nodes can be reached from `starts` (or, `backwards`, which can
    /// reach them), following only edges `follow` accepts.
    pub fn reach(
        &self,
        starts: &[NodeIndex],
        backwards: bool,
        follow: impl Fn(&Edge) -> bool,
    ) -> Vec<bool> {
        let direction = if backwards {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        let mut seen = vec![false; self.graph.node_count()];
        let mut stack: Vec<NodeIndex> = starts.to_vec();
        for start in starts {
            seen[start.index()] = true;
        }
        while let Some(node) = stack.pop() {
            for edge in self.graph.edges_directed(node, direction) {
                let other = if backwards {
                    edge.source()
                } else {
                    edge.target()
                };
                if follow(edge.weight()) && !seen[other.index()] {
                    seen[other.index()] = true;
                    stack.push(other);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_str;

    #[test]
    fn waits_add_their_window_on_the_negative_edge() {
        let (funnel, _) = compile_str(
            "funnel: t\nenter: [{ when: 'true', stage: a }]\nstages:\n  a:\n    steps:\n      - id: s\n        wait: { event: x, within: 2d, yes: won, no: lost }\n  won: { terminal: true }\n  lost: { terminal: true }\n",
        );
        let graph = FunnelGraph::build(&funnel);
        let step = graph.steps[0][0];
        let mut edges: Vec<(EdgeKind, i64)> = graph
            .graph
            .edges(step)
            .map(|e| (e.weight().kind, e.weight().delay.num_hours()))
            .collect();
        edges.sort_by_key(|(k, _)| k.label());
        assert_eq!(edges, [(EdgeKind::No, 48), (EdgeKind::Yes, 0)]);
    }
}
