//! The feeds of `funnel run`: the contacts feed and the optional events feed,
//! as CSV, a JSON array or JSON Lines, and the typing of a contact row by a
//! funnel's declared `contact:` fields.
//!
//! The caller opens the file or stdin and hands over a reader (or bytes);
//! this module reads it a chunk at a time (`chunks`) and never prints. The
//! files: `chunks` (reading and decoding), `csv_feed` and `json` (records),
//! `ids` (repeated ids), `typing` and `format` (values by declared type),
//! `events`, `screen` (the bad-row pass), `error`. A bad row, event or value becomes a [`Problem`]
//! naming its line (the physical line where the record starts, the CSV
//! header being line 1) and field, and the rest of the feed proceeds. Only a
//! feed that cannot be read at all (a bad CSV header, a broken JSON array) is
//! a [`FeedError`]. What happens to a contact in a funnel is the runner's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde_json::Value as Json;

mod chunks;
mod columns;
mod csv_feed;
pub mod encoding;
mod error;
mod events;
mod format;
mod ids;
mod json;
mod screen;
mod time;
mod typing;

// The contact value model is the language's (its conditions evaluate over
// it); a feed makes these values, and the rest of `run` names them here.
pub use crate::language::contact::{Contact, Event, Value};

pub use crate::config::export::{Formats, NaiveTimes, Writing, check_format};
pub use crate::config::threshold::MaxBadRows;
pub use columns::Columns;
pub use error::FeedError;
pub use events::{EVENT_COLUMNS, read_events};
pub use screen::{Screened, screen};
pub use typing::{from_stored, typed, typed_in, types_in};

use chunks::{Chunks, Cut};
use csv_feed::{CsvFeed, sniff_delimiter};
use ids::Ids;
use json::json_kind;

/// Where a feed read a chunk at a time leaves the error that stopped it
/// part way, for [`Contacts::finish`].
type Failure = std::rc::Rc<std::cell::RefCell<Option<FeedError>>>;

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

/// A row, event or field that was skipped, and why. `message` is complete
/// for an operator; `field` is the column or key it is about, if one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    match ids.repeat(&id, record.line) {
        None => {}
        Some(Some(first)) => {
            return Err(problem(format!(
                "duplicate id `{id}`, first on line {first}"
            )));
        }
        Some(None) => {
            return Err(problem(format!(
                "duplicate id `{id}` (an earlier row has it)"
            )));
        }
    }
    Ok(Row {
        line: record.line,
        id,
        values: record.values,
    })
}

pub(super) const CONTROL_IN_ID: &str = "contact id contains a control character";

pub(crate) fn has_control(id: &str) -> bool {
    id.chars().any(char::is_control)
}

/// An id or name: a string (trimmed) or an integer as its decimal text.
/// The error describes what was found instead.
pub(super) fn key_text(raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Text(text) => Ok(text.trim().to_string()),
        Raw::Json(Json::String(text)) => Ok(text.trim().to_string()),
        Raw::Json(Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Raw::Json(other) => Err(format!("{} `{other}`", json_kind(other))),
    }
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
mod tests;
