//! `funnel graph`: funnels as a Mermaid or Graphviz diagram. This module
//! turns each compiled funnel into a [`Picture`] (stages as clusters holding
//! their steps, and the moves between them labelled with what fires them);
//! `mermaid` and `dot` only spell a picture. A stage's goal and exits are
//! drawn once from the stage, and the funnel-wide exits and `expire` once
//! from an "any stage" node, to keep the picture readable. Whether a funnel
//! may be drawn at all (no errors) is the caller's check.

mod dot;
mod label;
mod mermaid;

use crate::language::diff::describe;
use crate::language::duration;
use crate::language::graph::{FunnelGraph, Node};
use crate::language::model::{Action, Assignee, Funnel, Outcome, Step, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagramFormat {
    /// Renders in GitHub markdown inside a ```mermaid block.
    Mermaid,
    /// Graphviz: `funnel graph f.yaml --format dot | dot -Tsvg`.
    Dot,
}

/// One funnel, ready to be spelled in a format.
struct Picture {
    name: String,
    /// Starts every node id: empty for a single funnel, `f0_`, `f1_`, ...
    /// when several share one diagram.
    prefix: String,
    /// Whether the "any stage" node is drawn (global exits or `expire`).
    anywhere: bool,
    stages: Vec<Cluster>,
    lines: Vec<Line>,
}

struct Cluster {
    name: String,
    terminal: bool,
    /// Each step's label, one entry per text line.
    steps: Vec<Vec<String>>,
}

struct Line {
    from: String,
    to: String,
    label: String,
    positive: bool,
}

/// Draws `funnels` in one diagram; several funnels each get their own
/// outer cluster.
pub fn render(funnels: &[Funnel], format: DiagramFormat) -> String {
    let several = funnels.len() > 1;
    let pictures: Vec<Picture> = funnels
        .iter()
        .enumerate()
        .map(|(k, funnel)| {
            let prefix = if several {
                format!("f{k}_")
            } else {
                String::new()
            };
            picture(funnel, prefix)
        })
        .collect();
    let mut out = String::new();
    match format {
        DiagramFormat::Mermaid => mermaid::write(&pictures, &mut out),
        DiagramFormat::Dot => dot::write(&pictures, &mut out),
    }
    .unwrap_or_default();
    out
}

fn picture(funnel: &Funnel, prefix: String) -> Picture {
    let stages = funnel
        .stages
        .iter()
        .map(|stage| Cluster {
            name: stage.name.clone(),
            terminal: stage.terminal,
            steps: stage.steps.iter().map(step_label).collect(),
        })
        .collect();
    Picture {
        name: funnel.name.clone(),
        anywhere: !funnel.exits.is_empty() || funnel.expire.is_some(),
        lines: lines(funnel, &prefix),
        prefix,
        stages,
    }
}

fn id(prefix: &str, node: Node) -> String {
    match node {
        Node::Entry => format!("{prefix}entry"),
        Node::Stage(s) => format!("{prefix}stage{s}"),
        Node::Step(s, i) => format!("{prefix}step{s}_{i}"),
    }
}

/// The step's id, its timing as `funnel diff` words it (shortened like an
/// edge label), then its action (a split: one line per variant).
fn step_label(step: &Step) -> Vec<String> {
    let mut lines = vec![step.id.clone()];
    let timing = describe::timing(step);
    if timing != describe::AT_ONCE {
        lines.push(label::short(&timing));
    }
    match &step.action {
        None => {}
        Some(Action::Split(variants)) => lines.extend(variants.iter().map(|v| {
            let action = v
                .action
                .as_ref()
                .map_or("nothing".to_string(), action_label);
            format!("{} {}%: {action}", v.name, v.weight)
        })),
        Some(action) => lines.push(action_label(action)),
    }
    lines
}

fn action_label(action: &Action) -> String {
    match action {
        Action::Message {
            channel, template, ..
        } => format!("{} {template}", channel.name()),
        Action::Webhook { endpoint, .. } => format!("webhook {endpoint}"),
        Action::Task(task) => format!("task {} for {}", task.kind.name(), assignee(&task.assignee)),
        Action::Set(fields) => format!(
            "set {}",
            fields
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Action::Tag(tag) => format!("tag {tag}"),
        Action::Notify { to, .. } => format!("notify {}", assignee(to)),
        Action::Split(variants) => format!("split {}", variants.len()),
    }
}

/// A staff name, or the contact field that holds one (`owner`).
fn assignee(assignee: &Assignee) -> &str {
    match assignee {
        Assignee::Staff(name) | Assignee::Field(name) => name,
    }
}

/// Every move, labelled with what fires it.
fn lines(funnel: &Funnel, prefix: &str) -> Vec<Line> {
    let graph = FunnelGraph::build(funnel);
    let mut lines = Vec::new();
    let mut add = |from: String, target: Target, label: String, positive: bool| {
        // A target that lands nowhere (a stage without `exhausted`) draws nothing.
        if let Some((to, _)) = graph.land(funnel, target) {
            lines.push(Line {
                from,
                to: id(prefix, graph.node(to)),
                label,
                positive,
            });
        }
    };
    for trigger in &funnel.entries {
        add(
            id(prefix, Node::Entry),
            trigger.stage,
            label::entry(&trigger.kind),
            true,
        );
    }
    for (s, stage) in funnel.stages.iter().enumerate() {
        let here = id(prefix, Node::Stage(s));
        if stage.steps.is_empty() {
            add(
                here.clone(),
                Target::Exhausted(s),
                "exhausted".into(),
                false,
            );
        } else {
            add(here.clone(), Target::Step(s, 0), String::new(), true);
        }
        for (i, step) in stage.steps.iter().enumerate() {
            let node = id(prefix, Node::Step(s, i));
            match &step.outcome {
                Outcome::Continue if i + 1 < stage.steps.len() => {
                    add(node, Target::Step(s, i + 1), String::new(), true);
                }
                Outcome::Continue => add(node, Target::Exhausted(s), "exhausted".into(), false),
                Outcome::Wait(wait) => {
                    let yes = wait.signal.as_ref().map_or("yes".into(), label::signal);
                    add(node.clone(), wait.yes, yes, true);
                    if let Some(no) = wait.no {
                        let no_label = wait
                            .within
                            .map_or("no".into(), |w| format!("not in {}", duration::format(w)));
                        add(node, no, no_label, false);
                    }
                }
                Outcome::Branch(branch) => {
                    add(
                        node.clone(),
                        branch.yes,
                        label::short(&branch.when.source),
                        true,
                    );
                    add(node, branch.no, "else".into(), false);
                }
            }
        }
        if let Some(goal) = &stage.goal {
            let text = format!("goal: {}", label::signal(&goal.signal));
            add(here.clone(), goal.to, text, true);
        }
        for exit in &stage.exits {
            let text = format!("exit: {}", label::signal(&exit.signal));
            add(here.clone(), exit.to, text, false);
        }
    }
    let anywhere = format!("{prefix}anywhere");
    // Funnel-wide exits apply in every stage: one line per target, its
    // triggers joined, instead of a line from each stage.
    let mut global: Vec<(Target, Vec<String>)> = Vec::new();
    for exit in &funnel.exits {
        let text = label::signal(&exit.signal);
        match global.iter_mut().find(|(to, _)| *to == exit.to) {
            Some((_, texts)) => texts.push(text),
            None => global.push((exit.to, vec![text])),
        }
    }
    for (to, texts) in global {
        add(
            anywhere.clone(),
            to,
            format!("exit: {}", texts.join(" or ")),
            false,
        );
    }
    if let Some(expire) = &funnel.expire {
        let text = format!("expire {}", duration::format(expire.after));
        add(anywhere, expire.to, text, false);
    }
    lines
}
