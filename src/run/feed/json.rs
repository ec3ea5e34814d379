//! The JSON feeds: an array of objects, read whole (a broken array cannot
//! be read at all, so it is checked first), or JSON Lines, one object per
//! line, read a chunk at a time.

use serde_json::Value as Json;

use super::chunks::{Chunk, Chunks};
use super::{Failure, FeedError, Lines, Problem, Raw, Record, utf8_problem};

pub(super) fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// serde_json's message without its " at line L column C", which counts
/// from where parsing started rather than from the file.
pub(super) fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" at line ") {
        Some((reason, _)) => reason.to_string(),
        None => text,
    }
}

fn object_record(json: Json, line: usize) -> Result<Record, Problem> {
    let Json::Object(object) = json else {
        return Err(Problem {
            line,
            field: None,
            message: format!("expected a JSON object, found {}", json_kind(&json)),
        });
    };
    let blank = |value: &Json| match value {
        Json::Null => true,
        Json::String(text) => text.trim().is_empty(),
        _ => false,
    };
    let values = object
        .into_iter()
        .filter(|(_, value)| !blank(value))
        .map(|(key, value)| (key, Raw::Json(value)))
        .collect();
    Ok(Record { line, values })
}

/// JSON Lines: one object per line, a chunk of the feed at a time; blank
/// lines are skipped, a bad line is a problem.
pub(super) struct Objects<'a> {
    chunks: Chunks<'a>,
    chunk: Option<Chunk>,
    /// Where the next line starts in the chunk, and its line number.
    at: usize,
    line: usize,
    failure: Failure,
}

impl<'a> Objects<'a> {
    pub(super) fn new(chunks: Chunks<'a>, failure: Failure) -> Self {
        Self {
            chunks,
            chunk: None,
            at: 0,
            line: 1,
            failure,
        }
    }
}

impl Iterator for Objects<'_> {
    type Item = Result<Record, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(chunk) = &self.chunk else {
                match self.chunks.next_chunk() {
                    Ok(Some(chunk)) => {
                        self.line = chunk.first_line;
                        self.at = 0;
                        self.chunk = Some(chunk);
                        continue;
                    }
                    Ok(None) => return None,
                    Err(error) => {
                        *self.failure.borrow_mut() = Some(error);
                        return None;
                    }
                }
            };
            let rest = &chunk.bytes[self.at..];
            if rest.is_empty() {
                self.chunk = None;
                continue;
            }
            let end = rest.iter().position(|b| *b == b'\n');
            let text = &rest[..end.unwrap_or(rest.len())];
            let line = self.line;
            self.at += end.map_or(rest.len(), |e| e + 1);
            self.line += 1;
            if !text.iter().all(u8::is_ascii_whitespace) {
                return Some(json_line(text, line));
            }
        }
    }
}

fn json_line(bytes: &[u8], line: usize) -> Result<Record, Problem> {
    let text =
        std::str::from_utf8(bytes).map_err(|error| utf8_problem(line, None, bytes, error))?;
    let json: Json = serde_json::from_str(text).map_err(|error| Problem {
        line,
        field: None,
        message: format!(
            "not valid JSON at column {}: {}",
            error.column(),
            json_reason(&error)
        ),
    })?;
    object_record(json, line)
}

/// A JSON array of objects; each object's line is where its `{` is.
pub(super) fn array(bytes: &[u8]) -> Result<Vec<Result<Record, Problem>>, FeedError> {
    let lines = Lines::new(bytes);
    if let Err(error) = std::str::from_utf8(bytes) {
        let line = lines.line(error.valid_up_to());
        return Err(FeedError::NotUtf8 { line });
    }
    let syntax = |offset: usize, message: &str| FeedError::Json {
        line: lines.line(offset),
        column: lines.column(offset),
        message: message.to_string(),
    };
    let skip = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    let mut at = skip(0);
    if bytes.get(at) != Some(&b'[') {
        let found = match bytes.get(at) {
            None => "nothing",
            Some(b'{') => "an object",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a bool",
            Some(b'n') => "null",
            Some(b'-' | b'0'..=b'9') => "a number",
            Some(_) => "something that is not JSON",
        };
        let line = lines.line(at.min(bytes.len().saturating_sub(1)));
        return Err(FeedError::NotArray {
            line,
            found: found.to_string(),
        });
    }
    at = skip(at + 1);
    let mut records = Vec::new();
    if bytes.get(at) == Some(&b']') {
        at = skip(at + 1);
    } else {
        loop {
            let end = match json_element(bytes, at, &lines) {
                Ok((json, end)) => {
                    records.push(object_record(json, lines.line(at)));
                    end
                }
                // One contact nested past the JSON reader's limit is that
                // contact's problem, like a bad CSV row, when the array's
                // brackets still show where it ends. A syntax error stays
                // the file's, with its line and column.
                Err(FeedError::Json { message, .. }) if message.starts_with("recursion limit") => {
                    match element_end(bytes, at) {
                        Some(end) => {
                            records.push(Err(Problem {
                                line: lines.line(at),
                                field: None,
                                message: format!("this contact is not readable JSON ({message})"),
                            }));
                            end
                        }
                        None => return Err(syntax(at, &message)),
                    }
                }
                Err(error) => return Err(error),
            };
            at = skip(end);
            match bytes.get(at) {
                Some(b',') => at = skip(at + 1),
                Some(b']') => {
                    at = skip(at + 1);
                    break;
                }
                Some(_) => return Err(syntax(at, "expected `,` or `]` after an array element")),
                None => return Err(syntax(bytes.len(), "the array is never closed with `]`")),
            }
        }
    }
    if at < bytes.len() {
        return Err(syntax(at, "text after the closing `]`"));
    }
    Ok(records)
}

/// Where the array element starting at `start` ends, found by its
/// brackets and strings alone (no recursion, so any depth): the offset of
/// the `,` or `]` that follows it at the array's level. `None` when the
/// brackets never balance.
fn element_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, byte) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth == 0 => return Some(offset),
            b']' | b'}' => depth -= 1,
            b',' if depth == 0 => return Some(offset),
            _ => {}
        }
    }
    None
}

/// The JSON value starting at `start`, and the offset just after it.
fn json_element(bytes: &[u8], start: usize, lines: &Lines) -> Result<(Json, usize), FeedError> {
    let rest = bytes.get(start..).unwrap_or_default();
    let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<Json>();
    match stream.next() {
        Some(Ok(json)) => Ok((json, start + stream.byte_offset())),
        Some(Err(error)) => {
            // serde_json counts from `start`; turn that into file lines.
            let first = lines.line(start);
            let (line, column) = if error.line() <= 1 {
                (
                    first,
                    lines.column(start) + error.column().saturating_sub(1),
                )
            } else {
                (first + error.line() - 1, error.column())
            };
            let message = json_reason(&error);
            Err(FeedError::Json {
                line,
                column,
                message,
            })
        }
        None => Err(FeedError::Json {
            line: lines.line(bytes.len().saturating_sub(1)),
            column: lines.column(bytes.len().saturating_sub(1)),
            message: "the array is never closed with `]`".to_string(),
        }),
    }
}
