//! The tick's fast path (`runner/fast.rs`): a contact whose row, events
//! and funnel are unchanged is not walked until the moment the last walk
//! saw coming (`sightings.next_due`), and is then moved exactly as a full
//! walk would have moved it.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

const NUDGE: &str = r#"
funnel: nudge
timezone: UTC
contact: { email: email, unsubscribed: bool, due_at: timestamp? }
enter: [{ when: "true", stage: a }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  a:
    goal: { when: "GOAL", to: chased }
    steps:
      - id: hello
        email: { template: hello }
      - id: nudge
        after: 2d
        email: { template: hello }
    exhausted: out
  chased: { terminal: true }
  out: { terminal: true }
"#;

const HELLO: (&str, &str) = ("hello", "subject: Hi\n---\nHello {{contact.email}}\n");

/// The stored `next_due` of a contact's row (`None`: unknown).
fn next_due(p: &Project, contact: &str) -> Option<String> {
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    state
        .query_row(
            "SELECT next_due FROM sightings WHERE contact = ?1",
            [contact],
            |r| r.get(0),
        )
        .unwrap()
}

/// Sets the moment the fast path reads, kept with the row's sighting.
fn set_next_due(p: &Project, contact: &str, due: Option<&str>) {
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    state
        .execute(
            "UPDATE sightings SET next_due = ?2 WHERE contact = ?1",
            rusqlite::params![contact, due],
        )
        .unwrap();
}

/// The funnel's goal: over fields only, so every moment can be dated.
const PAID: &str = "has(contact.due_at)";

fn project(rows: &str) -> Project {
    project_with(PAID, rows)
}

fn project_with(goal: &str, rows: &str) -> Project {
    let p = Project::with_funnel(&NUDGE.replace("GOAL", goal), &[HELLO]);
    p.write(
        "contacts.csv",
        &format!("id,email,unsubscribed,due_at\n{rows}"),
    );
    p
}

/// A contact left unwalked for several ticks (nothing changed, nothing
/// due) still gets its step at the moment it falls due between two ticks,
/// exactly as one late run over the same row gives it.
#[test]
fn an_unchanged_contact_moves_when_its_step_falls_due_between_ticks() {
    let ticked = project("ann,ann@example.com,no,\n");
    ticked.run_at("2026-05-04T08:00:00Z");
    assert_eq!(
        next_due(&ticked, "ann").as_deref(),
        Some("2026-05-06T08:00:00Z")
    );
    for now in [
        "2026-05-04T14:00:00Z",
        "2026-05-05T08:00:00Z",
        "2026-05-06T07:59:59Z",
    ] {
        ticked.run_at(now);
        assert_eq!(ticked.steps_of("ann"), ["hello"], "nothing due at {now}");
    }
    ticked.run_at("2026-05-06T09:30:00Z");
    let late = project("ann,ann@example.com,no,\n");
    late.run_at("2026-05-04T08:00:00Z");
    late.run_at("2026-05-06T09:30:00Z");
    assert_eq!(ticked.steps_of("ann"), ["hello", "nudge"]);
    assert_eq!(ticked.outbox(), late.outbox());
    assert_eq!(ticked.moves("ann"), late.moves("ann"));
    assert_eq!(
        ticked.outbox()[1].3,
        "2026-05-06T08:00:00Z",
        "dated when it fell due, not when the run looked"
    );
    // Nothing lies ahead once the steps ran out and the journey ended.
    ticked.run_at("2026-05-07T09:30:00Z");
    assert_eq!(next_due(&ticked, "ann").as_deref(), Some("never"));
}

/// The run trusts `next_due`: a contact whose stored moment is later than
/// `now` is not walked, and one whose moment is unknown (a state from
/// before v15) is. This is what makes the test above a test of the fast
/// path rather than of the full walk.
///
/// Each run changes another contact's row, so that the export differs
/// and the run reads it: an identical export with nothing due is not read
/// at all (`tests/unchanged.rs`), and these runs are about the contacts a
/// reading run leaves.
#[test]
fn a_contact_is_walked_only_when_its_next_due_moment_has_come_or_is_unknown() {
    let p = project("ann,ann@example.com,no,\n");
    let other = |email: &str| {
        p.write(
            "contacts.csv",
            &format!("id,email,unsubscribed,due_at\nann,ann@example.com,no,\nbob,{email},no,\n"),
        );
    };
    p.run_at("2026-05-04T08:00:00Z");
    set_next_due(&p, "ann", Some("2026-05-09T00:00:00Z"));
    other("bob@example.com");
    p.run_at("2026-05-07T00:00:00Z");
    assert_eq!(
        p.steps_of("ann"),
        ["hello"],
        "skipped: its moment had not come"
    );
    set_next_due(&p, "ann", None);
    other("bob@example.org");
    p.run_at("2026-05-07T00:00:01Z");
    assert_eq!(p.steps_of("ann"), ["hello", "nudge"], "unknown: walked");
}

/// What the fast path cannot date is walked every run: a goal over
/// `now` that turns true between ticks, with the row unchanged, fires at
/// its own moment.
#[test]
fn a_condition_over_now_keeps_its_contact_walked() {
    let p = project_with(
        "has(contact.due_at) && contact.due_at <= now",
        "ann,ann@example.com,no,2026-05-05 12:00\n",
    );
    p.run_at("2026-05-04T08:00:00Z");
    assert_eq!(next_due(&p, "ann"), None, "a goal over now cannot be dated");
    p.run_at("2026-05-05T08:00:00Z");
    p.run_at("2026-05-05T18:00:00Z");
    assert_eq!(
        p.moves("ann").last().unwrap(),
        "2026-05-05T12:00:00Z goal a/nudge -> chased"
    );
}

/// A changed row is walked at once, whatever `next_due` says.
#[test]
fn a_changed_row_is_walked_before_its_next_due_moment() {
    let p = project("ann,ann@example.com,no,\n");
    p.run_at("2026-05-04T08:00:00Z");
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,due_at\nann,ann@example.com,yes,\n",
    );
    p.run_at("2026-05-04T10:00:00Z");
    assert_eq!(
        p.moves("ann").last().unwrap(),
        "2026-05-04T10:00:00Z exit a/nudge -> out"
    );
}

/// A contact who has not entered is left too: the walk that found no
/// entry keeps, with the row's sighting, when one could fire (an `on:`
/// time ahead, or never), and the contact enters at that moment. The
/// moment is set later by hand here, to show the run trusts it.
#[test]
fn a_contact_who_has_not_entered_is_left_until_their_entry_falls_due() {
    let funnel = NUDGE.replace("GOAL", PAID).replace(
        "enter: [{ when: \"true\", stage: a }]",
        "enter: [{ on: contact.due_at, stage: a }]",
    );
    let p = Project::with_funnel(&funnel, &[HELLO]);
    let rows = |extra: &str| {
        p.write(
            "contacts.csv",
            &format!(
                "id,email,unsubscribed,due_at\nbob,bob@example.com,no,2026-05-06 08:00\ncy,cy@example.com,no,\n{extra}"
            ),
        );
    };
    rows("");
    p.run_at("2026-05-04T08:00:00Z");
    let sighted = |contact: &str| -> Option<String> {
        rusqlite::Connection::open(p.path(".funnel/state.db"))
            .unwrap()
            .query_row(
                "SELECT next_due FROM sightings WHERE contact = ?1",
                [contact],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(sighted("bob").as_deref(), Some("2026-05-06T08:00:00Z"));
    assert_eq!(sighted("cy").as_deref(), Some("never"));
    // Another row changes, so each run reads the feed.
    set_sighted(&p, "bob", "2026-05-06T12:00:00Z");
    rows("dee,dee@example.com,no,\n");
    p.run_at("2026-05-06T10:00:00Z");
    assert!(p.moves("bob").is_empty(), "left: its moment had not come");
    rows("dee,dee@example.org,no,\n");
    p.run_at("2026-05-06T12:00:00Z");
    assert_eq!(
        p.moves("bob")[0],
        "2026-05-06T08:00:00Z enter - -> a",
        "entered at its own moment, whenever a run looked"
    );
}

fn set_sighted(p: &Project, contact: &str, due: &str) {
    rusqlite::Connection::open(p.path(".funnel/state.db"))
        .unwrap()
        .execute(
            "UPDATE sightings SET next_due = ?2 WHERE contact = ?1",
            rusqlite::params![contact, due],
        )
        .unwrap();
}
