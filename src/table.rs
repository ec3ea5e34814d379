//! The one renderer of rows for terminals and spreadsheets: every listing
//! (`status`, `history`, `tasks`, `contacts`, `actions`, `retry --list`)
//! and `report`'s tables and CSV go through it, so what the feeds and the
//! funnels put in a cell is made safe in one place. A terminal gets control
//! characters escaped (an ANSI escape in a contact id must not repaint the
//! screen); CSV is written by the `csv` crate, quoted where needed, with
//! cells that a spreadsheet would run as a formula neutralised (OWASP's
//! advice). JSON is not rendered here: it keeps values exact.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// How a listing or `report` is written: an aligned table, CSV, or JSON
/// (which the callers write themselves, exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Table,
    Csv,
    Json,
}

/// How the columns of an aligned table line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Every column left.
    Left,
    /// The first column left, the rest (numbers) right.
    NumbersRight,
}

/// `text` with control characters (C0, DEL, C1) and the bidirectional
/// overrides shown as `\x1b` / `\u{202e}` escapes instead of acting on
/// the terminal.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => shown.push(c),
            c if u32::from(c) < 0x80 => {
                let _ = write!(shown, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(shown)
}

fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes `rows` (the header first) as aligned columns, escaped.
pub fn aligned(out: &mut dyn Write, rows: &[Vec<String>], align: Align) -> io::Result<()> {
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| match align {
                Align::NumbersRight if c > 0 => format!("{cell:>w$}"),
                _ => format!("{cell:<w$}"),
            })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// `cell` as a spreadsheet may read it safely: one that starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return is a formula to Excel and its
/// kin, so it gets a leading `'`. A plain number (`-0.25`) is left alone.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV writer: quoted where needed (a comma, quote, CR or LF), every
/// cell neutralised.
pub struct Csv<'a> {
    writer: csv::Writer<&'a mut dyn Write>,
}

impl<'a> Csv<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        Csv {
            writer: csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::Necessary)
                .from_writer(out),
        }
    }

    pub fn row<I>(&mut self, cells: I) -> io::Result<()>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let cells: Vec<String> = cells
            .into_iter()
            .map(|cell| neutralise(cell.as_ref()).into_owned())
            .collect();
        self.writer.write_record(&cells).map_err(io::Error::other)
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("ann"), "ann");
        assert_eq!(escape("é 名"), "é 名");
        assert_eq!(escape("\x1b[31mred\r\n"), "\\x1b[31mred\\x0d\\x0a");
        assert_eq!(escape("a\u{85}b\u{202e}c"), "a\\u{85}b\\u{202e}c");
    }

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("-0.25"), "-0.25");
        assert_eq!(neutralise("ann"), "ann");
    }

    #[test]
    fn a_carriage_return_in_a_cell_is_quoted() {
        let mut out = Vec::new();
        let mut csv = Csv::new(&mut out);
        csv.row(["a\rb", "c"]).unwrap();
        csv.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "\"a\rb\",c\n");
    }
}
