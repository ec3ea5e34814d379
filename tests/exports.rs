#![allow(clippy::unwrap_used)]
//! Real CRM exports through `funnel run`, end to end: a Hungarian
//! MiniCRM-style CSV (Windows-1250 or UTF-8 with a BOM, `;`, CRLF,
//! `2026.03.02. 9:30`, `igen`/`nem`, `1 234,5`), a Russian one (`да`/`нет`,
//! `%d.%m.%Y`) and a Hebrew one (`כן`/`לא`), read through `[feed]` in
//! funnel.toml; then the ways an export goes wrong, each one clear error.
//! The fixtures are in `tests/fixtures/exports/`.

mod common;

use common::Project;

/// A booking funnel whose emails show every typed value, and whose
/// reminder falls due a day before the appointment: its `due_at` says in
/// which zone the export's time was read.
const BOOKINGS: &str = r#"
funnel: bookings
timezone: Europe/Budapest
contact:
  email: email
  first_name: string
  tz: timezone?
  appointment_at: timestamp
  vip: bool
  deposit: float?
  born: date?
  unsubscribed: bool
enter: [{ when: "true", stage: booked }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  booked:
    steps:
      - id: confirm
        email: { template: confirm, transactional: true }
      - id: reminder
        on: "contact.appointment_at - duration('24h')"
        email: { template: confirm, transactional: true }
    exhausted: out
  out: { terminal: true }
"#;

const CONFIRM: &str = "subject: Booked\n---\n{{contact.first_name}} at {{contact.appointment_at}} vip={{contact.vip}} deposit={{#if contact.deposit}}{{contact.deposit}}{{/if}} born={{#if contact.born}}{{contact.born}}{{/if}}\n";

const HUNGARIAN: &str = r#"[feed]
encoding = "windows-1250"
timestamp-formats = ["%Y.%m.%d. %H:%M"]
date-formats = ["%Y.%m.%d."]
true = ["igen"]
false = ["nem"]
decimal-comma = true

[feed.columns]
"Azonosító" = "id"
"Keresztnév" = "first_name"
"E-mail cím" = "email"
"Időpont" = "appointment_at"
"Törzsvendég" = "vip"
"Előleg" = "deposit"
"Született" = "born"
"Leiratkozott" = "unsubscribed"
"#;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/exports/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

/// A bookings project with `feed` as `contacts.csv` and `toml` as its
/// funnel.toml.
fn project(feed: &[u8], toml: &str) -> Project {
    let p = Project::with_funnel(BOOKINGS, &[("confirm", CONFIRM)]);
    std::fs::write(p.path("contacts.csv"), feed).unwrap();
    p.write("funnel.toml", toml);
    p
}

/// (contact, step, due_at, body) of every delivered message.
fn messages(p: &Project) -> Vec<(String, String, String, String)> {
    p.delivered()
        .iter()
        .map(|m| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&m["contact"]),
                s(&m["step"]),
                s(&m["due_at"]),
                s(&m["payload"]["body"]).trim().to_string(),
            )
        })
        .collect()
}

fn hungarian_journeys(p: &Project) {
    let run = p.run_at("2026-02-27T12:00:00Z");
    assert!(
        run.stderr.contains("contacts read 4 / entered 3"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let confirms = messages(p);
    assert_eq!(
        confirms.iter().map(|m| m.3.as_str()).collect::<Vec<_>>(),
        [
            // 9:30 in Budapest in March (UTC+1); `1 234,5` and `1990.03.02.`.
            "Árpád at 2026-03-02T08:30:00Z vip=true deposit=1234.5 born=1990-03-02",
            // `NEM` in capitals; 14:00 in July is summer time (UTC+2).
            "Éva at 2026-07-01T12:00:00Z vip=false deposit= born=",
            // 2:30 on 29 March does not exist in Budapest (the clocks jump
            // from 2:00 to 3:00): the first minute after the gap.
            "Ödön at 2026-03-29T01:00:00Z vip=true deposit= born=",
        ]
    );
    // Gréta unsubscribed (`igen`) and never entered.
    assert!(p.funnel(&["history", "4"]).code == 5);
    // The reminder, a day before 9:30 Budapest time.
    p.run_at("2026-03-01T08:29:00Z");
    assert_eq!(
        messages(p).len(),
        3,
        "not yet: 8:30 UTC is 9:30 in Budapest"
    );
    p.run_at("2026-03-01T08:30:00Z");
    let reminders: Vec<_> = messages(p)
        .into_iter()
        .filter(|m| m.1 == "reminder")
        .map(|m| (m.0, m.2))
        .collect();
    assert_eq!(
        reminders,
        [("1".to_string(), "2026-03-01T08:30:00Z".to_string())]
    );
}

#[test]
fn a_hungarian_minicrm_export_in_windows_1250_runs_through_feed_settings() {
    hungarian_journeys(&project(&fixture("minicrm-1250.csv"), HUNGARIAN));
}

#[test]
fn the_same_export_saved_as_utf8_with_a_bom_reads_the_same() {
    // A byte order mark says UTF-8, whatever `encoding` says.
    hungarian_journeys(&project(&fixture("minicrm-bom.csv"), HUNGARIAN));
}

#[test]
fn encoding_on_the_command_line_serves_when_funnel_toml_has_none() {
    let toml = HUNGARIAN.replace("encoding = \"windows-1250\"\n", "");
    let p = project(&fixture("minicrm-1250.csv"), &toml);
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--encoding",
        "windows-1250",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("entered 3"), "{}", run.stderr);
    let bad = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--encoding",
        "cp-klingon",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("`cp-klingon` is not an encoding label"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_russian_export_with_da_net_and_day_first_dates_in_moscow_time() {
    let toml = r#"[feed]
naive-times = "Europe/Moscow"
timestamp-formats = ["%d.%m.%Y %H:%M"]
true = ["да"]
false = ["нет"]
decimal-comma = true

[feed.fields.born]
formats = ["%d.%m.%Y"]

[feed.columns]
"Номер" = "id"
"Имя" = "first_name"
"Эл. почта" = "email"
"Встреча" = "appointment_at"
"Постоянный клиент" = "vip"
"Аванс" = "deposit"
"Дата рождения" = "born"
"Отписался" = "unsubscribed"
"#;
    let p = project(&fixture("russian.csv"), toml);
    let run = p.run_at("2026-02-27T12:00:00Z");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let bodies: Vec<String> = messages(&p).into_iter().map(|m| m.3).collect();
    assert_eq!(
        bodies,
        [
            "Иван at 2026-03-02T06:30:00Z vip=true deposit=1500.75 born=1990-03-02",
            "Ольга at 2026-04-15T15:00:00Z vip=false deposit= born=",
        ]
    );
}

#[test]
fn a_hebrew_export_reads_naive_times_in_the_contacts_own_timezone() {
    let toml = r#"[feed]
timestamp-formats = ["%d/%m/%Y %H:%M"]
true = ["כן"]
false = ["לא"]

[feed.columns]
"מזהה" = "id"
"שם" = "first_name"
"דוא\"ל" = "email"
"מועד" = "appointment_at"
"לקוח קבוע" = "vip"
"אזור זמן" = "tz"
"הוסר" = "unsubscribed"
"#;
    let p = project(&fixture("hebrew.csv"), toml);
    let run = p.run_at("2026-02-27T12:00:00Z");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let bodies: Vec<String> = messages(&p).into_iter().map(|m| m.3).collect();
    assert_eq!(
        bodies,
        [
            // Dana's row says Asia/Jerusalem (UTC+2 in early March).
            "דנה at 2026-03-02T07:30:00Z vip=true deposit= born=",
            // Yossi's has no timezone: the funnel's, Budapest (UTC+1).
            "יוסי at 2026-03-02T08:30:00Z vip=false deposit= born=",
        ]
    );
}

#[test]
fn naive_times_utc_keeps_the_old_reading() {
    let toml = HUNGARIAN.replace("[feed]\n", "[feed]\nnaive-times = \"utc\"\n");
    let p = project(&fixture("minicrm-1250.csv"), &toml);
    p.run_at("2026-02-27T12:00:00Z");
    let first = messages(&p).remove(0).3;
    assert!(
        first.starts_with("Árpád at 2026-03-02T09:30:00Z"),
        "{first}"
    );
}

#[test]
fn a_windows_1250_file_without_an_encoding_is_one_error_naming_the_file_and_line() {
    let toml = HUNGARIAN.replace("encoding = \"windows-1250\"\n", "");
    let p = project(&fixture("minicrm-1250.csv"), &toml);
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim_end(),
        "error: contacts.csv: line 1: not valid UTF-8 (byte 0xED); if the export was saved by Excel or another Windows program, give its encoding: --encoding windows-1250 (Central European, e.g. Hungarian), windows-1251 (Cyrillic) or windows-1255 (Hebrew), or `encoding` in funnel.toml's [feed]"
    );
    assert!(!p.path(".funnel/state.db").exists(), "nothing ran");
}

/// A UTF-8 export of `rows` contacts with the bookings columns; `bad`
/// of them have no email.
fn plain_feed(rows: usize, bad: usize) -> String {
    let mut text = String::from("id,email,first_name,appointment_at,vip,unsubscribed\n");
    for i in 0..rows {
        let email = if i < bad {
            String::new()
        } else {
            format!("c{i}@example.com")
        };
        text += &format!("c{i},{email},C{i},2026-03-02 09:30,yes,no\n");
    }
    text
}

#[test]
fn more_bad_rows_than_the_limit_runs_nothing_and_exits_6() {
    // 2 of 10 is more than 10%: a broken export, not a typo.
    let p = project(plain_feed(10, 2).as_bytes(), "");
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: contacts.csv (bookings): lines 2 and 3: field `email`: missing required field `email` (skipped)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("error: contacts.csv: 2 of 10 rows are bad, more than --max-bad-rows allows (10%); nothing was run."),
        "{}",
        run.stderr
    );
    assert!(!p.path(".funnel/state.db").exists(), "nothing ran");
    // A count on the command line, or a percentage in funnel.toml, allows them.
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--max-bad-rows",
        "2",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("entered 8"), "{}", run.stderr);
    let p = project(
        plain_feed(10, 2).as_bytes(),
        "[feed]\nmax-bad-rows = \"20%\"\n",
    );
    assert_eq!(p.run_at("2026-02-27T12:00:00Z").code, 0);
    let bad = p.funnel(&["run", "--contacts", "contacts.csv", "--max-bad-rows", "ten"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn a_feed_whose_every_row_is_bad_is_refused_even_with_a_small_feed() {
    let p = project(plain_feed(1, 1).as_bytes(), "");
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    // One typo in five is allowed by the default 10% (rounded up).
    let p = project(plain_feed(5, 1).as_bytes(), "");
    let run = p.run_at("2026-02-27T12:00:00Z");
    assert!(run.stderr.contains("entered 4"), "{}", run.stderr);
}

#[test]
fn an_empty_contacts_file_is_an_error() {
    let p = project(b"", "");
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim_end(),
        "error: contacts.csv: line 1: the feed is empty (not even a header row); did the export fail?"
    );
}

#[test]
fn headers_match_in_any_case_and_a_near_miss_gets_one_did_you_mean() {
    // `Email`, `First_Name`: today's exports capitalise; no warning at all.
    let feed =
        plain_feed(3, 0)
            .replacen("email", "Email", 1)
            .replacen("first_name", "First_Name", 1);
    let p = project(feed.as_bytes(), "");
    let run = p.run_at("2026-02-27T12:00:00Z");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert!(run.stderr.contains("entered 3"), "{}", run.stderr);

    // `E-mail`: every row lacks `email`. One note says why, and the 500
    // alike warnings are one line.
    let feed = plain_feed(500, 0).replacen("email", "E-mail", 1);
    let p = project(feed.as_bytes(), "");
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-02-27T12:00:00Z",
    ]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "warning: contacts.csv:1: field `E-mail`: column `E-mail` is no funnel's field; did you mean `email`? Map it in funnel.toml: [feed.columns] \"E-mail\" = \"email\"",
            "warning: contacts.csv (bookings): lines 2, 3, 4 and 497 more: field `email`: missing required field `email` (skipped)",
            "error: contacts.csv: 500 of 500 rows are bad, more than --max-bad-rows allows (10%); nothing was run. A broken export usually means a renamed column or a changed format: fix the export or funnel.toml ([feed.columns], [feed] formats), or raise --max-bad-rows",
        ]
    );
    // The mapping it suggests fixes it.
    p.write("funnel.toml", "[feed.columns]\n\"E-mail\" = \"email\"\n");
    let run = p.run_at("2026-02-27T12:00:00Z");
    assert!(run.stderr.contains("entered 500"), "{}", run.stderr);
}

#[test]
fn funnel_toml_errors_name_the_line_column_and_key() {
    let p = project(
        plain_feed(1, 0).as_bytes(),
        "[feed]\nencoding = \"utf-8\"\nnaive_times = \"utc\"\n",
    );
    let run = p.funnel(&["run", "--contacts", "contacts.csv"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("error: ")
            && first.contains("funnel.toml:3:1: `feed.naive_times`: unknown field `naive_times`"),
        "{}",
        run.stderr
    );
    assert!(first.ends_with("(did you mean `naive-times`?)"), "{first}");
    // The excerpt shows the line, as `funnel check` shows a funnel's.
    assert!(
        run.stderr.contains("3 │ naive_times = \"utc\""),
        "{}",
        run.stderr
    );

    p.write(
        "funnel.toml",
        "[feed]\ntimestamp-formats = [\"%Y.%m.%d.\", \"%Y-%Q\"]\n",
    );
    let run = p.funnel(&["check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "funnel.toml:2:35: `feed.timestamp-formats`: `%Y-%Q` is not a strftime format"
        ),
        "{}",
        run.stderr
    );
}
