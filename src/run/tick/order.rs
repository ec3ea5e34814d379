//! The order the walk takes the contacts feed in: the feed's own, unless
//! it is large and far from id order, when its rows are sorted by id
//! first.
//!
//! Why: every table a walk writes is keyed by the contact's id (journeys,
//! sightings, the outbox's keys, history by contact). Rows in id order
//! reach those B-trees at a few pages at a time; rows in random order (an
//! export keyed by UUIDs or emails) dirty a page of each tree per contact,
//! and every batch commit writes each such page to the log again. A first
//! run of a million contacts in random order took four times as long as the
//! same rows in id order (README, Performance), nearly all of it writing.
//!
//! How: an external merge sort that holds at most [`CHUNK`] bytes of rows.
//! Each row is encoded compactly; a full chunk is sorted and written to a
//! private temporary file beside the state (unnamed where the system
//! allows, so nothing is left behind by a killed run); the chunks are then
//! merged one row at a time as the walk asks. A feed that fits one chunk
//! never touches the disk. Ids are unique by then (the screen turned
//! repeated ones into bad rows), and rows with equal ids would keep their
//! feed order.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::run::feed::{Raw, Row};

/// Below this many rows the state a run writes fits SQLite's page cache
/// (40 MB, about 30,000 contacts' worth), so the order costs nothing.
pub(super) const SORT_FROM: usize = 20_000;

/// Whether a feed of `rows` rows, `descents` of which have an id sorting
/// before the row read before them, is walked in id order. A batch of a
/// thousand walked contacts with at most one descent in it already writes
/// its rows near each other: an export numbered in the order it was made
/// (`c9`, `c10`, ... sorts in a few long runs) is walked as it comes.
pub(super) fn sorts(rows: usize, descents: usize) -> bool {
    rows >= SORT_FROM && descents > rows / 1_000
}

/// Bytes of encoded rows sorted in memory at a time (a row of a dozen
/// fields takes about 250): 16 MB, allocated once, keeps a run's peak
/// memory under its target while the chunks are written, and a million
/// rows make a merge of about fifteen.
const CHUNK: usize = 16 << 20;

/// Rows taken in feed order, given back in id order.
pub(super) struct Sorter {
    dir: PathBuf,
    /// [`CHUNK`], but for the tests.
    limit: usize,
    chunk: Vec<u8>,
    /// Where each row of `chunk` starts and ends.
    spans: Vec<(usize, usize)>,
    /// The sorted chunks written so far, each rewound to its start.
    runs: Vec<File>,
}

impl Sorter {
    /// Sorts through temporary files in `dir` when the rows outgrow memory.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            limit: CHUNK,
            chunk: Vec::new(),
            spans: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, row: &Row) -> io::Result<()> {
        if self.chunk.capacity() == 0 {
            // A row longer than the room left grows it once, past the limit.
            self.chunk.reserve_exact(self.limit + (64 << 10));
        }
        let start = self.chunk.len();
        encode(row, &mut self.chunk)?;
        self.spans.push((start, self.chunk.len()));
        if self.chunk.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// The chunk's spans, ordered by the ids of their rows (stable: equal
    /// ids keep the feed's order).
    fn order(&mut self) {
        let chunk = &self.chunk;
        self.spans
            .sort_by(|a, b| id_of(&chunk[a.0..a.1]).cmp(id_of(&chunk[b.0..b.1])));
    }

    fn spill(&mut self) -> io::Result<()> {
        self.order();
        let mut file = BufWriter::new(tempfile::tempfile_in(&self.dir)?);
        for &(start, end) in &self.spans {
            let record = &self.chunk[start..end];
            file.write_all(&length(record.len())?.to_le_bytes())?;
            file.write_all(record)?;
        }
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        self.runs.push(file);
        self.chunk.clear();
        self.spans.clear();
        Ok(())
    }

    /// Every row pushed, by id.
    pub fn sorted(mut self) -> io::Result<Sorted> {
        if self.runs.is_empty() {
            self.order();
            return Ok(Sorted::Memory {
                chunk: self.chunk,
                spans: self.spans.into_iter(),
            });
        }
        if !self.spans.is_empty() {
            self.spill()?;
        }
        let mut runs: Vec<BufReader<File>> = self
            .runs
            .into_iter()
            .map(|file| BufReader::with_capacity(64 << 10, file))
            .collect();
        let mut heads = BinaryHeap::with_capacity(runs.len());
        for (run, reader) in runs.iter_mut().enumerate() {
            if let Some(record) = next_record(reader)? {
                heads.push(Reverse(Head { record, run }));
            }
        }
        Ok(Sorted::Merge { runs, heads })
    }
}

/// The rows in id order: from the one chunk held, or merged from the
/// sorted chunks on disk.
pub(super) enum Sorted {
    Memory {
        chunk: Vec<u8>,
        spans: std::vec::IntoIter<(usize, usize)>,
    },
    Merge {
        runs: Vec<BufReader<File>>,
        heads: BinaryHeap<Reverse<Head>>,
    },
}

impl Iterator for Sorted {
    type Item = io::Result<Row>;

    fn next(&mut self) -> Option<io::Result<Row>> {
        match self {
            Sorted::Memory { chunk, spans } => {
                let (start, end) = spans.next()?;
                Some(chunk.get(start..end).ok_or_else(corrupt).and_then(decode))
            }
            Sorted::Merge { runs, heads } => {
                let Reverse(Head { record, run }) = heads.pop()?;
                let refill = match runs.get_mut(run) {
                    Some(reader) => next_record(reader),
                    None => Err(corrupt()),
                };
                match refill {
                    Ok(Some(record)) => heads.push(Reverse(Head { record, run })),
                    Ok(None) => {}
                    Err(error) => return Some(Err(error)),
                }
                Some(decode(&record))
            }
        }
    }
}

/// The next row of a sorted chunk, first in the merge; ties go to the
/// earlier chunk, which holds the earlier rows of the feed.
pub(super) struct Head {
    record: Vec<u8>,
    run: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        id_of(&self.record)
            .cmp(id_of(&other.record))
            .then(self.run.cmp(&other.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

fn corrupt() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "a temporary file of the sorted feed reads back differently than it was written",
    )
}

fn length(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a value of the feed is over 4 GB",
        )
    })
}

/// A row as bytes: the id first (length and bytes, so [`id_of`] finds it
/// without decoding the rest), the line, then each value as its name, a
/// kind (0 a CSV cell, 1 JSON) and its text.
fn encode(row: &Row, out: &mut Vec<u8>) -> io::Result<()> {
    let text = |out: &mut Vec<u8>, bytes: &[u8]| -> io::Result<()> {
        out.extend_from_slice(&length(bytes.len())?.to_le_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    text(out, row.id.as_bytes())?;
    out.extend_from_slice(&(row.line as u64).to_le_bytes());
    out.extend_from_slice(&length(row.values.len())?.to_le_bytes());
    for (name, value) in &row.values {
        text(out, name.as_bytes())?;
        match value {
            Raw::Text(cell) => {
                out.push(0);
                text(out, cell.as_bytes())?;
            }
            Raw::Json(json) => {
                out.push(1);
                text(out, &serde_json::to_vec(json).map_err(io::Error::other)?)?;
            }
        }
    }
    Ok(())
}

/// The id's bytes at the head of an encoded row (empty for a record too
/// short to hold one; [`decode`] reports those).
fn id_of(record: &[u8]) -> &[u8] {
    let mut reader = Reader(record);
    reader.text().unwrap_or_default()
}

fn decode(record: &[u8]) -> io::Result<Row> {
    let mut reader = Reader(record);
    let utf8 = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| corrupt());
    let id = utf8(reader.text()?)?;
    let line = usize::try_from(reader.u64()?).map_err(|_| corrupt())?;
    let count = reader.u32()?;
    let mut values = BTreeMap::new();
    for _ in 0..count {
        let name = utf8(reader.text()?)?;
        let kind = reader.take(1)?.first().copied();
        let bytes = reader.text()?;
        let value = match kind {
            Some(0) => Raw::Text(utf8(bytes)?),
            Some(1) => Raw::Json(serde_json::from_slice(bytes).map_err(|_| corrupt())?),
            _ => return Err(corrupt()),
        };
        values.insert(name, value);
    }
    Ok(Row { line, id, values })
}

/// Reads an encoded row front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> io::Result<u32> {
        let bytes = self.take(4)?.try_into().map_err(|_| corrupt())?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let bytes = self.take(8)?.try_into().map_err(|_| corrupt())?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn text(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The next record of a sorted chunk on disk; `None` at its end.
fn next_record(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    match reader.read_exact(&mut head) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let mut record = vec![0u8; u32::from_le_bytes(head) as usize];
    reader.read_exact(&mut record)?;
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(id: &str, line: usize) -> Row {
        let mut values = BTreeMap::new();
        values.insert("id".to_string(), Raw::Text(id.to_string()));
        values.insert("note".to_string(), Raw::Text(format!("line {line}, é")));
        values.insert(
            "score".to_string(),
            Raw::Json(
                serde_json::json!({"n": 0.1 + 0.2, "big": u64::MAX, "list": [1, "two", null]}),
            ),
        );
        Row {
            line,
            id: id.to_string(),
            values,
        }
    }

    /// A pseudo-random permutation of `n` ids, the same every run.
    fn shuffled(n: usize) -> Vec<Row> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut ids: Vec<String> = (0..n).map(|i| format!("id-{i:x}")).collect();
        for i in (1..ids.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ids.swap(i, (state % (i as u64 + 1)) as usize);
        }
        ids.iter()
            .enumerate()
            .map(|(i, id)| row(id, i + 2))
            .collect()
    }

    fn sort(rows: &[Row], dir: &Path) -> (Vec<Row>, usize) {
        let mut sorter = Sorter::new(dir);
        sorter.limit = 64 << 10;
        for row in rows {
            sorter.push(row).unwrap();
        }
        let spilled = sorter.runs.len();
        let sorted = sorter.sorted().unwrap().collect::<io::Result<Vec<_>>>();
        (sorted.unwrap(), spilled)
    }

    fn expected(rows: &[Row]) -> Vec<Row> {
        let mut rows = rows.to_vec();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows
    }

    #[test]
    fn rows_come_back_whole_and_in_id_order_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let rows = shuffled(400);
        let (sorted, spilled) = sort(&rows, dir.path());
        assert_eq!(spilled, 0, "400 rows fit one chunk");
        assert_eq!(sorted, expected(&rows));
    }

    #[test]
    fn rows_past_a_chunk_are_merged_from_disk_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        // About 120 bytes each: many chunks of 64 KB.
        let rows = shuffled(20_000);
        let (sorted, spilled) = sort(&rows, dir.path());
        assert!(spilled >= 20, "{spilled} chunks on disk");
        assert_eq!(sorted.len(), rows.len());
        assert!(sorted == expected(&rows), "merged rows differ");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the chunks are unnamed temporary files"
        );
    }

    #[test]
    fn equal_ids_keep_the_feed_order() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![row("b", 2), row("a", 3), row("b", 4), row("a", 5)];
        let (sorted, _) = sort(&rows, dir.path());
        let lines: Vec<usize> = sorted.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 5, 2, 4]);
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode(&row("c1", 2), &mut bytes).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode(&bytes).unwrap(), row("c1", 2));
    }

    #[test]
    fn only_large_feeds_out_of_order_are_sorted() {
        assert!(!sorts(SORT_FROM - 1, SORT_FROM - 1), "small");
        assert!(!sorts(1_000_000, 6), "numbered in order: c9, c10, ...");
        assert!(!sorts(1_000_000, 1_000), "one descent a batch");
        assert!(sorts(1_000_000, 1_001));
        assert!(sorts(1_000_000, 500_000), "random");
    }
}
