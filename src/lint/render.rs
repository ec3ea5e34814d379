//! Renderers of one diagnostic list: human (miette), JSON, SARIF 2.1.0 and
//! GitHub workflow annotations, plus the summary line. The only place that
//! formats findings for output.

use std::io::{self, Write};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde_json::{Value, json};

use crate::language::source::SourceFile;
use crate::lint::diagnostic::{Diagnostic, Severity};
use crate::lint::linter::Checked;
use crate::lint::rules;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Snippets with the offending line, for people.
    Human,
    /// One JSON document with every finding and the summary.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// `::error file=...` workflow commands, for GitHub Actions annotations.
    Github,
}

pub fn render(
    format: Format,
    checked: &Checked,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => human(checked, color, out),
        Format::Json => write_json(out, &json_report(checked)),
        Format::Sarif => write_json(out, &sarif(checked)),
        Format::Github => github(checked, out),
    }
}

/// `N problems (E errors, W warnings) in F funnels`.
pub fn summary(checked: &Checked) -> String {
    let (errors, warnings) = (
        checked.count(Severity::Error),
        checked.count(Severity::Warning),
    );
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{} ({}, {}) in {}",
        plural(errors + warnings, "problem"),
        plural(errors, "error"),
        plural(warnings, "warning"),
        plural(checked.files, "funnel")
    )
}

/// Where a diagnostic is: file, start line and column, end line and column.
struct Place {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

fn place(checked: &Checked, d: &Diagnostic) -> Place {
    let file: &SourceFile = checked.sources.get(d.source);
    let (line, column) = file.line_col(d.span.offset);
    let (end_line, end_column) = file.line_col(d.span.offset + d.span.len.max(1) - 1);
    Place {
        file: file.name(),
        line,
        column,
        end_line,
        end_column: end_column + 1,
    }
}

/// A diagnostic with its source, in the shape miette renders.
#[derive(Debug)]
struct Snippet<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
    /// The diagnostic's span in `source` (which may be an excerpt).
    span: crate::language::source::Span,
}

impl std::fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Snippet<'_> {}

impl miette::Diagnostic for Snippet<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            _ => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span;
        let label = LabeledSpan::new(self.diagnostic.label.clone(), span.offset, span.len.max(1));
        Some(Box::new(std::iter::once(label)))
    }
}

fn human(checked: &Checked, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    for d in &checked.diagnostics {
        let file = checked.sources.get(d.source);
        let (text, span) = excerpt(&file.text, d.span);
        let snippet = Snippet {
            diagnostic: d,
            source: NamedSource::new(file.name(), text),
            span,
        };
        let mut text = String::new();
        handler
            .render_report(&mut text, &snippet)
            .map_err(io::Error::other)?;
        writeln!(out, "{text}")?;
    }
    writeln!(out, "{}", summary(checked))
}

/// The widest line a snippet shows; longer ones are cut to a window
/// around the span (a 100 MB line must not be echoed to the terminal).
const SNIPPET_WIDTH: usize = 200;

/// `text` with every line longer than [`SNIPPET_WIDTH`] cut to a window
/// (around the span on its own line), marked `…` and its length given; the
/// lines stay where they were, so line numbers are right. Gives the span
/// moved into the excerpt.
fn excerpt(
    text: &str,
    span: crate::language::source::Span,
) -> (String, crate::language::source::Span) {
    if text.lines().all(|line| line.len() <= SNIPPET_WIDTH) {
        return (text.to_string(), span);
    }
    let boundary = |body: &str, mut at: usize| {
        at = at.min(body.len());
        while !body.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let mut out = String::new();
    let mut moved = span;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let here = span.offset >= start && span.offset < end.max(start + 1);
        let body = line.trim_end_matches('\n');
        if body.len() <= SNIPPET_WIDTH {
            if here {
                moved.offset = out.len() + (span.offset - start);
            }
            out.push_str(line);
        } else {
            let column = if here { span.offset - start } else { 0 };
            let from = boundary(body, column.saturating_sub(SNIPPET_WIDTH / 2));
            let to = boundary(body, from + SNIPPET_WIDTH);
            let prefix = if from > 0 { "…" } else { "" };
            if here {
                let inside = column.min(to).saturating_sub(from);
                moved = crate::language::source::Span::new(
                    out.len() + prefix.len() + inside,
                    span.len.min(to.saturating_sub(from + inside)),
                );
            }
            out.push_str(prefix);
            out.push_str(&body[from..to]);
            if to < body.len() {
                out.push_str(&format!("… ({} bytes in all)", body.len()));
            }
            if line.len() > body.len() {
                out.push('\n');
            }
        }
        start = end;
    }
    (out, moved)
}

fn json_report(checked: &Checked) -> Value {
    let findings: Vec<Value> = checked
        .diagnostics
        .iter()
        .map(|d| {
            let p = place(checked, d);
            json!({
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "end_line": p.end_line,
                "end_column": p.end_column,
                "label": d.label,
                "help": d.help,
            })
        })
        .collect();
    json!({
        "diagnostics": findings,
        "summary": {
            "errors": checked.count(Severity::Error),
            "warnings": checked.count(Severity::Warning),
            "funnels": checked.files,
        }
    })
}

fn sarif(checked: &Checked) -> Value {
    let level = |s: Severity| {
        if s == Severity::Error {
            "error"
        } else {
            "warning"
        }
    };
    let rules: Vec<Value> = rules::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.what },
                "help": { "text": format!("{}\n\nWhy: {}\n\nExample:\n{}", r.what, r.why, r.example) },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = checked
        .diagnostics
        .iter()
        .map(|d| {
            let p = place(checked, d);
            let text = match &d.help {
                Some(help) => format!("{} ({help})", d.message),
                None => d.message.clone(),
            };
            json!({
                "ruleId": d.code,
                "ruleIndex": rules::RULES.iter().position(|r| r.id == d.code),
                "level": level(d.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": p.file },
                        "region": {
                            "startLine": p.line,
                            "startColumn": p.column,
                            "endLine": p.end_line,
                            "endColumn": p.end_column,
                        }
                    }
                }]
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "funnel",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    })
}

/// GitHub workflow commands escape `%`, CR and LF in messages, and also `:`
/// and `,` in properties.
pub(crate) fn escape(text: &str, property: bool) -> String {
    let text = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        text.replace(':', "%3A").replace(',', "%2C")
    } else {
        text
    }
}

fn github(checked: &Checked, out: &mut dyn Write) -> io::Result<()> {
    for d in &checked.diagnostics {
        let p = place(checked, d);
        let command = if d.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        let message = match &d.help {
            Some(help) => format!("{}\n{help}", d.message),
            None => d.message.clone(),
        };
        writeln!(
            out,
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            escape(&p.file, true),
            p.line,
            p.column,
            p.end_line,
            p.end_column,
            escape(d.code, true),
            escape(&message, false)
        )?;
    }
    Ok(())
}

fn write_json(out: &mut dyn Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::source::Span;

    #[test]
    fn long_lines_are_cut_around_the_span_and_lines_stay_put() {
        let long = format!("{}X{}", "a".repeat(1_000), "b".repeat(1_000));
        let text = format!("one\n{long}\nthree\n");
        let span = Span::new(4 + 1_000, 1);
        let (excerpt, moved) = excerpt(&text, span);
        assert_eq!(excerpt.lines().count(), 3);
        assert_eq!(excerpt.lines().nth(2), Some("three"));
        assert_eq!(&excerpt[moved.offset..moved.offset + 1], "X");
        assert!(excerpt.contains("(2001 bytes in all)"), "{excerpt}");
        assert!(excerpt.len() < 400, "{}", excerpt.len());
        // Short files are left alone.
        assert_eq!(
            super::excerpt("a\nb\n", Span::new(2, 1)),
            ("a\nb\n".to_string(), Span::new(2, 1))
        );
    }
}
