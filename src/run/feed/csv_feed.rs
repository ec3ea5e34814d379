//! The CSV reader of the feeds: the delimiter sniffed from the header, the
//! header matched to field names ([`Columns`]), then one record at a time,
//! with a quote left open or an undoubled quote reported on the lines it
//! spoils (the csv crate reads both silently).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use csv::ByteRecord;

use super::chunks::{Chunk, Chunks, Cut};
use super::{Columns, Failure, FeedError, Lines, Problem, Raw, Record, utf8_problem};

/// The delimiter among `,` `;` and tab occurring most outside quotes in the
/// header line; `,` when none does (a one-column file).
pub(super) fn sniff_delimiter(bytes: &[u8]) -> u8 {
    const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];
    let mut counts = [0usize; 3];
    let mut quoted = false;
    let mut started = false;
    for &byte in bytes {
        match byte {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted && started => break,
            b'\r' | b'\n' if !quoted => continue,
            _ if !quoted => {
                if let Some(i) = CANDIDATES.iter().position(|c| *c == byte) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
        started = true;
    }
    let best =
        (0..CANDIDATES.len()).fold(0, |best, i| if counts[i] > counts[best] { i } else { best });
    CANDIDATES[best]
}

/// A quote the csv crate reads leniently but that means a broken row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum QuoteFault {
    /// A quoted field that runs to the end of the file.
    Unclosed,
    /// Text after the closing quote of a field: an undoubled quote inside.
    TextAfter,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Fault {
    offset: usize,
    field: usize,
    kind: QuoteFault,
}

/// Where csv-core is in a record, as far as quotes go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Quoting {
    StartField,
    InField,
    InQuotes,
    QuoteInQuotes,
}

impl Quoting {
    /// The state after `byte`, read as csv-core reads it: a quote opens
    /// quoting only at the start of a field, and a doubled quote inside
    /// quotes is a literal one.
    pub(super) fn after(self, byte: u8, delimiter: u8) -> Quoting {
        match (self, byte) {
            (Quoting::InQuotes, b'"') => Quoting::QuoteInQuotes,
            (Quoting::InQuotes, _) => Quoting::InQuotes,
            (Quoting::QuoteInQuotes, b'"') | (Quoting::StartField, b'"') => Quoting::InQuotes,
            (_, b'\n' | b'\r') => Quoting::StartField,
            (_, byte) if byte == delimiter => Quoting::StartField,
            _ => Quoting::InField,
        }
    }
}

/// Finds quote faults by walking the bytes as csv-core does (its states,
/// without the output), since the csv crate accepts both silently.
pub(super) fn quote_faults(bytes: &[u8], delimiter: u8) -> Vec<Fault> {
    let mut faults = Vec::new();
    // Both faults need a quote; most exports have none.
    if !bytes.contains(&b'"') {
        return faults;
    }
    let (mut state, mut field, mut opened) = (Quoting::StartField, 0, 0);
    for (offset, &byte) in bytes.iter().enumerate() {
        let next = state.after(byte, delimiter);
        match (state, next) {
            (Quoting::StartField, Quoting::InQuotes) => opened = offset,
            (Quoting::QuoteInQuotes, Quoting::InField) => faults.push(Fault {
                offset,
                field,
                kind: QuoteFault::TextAfter,
            }),
            (Quoting::InQuotes, _) | (_, Quoting::InQuotes) => {}
            (_, Quoting::StartField) if byte == delimiter => field += 1,
            (_, Quoting::StartField) => field = 0,
            _ => {}
        }
        state = next;
    }
    if state == Quoting::InQuotes {
        let kind = QuoteFault::Unclosed;
        faults.push(Fault {
            offset: opened,
            field,
            kind,
        });
    }
    faults
}

/// The bytes one csv record was read from, blank lines before it skipped.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

/// What reading the next csv record gave.
enum Read {
    End,
    Record(Span),
    WrongLength {
        span: Span,
        expected: u64,
        found: u64,
    },
    Failed {
        span: Span,
        message: String,
    },
}

/// The reader of one chunk: it owns the chunk's text.
type ChunkReader = csv::Reader<Cursor<Arc<[u8]>>>;

fn chunk_reader(bytes: Arc<[u8]>, delimiter: u8) -> ChunkReader {
    // Field counts are checked against the header here, not by the csv
    // crate, which would take the first record of each chunk as the count.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(Cursor::new(bytes))
}

fn next_record(reader: &mut ChunkReader, record: &mut ByteRecord, expected: usize) -> Read {
    // usize holds any offset into a slice.
    let offset = |reader: &ChunkReader| reader.position().byte() as usize;
    let mut start = offset(reader);
    let result = reader.read_byte_record(record);
    // The reader's position is before the blank lines it skips.
    let bytes = reader.get_ref().get_ref();
    while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    let span = Span {
        start,
        end: offset(reader),
    };
    match result {
        Ok(false) => Read::End,
        Ok(true) if expected == 0 || record.len() == expected => Read::Record(span),
        // usize always fits in u64.
        Ok(true) => Read::WrongLength {
            span,
            expected: expected as u64,
            found: record.len() as u64,
        },
        Err(error) => Read::Failed {
            span,
            message: error.to_string(),
        },
    }
}

fn is_blank(record: &ByteRecord) -> bool {
    record
        .iter()
        .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
}

/// A CSV feed being read: the chunk at hand (its text, lines and quote
/// faults) and the header.
pub(super) struct CsvFeed {
    bytes: Arc<[u8]>,
    first_line: usize,
    lines: Lines,
    faults: Vec<Fault>,
    delimiter: u8,
    /// The field each column holds (`""` for a blank header).
    header: Vec<String>,
    /// "did you mean" notes about the header.
    notes: Vec<Problem>,
}

/// The records of a CSV feed, read one at a time as the caller asks, a
/// chunk of the file at a time.
pub(super) struct CsvRecords<'a> {
    feed: CsvFeed,
    chunks: Chunks<'a>,
    reader: ChunkReader,
    record: ByteRecord,
    done: bool,
    failure: Failure,
}

impl CsvFeed {
    fn new(chunk: Chunk, delimiter: u8) -> Self {
        CsvFeed {
            lines: Lines::new(&chunk.bytes),
            faults: quote_faults(&chunk.bytes, delimiter),
            bytes: chunk.bytes,
            first_line: chunk.first_line,
            delimiter,
            header: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Reads the header from the first chunk; the rows follow lazily.
    pub(super) fn open<'a>(
        mut chunks: Chunks<'a>,
        delimiter: u8,
        required: &[&str],
        columns: &Columns,
        failure: Failure,
    ) -> Result<CsvRecords<'a>, FeedError> {
        chunks.set_cut(Cut::Csv(delimiter));
        let first = chunks.next_chunk()?.unwrap_or(Chunk {
            bytes: Arc::from(&[][..]),
            first_line: 1,
        });
        let mut feed = CsvFeed::new(first, delimiter);
        let mut reader = chunk_reader(feed.bytes.clone(), delimiter);
        let mut record = ByteRecord::new();
        let mut done = false;
        match next_record(&mut reader, &mut record, 0) {
            Read::End => done = true,
            Read::Record(span) => {
                let named = feed.header(&record, span, required, columns)?;
                feed.notes = columns.near_misses(feed.line(span.start), &named);
                feed.header = named.into_iter().map(|(_, field)| field).collect();
            }
            // The header sets the field count, so it cannot be wrong.
            Read::WrongLength { span, .. } => {
                let line = feed.line(span.start);
                let message = "unexpected field count".to_string();
                return Err(FeedError::Csv { line, message });
            }
            Read::Failed { span, message } => {
                let line = feed.line(span.start);
                return Err(FeedError::Csv { line, message });
            }
        }
        Ok(CsvRecords {
            feed,
            chunks,
            reader,
            record,
            done,
            failure,
        })
    }

    /// The line of the file `offset` into the chunk is on.
    fn line(&self, offset: usize) -> usize {
        self.first_line - 1 + self.lines.line(offset)
    }

    fn header(
        &self,
        record: &ByteRecord,
        span: Span,
        required: &[&str],
        columns: &Columns,
    ) -> Result<Vec<(String, String)>, FeedError> {
        let line = self.line(span.start);
        if let Some(fault) = self.fault(span).filter(|f| f.kind == QuoteFault::Unclosed) {
            let line = self.line(fault.offset);
            return Err(FeedError::UnclosedQuote { line });
        }
        // Each header as written, and the field it holds.
        let mut names: Vec<(String, String)> = Vec::new();
        for cell in record {
            let name = std::str::from_utf8(cell)
                .map_err(|_| FeedError::NotUtf8 { line })?
                .trim();
            let field = if name.is_empty() {
                String::new()
            } else {
                columns.resolve(name, required)
            };
            if !field.is_empty() && names.iter().any(|(_, f)| *f == field) {
                return Err(FeedError::DuplicateColumn {
                    line,
                    column: field,
                });
            }
            names.push((name.to_string(), field));
        }
        if let Some(column) = required
            .iter()
            .find(|c| !names.iter().any(|(_, f)| f == *c))
        {
            return Err(FeedError::MissingColumn {
                line,
                column: column.to_string(),
                found: names
                    .into_iter()
                    .map(|(raw, _)| raw)
                    .filter(|n| !n.is_empty())
                    .collect(),
            });
        }
        Ok(names)
    }

    /// A record, a problem, or nothing for a blank row (Excel writes `;;;`).
    fn row(&self, record: &ByteRecord, span: Span) -> Option<Result<Record, Problem>> {
        if is_blank(record) {
            return None;
        }
        if let Some(fault) = self.fault(span) {
            return Some(Err(self.quote_problem(fault, span)));
        }
        let line = self.line(span.start);
        let mut values = BTreeMap::new();
        // Cells under a blank header name (a trailing delimiter) are ignored.
        let named = self
            .header
            .iter()
            .zip(record)
            .filter(|(name, _)| !name.is_empty());
        for (name, cell) in named {
            match std::str::from_utf8(cell) {
                Err(error) => return Some(Err(utf8_problem(line, Some(name), cell, error))),
                Ok(text) if text.trim().is_empty() => {}
                Ok(text) => {
                    values.insert(name.clone(), Raw::Text(text.to_string()));
                }
            }
        }
        Some(Ok(Record { line, values }))
    }

    fn wrong_length(
        &self,
        record: &ByteRecord,
        span: Span,
        expected: u64,
        found: u64,
    ) -> Option<Result<Record, Problem>> {
        if is_blank(record) {
            return None;
        }
        if let Some(fault) = self.fault(span) {
            return Some(Err(self.quote_problem(fault, span)));
        }
        let (first, last) = self.line_range(span);
        let mut message = format!("expected {expected} fields, found {found}");
        if last > first {
            message += &format!(" in the row on lines {first}-{last} (is a quote left open?)");
        }
        Some(Err(Problem {
            line: first,
            field: None,
            message,
        }))
    }

    fn failed(&self, span: Span, message: &str) -> Problem {
        let (first, last) = self.line_range(span);
        let end = self.line(self.bytes.len().saturating_sub(1)).max(last);
        Problem {
            line: first,
            field: None,
            message: format!("cannot read lines {first}-{end}: {message}"),
        }
    }

    /// The first quote fault inside `span`.
    fn fault(&self, span: Span) -> Option<Fault> {
        let i = self.faults.partition_point(|f| f.offset < span.start);
        self.faults.get(i).copied().filter(|f| f.offset < span.end)
    }

    fn quote_problem(&self, fault: Fault, span: Span) -> Problem {
        let (first, last) = self.line_range(span);
        let field = self
            .header
            .get(fault.field)
            .filter(|n| !n.is_empty())
            .cloned();
        let prefix = field
            .as_ref()
            .map(|f| format!("field `{f}`: "))
            .unwrap_or_default();
        let quote_line = self.line(fault.offset);
        let what = match fault.kind {
            QuoteFault::Unclosed if last > first => format!(
                "the quote opened on line {quote_line} is never closed, so lines {first}-{last} were not read"
            ),
            QuoteFault::Unclosed => {
                format!("the quote opened on line {quote_line} is never closed")
            }
            QuoteFault::TextAfter if last > first => format!(
                "text after a closing quote on line {quote_line}, and lines {first}-{last} were read as one row"
            ),
            QuoteFault::TextAfter => "text after a closing quote".to_string(),
        };
        Problem {
            line: first,
            field,
            message: format!(
                "{prefix}{what}; a quote inside a quoted field must be doubled (\"\")"
            ),
        }
    }

    /// The first and last line of a record, its line terminator left out.
    fn line_range(&self, span: Span) -> (usize, usize) {
        let mut end = span.end.min(self.bytes.len());
        while end > span.start && matches!(self.bytes.get(end - 1), Some(b'\r' | b'\n')) {
            end -= 1;
        }
        let first = self.line(span.start);
        (first, self.line(end.saturating_sub(1)).max(first))
    }
}

impl CsvRecords<'_> {
    /// The "did you mean" notes about the header.
    pub(super) fn notes(&self) -> &[Problem] {
        &self.feed.notes
    }

    /// Moves on to the next chunk; false at the end of the feed, or when
    /// it cannot be read on (the error is left in `failure`).
    fn next_chunk(&mut self) -> bool {
        match self.chunks.next_chunk() {
            Ok(Some(chunk)) => {
                let header = std::mem::take(&mut self.feed.header);
                let notes = std::mem::take(&mut self.feed.notes);
                self.feed = CsvFeed {
                    header,
                    notes,
                    ..CsvFeed::new(chunk, self.feed.delimiter)
                };
                self.reader = chunk_reader(self.feed.bytes.clone(), self.feed.delimiter);
                true
            }
            Ok(None) => false,
            Err(error) => {
                *self.failure.borrow_mut() = Some(error);
                false
            }
        }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = Result<Record, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let expected = self.feed.header.len();
            let (span, result) = match next_record(&mut self.reader, &mut self.record, expected) {
                Read::End => {
                    if self.next_chunk() {
                        continue;
                    }
                    self.done = true;
                    return None;
                }
                Read::Record(span) => (span, self.feed.row(&self.record, span)),
                Read::WrongLength {
                    span,
                    expected,
                    found,
                } => (
                    span,
                    self.feed.wrong_length(&self.record, span, expected, found),
                ),
                Read::Failed { span, message } => {
                    self.done = true;
                    return Some(Err(self.feed.failed(span, &message)));
                }
            };
            if self
                .feed
                .fault(span)
                .is_some_and(|f| f.kind == QuoteFault::Unclosed)
            {
                // The open quote swallowed the rest of the file.
                self.done = true;
            }
            if result.is_some() {
                return result;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter_outside_quotes_on_the_header_line() {
        assert_eq!(sniff_delimiter(b"id;name;email\n1,2,3,4,5\n"), b';');
        assert_eq!(sniff_delimiter(b"\"a;b;c\",d,e\n"), b',');
        assert_eq!(sniff_delimiter(b"\r\n\r\nid\tname\n"), b'\t');
        assert_eq!(sniff_delimiter(b"id\n1\n"), b',');
        // A tie goes to the comma.
        assert_eq!(sniff_delimiter(b"a,b;c\n"), b',');
    }

    #[test]
    fn finds_quote_faults_like_csv_core_reads_them() {
        assert_eq!(quote_faults(b"a,\"b\"\"c\",d\n\"x\ny\",z\n", b','), vec![]);
        // A quote inside an unquoted field is literal, not a fault.
        assert_eq!(quote_faults(b"a,b\"c\n", b','), vec![]);
        assert_eq!(
            quote_faults(b"a,\"b\"c,d\n", b','),
            vec![Fault {
                offset: 5,
                field: 1,
                kind: QuoteFault::TextAfter
            }]
        );
        assert_eq!(
            quote_faults(b"a,b\nc;\"d\n", b';'),
            vec![Fault {
                offset: 6,
                field: 1,
                kind: QuoteFault::Unclosed
            }]
        );
    }
}
