#![allow(clippy::unwrap_used)]
//! Feeds larger than the chunks `funnel run` reads them in (about 1 MB):
//! a row's line, a duplicate id far from its first, a quoted line break
//! and a byte the encoding refuses are found wherever a chunk ends, and a
//! file read in chunks runs like the same feed from standard input.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Project, Run};

const FUNNEL: &str = r#"
funnel: trial
timezone: Europe/Budapest
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
    exhausted: done
  done: { terminal: true }
"#;

const ROWS: usize = 40_000;

/// A CSV of `ROWS` contacts (about 3 MB: several chunks). Row 30,000 has
/// a bad time, the last row repeats the id on line 8, and a name with a
/// quoted line break sits in the middle.
fn feed() -> String {
    let mut text = String::from("id,email,name,signed_up_at\n");
    for i in 0..ROWS {
        let name = match i {
            20_000 => "\"Szabó\nÉva\"".to_string(),
            _ => format!("Ügyfél {i} {}", "x".repeat(30)),
        };
        let at = if i == 30_000 {
            "soon"
        } else {
            "2026-06-01 08:00"
        };
        let id = if i == ROWS - 1 {
            "c6".to_string()
        } else {
            format!("c{i}")
        };
        text += &format!("{id},c{i}@example.com,{name},{at}\n");
    }
    text
}

fn project(feed: &str) -> Project {
    let p = Project::with_funnel(
        FUNNEL,
        &[("hello", "subject: Hi\n---\nHi {{contact.name}}\n")],
    );
    p.write("contacts.csv", feed);
    p
}

fn run(p: &Project, contacts: &str, stdin: Option<&str>) -> Run {
    let args = [
        "run",
        "--contacts",
        contacts,
        "--now",
        "2026-06-01T09:00:00Z",
    ];
    let mut child = p
        .command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    Run::of(child.wait_with_output().unwrap())
}

#[test]
fn a_feed_of_many_chunks_names_its_bad_rows_by_line() {
    let text = feed();
    assert!(text.len() > 2_500_000, "{} bytes", text.len());
    let p = project(&text);
    let run = run(&p, "contacts.csv", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The header is line 1 and row 20,000 spans two lines.
    assert!(
        run.stderr.contains(
            "contacts.csv (trial):30003: field `signed_up_at`: `soon` is not a timestamp"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "contacts.csv:{}: field `id`: duplicate id `c6`, first on line 8",
            ROWS + 2
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("bad rows 2 "), "{}", run.stderr);
    let mut ids: Vec<String> = p.outbox().into_iter().map(|(c, ..)| c).collect();
    assert_eq!(ids.len(), ROWS - 2);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), ROWS - 2, "each contact welcomed once");
}

#[test]
fn the_same_feed_from_standard_input_runs_the_same() {
    let text = feed();
    let from_file = project(&text);
    let from_stdin = project(&text);
    let a = run(&from_file, "contacts.csv", None);
    let b = run(&from_stdin, "-", Some(&text));
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_eq!(a.stderr.replace("contacts.csv", "-"), b.stderr);
    let outbox = |p: &Project| {
        let mut rows = p.outbox();
        rows.sort();
        rows
    };
    assert_eq!(outbox(&from_file), outbox(&from_stdin));
    assert_eq!(outbox(&from_file).len(), ROWS - 2);
}

#[test]
fn a_bad_byte_deep_in_the_file_stops_the_run_before_anything_changes() {
    let mut bytes = feed().into_bytes();
    // A Latin-1 "é" on the row of c35000 (line 35,003), chunks past the
    // start: the screen finds it before the run opens the state.
    let at = String::from_utf8_lossy(&bytes).find("c35000@").unwrap();
    bytes[at + 1] = 0xE9;
    let p = project("");
    std::fs::write(p.path("contacts.csv"), &bytes).unwrap();
    let run = run(&p, "contacts.csv", None);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("line 35003: not valid UTF-8 (byte 0xE9)"),
        "{}",
        run.stderr
    );
    assert!(!p.path(".funnel/state.db").exists(), "nothing ran");
}
