//! A `funnel.toml` error at a place: its line, column and key, rendered
//! like a funnel diagnostic (miette, with the file, an excerpt and a hint).
//! toml gives the byte span of what it could not read; the key is found
//! from the span (the table header above it and the key on its line).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

use crate::lint::diagnostic::suggest;

/// An error in `funnel.toml` with where it is.
#[derive(Debug)]
pub struct Located {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The dotted key it is about (`feed.naive-times`), when found.
    pub key: Option<String>,
    pub message: String,
    pub help: Option<String>,
    /// The rendered excerpt (miette, no colour).
    snippet: String,
}

impl Located {
    /// An error at `span` of `text`.
    pub fn new(
        path: &Path,
        text: &str,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) -> Self {
        let start = span.start.min(text.len());
        let before = text.get(..start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(1, |l| l.chars().count() + 1);
        let key = key_at(text, start);
        let label = key.as_ref().map(|k| format!("`{k}`"));
        let mut diagnostic = MietteDiagnostic::new(message.clone());
        let len = span.end.saturating_sub(start).max(1);
        diagnostic = diagnostic.with_label(LabeledSpan::new(label, start, len));
        if let Some(help) = &help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        let report = miette::Report::new(diagnostic).with_source_code(NamedSource::new(
            path.display().to_string(),
            text.to_string(),
        ));
        let mut snippet = String::new();
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false);
        // Rendering into a String cannot fail but for a bug in miette;
        // then the first line still says everything.
        let _ = handler.render_report(&mut snippet, report.as_ref());
        Located {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message,
            help,
            snippet,
        }
    }

    /// A toml (serde) error: its span, and for an unknown key a "did you
    /// mean" from the keys serde lists.
    pub fn toml(path: &Path, text: &str, error: &toml::de::Error) -> Self {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().trim().to_string();
        let help = unknown_key_hint(&message);
        Self::new(path, text, span, message, help)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path.display(), self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        write!(f, "\n{}", self.snippet.trim_end())
    }
}

impl std::error::Error for Located {}

/// serde's "unknown field `x`, expected one of `a`, `b`" as "did you mean
/// `a`?" (or the list).
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (wrong, expected) = rest.split_once('`')?;
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    Some(suggest(wrong, known))
}

/// The dotted key at `offset`: the last `[table]` header before it and the
/// key its line sets, as far as plain text shows them.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next().unwrap_or("");
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return Some(table_name(trimmed));
    }
    let key = trimmed
        .split_once('=')
        .map(|(key, _)| key.trim().to_string())
        .filter(|k| !k.is_empty());
    let table = text
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(table_name);
    match (table, key) {
        (Some(table), Some(key)) => Some(format!("{table}.{key}")),
        (None, Some(key)) => Some(key),
        (table, None) => table,
    }
}

fn table_name(header: &str) -> String {
    header
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_has_its_line_column_key_and_a_did_you_mean() {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        #[allow(dead_code)]
        struct Feed {
            naive_times: Option<String>,
            encoding: Option<String>,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            feed: Feed,
        }
        let text = "# export\n[feed]\nencoding = \"windows-1250\"\nnaive_times = \"utc\"\n";
        let error = toml::from_str::<File>(text).err().unwrap();
        let located = Located::toml(Path::new("funnel.toml"), text, &error);
        assert_eq!((located.line, located.column), (4, 1));
        assert_eq!(located.key.as_deref(), Some("feed.naive_times"));
        assert_eq!(located.help.as_deref(), Some("did you mean `naive-times`?"));
        let shown = located.to_string();
        assert!(
            shown.starts_with("funnel.toml:4:1: `feed.naive_times`: unknown field `naive_times`"),
            "{shown}"
        );
        assert!(shown.contains("naive_times = \"utc\""), "{shown}");
    }
}
