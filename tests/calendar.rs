//! Calendar timing: `on` with `at` ("the day before at 18:00"), `after:
//! N working days` ("the next working day at 09:00"), in the contact's
//! timezone or the funnel's, across DST; the combinations `check` refuses;
//! and the same journeys whatever the schedule of runs.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;
use serde_json::json;

const HELLO: (&str, &str) = ("hello", "subject: Hi\n---\nHello\n");

/// Booked meetings in Budapest: a reminder the evening before (stale two
/// hours after 18:00), then a follow-up the next working day at 09:00.
const MEETINGS: &str = r#"
funnel: meetings
timezone: Europe/Budapest
contact: { email: email, tz: timezone?, meeting_at: timestamp, unsubscribed: bool }
enter: [{ event: meeting.booked, stage: booked }]
exit: [{ when: "contact.unsubscribed", to: out }]
send_window: { days: every day, hours: "08:00-21:00" }
stages:
  booked:
    steps:
      - id: evening-before
        on: "contact.meeting_at - duration('24h')"
        at: "18:00"
        stale_after: 2h
        email: { template: hello, transactional: true }
      - id: follow-up
        after: 1 working day
        at: "09:00"
        email: { template: hello, transactional: true }
    exhausted: out
  out: { terminal: true }
"#;

/// Contacts, meetings and bookings: (id, tz, meeting_at, booked at).
const PEOPLE: [(&str, &str, &str, &str); 4] = [
    // Tuesday 09:00 in Budapest (summer time, UTC+2).
    ("ann", "", "2026-06-16T07:00:00Z", "2026-06-10T10:00:00Z"),
    // Tuesday 09:00 in London (UTC+1): her own timezone.
    (
        "ben",
        "Europe/London",
        "2026-06-16T08:00:00Z",
        "2026-06-10T10:00:00Z",
    ),
    // Monday 09:00 the day after the clocks went forward (Sunday 03-29).
    ("cat", "", "2026-03-30T07:00:00Z", "2026-03-20T10:00:00Z"),
    // Thursday 17:00: the evening before is Wednesday, and the follow-up
    // the next working day after it, Thursday (not the meeting day + 1).
    ("dan", "", "2026-06-18T15:00:00Z", "2026-06-10T10:00:00Z"),
];

fn meetings() -> Project {
    let p = Project::with_funnel(MEETINGS, &[HELLO]);
    let rows: Vec<_> = PEOPLE
        .iter()
        .map(|(id, tz, meeting, _)| {
            let mut row = json!({
                "id": id, "email": format!("{id}@example.com"),
                "meeting_at": meeting, "unsubscribed": false,
            });
            if !tz.is_empty() {
                row["tz"] = json!(tz);
            }
            row
        })
        .collect();
    p.contacts_json(&json!(rows));
    let mut booked: Vec<_> = PEOPLE.iter().map(|(id, _, _, at)| (*at, *id)).collect();
    booked.sort();
    for (at, id) in booked {
        p.event(id, "meeting.booked", at);
    }
    p
}

/// Every `step` minutes from `from` to `to`, as RFC 3339.
fn every(from: &str, to: &str, minutes: i64) -> Vec<String> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    let (mut at, to) = (parse(from), parse(to));
    let mut runs = Vec::new();
    while at <= to {
        runs.push(at.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        at += chrono::TimeDelta::minutes(minutes);
    }
    runs
}

/// The bookings, then runs every `minutes` through the days that matter.
fn span(minutes: i64) -> Vec<String> {
    let mut runs = vec!["2026-03-20T10:00:00Z".to_string()];
    runs.extend(every(
        "2026-03-28T00:00:00Z",
        "2026-03-30T12:00:00Z",
        minutes,
    ));
    runs.push("2026-06-10T10:00:00Z".to_string());
    runs.extend(every(
        "2026-06-15T00:00:00Z",
        "2026-06-18T12:00:00Z",
        minutes,
    ));
    runs.push("2026-06-20T10:00:00Z".to_string());
    runs
}

/// Each contact's moves and what it was sent, after runs at `runs`.
fn journeys(runs: &[String]) -> Vec<(Vec<String>, Vec<String>)> {
    let p = meetings();
    for now in runs {
        p.run_at(now);
    }
    PEOPLE
        .iter()
        .map(|(id, ..)| (p.moves(id), p.sent(id)))
        .collect()
}

/// `on` with `at` was refused (`conflicting-keys`): "the day before at
/// 18:00" could only be written as a fixed offset from the meeting, which
/// is the wrong hour for every meeting not at 18:00.
#[test]
fn the_day_before_at_18_is_local_to_the_contact_whatever_the_meeting_time() {
    let p = meetings();
    assert_eq!(p.funnel(&["check", "funnels"]).code, 0);
    for now in span(90) {
        p.run_at(&now);
    }
    // Monday 18:00 in Budapest is 16:00 UTC; the follow-up Tuesday 09:00,
    // the next working day after the reminder's Monday.
    assert_eq!(
        p.sent("ann"),
        [
            "2026-06-15T16:00:00Z email evening-before",
            "2026-06-16T07:00:00Z email follow-up",
        ]
    );
    // Ben keeps London time: Monday 18:00 BST, Tuesday 09:00 BST.
    assert_eq!(
        p.sent("ben"),
        [
            "2026-06-15T17:00:00Z email evening-before",
            "2026-06-16T08:00:00Z email follow-up",
        ]
    );
    // Sunday 29 March is the day the clocks go forward: 18:00 is already
    // summer time (UTC+2); Monday 09:00 too.
    assert_eq!(
        p.sent("cat"),
        [
            "2026-03-29T16:00:00Z email evening-before",
            "2026-03-30T07:00:00Z email follow-up",
        ]
    );
    assert_eq!(
        p.sent("dan"),
        [
            "2026-06-17T16:00:00Z email evening-before",
            "2026-06-18T07:00:00Z email follow-up",
        ]
    );
    assert_eq!(
        p.moves("dan"),
        [
            "2026-06-10T10:00:00Z enter - -> booked",
            "2026-06-18T07:00:00Z exhausted booked -> out",
        ]
    );
}

/// A meeting booked after 18:00 the evening before: the reminder's moment
/// has passed when the contact arrives. Like any late step it runs at once
/// within its staleness limit, and is skipped (and recorded) past it.
#[test]
fn an_evening_reminder_whose_moment_passed_follows_the_stale_rules() {
    let p = Project::with_funnel(MEETINGS, &[HELLO]);
    p.contacts_json(&json!([
        { "id": "eve", "email": "eve@example.com", "meeting_at": "2026-06-16T07:00:00Z", "unsubscribed": false },
        { "id": "fay", "email": "fay@example.com", "meeting_at": "2026-06-16T07:00:00Z", "unsubscribed": false },
    ]));
    // Eve books at 18:30 local, Fay at 21:00 local (19:00 UTC).
    p.event("eve", "meeting.booked", "2026-06-15T16:30:00Z");
    p.event("fay", "meeting.booked", "2026-06-15T19:00:00Z");
    p.run_at("2026-06-15T16:30:00Z");
    p.run_at("2026-06-15T19:00:00Z");
    assert_eq!(p.sent("eve"), ["2026-06-15T16:30:00Z email evening-before"]);
    assert_eq!(p.sent("fay"), Vec::<String>::new());
    assert_eq!(p.payload_status("fay", "evening-before"), "stale");
}

/// The next working day at 09:00 from a Friday afternoon is Monday; with
/// `working_days: sun-thu` a Thursday's next working day is Sunday; without
/// `at` the time of day is kept.
#[test]
fn the_next_working_day_skips_the_weekend_the_funnel_names() {
    let funnel = |working: &str, after: &str, at: &str| {
        format!(
            "funnel: calls\ntimezone: Europe/Budapest\n{working}\
             contact: {{ email: email, unsubscribed: bool }}\n\
             enter: [{{ event: call.missed, stage: missed }}]\n\
             exit: [{{ when: contact.unsubscribed, to: out }}]\n\
             stages:\n  missed:\n    steps:\n      - id: call-back\n        after: {after}\n{at}\
             \x20       email: {{ template: hello }}\n    exhausted: out\n  out: {{ terminal: true }}\n"
        )
    };
    let sent = |yaml: &str, missed: &str, now: &str| {
        let p = Project::with_funnel(yaml, &[HELLO]);
        assert_eq!(p.funnel(&["check", "funnels"]).code, 0, "{yaml}");
        p.write(
            "contacts.csv",
            "id,email,unsubscribed\nann,a@example.com,no\n",
        );
        p.event("ann", "call.missed", missed);
        p.run_at(missed);
        p.run_at(now);
        p.sent("ann")
    };
    let at_nine = funnel("", "1 working day", "        at: \"09:00\"\n");
    // Friday 15:00 local -> Monday 09:00 local (07:00 UTC).
    assert_eq!(
        sent(&at_nine, "2026-06-12T13:00:00Z", "2026-06-16T00:00:00Z"),
        ["2026-06-15T07:00:00Z email call-back"]
    );
    // Tuesday 08:00 local, before 09:00: still the next day.
    assert_eq!(
        sent(&at_nine, "2026-06-16T06:00:00Z", "2026-06-18T00:00:00Z"),
        ["2026-06-17T07:00:00Z email call-back"]
    );
    let sun_thu = funnel(
        "working_days: sun-thu\n",
        "1 working day",
        "        at: \"09:00\"\n",
    );
    // Thursday -> Sunday.
    assert_eq!(
        sent(&sun_thu, "2026-06-11T13:00:00Z", "2026-06-15T00:00:00Z"),
        ["2026-06-14T07:00:00Z email call-back"]
    );
    // Two working days from Friday 15:00, no `at`: Tuesday 15:00.
    let two = funnel("", "2 working days", "");
    assert_eq!(
        sent(&two, "2026-06-12T13:00:00Z", "2026-06-17T00:00:00Z"),
        ["2026-06-16T13:00:00Z email call-back"]
    );
}

/// The principle: a journey depends on what happened and when, never on
/// when a run looked. Runs every 20 minutes, every 90 (each message at
/// most 90 minutes late, inside its staleness limit) and at odd moments
/// give the same moves and the same messages at the same moments; one run
/// at the very end gives the same moves (its messages are stale).
#[test]
fn calendar_timing_is_the_same_under_any_schedule_of_runs() {
    let often = journeys(&span(20));
    assert_eq!(journeys(&span(90)), often);
    let odd: Vec<String> = [
        "2026-03-20T10:00:00Z",
        "2026-03-29T16:07:00Z",
        "2026-03-30T09:59:00Z",
        "2026-06-10T10:00:00Z",
        "2026-06-15T16:01:00Z",
        "2026-06-15T17:30:00Z",
        "2026-06-16T08:45:00Z",
        "2026-06-17T17:00:00Z",
        "2026-06-18T12:00:00Z",
        "2026-06-20T10:00:00Z",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(journeys(&odd), often);
    // Entries are never dated before a funnel's first run: that run is
    // on the first booking day.
    let once = journeys(&["2026-03-20T10:00:00Z", "2026-06-20T10:00:00Z"].map(String::from));
    let moves =
        |j: &[(Vec<String>, Vec<String>)]| j.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>();
    assert_eq!(moves(&once), moves(&often));
    assert_eq!(often[0].1.len(), 2, "{often:?}");
}

/// `check` refuses timing that cannot work, each at its line and column.
#[test]
fn impossible_timing_is_refused_where_it_is_written() {
    let p = Project::with_funnel(
        "funnel: f\n\
         working_days: funday\n\
         contact: { email: email, meeting_at: timestamp, unsubscribed: bool }\n\
         enter: [{ when: \"true\", stage: a }]\n\
         exit: [{ when: contact.unsubscribed, to: out }]\n\
         send_window: { days: mon-fri, hours: \"09:00-18:00\" }\n\
         stages:\n\
         \x20 a:\n\
         \x20   goal: { event: paid, to: out }\n\
         \x20   goals: [{ event: refund, to: out }]\n\
         \x20   steps:\n\
         \x20     - id: x\n\
         \x20       on: \"contact.meeting_at\"\n\
         \x20       after: 1d\n\
         \x20     - id: y\n\
         \x20       at: \"20:00\"\n\
         \x20       email: { template: hello, transactional: true }\n\
         \x20     - id: z\n\
         \x20       after: 0 working days\n\
         \x20   exhausted: out\n\
         \x20 out: { terminal: true }\n",
        &[HELLO],
    );
    let run = p.funnel(&["check", "funnels", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let found: Vec<String> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}:{} {} {}",
                d["line"],
                d["column"],
                d["code"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            "2:15 invalid-value `funday` is not a day; use mon, tue, wed, thu, fri, sat, sun",
            "10:13 conflicting-keys stage `a` has both `goal` and `goals`",
            "14:16 conflicting-keys step `x` has `on` together with `after`",
            "16:13 conflicting-keys step `y` is due at 20:00, when the send window (09:00-18:00) is closed: it could never go out then",
            "19:16 invalid-duration `0 working days` is no delay; leave `after` out (with `at`, the next such time of day)",
        ],
        "{found:#?}"
    );
    // The same step with `anytime: true`, or `at` inside the window, is fine.
    let ok = Project::with_funnel(
        "funnel: f\ncontact: { email: email, unsubscribed: bool }\n\
         enter: [{ when: \"true\", stage: a }]\n\
         exit: [{ when: contact.unsubscribed, to: out }]\n\
         send_window: { days: mon-fri, hours: \"09:00-18:00\" }\n\
         stages:\n  a:\n    steps:\n      - id: y\n        at: \"20:00\"\n        anytime: true\n        email: { template: hello }\n\
         \x20     - id: z\n        after: 1 working day\n        at: \"09:00\"\n        email: { template: hello }\n\
         \x20   exhausted: out\n  out: { terminal: true }\n",
        &[HELLO],
    );
    let run = ok.funnel(&["check", "funnels"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}
