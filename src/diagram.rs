//! `funnel graph`: the funnel as a Mermaid or Graphviz diagram. Stages are
//! clusters holding their steps; positive moves are solid, negative dashed.
//! Goals and exits are drawn once per stage, and global exits once for the
//! whole funnel, to keep the picture readable.

use std::fmt::Write;

use crate::duration;
use crate::graph::{EdgeKind, FunnelGraph, Node};
use crate::model::{Action, Funnel};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagramFormat {
    /// Renders in GitHub markdown inside a ```mermaid block.
    Mermaid,
    /// Graphviz: `funnel graph f.yaml --format dot | dot -Tsvg`.
    Dot,
}

struct Line {
    from: String,
    to: String,
    label: String,
    positive: bool,
}

fn id(node: Node) -> String {
    match node {
        Node::Entry => "entry".to_string(),
        Node::Stage(s) => format!("stage{s}"),
        Node::Step(s, i) => format!("step{s}_{i}"),
    }
}

fn step_label(funnel: &Funnel, s: usize, i: usize) -> String {
    let step = &funnel.stages[s].steps[i];
    let action = match &step.action {
        None => String::new(),
        Some(Action::Message {
            channel, template, ..
        }) => format!("{} {template}", channel.name()),
        Some(Action::Webhook { endpoint, .. }) => format!("webhook {endpoint}"),
        Some(Action::Task(task)) => format!("task {:?}", task.kind).to_lowercase(),
        Some(Action::Set(_)) => "set".to_string(),
        Some(Action::Tag(tag)) => format!("tag {tag}"),
        Some(Action::Notify { .. }) => "notify".to_string(),
        Some(Action::Split(variants)) => format!(
            "split {}",
            variants
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join("/")
        ),
    };
    let timing = step
        .after
        .map(|d| format!("after {}", duration::format(d)))
        .unwrap_or_default();
    [step.id.as_str(), &timing, &action]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("<br/>")
}

fn lines(funnel: &Funnel, graph: &FunnelGraph) -> Vec<Line> {
    let mut lines = Vec::new();
    for edge in graph.graph.edge_indices() {
        let Some((a, b)) = graph.graph.edge_endpoints(edge) else {
            continue;
        };
        let weight = graph.graph[edge];
        let from = graph.node(a);
        // Goals and exits leave from every node of a stage; draw them once.
        let everywhere = matches!(
            weight.kind,
            EdgeKind::Goal | EdgeKind::Exit | EdgeKind::GlobalExit
        );
        if everywhere && !matches!(from, Node::Stage(_)) || weight.kind == EdgeKind::GlobalExit {
            continue;
        }
        let mut label = weight.kind.label().to_string();
        if matches!(weight.kind, EdgeKind::No | EdgeKind::Expire)
            && weight.delay > chrono::TimeDelta::zero()
        {
            label = format!("{label} {}", duration::format(weight.delay));
        }
        lines.push(Line {
            from: id(from),
            to: id(graph.node(b)),
            label,
            positive: weight.kind.positive(),
        });
    }
    for exit in &funnel.exits {
        if let Some((to, _)) = graph.land(funnel, exit.to) {
            lines.push(Line {
                from: "anywhere".to_string(),
                to: id(graph.node(to)),
                label: "exit".to_string(),
                positive: false,
            });
        }
    }
    lines
}

pub fn render(funnel: &Funnel, format: DiagramFormat) -> String {
    let graph = FunnelGraph::build(funnel);
    let lines = lines(funnel, &graph);
    let mut out = String::new();
    match format {
        DiagramFormat::Mermaid => mermaid(funnel, &lines, &mut out),
        DiagramFormat::Dot => dot(funnel, &lines, &mut out),
    }
    .unwrap_or_default();
    out
}

fn mermaid(funnel: &Funnel, lines: &[Line], out: &mut String) -> std::fmt::Result {
    writeln!(out, "flowchart TD")?;
    writeln!(out, "  entry((enter))")?;
    if !funnel.exits.is_empty() {
        writeln!(out, "  anywhere{{{{any stage}}}}")?;
    }
    for (s, stage) in funnel.stages.iter().enumerate() {
        writeln!(out, "  subgraph cluster{s}[\"{}\"]", stage.name)?;
        if stage.terminal {
            writeln!(out, "    stage{s}(((\"{}\")))", stage.name)?;
        } else {
            writeln!(out, "    stage{s}([\"{}\"])", stage.name)?;
        }
        for i in 0..stage.steps.len() {
            writeln!(
                out,
                "    step{s}_{i}[\"{}\"]",
                step_label(funnel, s, i).replace('"', "'")
            )?;
        }
        writeln!(out, "  end")?;
    }
    for line in lines {
        let arrow = if line.positive { "-->" } else { "-.->" };
        if line.label.is_empty() {
            writeln!(out, "  {} {arrow} {}", line.from, line.to)?;
        } else {
            writeln!(out, "  {} {arrow}|{}| {}", line.from, line.label, line.to)?;
        }
    }
    Ok(())
}

fn dot(funnel: &Funnel, lines: &[Line], out: &mut String) -> std::fmt::Result {
    writeln!(out, "digraph \"{}\" {{", funnel.name)?;
    writeln!(
        out,
        "  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];"
    )?;
    writeln!(out, "  entry [label=\"enter\", shape=circle];")?;
    if !funnel.exits.is_empty() {
        writeln!(out, "  anywhere [label=\"any stage\", shape=hexagon];")?;
    }
    for (s, stage) in funnel.stages.iter().enumerate() {
        writeln!(
            out,
            "  subgraph cluster{s} {{\n    label=\"{}\";",
            stage.name
        )?;
        let shape = if stage.terminal {
            "doublecircle"
        } else {
            "oval"
        };
        writeln!(
            out,
            "    stage{s} [label=\"{}\", shape={shape}];",
            stage.name
        )?;
        for i in 0..stage.steps.len() {
            let label = step_label(funnel, s, i)
                .replace("<br/>", "\\n")
                .replace('"', "'");
            writeln!(out, "    step{s}_{i} [label=\"{label}\"];")?;
        }
        writeln!(out, "  }}")?;
    }
    for line in lines {
        let style = if line.positive { "solid" } else { "dashed" };
        writeln!(
            out,
            "  {} -> {} [label=\"{}\", style={style}];",
            line.from, line.to, line.label
        )?;
    }
    writeln!(out, "}}")
}
