//! The embedded default channel: one JSON object per line appended to a
//! file (`.funnel/outbox.jsonl`), for operators who pick messages up with
//! their own tools, and for trying funnels with no server at all.
//!
//! Exactly once without reading the file back: the store records how many
//! bytes of the file are committed, starting with the length the file had
//! when the state first wrote to it (committed before that first write).
//! Before a batch is appended the file is cut back to that length — bytes
//! past it were written by a pass that died before it could mark its rows
//! delivered, and those rows are still queued, so they are written again,
//! identically. The dispatcher then marks the batch delivered and records
//! the new length in one transaction.
//!
//! A run that delivers as it goes (see `dispatcher/as_it_goes.rs`) appends
//! a batch's lines before the batch that queued them commits; a run killed
//! in between leaves lines for rows the state never kept. Such a run
//! starts by cutting the file back to its committed length ([`cut_back`]),
//! so those lines go before anything reads the file as delivered, and the
//! rows, walked again, are written once.
//!
//! Rotation: move or truncate the file only while no `funnel run` or
//! `funnel deliver` is going (they hold `.funnel/state.lock`). A file
//! shorter than the recorded length is taken as rotated: the next batch
//! starts at its end. Rows a crashed pass left past the committed length of
//! a file that was then rotated away get written again in the new file.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::store::OutboxRow;

/// One line of the file: the row as it ends up, with its `payload` as
/// stored ([`Payload::text`](crate::store::Payload::text), made once by
/// whoever queued the row), and a newline. Writing the line is its
/// delivery, so the status it shows is `delivered`, never the `queued` it
/// had while it waited. Written field by field, the payload spliced in as
/// it is: serializing the payload again, body and all, was a tenth of the
/// writer's time in a first run.
pub fn line(row: &OutboxRow, payload: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(payload.len() + 160);
    let fields = [
        ("key", &row.key),
        ("funnel", &row.funnel),
        ("contact", &row.contact),
        ("step", &row.step),
        ("channel", &row.channel),
    ];
    for (index, (name, value)) in fields.into_iter().enumerate() {
        line.extend_from_slice(if index == 0 { b"{\"" } else { b",\"" });
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b"\":");
        string(&mut line, value);
    }
    line.extend_from_slice(b",\"payload\":");
    line.extend_from_slice(payload.as_bytes());
    line.extend_from_slice(b",\"due_at\":");
    string(&mut line, &crate::store::time(row.due_at));
    line.extend_from_slice(b",\"status\":\"delivered\"}\n");
    line
}

/// A JSON string, escaped as serde_json escapes it.
fn string(line: &mut Vec<u8>, text: &str) {
    // Writing a string to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, text);
}

/// Cuts `path` back to `committed` bytes when it is longer: what lies past
/// them was appended by a pass that died before it recorded it. A missing
/// or shorter (rotated) file is left alone.
pub fn cut_back(path: &Path, committed: u64) -> io::Result<()> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if file.metadata()?.len() > committed {
        file.set_len(committed)?;
        file.sync_all()?;
    }
    Ok(())
}

/// Appends `lines` (each from [`line`]) after the committed part of
/// `path` (`committed`, as the store recorded it). Synced to disk before
/// it returns the new committed length.
pub fn append(path: &Path, committed: u64, lines: &[&[u8]]) -> io::Result<u64> {
    if let Some(dir) = path.parent() {
        crate::private::create_dir(dir)?;
    }
    // Messages are personal data: a new outbox is `0600`.
    crate::private::create_file(path)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let actual = file.metadata()?.len();
    let base = committed.min(actual);
    if actual > base {
        file.set_len(base)?;
    }
    let mut length = base;
    // A file from elsewhere may end in a torn line: never glue onto it.
    if base > 0 {
        file.seek(SeekFrom::Start(base - 1))?;
        let mut last = [0u8];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
            length += 1;
        }
    }
    file.seek(SeekFrom::Start(length))?;
    let mut out = BufWriter::new(&mut file);
    for line in lines {
        out.write_all(line)?;
        length += line.len() as u64;
    }
    out.flush()?;
    drop(out);
    file.sync_all()?;
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str) -> OutboxRow {
        OutboxRow {
            key: key.into(),
            funnel: "f".into(),
            contact: "c".into(),
            step: "s".into(),
            channel: "tag".into(),
            payload: crate::store::Payload::Tag(crate::store::AddTag { tag: "hi".into() }),
            due_at: crate::store::stored_time("2026-01-01T00:00:00Z").unwrap(),
            status: crate::store::OutboxStatus::Queued,
        }
    }

    fn lined(key: &str) -> Vec<u8> {
        let row = row(key);
        line(&row, &row.payload.text())
    }

    /// Written field by field, a line is what serializing the row whole
    /// gives, escapes and all.
    #[test]
    fn a_line_is_the_row_serialized() {
        let mut row = row("f/c \"1\"/1/s");
        row.contact = "c \"1\"\n\u{e9}\u{1f600}\u{7}".into();
        row.payload = crate::store::Payload::Tag(crate::store::AddTag {
            tag: "</script>\t\\".into(),
        });
        let whole = serde_json::json!({
            "key": row.key,
            "funnel": row.funnel,
            "contact": row.contact,
            "step": row.step,
            "channel": row.channel,
            "payload": row.payload,
            "due_at": "2026-01-01T00:00:00Z",
            "status": "delivered",
        });
        let mut expected = serde_json::to_vec(&whole).unwrap();
        expected.push(b'\n');
        let made = line(&row, &row.payload.text());
        assert_eq!(
            String::from_utf8(made).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    /// The outbox file showed `"status":"queued"` for lines that were, by
    /// being written, delivered.
    #[test]
    fn a_line_shows_the_status_its_row_ends_with() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        append(&path, 0, &[&lined("a")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["status"], "delivered");
        assert_eq!(line["key"], "a");
    }

    #[test]
    fn bytes_past_the_committed_length_are_rewritten_not_doubled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let committed = append(&path, 0, &[&lined("a")]).unwrap();
        // A pass writes `b`, then dies before committing.
        append(&path, committed, &[&lined("b")]).unwrap();
        let length = append(&path, committed, &[&lined("b"), &lined("c")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(length, text.len() as u64);
    }

    #[test]
    fn a_rotated_file_starts_fresh_and_a_torn_line_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "{\"torn\"").unwrap();
        let length = append(&path, 10_000, &[&lined("a")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"torn\"\n{"), "{text}");
        assert_eq!(length, text.len() as u64);
    }
}
