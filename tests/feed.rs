//! The contacts and events feeds of `funnel run`, read from the fixture
//! files in `tests/feeds/` the way an operator's exports look: every test
//! checks the rows that come through and the exact problems reported.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use funnel::language::model::{Field, FieldType};
use funnel::language::source::Span;
use funnel::run::feed::{
    self, Contact, Event, FeedError, FeedOptions, Format, Problem, Raw, Row, Value,
};
use indexmap::IndexMap;
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap()
}

fn contacts(name: &str) -> (Vec<Row>, Vec<Problem>) {
    feed::read_contacts(&fixture(name), &FeedOptions::default()).unwrap()
}

fn events(name: &str) -> (Vec<Event>, Vec<Problem>) {
    feed::read_events(&fixture(name), &FeedOptions::default()).unwrap()
}

/// Declared fields as in a funnel's `contact:`, e.g. `("vip", "bool?")`.
fn fields(spec: &[(&str, &str)]) -> IndexMap<String, Field> {
    spec.iter()
        .map(|(name, kind)| {
            let optional = kind.ends_with('?');
            let kind = FieldType::parse(kind.trim_end_matches('?')).unwrap();
            let span = Span::default();
            (
                name.to_string(),
                Field {
                    kind,
                    optional,
                    span,
                },
            )
        })
        .collect()
}

fn problem(line: usize, field: Option<&str>, message: &str) -> Problem {
    Problem {
        line,
        field: field.map(str::to_string),
        message: message.to_string(),
    }
}

fn ids(rows: &[Row]) -> Vec<(usize, &str)> {
    rows.iter().map(|r| (r.line, r.id.as_str())).collect()
}

fn text(row: &Row, column: &str) -> String {
    match row.values.get(column) {
        Some(Raw::Text(text)) => text.clone(),
        other => panic!("{column} is {other:?}"),
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Value {
    Value::Timestamp(Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap())
}

#[test]
fn excel_export_with_bom_semicolons_and_crlf() {
    let (rows, problems) = contacts("excel.csv");
    assert_eq!(problems, vec![]);
    // Line 4 is `;;;;;`, an empty row Excel leaves behind: skipped silently.
    assert_eq!(ids(&rows), vec![(2, "1"), (3, "2"), (5, "3")]);
    // The BOM is not part of `id`; header names are trimmed.
    assert_eq!(text(&rows[1], "First Name"), "Kovács; Béla");
    assert_eq!(text(&rows[1], "Email"), "bela@example.com");
    assert!(!rows[2].values.contains_key("score"));

    let declared = fields(&[
        ("Email", "email"),
        ("score", "int"),
        ("signed_up", "timestamp?"),
        ("vip", "bool?"),
    ]);
    let vip = feed::typed(&rows[0], &declared).unwrap_err();
    assert_eq!(
        vip,
        problem(
            2,
            Some("vip"),
            "field `vip`: `igen` is not a bool (expected true/false, yes/no, y/n or 1/0)"
        )
    );
    let bela = feed::typed(&rows[1], &declared).unwrap();
    assert_eq!(
        bela,
        Contact {
            id: "2".into(),
            line: 3,
            fields: [
                ("Email", Value::String("bela@example.com".into())),
                ("id", Value::String("2".into())),
                ("score", Value::Int(7)),
                ("signed_up", utc(2024, 3, 6, 8, 0)),
                ("vip", Value::Bool(true)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        }
    );
    let missing = feed::typed(&rows[2], &declared).unwrap_err();
    assert_eq!(
        missing,
        problem(5, Some("score"), "missing required field `score`")
    );
}

#[test]
fn tab_separated() {
    let (rows, problems) = contacts("tabs.tsv");
    assert_eq!(problems, vec![]);
    assert_eq!(ids(&rows), vec![(2, "10"), (3, "11")]);
    assert_eq!(text(&rows[1], "city"), "Győr, Hungary");
    assert_eq!(text(&rows[0], "email"), "x@example.com");
}

#[test]
fn quoted_fields_with_separators_quotes_and_newlines() {
    let (rows, problems) = contacts("quoted.csv");
    assert_eq!(problems, vec![]);
    // Row 2 spans lines 3-5, so the next row starts on line 6.
    assert_eq!(ids(&rows), vec![(2, "1"), (3, "2"), (6, "3")]);
    assert_eq!(text(&rows[0], "name"), "Smith, Anna");
    assert_eq!(text(&rows[0], "note"), "said \"hi\", then left");
    assert_eq!(text(&rows[1], "note"), "line one\nline two\nline three");
}

#[test]
fn broken_quotes_are_reported_and_reading_goes_on_where_it_can() {
    let (rows, problems) = contacts("broken_quote.csv");
    assert_eq!(ids(&rows), vec![(2, "1"), (4, "3")]);
    assert_eq!(
        problems,
        vec![
            problem(
                3,
                Some("name"),
                "field `name`: text after a closing quote; a quote inside a quoted field must be doubled (\"\")"
            ),
            problem(5, None, "expected 3 fields, found 2"),
            problem(
                6,
                Some("name"),
                "field `name`: the quote opened on line 6 is never closed, so lines 6-8 were not read; a quote inside a quoted field must be doubled (\"\")"
            ),
        ]
    );
}

#[test]
fn wrong_types_name_the_field_and_the_value() {
    let (rows, problems) = contacts("types.csv");
    assert_eq!(problems, vec![]);
    let declared = fields(&[
        ("email", "email"),
        ("score", "int"),
        ("vip", "bool"),
        ("born", "date"),
    ]);
    let typed: Vec<Result<Contact, Problem>> =
        rows.iter().map(|r| feed::typed(r, &declared)).collect();
    let first = typed[0].as_ref().unwrap();
    assert_eq!(
        first.fields["born"],
        Value::Date(NaiveDate::from_ymd_opt(1990, 4, 1).unwrap())
    );
    assert_eq!(first.fields["vip"], Value::Bool(true));
    assert_eq!(first.fields["score"], Value::Int(12));
    let errors: Vec<Problem> = typed.into_iter().filter_map(Result::err).collect();
    assert_eq!(
        errors,
        vec![
            problem(
                3,
                Some("email"),
                "field `email`: `not-an-email` is not an email address (expected one @ with text on both sides)"
            ),
            problem(
                4,
                Some("score"),
                "field `score`: `abc` is not an int (expected a whole number like 42)"
            ),
            problem(
                5,
                Some("vip"),
                "field `vip`: `maybe` is not a bool (expected true/false, yes/no, y/n or 1/0)"
            ),
            problem(6, Some("email"), "missing required field `email`"),
            problem(
                7,
                Some("born"),
                "field `born`: `01/02/1970` is not a date (expected YYYY-MM-DD)"
            ),
        ]
    );
}

#[test]
fn missing_and_duplicate_ids_skip_the_row() {
    let (rows, problems) = contacts("duplicates.csv");
    assert_eq!(ids(&rows), vec![(2, "1"), (4, "2"), (7, "3")]);
    assert_eq!(text(&rows[0], "name"), "Anna", "the first of two rows wins");
    assert_eq!(
        problems,
        vec![
            problem(3, Some("id"), "missing id"),
            problem(5, Some("id"), "duplicate id `1`, first on line 2"),
            problem(6, Some("id"), "missing id"),
        ]
    );
}

/// A contact id holding CR/LF reached `X-Funnel-Key` and `Idempotency-Key`,
/// where it could forge a header; such a row is skipped like a bad one.
#[test]
fn a_contact_id_with_a_line_break_skips_the_row() {
    let csv = b"id,name\n\"a\r\nBcc: x@evil.test\",Eve\nb\tc,Tab\nok,Ann\n";
    let (rows, problems) = feed::read_contacts(csv, &FeedOptions::default()).unwrap();
    assert_eq!(ids(&rows), vec![(5, "ok")]);
    assert_eq!(
        problems,
        vec![
            problem(2, Some("id"), "contact id contains a control character"),
            problem(4, Some("id"), "contact id contains a control character"),
        ]
    );
    let jsonl = b"{\"contact\": \"a\\nb\", \"event\": \"e\", \"at\": \"2026-01-01T00:00:00Z\"}\n";
    let (events, problems) = feed::read_events(jsonl, &FeedOptions::default()).unwrap();
    assert!(events.is_empty());
    assert_eq!(
        problems,
        vec![problem(
            1,
            Some("contact"),
            "contact id contains a control character"
        )]
    );
}

#[test]
fn a_row_that_is_not_utf8_is_skipped_and_the_others_proceed() {
    let (rows, problems) = contacts("latin1.csv");
    assert_eq!(ids(&rows), vec![(2, "1"), (4, "3")]);
    assert_eq!(text(&rows[1], "city"), "Győr");
    assert_eq!(
        problems,
        vec![problem(
            3,
            Some("name"),
            "field `name`: not valid UTF-8 (byte 0xE9); save the file as UTF-8"
        )]
    );
}

#[test]
fn json_array_lines_are_where_each_object_starts() {
    let (rows, problems) = contacts("contacts.json");
    assert_eq!(ids(&rows), vec![(2, "1"), (3, "b-2"), (12, "c-3")]);
    assert_eq!(rows[1].values["tags"], Raw::Json(json!(["a", "b"])));
    assert!(!rows[2].values.contains_key("email"), "null is missing");
    assert_eq!(
        problems,
        vec![
            problem(10, None, "expected a JSON object, found a number"),
            problem(
                11,
                Some("id"),
                "field `id`: expected a string or an integer id, found a number `1.5`"
            ),
        ]
    );
    let declared = fields(&[("email", "email?"), ("score", "int"), ("vip", "bool?")]);
    let typed: Vec<Contact> = rows
        .iter()
        .map(|r| feed::typed(r, &declared).unwrap())
        .collect();
    assert_eq!(typed[0].fields["score"], Value::Int(12));
    assert_eq!(typed[0].fields["vip"], Value::Bool(true));
    assert_eq!(
        typed[1].fields["score"],
        Value::Int(7),
        "a string is parsed"
    );
    assert_eq!(typed[1].fields["vip"], Value::Bool(false));
    assert_eq!(typed[2].fields["email"], Value::Null);
    assert_eq!(
        typed[2].fields["score"],
        Value::Int(3),
        "3.0 is a whole number"
    );
    assert_eq!(typed[2].fields["id"], Value::String("c-3".into()));
}

#[test]
fn json_lines_skip_blank_lines_and_report_bad_ones() {
    let (rows, problems) = contacts("contacts.jsonl");
    assert_eq!(ids(&rows), vec![(1, "a"), (4, "c"), (6, "d")]);
    assert_eq!(
        problems,
        vec![
            problem(
                3,
                None,
                "not valid JSON at column 21: EOF while parsing a value"
            ),
            problem(5, None, "expected a JSON object, found an array"),
        ]
    );
}

#[test]
fn events_from_json_lines() {
    let (events, problems) = events("events.jsonl");
    assert_eq!(
        events,
        vec![
            Event {
                line: 1,
                contact: "a".into(),
                name: "email.opened".into(),
                at: Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap(),
                data: json!({"template": "thanks"}),
            },
            Event {
                line: 2,
                contact: "7".into(),
                name: "call.done".into(),
                at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
                data: serde_json::Value::Null,
            },
        ]
    );
    assert_eq!(
        problems,
        vec![
            problem(4, Some("event"), "missing event name"),
            problem(
                5,
                Some("at"),
                "field `at`: `yesterday` is not a timestamp (expected RFC 3339 like 2024-05-01T09:30:00Z, or 2024-05-01 09:30 in UTC)"
            ),
            problem(6, Some("contact"), "missing contact"),
        ]
    );
}

#[test]
fn events_from_csv() {
    let (events, problems) = events("events.csv");
    let seen: Vec<(usize, &str, &str, serde_json::Value)> = events
        .iter()
        .map(|e| (e.line, e.contact.as_str(), e.name.as_str(), e.data.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (2, "a", "email.opened", json!({"template": "thanks"})),
            (3, "b", "call.done", serde_json::Value::Null),
        ]
    );
    assert_eq!(
        events[1].at,
        Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
    );
    assert_eq!(
        problems,
        vec![
            problem(
                4,
                Some("data"),
                "field `data`: not valid JSON: key must be a string"
            ),
            problem(5, Some("contact"), "missing contact"),
        ]
    );
}

#[test]
fn events_csv_without_an_at_column_cannot_be_read() {
    let error = feed::read_events(b"contact,event\na,x\n", &FeedOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1: the header has no `at` column (found: `contact`, `event`)"
    );
}

#[test]
fn options_force_the_id_column_delimiter_and_format() {
    let options = FeedOptions {
        id_column: "customer".into(),
        delimiter: Some(b'|'),
        format: Some(Format::Csv),
        ..FeedOptions::default()
    };
    let (rows, problems) =
        feed::read_contacts(b"customer|name\nc1|Anna, Bela\n", &options).unwrap();
    assert_eq!(problems, vec![]);
    assert_eq!(ids(&rows), vec![(2, "c1")]);
    assert_eq!(text(&rows[0], "name"), "Anna, Bela");
    // The id column stays among the values, so a funnel may declare it.
    assert_eq!(text(&rows[0], "customer"), "c1");
}

#[test]
fn a_csv_without_the_id_column_is_a_feed_error() {
    let error = feed::read_contacts(
        &fixture("tabs.tsv"),
        &FeedOptions {
            id_column: "contact_id".into(),
            ..FeedOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(error, FeedError::MissingColumn { line: 1, .. }));
    assert_eq!(
        error.to_string(),
        "line 1: the header has no `contact_id` column (found: `id`, `email`, `city`)"
    );
}

/// Broke: one contact nested deeper than the JSON reader goes refused the
/// whole array (0 of 3 good contacts in). The good ones come through, and
/// the bad one is reported with its line, like a bad CSV row.
#[test]
fn a_json_array_with_one_unreadable_contact_keeps_the_others() {
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let text = format!(
        "[\n  {{\"id\": \"a\", \"note\": \"x, ] }}\"}},\n  {{\"id\": \"b\", \"tags\": {deep}}},\n  {{\"id\": \"c\"}}\n]\n"
    );
    let (rows, problems) = feed::read_contacts(text.as_bytes(), &FeedOptions::default()).unwrap();
    assert_eq!(ids(&rows), [(2, "a"), (4, "c")]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, 3);
    assert!(
        problems[0]
            .message
            .starts_with("this contact is not readable JSON"),
        "{problems:?}"
    );
    // A broken array (brackets that never close) is still refused whole.
    let broken = "[\n  {\"id\": \"a\"},\n  {\"id\": \"b\", \"tags\": [[[\n";
    assert!(feed::read_contacts(broken.as_bytes(), &FeedOptions::default()).is_err());
}
