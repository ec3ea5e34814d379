#![allow(clippy::unwrap_used)]
//! The operator's listings and machine output through the real binary:
//! `run --format json`, `contacts`, `actions`, `tasks --format json` and
//! `history` of an unknown contact; and snapshots of what `run` (its
//! dry-run plan and summaries), `status`, `history` and `tasks` print.

mod common;

use common::Project;

const QUOTE_HEADER: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n";

/// Ann asks for a quote; Emil's row is bad (no `@`).
fn quote_project() -> Project {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "contacts.csv",
        &format!(
            "{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\nemil,emil.example.com,+36 1 234 0000,Emil,assistant,2026-05-04 08:00,,no,no,no\n"
        ),
    );
    p
}

const NOW: &str = "2026-05-04T09:00:00Z";

/// `funnel run` printed its summary only as a human line on stderr: a
/// script had to parse prose. `--format json` is one object on stdout.
#[test]
fn run_format_json_prints_the_summary_as_one_object() {
    let p = quote_project();
    let dry = p.json(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        NOW,
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["summary"]["contacts"], 2, "{dry:#}");
    assert_eq!(dry["summary"]["entered"], 1, "{dry:#}");
    let plan = dry["plan"].as_array().unwrap();
    assert!(plan.iter().any(|l| l["contact"] == "ann"), "{dry:#}");
    let problems = dry["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{dry:#}");
    assert_eq!(problems[0]["line"], 3);
    assert!(problems[0]["feed"].is_string(), "{dry:#}");
    assert!(problems[0]["message"].is_string(), "{dry:#}");

    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        NOW,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("contacts read"), "{}", run.stderr);
    let real: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(real["dry_run"], false);
    assert!(real.get("plan").is_none(), "{real:#}");
    assert_eq!(real["summary"]["queued"], dry["summary"]["queued"]);
    assert!(
        real["delivery"]["delivered"].as_u64().unwrap() >= 1,
        "{real:#}"
    );

    // The default stays the human line.
    let human = p.funnel(&["run", "--contacts", "contacts.csv", "--now", NOW]);
    assert!(human.stderr.contains("contacts read 2"), "{}", human.stderr);
}

/// An operator could count contacts per stage (`status`) but not see who
/// they were: `funnel contacts` lists every journey.
#[test]
fn contacts_lists_every_journey_with_its_stage_and_step() {
    let p = quote_project();
    p.run_at(NOW);
    let rows = p.json(&["contacts", "--format", "json"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let ann = &rows[0];
    assert_eq!(ann["funnel"], "quote-follow-up");
    assert_eq!(ann["contact"], "ann");
    assert_eq!(ann["stage"], "requested");
    assert_eq!(ann["entry"], 1);
    assert_eq!(ann["active"], true);
    assert!(ann["step"].is_string() || ann["step"].is_null(), "{ann}");
    for field in ["entered_at", "since"] {
        assert!(
            ann[field].as_str().unwrap().starts_with("2026-05-04"),
            "{ann}"
        );
    }
    let none = p.json(&["contacts", "--stage", "quoted", "--format", "json"]);
    assert_eq!(none, serde_json::json!([]));
    let csv = p.funnel(&["contacts", "--funnel", "quote-follow-up", "--format", "csv"]);
    assert!(
        csv.stdout
            .starts_with("funnel,contact,stage,step,entry,entered_at,since,active\n"),
        "{}",
        csv.stdout
    );
    let table = p.funnel(&["contacts"]);
    assert!(table.stdout.contains("ann"), "{}", table.stdout);
}

/// Dead letters had `retry --list`; the rest of the outbox had nothing.
/// `funnel actions` lists every row with its status and error.
#[test]
fn actions_lists_the_outbox_by_status() {
    let p = quote_project();
    p.run_at(NOW);
    let rows = p.json(&["actions", "--format", "json"]);
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    let thanks = rows.iter().find(|r| r["step"] == "thanks").unwrap();
    assert_eq!(thanks["contact"], "ann");
    assert_eq!(thanks["channel"], "email");
    assert_eq!(thanks["status"], "delivered");
    for field in ["key", "funnel", "due_at", "attempts", "error"] {
        assert!(thanks.get(field).is_some(), "{field}: {thanks}");
    }
    let dead = p.json(&["actions", "--status", "dead", "--format", "json"]);
    assert_eq!(dead, serde_json::json!([]));
    let bad = p.funnel(&["actions", "--status", "sent"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("known: queued, delivered"),
        "{}",
        bad.stderr
    );
}

/// `tasks --format json` left out when a task was done.
#[test]
fn tasks_json_includes_done_at() {
    let p = quote_project();
    p.run_at(NOW);
    let tasks = p.json(&["tasks", "--format", "json"]);
    let task = &tasks.as_array().unwrap()[0];
    assert!(task["done_at"].is_null(), "{task}");
    let id = task["id"].as_i64().unwrap().to_string();
    assert_eq!(p.funnel(&["task", "done", &id]).code, 0);
    let tasks = p.json(&["tasks", "--format", "json"]);
    let task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"].as_i64().unwrap().to_string() == id)
        .unwrap();
    assert_eq!(task["status"], "done");
    assert!(task["done_at"].is_string(), "{task}");
}

/// `history` of a contact the state never saw exited 1, the code of "the
/// funnels have errors"; it has its own code, 5.
#[test]
fn history_of_an_unknown_contact_exits_5() {
    let p = quote_project();
    p.run_at(NOW);
    let run = p.funnel(&["history", "nobody"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains("no history for contact `nobody`"),
        "{}",
        run.stderr
    );
}

/// A contact whose id carries a bidi override (control characters in ids
/// are refused by the feed) and whose owner carries terminal escapes and a
/// CR, and one whose id is a formula.
fn hostile_project() -> Project {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.contacts_json(&serde_json::json!([
        {"id": "an\u{202e}n", "email": "ann@example.com", "phone": "+36 1 234 5678",
         "first_name": "Ann", "owner": "\u{1b}]0;own\red\u{7}", "quote_requested_at": "2026-05-04 08:00",
         "quote_sent_at": "", "replied": "no", "reached": "no", "unsubscribed": "no"},
        {"id": "=HYPERLINK(\"http://x\")", "email": "bo@example.com", "phone": "+36 1 234 5679",
         "first_name": "Bo", "owner": "@SUM(A1)", "quote_requested_at": "2026-05-04 08:00",
         "quote_sent_at": "", "replied": "no", "reached": "no", "unsubscribed": "no"}
    ]));
    p.run_at(NOW);
    p
}

/// Broke: contact ids and assignees with ANSI escapes reached the terminal
/// raw in every listing's table; JSON must stay exact.
#[test]
fn control_characters_in_listings_are_escaped_in_tables_only() {
    let p = hostile_project();
    let listings: [&[&str]; 6] = [
        &["contacts"],
        &["actions"],
        &["tasks"],
        &["status"],
        &["history", "an\u{202e}n"],
        &["report"],
    ];
    for args in listings {
        let run = p.funnel(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            !run.stdout.contains(['\u{1b}', '\r', '\u{7}', '\u{202e}']),
            "{args:?}: {:?}",
            run.stdout
        );
    }
    let contacts = p.funnel(&["contacts"]).stdout;
    assert!(contacts.contains("an\\u{202e}n"), "{contacts}");
    let tasks = p.funnel(&["tasks"]).stdout;
    assert!(tasks.contains("\\x1b]0;own\\x0ded\\x07"), "{tasks}");
    let json = p.json(&["contacts", "--format", "json"]);
    let ids: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contact"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"an\u{202e}n"), "{ids:?}");
}

/// Broke: CSV was quoted by hand (a CR inside a value went out bare) and a
/// cell starting with `=`, `+`, `-` or `@` ran as a spreadsheet formula.
#[test]
fn csv_listings_are_quoted_and_formulas_neutralised() {
    let p = hostile_project();
    for args in [
        &["contacts", "--format", "csv"][..],
        &["actions", "--format", "csv"],
        &["tasks", "--format", "csv"],
    ] {
        let run = p.funnel(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
        let cells: Vec<String> = reader
            .records()
            .flat_map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert!(
            cells.iter().all(|c| !c.starts_with(['=', '+', '@'])),
            "{args:?}: {cells:?}"
        );
        assert!(
            cells.iter().any(|c| c == "'=HYPERLINK(\"http://x\")"),
            "{args:?}: {cells:?}"
        );
        assert!(
            cells.iter().any(|c| c == "an\u{202e}n"),
            "{args:?}: {cells:?}"
        );
        if args[0] == "tasks" {
            // The owner, CR and all, comes back whole from quoted CSV.
            assert!(
                cells.iter().any(|c| c.contains("\u{1b}]0;own\red\u{7}")),
                "{args:?}: {cells:?}"
            );
        }
    }
}

// Transcripts of the operator's outputs on the shipped quote-follow-up
// example and its feed, at fixed `--now`s, so a reviewer sees the exact
// text an operator sees and a change to it shows in review.

/// The example project with the example feed, `funnels/contacts/`.
fn example_project() -> Project {
    let p = Project::with_examples(&["quote-follow-up"]);
    let feed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/funnels/contacts/quote-follow-up.csv"
    );
    std::fs::copy(feed, p.path("contacts.csv")).unwrap();
    p
}

/// What one command printed, and how it exited.
fn transcript(args: &[&str], run: &common::Run) -> String {
    format!(
        "$ funnel {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    )
}

fn run_transcript(p: &Project, args: &[&str]) -> String {
    transcript(args, &p.funnel(args))
}

/// The three ticks: entries (a task, a message), an escalation two days
/// on, then waits running out, a stale message and a cancelled task.
const TICKS: [&str; 3] = [
    "2026-05-04T12:00:00Z",
    "2026-05-06T12:00:00Z",
    "2026-05-09T12:00:00Z",
];

#[test]
fn run_dry_run_plan_and_summary() {
    let p = example_project();
    let args = ["run", "--contacts", "contacts.csv", "--now", TICKS[0]];
    insta::assert_snapshot!(
        "dry_run_plan",
        run_transcript(&p, &[&args[..], &["--dry-run"]].concat())
    );
    let summaries: Vec<String> = TICKS
        .iter()
        .map(|now| {
            transcript(
                &["run", "--contacts", "contacts.csv", "--now", now],
                &p.run_at(now),
            )
        })
        .collect();
    insta::assert_snapshot!("run_summaries", summaries.join("\n"));
}

#[test]
fn status_history_and_tasks_after_the_ticks() {
    let p = example_project();
    for now in TICKS {
        p.run_at(now);
    }
    // How many tasks are overdue is counted at the wall clock's now.
    let status = run_transcript(&p, &["status"]);
    let status: Vec<&str> = status
        .lines()
        .map(|l| match l.starts_with("overdue tasks: ") {
            true => "overdue tasks: [counted at the wall clock]",
            false => l,
        })
        .collect();
    insta::assert_snapshot!("status", status.join("\n"));
    insta::assert_snapshot!("history", run_transcript(&p, &["history", "dora"]));
    insta::assert_snapshot!("tasks", run_transcript(&p, &["tasks"]));
}
