#![allow(clippy::unwrap_used)]
//! A first run writes on the other core (`run/runner/later.rs`,
//! `run/tick/writer.rs`): the walk hands its writes over a batch at a
//! time, and a writer thread applies each batch in one transaction. A
//! write that fails there stops the run with the state's own error; the
//! batches before it stay, the one it was in and those after are not
//! written, and the run after it does the rest exactly once, ending where
//! an unbroken first run ends.

mod common;

use common::Project;

const FUNNEL: &str = r#"
funnel: trial
timezone: UTC
contact:
  email: email
  name: string
  signed_up_at: timestamp
enter: [{ on: contact.signed_up_at, stage: welcome }]
stages:
  welcome:
    steps:
      - id: hello
        email: { template: hello }
      - id: nudge
        after: 1d
        email: { template: hello }
    exhausted: done
  done: { terminal: true }
"#;

const NOW: &str = "2026-06-01T09:00:00Z";

/// Three batches of a thousand contacts.
const ROWS: usize = 3_000;

fn feed(rows: usize) -> String {
    let mut feed = String::from("id,email,name,signed_up_at\n");
    for i in 0..rows {
        let at = if i % 2 == 0 {
            "2026-05-30 08:00"
        } else {
            "2026-06-01 08:00"
        };
        feed.push_str(&format!("c{i:05},c{i}@example.com,Name {i},{at}\n"));
    }
    feed
}

fn project(feed: &str) -> Project {
    let p = Project::with_funnel(
        FUNNEL,
        &[("hello", "subject: Hi\n---\nHi {{contact.name}}\n")],
    );
    p.write("contacts.csv", feed);
    p
}

fn state(p: &Project) -> rusqlite::Connection {
    rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap()
}

fn count(p: &Project, sql: &str) -> i64 {
    state(p).query_row(sql, [], |r| r.get(0)).unwrap()
}

fn outbox_file(p: &Project) -> String {
    std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap_or_default()
}

#[test]
fn a_write_that_fails_on_the_writer_stops_the_run_and_the_next_run_finishes_it() {
    // An unbroken first run, to compare with.
    let whole = project(&feed(ROWS));
    whole.run_at(NOW);

    // A state that exists and knows the funnel but holds nothing of it: a
    // first run over a header-only feed.
    let p = project(&feed(0));
    p.run_at(NOW);
    p.write("contacts.csv", &feed(ROWS));
    // The second batch's 501st contact cannot be written.
    state(&p)
        .execute_batch(
            "CREATE TRIGGER injected BEFORE INSERT ON history WHEN NEW.contact = 'c01500' \
             BEGIN SELECT RAISE(ABORT, 'injected write failure'); END;",
        )
        .unwrap();
    let failed = p.funnel(&["run", "--contacts", "contacts.csv", "--now", NOW]);
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    assert!(
        failed.stderr.contains("injected write failure"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("panicked"), "{}", failed.stderr);

    // The first batch was written, lines and all; nothing of the others.
    assert_eq!(count(&p, "SELECT COUNT(*) FROM journeys"), 1_000);
    assert_eq!(count(&p, "SELECT COUNT(*) FROM sightings"), 1_000);
    let last: String = state(&p)
        .query_row("SELECT MAX(contact) FROM journeys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(last, "c00999");
    let lines = outbox_file(&p);
    assert_eq!(
        lines.lines().count() as i64,
        count(&p, "SELECT COUNT(*) FROM outbox WHERE status = 'delivered'")
    );
    assert_eq!(
        lines.len() as i64,
        count(&p, "SELECT length FROM outbox_files")
    );

    state(&p).execute_batch("DROP TRIGGER injected;").unwrap();
    p.run_at(NOW);
    // The rest was written at once (the funnel is no longer new to the
    // state): the same rows as the unbroken run's, written on its writer.
    assert_eq!(outbox_file(&p), outbox_file(&whole));
    assert_eq!(dump(&p, SAME[0]).len(), ROWS);
    for sql in SAME {
        let (resumed, unbroken) = (dump(&p, sql), dump(&whole, sql));
        assert_eq!(resumed.len(), unbroken.len(), "{sql}");
        let differ = resumed.iter().zip(&unbroken).find(|(a, b)| a != b);
        assert!(differ.is_none(), "{sql}: {differ:?}");
    }
    let status = |p: &Project| p.funnel(&["status"]).stdout;
    assert_eq!(status(&p), status(&whole));
}

/// What a first run leaves, in an order of its own, without the rowids
/// and wall-clock times that differ between two runs of the same input.
const SAME: [&str; 8] = [
    "SELECT * FROM journeys ORDER BY funnel, contact",
    "SELECT * FROM sightings ORDER BY funnel, contact",
    "SELECT funnel, contact, entry, at, kind, from_stage, from_step, to_stage, to_step, reason, version \
     FROM history ORDER BY contact, id",
    "SELECT key, funnel, contact, step, channel, payload, due_at, status, attempts, version, transactional \
     FROM outbox ORDER BY key",
    "SELECT * FROM addresses ORDER BY channel, address",
    "SELECT * FROM stage_flow ORDER BY funnel, stage, version, day, outcome, to_stage",
    "SELECT * FROM step_flow ORDER BY funnel, stage, step, version, day, outcome",
    "SELECT * FROM step_sends ORDER BY funnel, step, channel, version, day, status",
];

/// Every row `sql` gives, each value as text.
fn dump(p: &Project, sql: &str) -> Vec<Vec<String>> {
    let state = state(p);
    let mut statement = state.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| Ok(format!("{:?}", row.get::<_, rusqlite::types::Value>(i)?)))
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
