//! A [`Picture`] list as a Mermaid flowchart. Every label is quoted and its
//! `"`, `<`, `>` and `#` written as entity codes, so no condition text can
//! break the chart's syntax.

use std::fmt::{Result, Write};

use super::Picture;

pub fn write(pictures: &[Picture], out: &mut String) -> Result {
    writeln!(out, "flowchart TD")?;
    let several = pictures.len() > 1;
    for (k, picture) in pictures.iter().enumerate() {
        let indent = if several { "    " } else { "  " };
        if several {
            writeln!(out, "  subgraph funnel{k}[\"{}\"]", text(&picture.name))?;
        }
        nodes(picture, indent, out)?;
        if several {
            writeln!(out, "  end")?;
        }
    }
    for picture in pictures {
        for line in &picture.lines {
            let arrow = if line.positive { "-->" } else { "-.->" };
            if line.label.is_empty() {
                writeln!(out, "  {} {arrow} {}", line.from, line.to)?;
            } else {
                let label = text(&line.label);
                writeln!(out, "  {} {arrow}|\"{label}\"| {}", line.from, line.to)?;
            }
        }
    }
    Ok(())
}

fn nodes(picture: &Picture, indent: &str, out: &mut String) -> Result {
    let p = &picture.prefix;
    writeln!(out, "{indent}{p}entry((enter))")?;
    if picture.anywhere {
        writeln!(out, "{indent}{p}anywhere{{{{any stage}}}}")?;
    }
    for (s, stage) in picture.stages.iter().enumerate() {
        let name = text(&stage.name);
        writeln!(out, "{indent}subgraph cluster{p}{s}[\"{name}\"]")?;
        if stage.terminal {
            writeln!(out, "{indent}  {p}stage{s}(((\"{name}\")))")?;
        } else {
            writeln!(out, "{indent}  {p}stage{s}([\"{name}\"])")?;
        }
        for (i, lines) in stage.steps.iter().enumerate() {
            let label: Vec<String> = lines.iter().map(|l| text(l)).collect();
            writeln!(out, "{indent}  {p}step{s}_{i}[\"{}\"]", label.join("<br/>"))?;
        }
        writeln!(out, "{indent}end")?;
    }
    Ok(())
}

/// Text for inside a quoted Mermaid label.
fn text(raw: &str) -> String {
    raw.replace('#', "#35;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_text_cannot_close_the_label() {
        assert_eq!(
            text("a > 1 && b == \"x#\""),
            "a #gt; 1 && b == #quot;x#35;#quot;"
        );
    }
}
