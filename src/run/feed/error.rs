//! What stops a feed from being read at all, as opposed to a bad row.

/// A feed that cannot be read at all. `Display` starts with the line, so the
/// caller can prefix the file name.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The CSV header, or a JSON array document, is not valid UTF-8.
    #[error("line {line}: not valid UTF-8; save the file as UTF-8")]
    NotUtf8 { line: usize },
    /// The feed is not UTF-8 and no encoding was given: one error for the
    /// file, at its first bad byte.
    #[error(
        "line {line}: not valid UTF-8 (byte 0x{byte:02X}); if the export was saved by Excel or another Windows program, give its encoding: --encoding windows-1250 (Central European, e.g. Hungarian), windows-1251 (Cyrillic) or windows-1255 (Hebrew), or `encoding` in funnel.toml's [feed]"
    )]
    Encoding { line: usize, byte: u8 },
    /// The feed is not valid in the encoding it was given.
    #[error("line {line}: not valid {encoding}; check --encoding or [feed] encoding")]
    Malformed { line: usize, encoding: String },
    /// The feed is empty: not even a header. A failed export looks like
    /// this, and reading it as "no contacts" would hide it.
    #[error("line 1: the feed is empty (not even a header row); did the export fail?")]
    Empty,
    /// The CSV header opens a quote that is never closed.
    #[error("line {line}: the header opens a quote that is never closed")]
    UnclosedQuote { line: usize },
    /// The CSV header lacks a column the feed needs.
    #[error(
        "line {line}: the header has no `{column}` column (found: {}){}",
        quoted_list(found),
        near(column, found)
    )]
    MissingColumn {
        line: usize,
        column: String,
        found: Vec<String>,
    },
    /// Two CSV header columns have the same name once trimmed.
    #[error("line {line}: the header has two `{column}` columns")]
    DuplicateColumn { line: usize, column: String },
    /// The csv reader failed on the header for another reason.
    #[error("line {line}: cannot read the CSV header: {message}")]
    Csv { line: usize, message: String },
    /// A JSON array feed is not valid JSON; nothing after the error can be
    /// trusted, so nothing is read.
    #[error("line {line}, column {column}: not valid JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// A JSON feed whose top level is not an array (JSON Lines start with `{`).
    #[error("line {line}: expected a JSON array of objects, found {found}")]
    NotArray { line: usize, found: String },
    /// Reading the feed failed part way (a disk or pipe error).
    #[error("line {line}: cannot read on: {message}")]
    Io { line: usize, message: String },
}

impl FeedError {
    /// The line the error is on.
    pub fn line(&self) -> usize {
        match self {
            FeedError::Empty => 1,
            FeedError::NotUtf8 { line }
            | FeedError::Encoding { line, .. }
            | FeedError::Malformed { line, .. }
            | FeedError::UnclosedQuote { line }
            | FeedError::MissingColumn { line, .. }
            | FeedError::DuplicateColumn { line, .. }
            | FeedError::Csv { line, .. }
            | FeedError::Json { line, .. }
            | FeedError::NotArray { line, .. }
            | FeedError::Io { line, .. } => *line,
        }
    }
}

/// "; did you mean `E-mail`? Map it in ..." when a found column is close.
fn near(column: &str, found: &[String]) -> String {
    let hint = crate::lint::diagnostic::suggest(column, found.iter().map(String::as_str));
    match hint
        .strip_prefix("did you mean `")
        .and_then(|h| h.strip_suffix("`?"))
    {
        Some(header) => format!(
            "; is it `{header}`? Map it in funnel.toml: [feed.columns] \"{header}\" = \"{column}\""
        ),
        None => String::new(),
    }
}

fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no named columns".to_string();
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}
