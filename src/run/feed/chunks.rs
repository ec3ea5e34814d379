//! Feeds are read a block at a time and handed on in chunks that end where
//! a record ends, so a feed of millions of contacts is never held whole:
//! memory stays flat in the size of the feed. A chunk is text, decoded from
//! the feed's encoding when it has one, and starts on a known line, so a
//! problem still names the line of the file.
//!
//! A CSV chunk ends after a line ending outside quotes (the quoting read as
//! csv-core reads it), JSON Lines after any line ending; a JSON array is
//! one chunk, read whole. A quote never closed keeps a chunk open to the
//! end of the file, which is what the reader then reports.

use std::io::Read;
use std::sync::Arc;

use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_8};

use super::FeedError;
use super::csv_feed::Quoting;

/// How much is read at a time, and about how large a chunk is.
const BLOCK: usize = 1 << 20;

/// Where a chunk may end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cut {
    /// After a line ending outside quotes, for a CSV with this delimiter.
    Csv(u8),
    /// After any line ending (JSON Lines).
    Lines,
    /// Only at the end of the feed (a JSON array).
    Whole,
}

/// How the feed's bytes become text.
enum Text {
    /// As they are; a bad byte is the row's problem.
    Raw,
    /// UTF-8, checked: a bad byte stops the feed.
    Utf8,
    /// Decoded from another encoding.
    Decoded(Decoder),
}

/// Text of the feed that ends where a record ends, and the line it starts
/// on.
pub(super) struct Chunk {
    pub bytes: Arc<[u8]>,
    pub first_line: usize,
}

pub(super) struct Chunks<'a> {
    reader: Box<dyn Read + 'a>,
    /// `None` until the first bytes showed whether there is a byte order
    /// mark; then how to turn bytes into text.
    text: Option<Text>,
    /// The encoding asked for: `None` reads the bytes as they are.
    encoding: Option<&'static Encoding>,
    /// Text read and not yet handed on.
    pending: Vec<u8>,
    /// How far `pending` was searched for a cut, the quoting there, and
    /// the last cut found.
    scanned: usize,
    quoting: Quoting,
    last_cut: Option<usize>,
    /// The line `pending` starts on.
    line: usize,
    eof: bool,
    cut: Cut,
    raw: Vec<u8>,
}

impl<'a> Chunks<'a> {
    /// A feed read from `reader`. With an `encoding` (UTF-8 included) the
    /// text is checked or decoded and a bad byte is a [`FeedError`];
    /// without one, bytes are handed on as they are. A UTF-8 byte order
    /// mark is dropped; with an encoding, any byte order mark wins over it.
    pub fn new(reader: Box<dyn Read + 'a>, encoding: Option<&'static Encoding>) -> Self {
        Self {
            reader,
            text: None,
            encoding,
            pending: Vec::new(),
            scanned: 0,
            quoting: Quoting::StartField,
            last_cut: None,
            line: 1,
            eof: false,
            cut: Cut::Whole,
            raw: Vec::new(),
        }
    }

    /// The start of the feed's text (at least a block of it, or all of
    /// it), without consuming it: to tell its format and delimiter.
    pub fn peek(&mut self) -> Result<&[u8], FeedError> {
        while self.pending.len() < BLOCK && !self.eof {
            self.fill()?;
        }
        Ok(&self.pending)
    }

    /// Whether the feed holds nothing but white space.
    pub fn is_blank(&mut self) -> Result<bool, FeedError> {
        loop {
            if !self.pending.iter().all(u8::is_ascii_whitespace) {
                return Ok(false);
            }
            if self.eof {
                return Ok(true);
            }
            self.fill()?;
        }
    }

    pub fn set_cut(&mut self, cut: Cut) {
        self.cut = cut;
    }

    /// The next chunk, `None` at the end of the feed.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, FeedError> {
        loop {
            self.scan();
            let end = match self.last_cut {
                Some(cut) if self.pending.len() >= BLOCK => Some(cut),
                _ if self.eof => Some(self.pending.len()),
                _ => None,
            };
            if let Some(end) = end {
                if end == 0 {
                    return Ok(None);
                }
                return self.hand_on(end).map(Some);
            }
            self.fill()?;
        }
    }

    /// Searches the text not yet searched for the last place a chunk may
    /// end.
    fn scan(&mut self) {
        let from = self.scanned;
        match self.cut {
            Cut::Whole => {}
            Cut::Lines => {
                if let Some(i) = self.pending[from..].iter().rposition(|b| *b == b'\n') {
                    self.last_cut = Some(from + i + 1);
                }
            }
            // Without a quote to open or close, and outside quotes, every
            // line end is a record's end: the last one is the cut, and the
            // state after is what the last byte leaves (most exports quote
            // nothing, and this spares a branch per byte).
            Cut::Csv(delimiter)
                if self.quoting != Quoting::InQuotes && !self.pending[from..].contains(&b'"') =>
            {
                if let Some(i) = self.pending[from..].iter().rposition(|b| *b == b'\n') {
                    self.last_cut = Some(from + i + 1);
                }
                if let Some(&last) = self.pending[from..].last() {
                    self.quoting = Quoting::StartField.after(last, delimiter);
                }
            }
            Cut::Csv(delimiter) => {
                for (i, &byte) in self.pending[from..].iter().enumerate() {
                    let next = self.quoting.after(byte, delimiter);
                    if byte == b'\n' && next == Quoting::StartField {
                        self.last_cut = Some(from + i + 1);
                    }
                    self.quoting = next;
                }
            }
        }
        self.scanned = self.pending.len();
    }

    fn hand_on(&mut self, end: usize) -> Result<Chunk, FeedError> {
        let bytes: Arc<[u8]> = Arc::from(&self.pending[..end]);
        self.pending.drain(..end);
        self.scanned -= end;
        self.last_cut = None;
        let first_line = self.line;
        self.line += newlines(&bytes);
        if matches!(self.text, Some(Text::Utf8))
            && let Err(error) = std::str::from_utf8(&bytes)
        {
            let at = error.valid_up_to();
            return Err(FeedError::Encoding {
                line: first_line + newlines(&bytes[..at]),
                byte: bytes.get(at).copied().unwrap_or_default(),
            });
        }
        Ok(Chunk { bytes, first_line })
    }

    /// Reads a block more into `pending`, as text.
    fn fill(&mut self) -> Result<(), FeedError> {
        self.raw.resize(BLOCK, 0);
        let mut filled = 0;
        // A byte order mark is up to three bytes: the first read waits for
        // them (a pipe may hand over less).
        let want = if self.text.is_none() { 3 } else { 1 };
        while filled < want {
            let n = loop {
                match self.reader.read(&mut self.raw[filled..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(FeedError::Io {
                            line: self.line + newlines(&self.pending),
                            message: source.to_string(),
                        });
                    }
                    Ok(n) => break n,
                }
            };
            if n == 0 {
                self.eof = true;
                break;
            }
            filled += n;
        }
        let mut raw = std::mem::take(&mut self.raw);
        let mut block = &raw[..filled];
        if self.text.is_none() {
            let (text, bom) = self.start(block);
            self.text = Some(text);
            block = &block[bom..];
        }
        let result = self.push(block);
        raw.clear();
        self.raw = raw;
        result
    }

    /// How the text is read, and the length of the byte order mark.
    fn start(&self, first: &[u8]) -> (Text, usize) {
        let Some(asked) = self.encoding else {
            let bom = if first.starts_with(super::BOM) { 3 } else { 0 };
            return (Text::Raw, bom);
        };
        let (encoding, bom) = Encoding::for_bom(first).unwrap_or((asked, 0));
        if encoding == UTF_8 {
            (Text::Utf8, bom)
        } else {
            (
                Text::Decoded(encoding.new_decoder_without_bom_handling()),
                bom,
            )
        }
    }

    fn push(&mut self, block: &[u8]) -> Result<(), FeedError> {
        let last = self.eof;
        let Some(Text::Decoded(decoder)) = &mut self.text else {
            self.pending.extend_from_slice(block);
            return Ok(());
        };
        let mut rest = block;
        loop {
            let room = decoder
                .max_utf8_buffer_length_without_replacement(rest.len())
                .unwrap_or(BLOCK * 4)
                .max(16);
            let start = self.pending.len();
            self.pending.resize(start + room, 0);
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(rest, &mut self.pending[start..], last);
            self.pending.truncate(start + written);
            rest = &rest[read..];
            match result {
                DecoderResult::InputEmpty => return Ok(()),
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(..) => {
                    return Err(FeedError::Malformed {
                        line: self.line + newlines(&self.pending),
                        encoding: decoder.encoding().name().to_string(),
                    });
                }
            }
        }
    }
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(bytes: &[u8], cut: Cut) -> Vec<(usize, Vec<u8>)> {
        let mut chunks = Chunks::new(Box::new(bytes), None);
        chunks.set_cut(cut);
        let mut out = Vec::new();
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            out.push((chunk.first_line, chunk.bytes.to_vec()));
        }
        out
    }

    #[test]
    fn csv_chunks_end_on_a_line_ending_outside_quotes() {
        // Rows of 100 bytes with a quoted line break in each: every chunk
        // must end after a whole row, never inside the quotes.
        let row = format!("1,\"a\nb\",{}\n", "x".repeat(92));
        let text = row.repeat(30_000);
        let got = chunks(text.as_bytes(), Cut::Csv(b','));
        assert!(got.len() > 1, "{} chunks", got.len());
        let mut line = 1;
        for (first, bytes) in &got {
            assert_eq!(*first, line);
            assert_eq!(bytes.len() % row.len(), 0);
            line += newlines(bytes);
        }
        let joined: Vec<u8> = got.into_iter().flat_map(|(_, b)| b).collect();
        assert_eq!(joined, text.as_bytes());
    }

    /// Blocks without a quote are cut without reading byte by byte; a
    /// quote opened in one block and closed in a later one still keeps
    /// the line breaks between them inside the record.
    #[test]
    fn blocks_without_quotes_cut_at_their_last_line_end() {
        let plain = "1,abc,def\n".repeat(250_000);
        let got = chunks(plain.as_bytes(), Cut::Csv(b','));
        assert!(got.len() > 1, "{} chunks", got.len());
        assert!(got.iter().all(|(_, bytes)| bytes.ends_with(b"\n")));
        let whole: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
        assert_eq!(whole, plain.as_bytes());

        // A quoted field holding two blocks of line breaks, between rows.
        let text = format!("{plain}2,\"{}\",x\n{plain}", "\n".repeat(2 * BLOCK));
        let got = chunks(text.as_bytes(), Cut::Csv(b','));
        let quoted = plain.len();
        let mut at = 0;
        for (_, bytes) in &got {
            at += bytes.len();
            assert!(
                at <= quoted || at > quoted + 2 * BLOCK + 4,
                "a chunk ends inside the quotes, at byte {at}"
            );
        }
        assert_eq!(at, text.len());
    }

    #[test]
    fn an_open_quote_keeps_the_chunk_open_to_the_end() {
        let text = format!("a,\"b\n{}", "c,d\n".repeat(600_000));
        let got = chunks(text.as_bytes(), Cut::Csv(b','));
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn decodes_across_blocks_and_names_the_line_of_a_bad_byte() {
        // "é" in windows-1250 is 0xE9: two million of them cross blocks.
        let mut bytes = b"id,name\n".to_vec();
        for _ in 0..200_000 {
            bytes.extend_from_slice(b"1,\xE9\xE9\xE9\xE9\xE9\xE9\xE9\xE9\n");
        }
        let encoding = Encoding::for_label(b"windows-1250");
        let mut chunks = Chunks::new(Box::new(&bytes[..]), encoding);
        chunks.set_cut(Cut::Lines);
        let mut text = Vec::new();
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            text.extend_from_slice(&chunk.bytes);
        }
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.matches('é').count(), 1_600_000);

        let mut bad = "id\n".repeat(5).into_bytes();
        bad.extend_from_slice(b"\xFF\n");
        let mut chunks = Chunks::new(Box::new(&bad[..]), Some(UTF_8));
        chunks.set_cut(Cut::Lines);
        match chunks.next_chunk() {
            Err(FeedError::Encoding { line, byte }) => assert_eq!((line, byte), (6, 0xFF)),
            other => panic!("{:?}", other.map(|c| c.map(|c| c.first_line))),
        }
    }

    #[test]
    fn a_byte_order_mark_wins_over_the_encoding_asked_for() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "id\n1\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let mut chunks = Chunks::new(Box::new(&bytes[..]), Encoding::for_label(b"windows-1250"));
        chunks.set_cut(Cut::Lines);
        let chunk = chunks.next_chunk().unwrap().unwrap();
        assert_eq!(&chunk.bytes[..], b"id\n1\n");
    }
}
