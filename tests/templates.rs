#![allow(clippy::unwrap_used)]
//! Templates end to end: `funnel check` resolves every helper and partial
//! a template calls before any contact is rendered, and `funnel run`
//! formats times, dates, numbers and money in the contact's timezone and
//! locale, relative to the moment each message is for.

mod common;

use common::Project;
use serde_json::{Value, json};

/// A reminder email the day before a meeting, in Budapest, in Hungarian.
const MEETING: &str = r#"funnel: meeting
timezone: Europe/Budapest
locale: hu
contact:
  email: email
  meeting_at: timestamp
  amount: float
  locale: string?
enter:
  - { when: "true", stage: booked }
stages:
  booked:
    steps:
      - id: remind
        on: "contact.meeting_at - duration('24h')"
        email: { template: reminder, transactional: true }
    exhausted: done
  done: { terminal: true }
"#;

const REMINDER: &str = "subject: {{time contact.meeting_at \"%A %H:%M\"}}\n---\n{{relative contact.meeting_at}}: {{date contact.meeting_at \"%B %-d.\"}}, {{currency contact.amount \"HUF\"}}, {{number contact.amount decimals=1}}\nhttps://example.com/?m={{urlencode contact.email}}\n";

fn check(p: &Project) -> common::Run {
    p.funnel(&["check", "funnels/f.yaml"])
}

/// The state's record of `contact`'s action at `step`: status and payload.
fn action(p: &Project, contact: &str, step: &str) -> (String, Value) {
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    let (status, payload): (String, String) = state
        .query_row(
            "SELECT status, payload FROM outbox WHERE contact = ?1 AND step = ?2",
            [contact, step],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    (status, serde_json::from_str(&payload).unwrap())
}

#[test]
fn helpers_format_in_the_contacts_timezone_and_locale() {
    let p = Project::with_funnel(MEETING, &[("reminder", REMINDER)]);
    let run = check(&p);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Tuesday 2026-05-05 10:00 in Budapest; the reminder is due Monday
    // 10:00, so it says "tomorrow" whatever the wall clock says.
    p.contacts_json(&json!([
        { "id": "ann", "email": "ann+1@example.com", "meeting_at": "2026-05-05T08:00:00Z", "amount": 12990.45 },
        { "id": "dora", "email": "dora@example.com", "meeting_at": "2026-05-05T08:00:00Z", "amount": 12990.45, "locale": "de" },
    ]));
    p.run_at("2026-05-04T09:00:00Z");
    let ann = p.payload("ann", "remind");
    assert_eq!(ann["subject"], "kedd 10:00");
    assert_eq!(
        ann["body"],
        "holnap: május 5., 12\u{A0}990\u{A0}Ft, 12\u{A0}990,5\nhttps://example.com/?m=ann%2B1%40example.com\n"
    );
    // A contact's own `locale` wins over the funnel's.
    let dora = p.payload("dora", "remind");
    assert_eq!(dora["subject"], "Dienstag 10:00");
    assert!(
        dora["body"]
            .as_str()
            .unwrap()
            .starts_with("morgen: Mai 5., "),
        "{dora}"
    );
}

/// Broke: a bad argument reached the engine's panic-free but cryptic
/// error; it must fail the one action, in plain words, and the run go on.
#[test]
fn a_bad_argument_fails_the_action_in_plain_words() {
    let yaml = MEETING.replace("amount: float", "amount: string");
    let p = Project::with_funnel(&yaml, &[("reminder", REMINDER)]);
    p.contacts_json(&json!([
        { "id": "ann", "email": "ann@example.com", "meeting_at": "2026-05-05T08:00:00Z", "amount": "a lot" },
    ]));
    p.run_at("2026-05-04T09:00:00Z");
    let (status, payload) = action(&p, "ann", "remind");
    assert_eq!(status, "failed");
    assert_eq!(
        payload["error"],
        "template reminder: `contact.amount` is \"a lot\", not a number"
    );
}

#[test]
fn an_unknown_helper_fails_check_with_the_nearest_name() {
    let template =
        "subject: Hi\n---\nLink: {{#if contact.email}}\n  {{urlencod contact.email}}{{/if}}\n";
    let p = Project::with_funnel(MEETING, &[("reminder", template)]);
    let run = check(&p);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("template `reminder` calls the unknown helper `urlencod`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("did you mean `urlencode`?"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("reminder.hbs:4:5"), "{}", run.stdout);
}

#[test]
fn helper_arguments_written_in_the_template_are_checked() {
    for (call, why) in [
        (
            "{{time contact.meeting_at \"%Q\"}}",
            "not a strftime format",
        ),
        ("{{date contact.meeting_at \"%H:%M\"}}", "use `time`"),
        (
            "{{currency contact.amount \"EURO\"}}",
            "not a currency code",
        ),
        ("{{number contact.amount decimals=-1}}", "from 0 to 10"),
        ("{{relative}}", "takes one value, not 0"),
        (
            "{{track \"ftp://example.com/file\"}}",
            "takes an http:// or https:// URL",
        ),
        ("{{track}}", "takes one URL, not 0 values"),
        (
            "{{#if (frobnicate contact.amount)}}x{{/if}}",
            "unknown helper `frobnicate`",
        ),
    ] {
        let template = format!("subject: Hi\n---\n{call}\n");
        let p = Project::with_funnel(MEETING, &[("reminder", &template)]);
        let run = check(&p);
        assert_eq!(run.code, 1, "{call}: {}", run.stdout);
        assert!(run.stdout.contains(why), "{call}: {}", run.stdout);
        assert!(
            run.stdout.contains("reminder.hbs:3:"),
            "{call}: {}",
            run.stdout
        );
    }
}

/// Broke: a partial naming a missing file, or a path out of `templates/`,
/// passed `check` and failed every send.
#[test]
fn partials_are_resolved_at_check_time() {
    let reminder = "subject: Hi\n---\nSee you.\n{{> footer}}\n";
    let p = Project::with_funnel(MEETING, &[("reminder", reminder)]);
    let run = check(&p);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("includes `footer`, which is not a template in"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("reminder.hbs:4:5"), "{}", run.stdout);

    // A file outside the directory is never a partial.
    std::fs::write(p.path("funnels/secret.hbs"), "password").unwrap();
    let outside = "subject: Hi\n---\n{{> ../secret}}\n";
    p.write("funnels/templates/reminder.hbs", outside);
    let run = check(&p);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("paths, and files outside the directory, are not read"),
        "{}",
        run.stdout
    );

    // With the partial there, it checks clean (and counts as used) and
    // renders into the message.
    p.write("funnels/templates/reminder.hbs", reminder);
    p.write(
        "funnels/templates/footer.hbs",
        "-- The team {{#*inline \"x\"}}{{/inline}}{{> x}}",
    );
    let run = check(&p);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    p.contacts_json(&json!([
        { "id": "ann", "email": "ann@example.com", "meeting_at": "2026-05-05T08:00:00Z", "amount": 1.0 },
    ]));
    p.run_at("2026-05-04T09:00:00Z");
    assert_eq!(p.payload("ann", "remind")["body"], "See you.\n-- The team ");
}

/// Broke: `a` including `b` including `a` passed `check`; rendering would
/// recurse until the stack ran out.
#[test]
fn partials_that_include_each_other_fail_check() {
    let p = Project::with_funnel(
        MEETING,
        &[
            ("reminder", "subject: Hi\n---\n{{> a}}\n"),
            ("a", "A {{> b}}"),
            ("b", "B {{> a}}"),
        ],
    );
    let run = check(&p);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("template `a` includes `b`, which includes it again"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("template `b` includes `a`, which includes it again"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unknown_locale_is_an_invalid_value() {
    let yaml = MEETING.replace("locale: hu", "locale: klingon");
    let p = Project::with_funnel(&yaml, &[("reminder", REMINDER)]);
    let run = check(&p);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("`klingon` is not a locale funnel knows"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("f.yaml:3:9"), "{}", run.stdout);
}
