//! The floor under a tick of `funnel run` (`benches/run.sh` prints it):
//! reading the contacts feed with borrowed records and looking up every
//! contact's journey by its key in the state, nothing else. A tick must do
//! at least this much to learn that a contact is unchanged.
//!
//! ```sh
//! cargo run --release --example scan-floor -- contacts.csv state.db onboarding
//! cargo run --release --example scan-floor -- contacts.csv - onboarding
//! ```
//!
//! With `-` for the state it only reads the feed: the floor under a tick
//! in which nothing changed.

// A program of its own, not the library: it may talk to its terminal.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use rusqlite::{OpenFlags, OptionalExtension};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [feed, state, funnel] = args.as_slice() else {
        eprintln!("usage: scan-floor CONTACTS.csv STATE.db FUNNEL");
        std::process::exit(2);
    };
    let db = match state.as_str() {
        "-" => None,
        path => Some(rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?),
    };
    // The page cache `funnel run` gives itself, so the floor reads as it does.
    if let Some(db) = &db {
        db.execute_batch("PRAGMA cache_size = -65536;")?;
    }
    let sql = "SELECT stage FROM journeys WHERE funnel = ?1 AND contact = ?2";
    let mut lookup = db.as_ref().map(|db| db.prepare(sql)).transpose()?;
    let mut reader = csv::Reader::from_path(feed)?;
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut found) = (0_u64, 0_u64);
    while reader.read_byte_record(&mut record)? {
        rows += 1;
        // Bound as text, as the state keeps ids (bytes would bind as a blob).
        let id = std::str::from_utf8(record.get(0).unwrap_or_default())?;
        if let Some(lookup) = &mut lookup {
            let stage: Option<String> = lookup
                .query_row(rusqlite::params![funnel, id], |r| r.get(0))
                .optional()?;
            found += u64::from(stage.is_some());
        }
    }
    eprintln!("{rows} rows, {found} journeys");
    Ok(())
}
