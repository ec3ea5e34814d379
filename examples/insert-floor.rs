//! A floor under the first run of `funnel run` (`benches/run.sh` prints
//! it): inserting the rows a finished first run kept into an empty state
//! the way a run's writer must, one statement per row (held for the
//! transaction), a contact's rows together, a thousand contacts a
//! transaction, with the state's own settings. Nothing is computed: the
//! rows are read back from the finished state. A first run does at least
//! this much besides walking.
//!
//! ```sh
//! cargo run --release --example insert-floor -- first.db empty.db
//! ```
//!
//! It prints (on stderr) the seconds the inserting took, the commits and
//! the closing checkpoint included. The rows are read into memory before
//! (about 3.5 GB at a million contacts) and freed after; neither counts.

// A program of its own, not the library: it may talk to its terminal.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};

/// The tables a first run writes a row of for each contact, in the order
/// its walk writes them (the report's counters, a few rows a batch, are
/// left out).
const TABLES: [&str; 5] = ["history", "outbox", "addresses", "journeys", "sightings"];

/// Contacts a transaction, as `funnel run` commits.
const BATCH: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [first, empty] = args.as_slice() else {
        eprintln!("usage: insert-floor FIRST-RUN-STATE.db NEW.db");
        std::process::exit(2);
    };
    let source = Connection::open_with_flags(first, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut target = Connection::open(empty)?;
    // As the run sets up its connections (`store.rs`, RUN_SETUP).
    target.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA cache_size = -40960; PRAGMA wal_autocheckpoint = 16384;",
    )?;
    let schema: Vec<String> = source
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    target.execute_batch(&schema.join(";\n"))?;

    let mut reads = Vec::new();
    for table in TABLES {
        reads.push(source.prepare(&format!("SELECT * FROM {table}"))?);
    }
    let inserts: Vec<String> = TABLES
        .iter()
        .zip(&reads)
        .map(|(table, read)| {
            let marks = vec!["?"; read.column_count()].join(", ");
            format!("INSERT INTO {table} VALUES ({marks})")
        })
        .collect();
    let mut cursors = Vec::new();
    for read in &mut reads {
        cursors.push(read.query([])?);
    }

    // The rows are read back first, and freed after: only the inserting
    // is timed.
    let mut tables: Vec<Vec<Vec<Value>>> = Vec::new();
    for rows in &mut cursors {
        let mut table = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..row.as_ref().column_count())
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()?;
            table.push(values);
        }
        tables.push(table);
    }
    let contacts = tables.iter().map(Vec::len).max().unwrap_or(0);
    let start = std::time::Instant::now();
    for first in (0..contacts).step_by(BATCH) {
        let tx = target.transaction()?;
        {
            // Held for the transaction, as the run's writer holds its own
            // (`store/tx.rs`).
            let mut statements = inserts
                .iter()
                .map(|sql| tx.prepare(sql))
                .collect::<Result<Vec<_>, _>>()?;
            for contact in first..(first + BATCH).min(contacts) {
                for (rows, statement) in tables.iter().zip(&mut statements) {
                    if let Some(values) = rows.get(contact) {
                        statement.execute(params_from_iter(values))?;
                    }
                }
            }
        }
        tx.commit()?;
    }
    target.close().map_err(|(_, e)| e)?;
    let inserting = start.elapsed();
    drop(tables);
    // On stderr, where `benches/run.sh` reads a program's summary line.
    eprintln!(
        "{contacts} contacts' rows inserted in {:.2} s",
        inserting.as_secs_f64()
    );
    Ok(())
}
