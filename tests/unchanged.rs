//! A tick that finds nothing changed (`run/tick/unchanged.rs`): the feeds,
//! funnels and settings are those the last finished run read and nobody
//! has anything due, so no contact is read. Such ticks must leave the same
//! journeys as walking everyone would, report the feed as the run that
//! read it did, and give way to a full run on any change.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

const TRIAL: &str = r#"
funnel: trial
timezone: UTC
contact: { email: email, trial_at: timestamp? }
enter: [{ on: contact.trial_at, stage: welcome }]
stages:
  welcome:
    steps:
      - id: hello
        email: { template: hello }
      - id: nudge
        after: 2d
        email: { template: hello }
    exhausted: done
  done: { terminal: true }
"#;

const HELLO: (&str, &str) = ("hello", "subject: Hi\n---\nHello {{contact.email}}\n");

const HEADER: &str = "id,email,trial_at\n";

/// Ann is in; Bob's trial starts a day after the first run (he enters
/// then, with no row changing); Cy has no trial and never enters.
const ROWS: &str = "ann,ann@example.com,2026-05-04 07:00\n\
                    bob,bob@example.com,2026-05-05 08:00\n\
                    cy,cy@example.com,\n";

fn project(rows: &str) -> Project {
    let p = Project::with_funnel(TRIAL, &[HELLO]);
    p.write("contacts.csv", &format!("{HEADER}{rows}"));
    p
}

fn unchanged(run: &common::Run) -> bool {
    run.stderr.contains("unchanged since the run at")
}

/// The second tick over the same export reads nothing, and says so; its
/// counts of rows and bad rows are the first's, and the bad row is
/// reported again at its line.
#[test]
fn an_unchanged_tick_reads_no_contact_and_reports_the_feed_as_read() {
    let p = project(&format!("{ROWS}dee,dee@example.com,soon\n"));
    let first = p.run_at("2026-05-04T08:00:00Z");
    assert!(!unchanged(&first), "{}", first.stderr);
    assert!(
        first.stderr.contains("contacts read 4 /"),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains("contacts.csv (trial):5: field `trial_at`"),
        "{}",
        first.stderr
    );

    let second = p.run_at("2026-05-04T09:00:00Z");
    assert!(
        second.stderr.contains(
            "unchanged since the run at 2026-05-04T08:00:00Z: the same feeds, funnels and settings, and nothing is due before 2026-05-05T08:00:00Z"
        ),
        "{}",
        second.stderr
    );
    assert!(
        second
            .stderr
            .contains("contacts read 4 / entered 0 / moved 0"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("bad rows 1"), "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("contacts.csv (trial):5: field `trial_at`"),
        "{}",
        second.stderr
    );

    let json = p.json(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-04T10:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(json["unchanged"]["since"], "2026-05-04T09:00:00Z", "{json}");
    assert_eq!(json["unchanged"]["next_due"], "2026-05-05T08:00:00Z");
    assert_eq!(json["summary"]["contacts"], 4);
    assert_eq!(json["problems"][0]["line"], 5);
    // Each unchanged run is recorded like any other.
    let runs: i64 = rusqlite::Connection::open(p.path(".funnel/state.db"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(runs, 3);
}

/// Every three hours from 08:00 for five days.
fn ticks() -> Vec<String> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-05-04T08:00:00Z").unwrap();
    (0..=120)
        .step_by(3)
        .map(|hours| {
            (start + chrono::TimeDelta::hours(hours))
                .to_utc()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .collect()
}

/// Principle 1 across the shortcut: ticking every three hours for five
/// days, most ticks unchanged (some walking because Bob's entry or a
/// nudge fell due), leaves the journeys and messages that the same ticks
/// leave when every one of them reads the export (there another
/// contact's row changes each tick).
#[test]
fn unchanged_ticks_leave_the_journeys_reading_ticks_leave() {
    let ticked = project(ROWS);
    let read = project(ROWS);
    let (mut skipped, mut walked) = (0, 0);
    for (i, now) in ticks().iter().enumerate() {
        if unchanged(&ticked.run_at(now)) {
            skipped += 1;
        } else {
            walked += 1;
        }
        read.write(
            "contacts.csv",
            &format!("{HEADER}{ROWS}zed,zed{i}@example.com,\n"),
        );
        assert!(!unchanged(&read.run_at(now)));
    }
    for contact in ["ann", "bob", "cy"] {
        assert_eq!(ticked.moves(contact), read.moves(contact), "{contact}");
        assert_eq!(ticked.sent(contact), read.sent(contact), "{contact}");
    }
    assert_eq!(ticked.steps_of("bob"), ["hello", "nudge"]);
    assert_eq!(ticked.sent("ann").len(), 2);
    // The first run, then the first tick after Bob's entry (05-05 08:00),
    // Ann's nudge (05-06 07:00) and Bob's nudge (05-07 08:00) walk; the
    // other 37 ticks read nothing.
    assert_eq!((walked, skipped), (4, 37));
}

/// Anything a walk reads that differs from the last run's reading makes
/// the next run read everything.
#[test]
fn any_change_reads_the_feed_again() {
    let p = project(ROWS);
    p.run_at("2026-05-04T08:00:00Z");
    assert!(unchanged(&p.run_at("2026-05-04T08:10:00Z")));

    // The same `now` again: the fast path's rows were seen before `now`.
    let again = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-04T08:10:00Z",
    ]);
    assert!(!unchanged(&again), "{}", again.stderr);

    // One byte of the export.
    p.write(
        "contacts.csv",
        &format!("{HEADER}{}", ROWS.replace("bob@", "Bob@")),
    );
    assert!(!unchanged(&p.run_at("2026-05-04T08:20:00Z")));
    assert!(unchanged(&p.run_at("2026-05-04T08:30:00Z")));

    // An edit of the funnel (its version is a hash of the file).
    p.write("funnels/f.yaml", &format!("{TRIAL}# edited\n"));
    assert!(!unchanged(&p.run_at("2026-05-04T08:40:00Z")));
    assert!(unchanged(&p.run_at("2026-05-04T08:50:00Z")));

    // A feed setting.
    p.write("funnel.toml", "[feed]\ndecimal-comma = true\n");
    assert!(!unchanged(&p.run_at("2026-05-04T09:00:00Z")));
    assert!(unchanged(&p.run_at("2026-05-04T09:10:00Z")));

    // A new events feed is read; once a run has walked its events, the
    // next run has nothing new. An event dated after that run is new when
    // its moment comes, and is reported as the run that read it found it.
    p.event("zed", "visited", "2026-05-04T09:15:00Z");
    let with_events = p.run_at("2026-05-04T09:20:00Z");
    assert!(!unchanged(&with_events), "{}", with_events.stderr);
    let after = p.run_at("2026-05-04T09:30:00Z");
    assert!(unchanged(&after), "{}", after.stderr);
    assert!(
        after.stderr.contains("events for unknown contacts 1"),
        "{}",
        after.stderr
    );
    p.event("ann", "visited", "2026-05-04T09:35:00Z");
    assert!(!unchanged(&p.run_at("2026-05-04T09:32:00Z")));
    assert!(
        !unchanged(&p.run_at("2026-05-04T09:40:00Z")),
        "its moment came"
    );
    assert!(unchanged(&p.run_at("2026-05-04T09:45:00Z")));
    std::fs::remove_file(p.path("events.jsonl")).unwrap();
    assert!(!unchanged(&p.run_at("2026-05-04T09:48:00Z")));
    assert!(unchanged(&p.run_at("2026-05-04T09:50:00Z")));

    // An unsubscribe `funnel serve` heard, written as it writes one.
    rusqlite::Connection::open(p.path(".funnel/state.db"))
        .unwrap()
        .execute(
            "INSERT INTO suppressions (channel, contact, at, reason) \
             VALUES ('marketing', 'ann', '2026-05-04T09:52:00Z', 'unsubscribe link')",
            [],
        )
        .unwrap();
    assert!(!unchanged(&p.run_at("2026-05-04T09:53:00Z")));
    assert!(unchanged(&p.run_at("2026-05-04T09:54:00Z")));

    // A run that began and never finished (killed half-way) may have
    // moved some contacts and not others.
    rusqlite::Connection::open(p.path(".funnel/state.db"))
        .unwrap()
        .execute(
            "INSERT INTO runs (now, started_at) VALUES ('2026-05-04T09:55:00Z', '2026-05-04T09:55:00Z')",
            [],
        )
        .unwrap();
    assert!(!unchanged(&p.run_at("2026-05-04T10:00:00Z")));
    assert!(unchanged(&p.run_at("2026-05-04T10:10:00Z")));
}

/// What staff record between runs counts: an overdue task is escalated
/// by an unchanged tick, and `funnel task done` (an event in the state)
/// makes the next tick walk; the one after that has nothing new.
#[test]
fn tasks_escalate_in_an_unchanged_tick_and_a_done_task_is_walked() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "contacts.csv",
        "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n\
         ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\n",
    );
    p.run_at("2026-05-04T09:00:00Z");
    assert_eq!(p.tasks().len(), 1);
    assert!(p.escalations().is_empty());
    // The task was due a day after it was made.
    let escalated = p.run_at("2026-05-05T12:00:00Z");
    assert!(unchanged(&escalated), "{}", escalated.stderr);
    assert!(
        escalated.stderr.contains("escalated 1"),
        "{}",
        escalated.stderr
    );
    assert_eq!(p.escalations().len(), 1);
    let id = p.task_id("ann", p.tasks()[0]["step"].as_str().unwrap());
    p.task_done(id);
    let after = p.run_at("2026-05-05T13:00:00Z");
    assert!(!unchanged(&after), "{}", after.stderr);
    assert!(unchanged(&p.run_at("2026-05-05T14:00:00Z")));
}
