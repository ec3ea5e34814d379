#![allow(clippy::unwrap_used)]
//! Delivery as the run goes: with nothing waiting in the outbox when a run
//! starts, its file rows are queued already delivered and their lines
//! written before their batch commits (`dispatcher/as_it_goes.rs`). These
//! check that it delivers what the pass after the walk delivered, holds
//! back what that pass suppressed, cuts lines a killed run left, and
//! steps aside when older rows wait.

mod common;

use common::Project;

const FUNNEL: &str = r#"
funnel: welcome
timezone: UTC
contact: { email: email, first_name: string }
enter:
  - { when: "contact.first_name != ''", stage: greet }
exit:
  - { event: unsubscribe, to: opted-out }
stages:
  greet:
    steps:
      - id: hello
        email: { template: hello }
      - id: mark
        tag: greeted
      - id: follow
        after: 1d
        email: { template: hello }
      - id: last
        after: 5d
        email: { template: hello }
    exhausted: done
  done: { terminal: true }
  opted-out: { terminal: true }
"#;

const T0: &str = "2026-05-04T09:00:00Z";
const T2: &str = "2026-05-06T09:00:00Z";

fn project(contacts: usize) -> Project {
    let p = Project::with_funnel(
        FUNNEL,
        &[("hello", "Subject: Hi {{contact.first_name}}\n\nHello.")],
    );
    let mut csv = String::from("id,email,first_name\n");
    for i in 0..contacts {
        csv.push_str(&format!("c{i},c{i}@example.com,Name{i}\n"));
    }
    p.write("contacts.csv", &csv);
    p
}

/// How many times each key is in the outbox file.
fn lines_per_key(p: &Project) -> std::collections::BTreeMap<String, usize> {
    let mut keys = std::collections::BTreeMap::new();
    for line in p.delivered() {
        *keys
            .entry(line["key"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    keys
}

fn state(p: &Project) -> rusqlite::Connection {
    rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap()
}

#[test]
fn a_first_run_writes_each_line_once_and_records_each_row_delivered_once() {
    // More than one batch of a thousand contacts.
    let p = project(2_500);
    let out = p.run_at(T0);
    assert!(
        out.stderr.contains("delivered 5000 / retrying 0"),
        "{}",
        out.stderr
    );
    let keys = lines_per_key(&p);
    assert_eq!(keys.len(), 5_000);
    assert!(keys.values().all(|&n| n == 1));
    let rows: Vec<(String, i64, bool, i64)> = state(&p)
        .prepare(
            "SELECT status, attempts, sent_at IS NOT NULL, COUNT(*) FROM outbox GROUP BY 1, 2, 3",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [("delivered".to_string(), 1, true, 5_000)]);
    // The file's committed length is the file's length: nothing past it.
    let committed: i64 = state(&p)
        .query_row("SELECT length FROM outbox_files", [], |r| r.get(0))
        .unwrap();
    let length = std::fs::metadata(p.path(".funnel/outbox.jsonl"))
        .unwrap()
        .len();
    assert_eq!(committed as u64, length);
    // The report counts the sends as delivered, none as still queued.
    let counts = p.outbox_counts();
    assert_eq!(counts.get("delivered"), Some(&5_000), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
}

#[test]
fn lines_a_killed_run_left_past_the_committed_length_are_cut_before_the_next_walk() {
    let p = project(3);
    p.run_at(T0);
    let before = std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap();
    // What a run killed between appending its batch and committing it
    // leaves: lines for rows the state never kept.
    let orphan = r#"{"key":"welcome/c9/1/hello","funnel":"welcome","contact":"c9","step":"hello","channel":"email","payload":{},"due_at":"2026-05-04T09:00:00Z","status":"delivered"}"#;
    std::fs::write(
        p.path(".funnel/outbox.jsonl"),
        format!("{before}{orphan}\n"),
    )
    .unwrap();
    // A later run with nothing new to send still cuts them.
    p.run_at("2026-05-04T10:00:00Z");
    assert_eq!(
        std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap(),
        before
    );
    // And one that sends appends after the committed part, once each.
    p.run_at(T2);
    let keys = lines_per_key(&p);
    assert!(!keys.contains_key("welcome/c9/1/hello"), "{keys:?}");
    assert_eq!(keys.len(), 9, "{keys:?}");
    assert!(keys.values().all(|&n| n == 1), "{keys:?}");
}

#[test]
fn a_message_due_before_an_opt_out_in_the_same_walk_is_held_back_as_before() {
    let p = project(2);
    p.run_at(T0);
    // c0 opts out an hour after the follow-up fell due; the run that
    // catches up sees both, and queues the follow-up on the way.
    p.event("c0", "unsubscribe", "2026-05-05T10:00:00Z");
    let out = p.run_at(T2);
    assert!(out.stderr.contains("suppressed 1"), "{}", out.stderr);
    assert_eq!(p.payload_status("c0", "follow"), "suppressed");
    assert_eq!(p.payload_status("c1", "follow"), "delivered");
    assert_eq!(p.steps_of("c0"), ["hello", "mark"]);
    assert_eq!(p.steps_of("c1"), ["hello", "mark", "follow"]);
}

#[test]
fn rows_left_waiting_go_out_first_and_the_run_delivers_after_its_walk() {
    let p = project(2);
    let queued = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        T0,
        "--no-deliver",
    ]);
    assert_eq!(queued.code, 0, "{}", queued.stderr);
    assert_eq!(p.outbox_counts().get("queued"), Some(&4));
    p.write(
        "contacts.csv",
        "id,email,first_name\nc0,c0@example.com,Name0\nc1,c1@example.com,Name1\nc2,c2@example.com,Name2\n",
    );
    p.run_at("2026-05-04T09:05:00Z");
    // The rows from the first run come first, in the order they were
    // queued, then the new contact's.
    let order: Vec<String> = p
        .delivered()
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "welcome/c0/1/hello",
            "welcome/c0/1/mark",
            "welcome/c1/1/hello",
            "welcome/c1/1/mark",
            "welcome/c2/1/hello",
            "welcome/c2/1/mark",
        ]
    );
}

#[test]
fn a_dry_run_delivers_nothing_and_keeps_nothing() {
    let p = project(2);
    let out = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        T0,
        "--dry-run",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.delivered().is_empty());
}

#[test]
fn an_outbox_that_cannot_be_written_stops_no_walk_and_loses_no_row() {
    let p = project(3);
    // A directory where the file should be: every append fails.
    std::fs::create_dir_all(p.path("blocked.jsonl")).unwrap();
    let args = [
        "run",
        "--contacts",
        "contacts.csv",
        "--outbox",
        "blocked.jsonl",
    ];
    let failed = p.funnel(&[&args[..], &["--now", T0]].concat());
    assert_ne!(failed.code, 0, "{}", failed.stderr);
    assert!(failed.stderr.contains("blocked.jsonl"), "{}", failed.stderr);
    // The walk went on and kept every row, waiting in the queue.
    assert_eq!(p.outbox_counts().get("queued"), Some(&6));
    // Once the file can be written, each row goes out once.
    std::fs::remove_dir(p.path("blocked.jsonl")).unwrap();
    let fixed = p.funnel(&[&args[..], &["--now", "2026-05-04T09:05:00Z"]].concat());
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    let text = std::fs::read_to_string(p.path("blocked.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_eq!(p.outbox_counts().get("delivered"), Some(&6));
}
