//! A [`Picture`] list as a Graphviz digraph. Clusters keep Graphviz's
//! `cluster` prefix (otherwise it does not draw them as boxes); labels are
//! escaped as DOT strings.

use std::fmt::{Result, Write};

use super::Picture;

pub fn write(pictures: &[Picture], out: &mut String) -> Result {
    let title = match pictures {
        [one] => one.name.as_str(),
        _ => "funnels",
    };
    writeln!(out, "digraph \"{}\" {{", text(title))?;
    writeln!(
        out,
        "  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];"
    )?;
    let several = pictures.len() > 1;
    for (k, picture) in pictures.iter().enumerate() {
        let indent = if several { "    " } else { "  " };
        if several {
            writeln!(
                out,
                "  subgraph cluster_funnel{k} {{\n    label=\"{}\";",
                text(&picture.name)
            )?;
        }
        nodes(picture, indent, out)?;
        if several {
            writeln!(out, "  }}")?;
        }
    }
    for picture in pictures {
        for line in &picture.lines {
            let style = if line.positive { "solid" } else { "dashed" };
            writeln!(
                out,
                "  {} -> {} [label=\"{}\", style={style}];",
                line.from,
                line.to,
                text(&line.label)
            )?;
        }
    }
    writeln!(out, "}}")
}

fn nodes(picture: &Picture, indent: &str, out: &mut String) -> Result {
    let p = &picture.prefix;
    writeln!(out, "{indent}{p}entry [label=\"enter\", shape=circle];")?;
    if picture.anywhere {
        writeln!(
            out,
            "{indent}{p}anywhere [label=\"any stage\", shape=hexagon];"
        )?;
    }
    for (s, stage) in picture.stages.iter().enumerate() {
        let name = text(&stage.name);
        writeln!(
            out,
            "{indent}subgraph cluster{p}{s} {{\n{indent}  label=\"{name}\";"
        )?;
        let shape = if stage.terminal {
            "doublecircle"
        } else {
            "oval"
        };
        writeln!(
            out,
            "{indent}  {p}stage{s} [label=\"{name}\", shape={shape}];"
        )?;
        for (i, lines) in stage.steps.iter().enumerate() {
            let label: Vec<String> = lines.iter().map(|l| text(l)).collect();
            writeln!(
                out,
                "{indent}  {p}step{s}_{i} [label=\"{}\"];",
                label.join("\\n")
            )?;
        }
        writeln!(out, "{indent}}}")?;
    }
    Ok(())
}

/// Text for inside a DOT double-quoted string.
fn text(raw: &str) -> String {
    raw.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_text_cannot_close_the_string() {
        assert_eq!(text("a == \"x\\\""), "a == \\\"x\\\\\\\"");
    }
}
