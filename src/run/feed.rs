//! The feeds of `funnel run`: the contacts feed and the optional events feed,
//! as CSV, a JSON array or JSON Lines, and the typing of a contact row by a
//! funnel's declared `contact:` fields.
//!
//! The caller reads the file or stdin and hands over bytes; this module does
//! no I/O and never prints. A bad row, event or value becomes a [`Problem`]
//! naming its line (the physical line where the record starts, the CSV
//! header being line 1) and field, and the rest of the feed proceeds. Only a
//! feed that cannot be read at all (a bad CSV header, a broken JSON array) is
//! a [`FeedError`]. What happens to a contact in a funnel is the runner's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::language::model::{Field, FieldType};

mod chunks;
mod columns;
mod csv_feed;
pub mod encoding;
mod format;
mod ids;
mod json;
mod screen;
mod threshold;

pub use columns::Columns;
pub use format::{Formats, NaiveTimes, Writing, check_format};
pub use screen::{Screened, screen};
pub use threshold::MaxBadRows;

use chunks::{Chunks, Cut};
use csv_feed::{CsvFeed, sniff_delimiter};
use ids::Ids;
use json::{json_kind, json_reason};

/// Where a feed read a chunk at a time leaves the error that stopped it
/// part way, for [`Contacts::finish`].
type Failure = std::rc::Rc<std::cell::RefCell<Option<FeedError>>>;
use format::{Style, not_a, typed_value};

/// A value as the feed wrote it, before typing.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    /// A CSV cell.
    Text(String),
    /// A value of a JSON object.
    Json(Json),
}

/// One contact row as read. `values` holds every non-empty cell or key,
/// the id column included; empty cells and JSON nulls are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub line: usize,
    pub id: String,
    pub values: BTreeMap<String, Raw>,
}

/// A typed contact value.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
}

/// A contact typed for one funnel: only the declared fields (plus "id" as
/// String), missing optional ones Null.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: String,
    pub line: usize,
    pub fields: BTreeMap<String, Value>,
}

/// A row, event or field that was skipped, and why. `message` is complete
/// for an operator; `field` is the column or key it is about, if one.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Something a contact did, from the events feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub line: usize,
    pub contact: String,
    pub name: String,
    pub at: DateTime<Utc>,
    pub data: Json,
}

/// How a feed is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    JsonLines,
}

impl Format {
    /// Guesses the format from the first non-space character: `[` is a JSON
    /// array, `{` JSON Lines, anything else CSV.
    pub fn detect(bytes: &[u8]) -> Format {
        let bytes = strip_bom(bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Format::Json,
            Some(b'{') => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

/// How to read a feed. `id_column` names the contact id in the contacts
/// feed; the events feed always names it `contact`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedOptions {
    /// The column or key holding the contact id; `id` by default.
    pub id_column: String,
    /// The CSV delimiter; sniffed from the header when `None`.
    pub delimiter: Option<u8>,
    /// The format; detected from the content when `None`.
    pub format: Option<Format>,
    /// How the export writes values (`[feed]`); the built-ins by default.
    pub formats: Formats,
    /// Which header is which field (`[feed.columns]`, any case).
    pub columns: Columns,
    /// The zone of events' times without an offset; `None` refuses them
    /// (the funnels' timezones differ). Contacts take their funnel's.
    pub zone: Option<chrono_tz::Tz>,
    /// The feed's encoding: checked (UTF-8) or decoded, a bad byte
    /// stopping the feed. `None` takes the bytes as they are, a bad one
    /// being its row's problem.
    pub encoding: Option<&'static encoding::Encoding>,
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            id_column: "id".to_string(),
            delimiter: None,
            format: None,
            formats: Formats::utc(),
            columns: Columns::default(),
            zone: Some(chrono_tz::Tz::UTC),
            encoding: None,
        }
    }
}

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

/// The rows of a contacts feed, with notes about its header.
pub struct Contacts<'a> {
    /// Header columns that look like a misnamed field ("did you mean"):
    /// said once, not counted as bad rows.
    pub notes: Vec<Problem>,
    records: Records<'a>,
    id_column: String,
    ids: Ids,
    failure: Failure,
}

impl Iterator for Contacts<'_> {
    type Item = Result<Row, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next()?;
        Some(record.and_then(|r| contact_row(r, &self.id_column, &mut self.ids)))
    }
}

impl Contacts<'_> {
    /// Checks, after the last row, that the feed was read to its end: the
    /// error that stopped it part way (a disk error, a byte its encoding
    /// refuses), if one did.
    pub fn finish(&self) -> Result<(), FeedError> {
        match self.failure.borrow_mut().take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Keeps only a hash of each id (see [`Ids`]): for a first pass over
    /// a feed that is read again.
    pub fn hashing_ids(mut self) -> Self {
        self.ids = Ids::hashed();
        self
    }

    /// For the second pass over a feed: only the ids whose hash the first
    /// pass saw `repeated` are kept whole.
    pub fn screened(mut self, repeated: HashSet<u64>) -> Self {
        self.ids = Ids::Screened {
            repeated,
            exact: HashMap::new(),
        };
        self
    }

    /// The hashes seen more than once (by a first pass).
    pub fn repeated(&mut self) -> HashSet<u64> {
        match &mut self.ids {
            Ids::Hashed { repeated, .. } => std::mem::take(repeated),
            _ => HashSet::new(),
        }
    }
}

/// Reads a contacts feed. Rows without an id, with a repeated id, or that
/// cannot be read are problems; rows come in feed order, one at a time, so
/// a feed of millions is never held as rows.
pub fn contacts<'a>(bytes: &'a [u8], options: &FeedOptions) -> Result<Contacts<'a>, FeedError> {
    contacts_from(Box::new(bytes), options)
}

/// [`contacts`] from a reader, read a chunk at a time: the feed is never
/// held whole (except a JSON array, which must be checked whole). Call
/// [`Contacts::finish`] after the last row.
pub fn contacts_from<'a>(
    reader: Box<dyn std::io::Read + 'a>,
    options: &FeedOptions,
) -> Result<Contacts<'a>, FeedError> {
    let mut chunks = Chunks::new(reader, options.encoding);
    if chunks.is_blank()? {
        return Err(FeedError::Empty);
    }
    let id_column = options.id_column.clone();
    let failure = Failure::default();
    let (records, notes) = read_records(chunks, options, &[id_column.as_str()], failure.clone())?;
    Ok(Contacts {
        notes,
        records,
        id_column,
        ids: Ids::Exact(HashMap::new()),
        failure,
    })
}

/// [`contacts`], collected: the rows and the problems.
pub fn read_contacts(
    bytes: &[u8],
    options: &FeedOptions,
) -> Result<(Vec<Row>, Vec<Problem>), FeedError> {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut read = contacts(bytes, options)?;
    for row in read.by_ref() {
        match row {
            Ok(row) => rows.push(row),
            Err(problem) => problems.push(problem),
        }
    }
    read.finish()?;
    Ok((rows, problems))
}

fn contact_row(record: Record, id_column: &str, ids: &mut Ids) -> Result<Row, Problem> {
    let problem = |message: String| Problem {
        line: record.line,
        field: Some(id_column.to_string()),
        message,
    };
    let id = match record.values.get(id_column) {
        None => return Err(problem("missing id".to_string())),
        Some(raw) => key_text(raw).map_err(|found| {
            problem(format!(
                "field `{id_column}`: expected a string or an integer id, found {found}"
            ))
        })?,
    };
    if id.is_empty() {
        return Err(problem("missing id".to_string()));
    }
    // An id goes into SMTP and HTTP headers (`X-Funnel-Key`,
    // `Idempotency-Key`): a CR or LF in it could forge a header line.
    if has_control(&id) {
        return Err(problem(CONTROL_IN_ID.to_string()));
    }
    if let Some(first) = ids.repeat(&id, record.line) {
        return Err(problem(format!(
            "duplicate id `{id}`, first on line {first}"
        )));
    }
    Ok(Row {
        line: record.line,
        id,
        values: record.values,
    })
}

const CONTROL_IN_ID: &str = "contact id contains a control character";

pub(crate) fn has_control(id: &str) -> bool {
    id.chars().any(char::is_control)
}

/// An id or name: a string (trimmed) or an integer as its decimal text.
/// The error describes what was found instead.
fn key_text(raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Text(text) => Ok(text.trim().to_string()),
        Raw::Json(Json::String(text)) => Ok(text.trim().to_string()),
        Raw::Json(Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Raw::Json(other) => Err(format!("{} `{other}`", json_kind(other))),
    }
}

/// Reads an events feed: JSON Lines (or a JSON array) with keys `contact`,
/// `event`, `at` and optional `data`, or CSV with those columns, `data`
/// being JSON text or empty. Events come in feed order.
pub fn read_events(
    bytes: &[u8],
    options: &FeedOptions,
) -> Result<(Vec<Event>, Vec<Problem>), FeedError> {
    let chunks = Chunks::new(Box::new(bytes), options.encoding);
    let failure = Failure::default();
    let (records, _) = read_records(chunks, options, &EVENT_COLUMNS[..3], failure.clone())?;
    let style = options.formats.style("at", options.zone);
    let mut events = Vec::new();
    let mut problems = Vec::new();
    for record in records {
        match record.and_then(|r| event(r, &style)) {
            Ok(event) => events.push(event),
            Err(problem) => problems.push(problem),
        }
    }
    if let Some(error) = failure.borrow_mut().take() {
        return Err(error);
    }
    Ok((events, problems))
}

/// The events feed's columns; `data` is optional.
pub const EVENT_COLUMNS: [&str; 4] = ["contact", "event", "at", "data"];

fn event(record: Record, style: &Style) -> Result<Event, Problem> {
    let line = record.line;
    let value = |key: &str| record.values.get(key);
    Ok(Event {
        line,
        contact: event_contact(value("contact"), line)?,
        name: event_name(value("event"), line)?,
        at: event_at(value("at"), line, style)?,
        data: event_data(value("data"), line)?,
    })
}

fn event_problem(line: usize, field: &str, message: String) -> Problem {
    Problem {
        line,
        field: Some(field.to_string()),
        message,
    }
}

fn event_contact(raw: Option<&Raw>, line: usize) -> Result<String, Problem> {
    match raw.map(key_text) {
        Some(Ok(contact)) if has_control(&contact) => {
            Err(event_problem(line, "contact", CONTROL_IN_ID.into()))
        }
        Some(Ok(contact)) if !contact.is_empty() => Ok(contact),
        Some(Err(found)) => {
            let message = format!("field `contact`: expected a contact id, found {found}");
            Err(event_problem(line, "contact", message))
        }
        _ => Err(event_problem(line, "contact", "missing contact".into())),
    }
}

fn event_name(raw: Option<&Raw>, line: usize) -> Result<String, Problem> {
    match raw {
        Some(Raw::Text(name) | Raw::Json(Json::String(name))) if !name.trim().is_empty() => {
            Ok(name.trim().to_string())
        }
        Some(Raw::Json(other)) if !other.is_null() => {
            let message = format!("field `event`: expected an event name, found `{other}`");
            Err(event_problem(line, "event", message))
        }
        _ => Err(event_problem(line, "event", "missing event name".into())),
    }
}

fn event_at(raw: Option<&Raw>, line: usize, style: &Style) -> Result<DateTime<Utc>, Problem> {
    let Some(raw) = raw else {
        return Err(event_problem(line, "at", "missing `at`".into()));
    };
    match typed_value(raw, FieldType::Timestamp, style) {
        Ok(Value::Timestamp(at)) => Ok(at),
        _ => {
            let message = not_a("at", raw, FieldType::Timestamp, style);
            Err(event_problem(line, "at", message))
        }
    }
}

/// `data` is any JSON value; in CSV it is JSON text.
fn event_data(raw: Option<&Raw>, line: usize) -> Result<Json, Problem> {
    match raw {
        None => Ok(Json::Null),
        Some(Raw::Json(data)) => Ok(data.clone()),
        Some(Raw::Text(text)) => serde_json::from_str(text).map_err(|error| {
            let message = format!("field `data`: not valid JSON: {}", json_reason(&error));
            event_problem(line, "data", message)
        }),
    }
}

/// Types a row by a funnel's declared fields, with the built-in formats
/// and times without an offset in UTC. The first missing required field,
/// or value that does not parse as its type, is the problem.
pub fn typed(row: &Row, fields: &IndexMap<String, Field>) -> Result<Contact, Problem> {
    typed_in(row, fields, chrono_tz::Tz::UTC, &Formats::utc())
}

/// [`typed`] for a funnel in `timezone`, with an export's `formats`:
/// times without an offset are in the contact's own timezone field (the
/// funnel's first `timezone` field, when the row sets it) or `timezone`,
/// unless `formats` says otherwise.
pub fn typed_in(
    row: &Row,
    fields: &IndexMap<String, Field>,
    timezone: chrono_tz::Tz,
    formats: &Formats,
) -> Result<Contact, Problem> {
    let own = fields
        .iter()
        .find(|(_, f)| f.kind == FieldType::Timezone)
        .and_then(|(name, _)| row.values.get(name))
        .and_then(|raw| match raw {
            Raw::Text(text) | Raw::Json(Json::String(text)) => text.trim().parse().ok(),
            Raw::Json(_) => None,
        });
    let zone = formats.naive_times.zone(timezone, own);
    let mut typed = BTreeMap::new();
    for (name, field) in fields {
        let problem = |message: String| Problem {
            line: row.line,
            field: Some(name.clone()),
            message,
        };
        let style = formats.style(name, Some(zone));
        let value = match row.values.get(name) {
            None => Value::Null,
            Some(raw) => typed_value(raw, field.kind, &style)
                .map_err(|()| problem(not_a(name, raw, field.kind, &style)))?,
        };
        if value == Value::Null && !field.optional {
            return Err(problem(format!("missing required field `{name}`")));
        }
        typed.insert(name.clone(), value);
    }
    typed.insert("id".to_string(), Value::String(row.id.clone()));
    Ok(Contact {
        id: row.id.clone(),
        line: row.line,
        fields: typed,
    })
}

/// A contact as the state kept its row (`stored`, the JSON object of its
/// typed fields, see the runner's sightings), typed again by `fields`; the
/// id and line are `now`'s. `None` when the stored row does not read back
/// (a field changed its type since): then only the current row counts.
pub fn from_stored(
    now: &Contact,
    stored: &str,
    fields: &IndexMap<String, Field>,
) -> Option<Contact> {
    let json: serde_json::Map<String, Json> = serde_json::from_str(stored).ok()?;
    let mut typed = BTreeMap::new();
    for (name, field) in fields {
        let value = match json.get(name) {
            None | Some(Json::Null) => Value::Null,
            // funnel wrote these itself: RFC 3339 and the built-in shapes.
            Some(Json::String(text)) => {
                typed_value(&Raw::Text(text.clone()), field.kind, &Style::builtin()).ok()?
            }
            Some(other) => {
                typed_value(&Raw::Json(other.clone()), field.kind, &Style::builtin()).ok()?
            }
        };
        typed.insert(name.clone(), value);
    }
    typed.insert("id".to_string(), Value::String(now.id.clone()));
    Some(Contact {
        id: now.id.clone(),
        line: now.line,
        fields: typed,
    })
}

// ---------------------------------------------------------------------------
// Records: the format-independent rows both feeds are built from.

/// One object or CSV row, blank values left out.
struct Record {
    line: usize,
    values: BTreeMap<String, Raw>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// Every record or problem in feed order, read as the caller asks (a JSON
/// array is checked whole first: a broken one cannot be read at all).
/// `required` are the CSV columns without which nothing can be read. An
/// error past the start (an I/O error, a byte the encoding refuses) ends
/// the records and is left in `failure`.
fn read_records<'a>(
    mut chunks: Chunks<'a>,
    options: &FeedOptions,
    required: &[&str],
    failure: Failure,
) -> Result<(Records<'a>, Vec<Problem>), FeedError> {
    let start = chunks.peek()?;
    let json: Records<'a> = match options.format.unwrap_or_else(|| Format::detect(start)) {
        Format::Csv => {
            let delimiter = options.delimiter.unwrap_or_else(|| sniff_delimiter(start));
            let csv = CsvFeed::open(chunks, delimiter, required, &options.columns, failure)?;
            let notes = csv.notes().to_vec();
            return Ok((Box::new(csv), notes));
        }
        Format::Json => {
            chunks.set_cut(Cut::Whole);
            let whole = chunks.next_chunk()?;
            let bytes = whole.as_ref().map(|c| &c.bytes[..]).unwrap_or_default();
            Box::new(json::array(bytes)?.into_iter())
        }
        Format::JsonLines => {
            chunks.set_cut(Cut::Lines);
            Box::new(json::Objects::new(chunks, failure))
        }
    };
    // A CSV header is named once; JSON names its keys in every object.
    let columns = options.columns.clone();
    let required: Vec<String> = required.iter().map(|r| r.to_string()).collect();
    // Keys repeat in every object: each is resolved once (up to a bound,
    // so a feed of ever-new keys cannot grow the cache without end).
    let mut fields: HashMap<String, String> = HashMap::new();
    let renamed = json.map(move |record| {
        record.map(|Record { line, values }| {
            let mut field = |key: String| {
                if let Some(field) = fields.get(&key) {
                    return field.clone();
                }
                let required: Vec<&str> = required.iter().map(String::as_str).collect();
                let field = columns.resolve(&key, &required);
                if fields.len() < 4096 {
                    fields.insert(key, field.clone());
                }
                field
            };
            let values = values
                .into_iter()
                .map(|(key, raw)| (field(key), raw))
                .collect();
            Record { line, values }
        })
    });
    Ok((Box::new(renamed), Vec::new()))
}

type Records<'a> = Box<dyn Iterator<Item = Result<Record, Problem>> + 'a>;

/// Start offsets of the lines of a feed, to turn byte offsets into lines.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(bytes: &[u8]) -> Self {
        let newlines = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n');
        Self {
            starts: std::iter::once(0)
                .chain(newlines.map(|(i, _)| i + 1))
                .collect(),
        }
    }

    /// The 1-based line of `offset`.
    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }

    /// The 1-based column (in bytes) of `offset`.
    fn column(&self, offset: usize) -> usize {
        let start = self.starts.get(self.line(offset) - 1).copied().unwrap_or(0);
        offset - start + 1
    }
}

fn utf8_problem(
    line: usize,
    field: Option<&str>,
    bytes: &[u8],
    error: std::str::Utf8Error,
) -> Problem {
    let byte = bytes.get(error.valid_up_to()).copied().unwrap_or_default();
    let prefix = field.map(|f| format!("field `{f}`: ")).unwrap_or_default();
    Problem {
        line,
        field: field.map(str::to_string),
        message: format!("{prefix}not valid UTF-8 (byte 0x{byte:02X}); save the file as UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::source::Span as SourceSpan;

    fn read(text: &str) -> (Vec<Row>, Vec<Problem>) {
        read_contacts(text.as_bytes(), &FeedOptions::default()).unwrap()
    }

    fn error(text: &[u8]) -> FeedError {
        read_contacts(text, &FeedOptions::default()).unwrap_err()
    }

    fn field(kind: FieldType, optional: bool) -> Field {
        let span = SourceSpan::default();
        Field {
            kind,
            optional,
            span,
        }
    }

    fn text(raw: &str, kind: FieldType) -> Result<Value, ()> {
        typed_value(&Raw::Text(raw.to_string()), kind, &Style::builtin())
    }

    fn json(raw: Json, kind: FieldType) -> Result<Value, ()> {
        typed_value(&Raw::Json(raw), kind, &Style::builtin())
    }

    fn at(text: &str) -> Option<String> {
        format::parse_timestamp(text, &Style::builtin()).map(|t| t.to_rfc3339())
    }

    #[test]
    fn detects_the_format_from_the_first_character() {
        assert_eq!(Format::detect(b"\xEF\xBB\xBF  \n[{}]"), Format::Json);
        assert_eq!(Format::detect(b"\n{\"id\": 1}\n"), Format::JsonLines);
        assert_eq!(Format::detect(b"id,name\n"), Format::Csv);
        assert_eq!(Format::detect(b""), Format::Csv);
    }

    #[test]
    fn an_empty_contacts_feed_is_an_error_but_a_header_alone_has_no_rows() {
        // A failed export writes nothing; "no contacts" would hide it.
        assert!(matches!(error(b""), FeedError::Empty));
        assert!(matches!(error(b"\xEF\xBB\xBF\r\n"), FeedError::Empty));
        assert_eq!(read("id,name\r\n"), (vec![], vec![]));
        assert_eq!(read("[]"), (vec![], vec![]));
        let none = read_events(b"", &FeedOptions::default()).unwrap();
        assert_eq!(none, (vec![], vec![]));
        let none = read_events(b"[]", &FeedOptions::default()).unwrap();
        assert_eq!(none, (vec![], vec![]));
    }

    #[test]
    fn lines_count_blank_lines_and_quoted_newlines() {
        let (rows, problems) = read("id,note\r\n\r\n1,\"a\r\nb\"\r\n\r\n2,c");
        assert_eq!(problems, vec![]);
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 6]);
        assert_eq!(rows[0].values["note"], Raw::Text("a\r\nb".into()));
    }

    #[test]
    fn a_wrong_field_count_over_several_lines_suggests_an_open_quote() {
        let (rows, problems) = read("id,name,city\n1,\"Anna,\nBudapest\"\n2,Bob,Pécs\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 4);
        let message = "expected 3 fields, found 2 in the row on lines 2-3 (is a quote left open?)";
        assert_eq!(
            problems,
            vec![Problem {
                line: 2,
                field: None,
                message: message.into()
            }]
        );
    }

    #[test]
    fn header_errors_stop_the_feed() {
        let utf8 = error(b"id,n\xE9v\n1,Anna\n");
        assert_eq!(
            utf8.to_string(),
            "line 1: not valid UTF-8; save the file as UTF-8"
        );
        let quote = error(b"id,\"name\n1,Anna\n");
        assert!(matches!(quote, FeedError::UnclosedQuote { line: 1 }));
        let twice = error(b"id, email ,email\n");
        assert_eq!(
            twice.to_string(),
            "line 1: the header has two `email` columns"
        );
        let missing = error(b"\n\nname,,\nAnna,,\n");
        assert_eq!(
            missing.to_string(),
            "line 3: the header has no `id` column (found: `name`)"
        );
        assert_eq!(missing.line(), 3);
    }

    #[test]
    fn cells_under_a_blank_header_are_ignored() {
        let (rows, problems) = read("id;name;\n1;Anna;\n2;Bob;x\n");
        assert_eq!(problems, vec![]);
        assert_eq!(rows[1].values.keys().collect::<Vec<_>>(), ["id", "name"]);
    }

    #[test]
    fn json_syntax_errors_name_the_file_line_and_column() {
        let broken = error(b"[\n  {\"id\": 1},\n  {\"id\": 2,, }\n]");
        assert_eq!(
            broken.to_string(),
            "line 3, column 12: not valid JSON: key must be a string"
        );
        let unclosed = error(b"[{\"id\": 1}");
        assert_eq!(
            unclosed.to_string(),
            "line 1, column 11: not valid JSON: the array is never closed with `]`"
        );
        let trailing = error(b"[{\"id\": 1}]\n]");
        assert_eq!(
            trailing.to_string(),
            "line 2, column 1: not valid JSON: text after the closing `]`"
        );
        let comma = error(b"[{\"id\": 1},]");
        assert_eq!(
            comma.to_string(),
            "line 1, column 12: not valid JSON: expected value"
        );
    }

    #[test]
    fn a_json_document_that_is_not_an_array_is_a_feed_error() {
        let options = FeedOptions {
            format: Some(Format::Json),
            ..FeedOptions::default()
        };
        let error = read_contacts(b"\n{\"id\": 1}", &options).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: expected a JSON array of objects, found an object"
        );
        let latin1 = read_contacts(b"[\n{\"id\": \"Andr\xE9\"}]", &options).unwrap_err();
        assert!(matches!(latin1, FeedError::NotUtf8 { line: 2 }));
    }

    #[test]
    fn json_lines_report_bad_utf8_by_line() {
        let (rows, problems) = read_contacts(
            b"{\"id\": 1}\n{\"id\": \"\xE9\"}\n{\"id\": 18446744073709551615}\n",
            &FeedOptions::default(),
        )
        .unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "18446744073709551615"]);
        let message = "not valid UTF-8 (byte 0xE9); save the file as UTF-8";
        assert_eq!(
            problems,
            vec![Problem {
                line: 2,
                field: None,
                message: message.into()
            }]
        );
    }

    #[test]
    fn timestamps_in_every_accepted_shape() {
        let nine_thirty = Some("2024-05-01T09:30:00+00:00".to_string());
        assert_eq!(at("2024-05-01T09:30:00Z"), nine_thirty);
        assert_eq!(at("2024-05-01T11:30:00+02:00"), nine_thirty);
        assert_eq!(at("2024-05-01 09:30"), nine_thirty);
        assert_eq!(at("2024-05-01 09:30:00"), nine_thirty);
        assert_eq!(at("2024-05-01T09:30"), nine_thirty);
        assert_eq!(at("2024-05-01T09:30:00"), nine_thirty);
        assert_eq!(
            at("2024-05-01 09:30:00.250"),
            Some("2024-05-01T09:30:00.250+00:00".into())
        );
        assert_eq!(at("2024-05-01"), None);
        assert_eq!(at("24-5-1 09:30"), None);
        assert_eq!(at("2024-02-30 09:30"), None);
        assert_eq!(at("2024-05-01 25:00"), None);
    }

    #[test]
    fn text_values_by_type() {
        use FieldType as T;
        assert_eq!(text(" 42 ", T::Int), Ok(Value::Int(42)));
        assert_eq!(text("4.2", T::Int), Err(()));
        assert_eq!(text("-3.5e1", T::Float), Ok(Value::Float(-35.0)));
        assert_eq!(text("NaN", T::Float), Err(()));
        assert_eq!(text("3,5", T::Float), Err(()));
        assert_eq!(text("Y", T::Bool), Ok(Value::Bool(true)));
        assert_eq!(text("No", T::Bool), Ok(Value::Bool(false)));
        assert_eq!(
            text("2024-05-01", T::Date),
            Ok(Value::Date(
                NaiveDate::from_ymd_opt(2024, 5, 1).unwrap_or_default()
            ))
        );
        assert_eq!(text("2024-5-1", T::Date), Err(()));
        assert_eq!(text("a@b", T::Email), Ok(Value::String("a@b".into())));
        assert_eq!(text("a@b@c", T::Email), Err(()));
        assert_eq!(text("@b", T::Email), Err(()));
        assert_eq!(text("a b@c", T::Email), Err(()));
        assert_eq!(
            text("+36 (20) 123-4567", T::Phone),
            Ok(Value::String("+36 (20) 123-4567".into()))
        );
        assert_eq!(text("12-34", T::Phone), Err(()));
        assert_eq!(text("+36 20 CALL ME", T::Phone), Err(()));
        assert_eq!(
            text("Europe/Budapest", T::Timezone),
            Ok(Value::String("Europe/Budapest".into()))
        );
        assert_eq!(text("Mars/Olympus", T::Timezone), Err(()));
        assert_eq!(text("   ", T::Int), Ok(Value::Null));
    }

    #[test]
    fn json_values_by_type() {
        use FieldType as T;
        assert_eq!(json(Json::from(7), T::Int), Ok(Value::Int(7)));
        assert_eq!(json(Json::from(7.5), T::Int), Err(()));
        assert_eq!(json(Json::from(1e300), T::Int), Err(()));
        assert_eq!(json(Json::from(7), T::Float), Ok(Value::Float(7.0)));
        assert_eq!(json(Json::from(true), T::Bool), Ok(Value::Bool(true)));
        assert_eq!(json(Json::from(0), T::Bool), Ok(Value::Bool(false)));
        assert_eq!(json(Json::from(2), T::Bool), Err(()));
        assert_eq!(json(Json::from(true), T::String), Err(()));
        assert_eq!(
            json(Json::from(36201234567_i64), T::Phone),
            Ok(Value::String("36201234567".into()))
        );
        assert_eq!(json(Json::from("yes"), T::Bool), Ok(Value::Bool(true)));
        assert_eq!(json(Json::from(1714555800), T::Timestamp), Err(()));
        assert_eq!(json(serde_json::json!([1]), T::String), Err(()));
        assert_eq!(json(Json::Null, T::Int), Ok(Value::Null));
    }

    #[test]
    fn typed_keeps_declared_fields_and_the_id() {
        let row = Row {
            line: 4,
            id: "c-1".into(),
            values: [
                ("score".to_string(), Raw::Json(Json::from(true))),
                ("extra".to_string(), Raw::Text("ignored".into())),
            ]
            .into_iter()
            .collect(),
        };
        let mut fields = IndexMap::new();
        fields.insert("owner".to_string(), field(FieldType::String, true));
        let contact = typed(&row, &fields).unwrap();
        let names: Vec<&String> = contact.fields.keys().collect();
        assert_eq!(names, ["id", "owner"]);
        assert_eq!(contact.fields["owner"], Value::Null);
        fields.insert("score".to_string(), field(FieldType::Int, true));
        let problem = typed(&row, &fields).unwrap_err();
        assert_eq!(
            problem.to_string(),
            "line 4: field `score`: `true` is not an int (expected a whole number like 42)"
        );
    }

    #[test]
    fn values_serialize_as_plain_json() {
        let at =
            format::parse_timestamp("2024-05-01 09:30", &Style::builtin()).map(Value::Timestamp);
        let values = vec![
            Value::Null,
            Value::Int(3),
            Value::String("x".into()),
            at.unwrap_or(Value::Null),
        ];
        let text = serde_json::to_string(&values).unwrap_or_default();
        assert_eq!(text, r#"[null,3,"x","2024-05-01T09:30:00Z"]"#);
    }

    #[test]
    fn long_values_are_clipped_in_messages() {
        let long = "x".repeat(50);
        let message = not_a("n", &Raw::Text(long), FieldType::Int, &Style::builtin());
        assert_eq!(
            message,
            format!(
                "field `n`: `{}…` is not an int (expected a whole number like 42)",
                "x".repeat(40)
            )
        );
    }

    /// Any byte soup must come back as rows, problems or an error: the
    /// runner reads feeds nobody checked.
    #[test]
    fn garbage_never_panics() {
        let seeds: [&[u8]; 4] = [
            b"id;name\r\n1;\"a\"\"b\"\r\n2;x\r\n",
            b"[{\"id\": 1}, {\"id\": \"2\"}]",
            b"{\"id\": 1}\n{\"id\": 2}\n",
            b"contact,event,at,data\na,x,2024-05-01 09:00,{}\n",
        ];
        let specials = [b'"', b',', b';', b'\n', b'\r', b'{', b'[', 0xE9, 0xEF, b' '];
        let mut state = 0x2545_F491_u32;
        for seed in seeds {
            for _ in 0..300 {
                let mut bytes = seed.to_vec();
                for _ in 0..3 {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let at = state as usize % (bytes.len() + 1);
                    let byte = specials[(state >> 8) as usize % specials.len()];
                    if state & 1 == 0 && at < bytes.len() {
                        bytes[at] = byte;
                    } else {
                        bytes.insert(at, byte);
                    }
                }
                let _ = read_contacts(&bytes, &FeedOptions::default());
                let _ = read_events(&bytes, &FeedOptions::default());
            }
        }
    }
}
