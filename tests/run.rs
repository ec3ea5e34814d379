#![allow(clippy::unwrap_used)]
//! `funnel run` scenarios: the real binary over a real SQLite state, with
//! `--now` stepping through simulated days, asserting who got what when.

use std::collections::BTreeMap;

mod common;

use common::Project;

const QUOTE_HEADER: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n";

#[test]
fn quote_follow_up_thanks_tasks_escalation_and_opt_out() {
    let p = Project::with_examples(&["quote-follow-up"]);
    // Monday 2026-05-04: Ann and Cy ask for a quote; Bob already opted out.
    p.write(
        "contacts.csv",
        &format!(
            "{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\nbob,bob@example.com,+36 1 234 9999,Bob,assistant,2026-05-04 08:00,,no,no,yes\ncy,cy@example.com,+36 1 234 1111,Cy,assistant,2026-05-04 08:00,,no,no,no\n"
        ),
    );
    let first = p.run_at("2026-05-04T09:00:00Z");
    assert!(
        first.stderr.contains("contacts read 3 / entered 2"),
        "{}",
        first.stderr
    );
    assert_eq!(p.steps_of("ann"), ["thanks"]);
    assert!(
        p.steps_of("bob").is_empty(),
        "an opted-out contact never enters"
    );

    // Tuesday: Cy unsubscribes. The quote-prepare task (due in 1 day) is not done.
    p.write(
        "contacts.csv",
        &format!(
            "{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\ncy,cy@example.com,+36 1 234 1111,Cy,assistant,2026-05-04 08:00,,no,no,yes\n"
        ),
    );
    p.run_at("2026-05-05T10:00:00Z");
    let history = p.funnel(&["history", "cy"]);
    assert!(history.stdout.contains("opted-out"), "{}", history.stdout);
    let history = p.funnel(&["history", "cy", "--format", "json"]);
    let history: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let moves: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["kind"].as_str().unwrap(), t["to_stage"].as_str().unwrap()))
        .collect();
    assert_eq!(moves, [("enter", "requested"), ("exit", "opted-out")]);
    let escalations: Vec<_> = p
        .outbox()
        .into_iter()
        .filter(|(_, _, channel, _)| channel == "notify")
        .collect();
    assert_eq!(
        escalations.len(),
        2,
        "both overdue prepare-quote tasks escalate once: {escalations:?}"
    );

    // Thursday: three days after the request, the overdue notice goes to the sales lead;
    // Cy, opted out, gets nothing more.
    let before_cy = p.steps_of("cy").len();
    p.run_at("2026-05-07T10:00:00Z");
    assert!(
        p.steps_of("ann").contains(&"quote-overdue".to_string()),
        "{:?}",
        p.steps_of("ann")
    );
    assert_eq!(p.steps_of("cy").len(), before_cy);
    let tasks = p.funnel(&["tasks", "--format", "json"]);
    let tasks: serde_json::Value = serde_json::from_str(&tasks.stdout).unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 2);
}

#[test]
fn a_second_run_at_the_same_time_changes_nothing() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", &format!("{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\n"));
    p.run_at("2026-05-04T09:00:00Z");
    let outbox = std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap();
    let again = p.run_at("2026-05-04T09:00:00Z");
    assert!(
        again
            .stderr
            .contains("entered 0 / moved 0 / exited 0; actions queued 0"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap(),
        outbox
    );
}

#[test]
fn now_going_backwards_is_refused() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    p.run_at("2026-05-04T09:00:00Z");
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-03T09:00:00Z",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("is before the last run's 2026-05-04T09:00:00Z"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_held_state_is_refused_with_exit_4() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    let _held = funnel::store::Store::open(&p.path(".funnel/state.db")).unwrap();
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-04T09:00:00Z",
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("in use by another funnel run"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_rows_are_reported_with_their_line_and_skipped() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "contacts.csv",
        &format!("{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,maybe,no,no\ncy,cy@example.com,+36 1 234 1111,Cy,assistant,2026-05-04 08:00,,no,no,no\n"),
    );
    let run = p.run_at("2026-05-04T09:00:00Z");
    assert!(
        run.stderr.contains(":2: field `replied`:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("bad rows 1"), "{}", run.stderr);
    assert_eq!(p.steps_of("cy"), ["thanks"]);
    assert!(p.steps_of("ann").is_empty());
}

/// An event for a contact the contacts feed lacks (a typo, a deleted
/// lead) vanished without a word: it is warned about with its line, many
/// alike are grouped, and the summary counts them. Events funnel recorded
/// itself (`task done`, line 0) are not the feed's and are exempt.
#[test]
fn events_for_unknown_contacts_are_counted_and_warned_about() {
    let p = Project::with_examples(&["quote-follow-up"]);
    let cy = "cy,cy@example.com,+36 1 234 1111,Cy,assistant,2026-05-04 08:00,,no,no,no\n";
    p.write("contacts.csv", &format!("{QUOTE_HEADER}{cy}"));
    p.event("cy", "email.opened", "2026-05-04T08:30:00Z");
    for i in 1..=7 {
        p.event(
            &format!("ghost{i}"),
            "quote.refused",
            "2026-05-04T08:30:00Z",
        );
    }
    let run = p.run_at("2026-05-04T09:00:00Z");
    assert!(
        run.stderr.contains(
            "warning: events.jsonl:2: event `quote.refused` for contact `ghost1`, who is not in the contacts feed (skipped)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("events.jsonl:6:"), "{}", run.stderr);
    assert!(!run.stderr.contains("events.jsonl:7:"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: events.jsonl: and 2 more events for contacts not in the contacts feed (skipped)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("events for unknown contacts 7"),
        "{}",
        run.stderr
    );
    let json = p.json(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--events",
        "events.jsonl",
        "--now",
        "2026-05-04T09:05:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(
        json["summary"]["events_for_unknown_contacts"], 7,
        "{json:#}"
    );
    let unknown = json["unknown_contacts"].as_array().unwrap();
    assert_eq!(unknown.len(), 7, "{json:#}");
    assert_eq!(unknown[0]["contact"], "ghost1");
    assert_eq!(unknown[0]["line"], 2);
    assert_eq!(unknown[0]["event"], "quote.refused");

    // Cy's task is done through funnel (an event it records, line 0), then
    // Cy leaves the contacts feed: that event is no unknown contact's.
    p.task_done(p.task_id("cy", "prepare-quote"));
    std::fs::remove_file(p.path("events.jsonl")).unwrap();
    p.write("contacts.csv", QUOTE_HEADER);
    let run = p.run_at("2026-05-04T10:00:00Z");
    assert!(
        run.stderr.contains("events for unknown contacts 0"),
        "{}",
        run.stderr
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", &format!("{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\n"));
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-04T09:00:00Z",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("ann  enter: has(contact.quote_requested_at)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("email thanks (queued)"),
        "{}",
        run.stdout
    );
    assert!(!p.path(".funnel/outbox.jsonl").exists());
    // The real run afterwards still does everything.
    p.run_at("2026-05-04T09:00:00Z");
    assert_eq!(p.steps_of("ann"), ["thanks"]);
}

const WINDOWED: &str = r#"
funnel: windowed
timezone: Europe/Budapest
contact: { email: email, unsubscribed: bool }
enter: [{ when: "true", stage: a }]
exit: [{ when: "contact.unsubscribed", to: out }]
send_window: { days: mon-fri, hours: "09:00-10:00" }
stages:
  a:
    steps:
      - id: hello
        email: { template: hello }
      - id: reminder
        after: 3d
        stale_after: 5d
        email: { template: hello }
      - id: late
        after: 1d
        stale_after: 1h
        email: { template: hello }
    exhausted: out
  out: { terminal: true }
"#;

#[test]
fn send_window_waits_for_the_next_opening_across_dst() {
    let p = Project::with_funnel(
        WINDOWED,
        &[("hello", "subject: Hi\n---\nHello {{contact.email}}\n")],
    );
    p.write(
        "contacts.csv",
        "id,email,unsubscribed\nann,ann@example.com,no\n",
    );
    // Saturday 2026-03-28 in Budapest: closed until Monday 09:00, which is
    // 07:00 UTC after the change to summer time on Sunday.
    let run = p.run_at("2026-03-28T12:00:00Z");
    assert!(run.stderr.contains("deferred 1"), "{}", run.stderr);
    assert!(p.outbox().is_empty());
    p.run_at("2026-03-30T06:59:00Z");
    assert!(p.outbox().is_empty(), "08:59 local is before the window");
    p.run_at("2026-03-30T07:00:00Z");
    assert_eq!(
        p.outbox(),
        [(
            "ann".into(),
            "hello".into(),
            "email".into(),
            "2026-03-30T07:00:00Z".into()
        )]
    );
}

#[test]
fn missed_runs_catch_up_in_order_and_skip_what_went_stale() {
    let p = Project::with_funnel(
        WINDOWED,
        &[("hello", "subject: Hi\n---\nHello {{contact.email}}\n")],
    );
    p.write(
        "contacts.csv",
        "id,email,unsubscribed\nann,ann@example.com,no\n",
    );
    p.run_at("2026-05-04T07:00:00Z"); // Monday 09:00 in Budapest
    // No run for a week: `reminder` (due Thursday) is 4 days late but may be 5;
    // `late` (due Friday) may only be an hour late and is skipped.
    let run = p.run_at("2026-05-11T07:30:00Z");
    assert!(run.stderr.contains("skipped as stale 1"), "{}", run.stderr);
    assert_eq!(p.steps_of("ann"), ["hello", "reminder"]);
    let history = p.funnel(&["history", "ann", "--format", "csv"]);
    assert!(history.stdout.contains("exhausted"), "{}", history.stdout);
}

const CAPPED: &str = r#"
funnel: capped
timezone: UTC
contact: { email: email, unsubscribed: bool }
enter: [{ when: "true", stage: a }]
exit: [{ when: "contact.unsubscribed", to: out }]
caps: { email: 2 per day }
stages:
  a:
    steps:
      - id: one
        email: { template: hello }
      - id: two
        email: { template: hello }
      - id: receipt
        email: { template: hello, transactional: true }
      - id: three
        email: { template: hello }
    exhausted: out
  out: { terminal: true }
"#;

/// A second funnel mailing the same contacts: its messages count against
/// the first funnel's caps, since the cap protects the contact.
const NEIGHBOUR: &str = r#"
funnel: neighbour
timezone: UTC
contact: { email: email, unsubscribed: bool }
enter: [{ when: "true", stage: a }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  a:
    steps:
      - id: news
        after: 1h
        email: { template: hello }
    exhausted: out
  out: { terminal: true }
"#;

#[test]
fn frequency_caps_defer_marketing_messages_but_not_transactional_ones() {
    let p = Project::with_funnel(CAPPED, &[("hello", "subject: Hi\n---\nHello\n")]);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed\nann,ann@example.com,no\n",
    );
    let first = p.run_at("2026-03-02T10:00:00Z");
    assert!(first.stderr.contains("deferred 1"), "{}", first.stderr);
    let sent = |p: &Project| -> Vec<(String, String)> {
        p.outbox()
            .into_iter()
            .map(|(_, step, _, due)| (step, due))
            .collect()
    };
    // Two marketing emails fill the day; the receipt is transactional, so
    // it neither waits nor counts.
    let day_one = [
        ("one".to_string(), "2026-03-02T10:00:00Z".to_string()),
        ("two".into(), "2026-03-02T10:00:00Z".into()),
        ("receipt".into(), "2026-03-02T10:00:00Z".into()),
    ];
    assert_eq!(sent(&p), day_one);
    p.run_at("2026-03-03T09:59:00Z");
    assert_eq!(sent(&p), day_one, "a day has not passed since `one`");
    p.run_at("2026-03-03T12:00:00Z");
    let mut all = day_one.to_vec();
    all.push(("three".into(), "2026-03-03T10:00:00Z".into()));
    assert_eq!(sent(&p), all, "due when the cap had room again");
}

#[test]
fn frequency_caps_count_messages_from_every_funnel() {
    let later = CAPPED.replace("      - id: one\n", "      - id: one\n        after: 2h\n");
    let p = Project::with_funnel(&later, &[("hello", "subject: Hi\n---\nHello\n")]);
    p.write("funnels/neighbour.yaml", NEIGHBOUR);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed\nann,ann@example.com,no\n",
    );
    // The neighbour's news goes at 09:00, so at 10:00 `capped` may send only
    // one email; the next has to wait until the news is a day old.
    for now in [
        "2026-03-02T08:00:00Z",
        "2026-03-02T09:30:00Z",
        "2026-03-02T10:00:00Z",
    ] {
        p.run_at(now);
    }
    let sent = |p: &Project| -> Vec<String> {
        p.outbox()
            .into_iter()
            .map(|(_, step, _, due)| format!("{step} {due}"))
            .collect()
    };
    assert_eq!(
        sent(&p),
        ["news 2026-03-02T09:00:00Z", "one 2026-03-02T10:00:00Z"]
    );
    p.run_at("2026-03-03T09:30:00Z");
    p.run_at("2026-03-03T10:30:00Z");
    assert_eq!(
        sent(&p),
        [
            "news 2026-03-02T09:00:00Z",
            "one 2026-03-02T10:00:00Z",
            "two 2026-03-03T09:00:00Z",
            "receipt 2026-03-03T09:00:00Z",
            "three 2026-03-03T10:00:00Z",
        ]
    );
}

const WELCOME: &str = r#"
funnel: welcome
timezone: UTC
contact: { email: email, unsubscribed: bool }
enter: [{ when: "true", stage: new }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  new:
    steps:
      - id: hello
        email: { template: hello }
      - id: tips
        email: { template: hello }
    exhausted: out
  out: { terminal: true }
"#;

/// A project with `count` contacts who each get two emails at once.
fn crowd(count: usize) -> Project {
    let p = Project::with_funnel(
        WELCOME,
        &[("hello", "subject: Hi\n---\nHello {{contact.email}}\n")],
    );
    let mut csv = String::from("id,email,unsubscribed\n");
    for i in 0..count {
        csv += &format!("c{i},c{i}@example.com,no\n");
    }
    p.write("contacts.csv", &csv);
    p
}

fn start_run(p: &Project) -> std::process::Child {
    p.command(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-03-02T10:00:00Z",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap()
}

/// Every outbox key with how often it was written.
fn outbox_keys(p: &Project) -> std::collections::BTreeMap<String, usize> {
    let text = std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap_or_default();
    let mut keys = std::collections::BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("outbox line {} is not JSON ({e}): {line}", n + 1));
        *keys
            .entry(v["key"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    keys
}

#[test]
fn a_run_killed_at_random_points_loses_and_doubles_nothing() {
    const CONTACTS: usize = 3_000;
    // How long a whole run takes here, so the kills land inside one.
    let reference = crowd(CONTACTS);
    let started = std::time::Instant::now();
    assert!(start_run(&reference).wait().unwrap().success());
    let whole = started.elapsed();

    let p = crowd(CONTACTS);
    // Fixed fractions with a spread, so the kills land while contacts are
    // walked and while the outbox is written.
    for fraction in [0.12, 0.31, 0.47, 0.66, 0.83, 0.95] {
        let mut child = start_run(&p);
        std::thread::sleep(whole.mul_f64(fraction));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let last = start_run(&p).wait_with_output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );

    let keys = outbox_keys(&p);
    let doubled: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "written twice: {doubled:?}");
    let expected: std::collections::BTreeSet<String> = (0..CONTACTS)
        .flat_map(|i| ["hello", "tips"].map(|step| format!("welcome/c{i}/1/{step}")))
        .collect();
    let written: std::collections::BTreeSet<String> = keys.into_keys().collect();
    assert_eq!(
        expected.difference(&written).count(),
        0,
        "lost: {:?}",
        expected.difference(&written).take(5).collect::<Vec<_>>()
    );
    assert_eq!(written.len(), expected.len());

    // The history agrees: one entry and one exhausted move per contact.
    let db = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT COUNT(*) FROM history WHERE kind = 'enter'"),
        CONTACTS as i64
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT contact) FROM history"),
        CONTACTS as i64
    );
    assert_eq!(count("SELECT COUNT(*) FROM history"), 2 * CONTACTS as i64);
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'"),
        2 * CONTACTS as i64
    );
}

#[test]
fn two_runs_at_once_never_double_anything() {
    let p = crowd(2_000);
    for _ in 0..3 {
        let (a, b) = (start_run(&p), start_run(&p));
        let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let codes: Vec<i32> = outputs
            .iter()
            .map(|o| o.status.code().unwrap_or(-1))
            .collect();
        assert!(codes.contains(&0), "{codes:?}");
        for (output, code) in outputs.iter().zip(&codes) {
            let stderr = String::from_utf8_lossy(&output.stderr);
            match code {
                0 => {}
                4 => assert!(stderr.contains("in use by another funnel run"), "{stderr}"),
                other => panic!("exit {other}: {stderr}"),
            }
        }
    }
    let keys = outbox_keys(&p);
    assert_eq!(keys.len(), 4_000);
    assert!(keys.values().all(|n| *n == 1));
}

#[test]
fn status_shows_positions_counts_and_why_actions_failed() {
    let p = Project::with_funnel(
        &WELCOME.replace("{ email: email,", "{ email: email, nickname: string?,"),
        &[("hello", "subject: Hi\n---\nHello {{contact.nickname}}\n")],
    );
    p.write(
        "contacts.csv",
        "id,email,nickname,unsubscribed\nann,ann@example.com,Annie,no\nbob,bob@example.com,,no\n",
    );
    p.run_at("2026-03-02T10:00:00Z");
    let status = p.status();
    let counts = p.outbox_counts();
    assert_eq!(
        counts,
        BTreeMap::from([("delivered".to_string(), 2), ("failed".to_string(), 2)])
    );
    let positions = &status["positions"][0];
    assert_eq!(
        (
            &positions["stage"],
            &positions["contacts"],
            &positions["active"]
        ),
        (
            &serde_json::json!("out"),
            &serde_json::json!(2),
            &serde_json::json!(false)
        )
    );
    let failed = status["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["key"], "welcome/bob/1/tips");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("nickname"), "{error}");
    let table = p.funnel(&["status"]).stdout;
    assert!(table.contains("latest failed actions"), "{table}");
    assert!(table.contains("welcome/bob/1/hello"), "{table}");
}

/// An opt-out a late run saw blocked the entry before it: the entry's
/// global-exit check read the row's current values at the entry's moment,
/// before any run had seen them, so a contact with no run in between
/// never entered while one with a run in between did (issue 16).
#[test]
fn an_opt_out_seen_by_a_late_run_does_not_erase_the_entry_before_it() {
    let header = "id,email,first_name,feedback_at,score,issue_resolved,unsubscribed\n";
    let row = |unsubscribed: &str| format!("{header}ann,ann@example.com,Ann,,,no,{unsubscribed}\n");
    let journeys = |ticks: &[&str]| {
        let p = Project::with_examples(&["purchase-survey"]);
        p.write("contacts.csv", &row("no"));
        p.run_at("2026-06-01T09:00:00Z");
        p.event("ann", "order.completed", "2026-06-01T12:00:00Z");
        for now in ticks {
            p.run_at(now);
        }
        p.write("contacts.csv", &row("yes"));
        p.run_at("2026-06-10T09:00:00Z");
        p.moves("ann")
    };
    let late = journeys(&[]);
    assert_eq!(
        late,
        [
            "2026-06-01T12:00:00Z enter - -> ask",
            "2026-06-03T08:00:00Z exhausted ask/feedback-form -> no-answer",
        ]
    );
    // The form was sent in time here; the entry is the same.
    let prompt = journeys(&["2026-06-01T12:15:00Z"]);
    assert_eq!(prompt[0], late[0]);
}

/// Runs `funnel run` at `now` under umask 000, the loosest there is.
#[cfg(unix)]
fn run_with_open_umask(p: &Project, now: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_funnel"))
        .args(["run", "--contacts", "contacts.csv", "--now", now])
        .current_dir(p.dir.path())
        .output()
        .unwrap()
}

/// Broke: the state, its WAL and the outbox were created with the umask's
/// mode (0644 by default), readable by every local user.
#[cfg(unix)]
#[test]
fn personal_data_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", &format!("{QUOTE_HEADER}ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\n"));
    let output = run_with_open_umask(&p, "2026-05-04T09:00:00Z");
    assert!(output.status.success(), "{output:?}");
    let mode = |name: &str| {
        std::fs::metadata(p.path(name))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(mode(".funnel"), 0o700);
    for name in ["state.db", "state.lock", "outbox.jsonl"] {
        assert_eq!(mode(&format!(".funnel/{name}")), 0o600, "{name}");
    }
    // The WAL lives while a connection is open: hold one and write.
    let mut state = funnel::store::Store::open(&p.path(".funnel/state.db")).unwrap();
    let tx = state.transaction().unwrap();
    funnel::store::add_tag(&tx, "ann", "probe").unwrap();
    tx.commit().unwrap();
    for name in ["state.db-wal", "state.db-shm"] {
        assert_eq!(mode(&format!(".funnel/{name}")), 0o600, "{name}");
    }
}

/// Broke: an empty or foreign `state.db` was silently made a fresh state,
/// so a lost state re-entered (and re-messaged) every contact.
#[test]
fn a_file_that_is_not_a_funnel_state_is_refused() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    std::fs::create_dir_all(p.path(".funnel")).unwrap();
    let foreign = rusqlite::Connection::open(p.path("other.db")).unwrap();
    foreign
        .execute_batch("CREATE TABLE notes (x); INSERT INTO notes VALUES (1);")
        .unwrap();
    drop(foreign);
    let cases = [
        ("", "an empty file"),
        (
            "hello, not SQLite at all, just some text\n",
            "not an SQLite database",
        ),
    ];
    for (text, why) in cases {
        p.write(".funnel/state.db", text);
        for args in [
            &[
                "run",
                "--contacts",
                "contacts.csv",
                "--now",
                "2026-05-04T09:00:00Z",
            ][..],
            &["status"],
            &["contacts"],
        ] {
            let run = p.funnel(args);
            assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
            assert!(
                run.stderr.contains("is not a funnel state"),
                "{}",
                run.stderr
            );
            assert!(run.stderr.contains(why), "{}", run.stderr);
        }
        assert_eq!(
            std::fs::read_to_string(p.path(".funnel/state.db")).unwrap(),
            text
        );
    }
    let before = std::fs::read(p.path("other.db")).unwrap();
    for args in [
        &[
            "run",
            "--contacts",
            "contacts.csv",
            "--now",
            "2026-05-04T09:00:00Z",
            "--state",
            "other.db",
        ][..],
        &["tasks", "--state", "other.db"],
    ] {
        let run = p.funnel(args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("without funnel's tables"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read(p.path("other.db")).unwrap(), before);
}

/// Broke: a state from a newer funnel was refused by `run` but read by
/// the listings, which would misread columns they do not know.
#[test]
fn a_state_from_a_newer_funnel_is_refused_by_every_command() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    p.run_at("2026-05-04T09:00:00Z");
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    state.pragma_update(None, "user_version", 999).unwrap();
    drop(state);
    for args in [
        &[
            "run",
            "--contacts",
            "contacts.csv",
            "--now",
            "2026-05-05T09:00:00Z",
        ][..],
        &["status"],
        &["history", "ann"],
        &["tasks"],
        &["contacts"],
        &["actions"],
        &["report"],
        &["retry", "--list"],
    ] {
        let run = p.funnel(args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("schema version 999"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Broke: the run lock followed the path's name, so the same state reached
/// through a symlink let two runs deliver at once.
#[cfg(unix)]
#[test]
fn a_state_reached_through_a_symlink_shares_its_lock() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    p.run_at("2026-05-04T09:00:00Z");
    std::os::unix::fs::symlink(p.path(".funnel/state.db"), p.path("link.db")).unwrap();
    let _held = funnel::store::Store::open(&p.path(".funnel/state.db")).unwrap();
    let run = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T09:00:00Z",
        "--state",
        "link.db",
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("in use by another funnel run"),
        "{}",
        run.stderr
    );
}

/// Broke: `--now 20260-05-04T09:00:00Z`-style typos (year 0001, 9999)
/// were taken, and a stored far future held every later run back.
#[test]
fn now_out_of_range_is_refused_before_anything_is_opened() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    for now in [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
    ] {
        for args in [
            &["run", "--contacts", "contacts.csv", "--now", now][..],
            &["deliver", "--now", now],
            &["task", "done", "1", "--at", now],
        ] {
            let run = p.funnel(args);
            assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
            assert!(run.stderr.contains("is out of range"), "{}", run.stderr);
        }
    }
    assert!(!p.path(".funnel/state.db").exists());
    p.run_at("1970-01-01T00:00:00Z");
    p.run_at("8999-12-31T23:59:59Z");
}

/// Broke: a mistyped future `--now` that ran was stored, and nothing but
/// editing the database let runs go on at the real time.
#[test]
fn a_mistyped_future_now_is_recovered_with_allow_clock_reset() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", QUOTE_HEADER);
    p.run_at("2026-05-04T09:00:00Z");
    p.run_at("2062-05-04T09:00:00Z");
    let run_at = |now: &str, reset: Option<&str>| {
        let mut args = vec!["run", "--contacts", "contacts.csv", "--now", now];
        if let Some(reason) = reset {
            args.extend(["--allow-clock-reset", reason]);
        }
        p.funnel(&args)
    };
    let refused = run_at("2026-05-05T09:00:00Z", None);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--allow-clock-reset"),
        "{}",
        refused.stderr
    );
    let no_reason = run_at("2026-05-05T09:00:00Z", Some(" "));
    assert_eq!(no_reason.code, 2, "{}", no_reason.stderr);
    let reset = run_at("2026-05-05T09:00:00Z", Some("2062 was a typo for 2026"));
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    // From then on the reset run is the last one: the next goes forward.
    p.run_at("2026-05-06T09:00:00Z");
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    let runs: Vec<(String, Option<String>, Option<String>)> = state
        .prepare("SELECT now, reset_from, reset_reason FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plain = |now: &str| (now.to_string(), None, None);
    assert_eq!(
        runs,
        [
            plain("2026-05-04T09:00:00Z"),
            plain("2062-05-04T09:00:00Z"),
            (
                "2026-05-05T09:00:00Z".to_string(),
                Some("2062-05-04T09:00:00Z".to_string()),
                Some("2062 was a typo for 2026".to_string())
            ),
            plain("2026-05-06T09:00:00Z"),
        ]
    );
}

/// A run that begins with an empty outbox counts, for the caps, what it
/// queued for the contact in every funnel so far without reading the
/// state (`Runner::capped`): the same deferrals as a run over an outbox
/// that already held rows, where the caps read the state.
#[test]
fn frequency_caps_count_every_funnel_in_a_first_run_as_in_later_runs() {
    let welcome = CAPPED.replace("2 per day", "1 per day");
    let news = NEIGHBOUR
        .replace("after: 1h\n", "\n")
        .replace("stages:", "caps: { email: 1 per day }\nstages:");
    let project = |contacts: &str| {
        let p = Project::with_funnel(&welcome, &[("hello", "subject: Hi\n---\nHello\n")]);
        p.write("funnels/neighbour.yaml", &news);
        p.write("contacts.csv", contacts);
        p
    };
    let first = project("id,email,unsubscribed\nann,ann@example.com,no\n");
    let later = project("id,email,unsubscribed\nzed,zed@example.com,no\n");
    later.run_at("2026-03-02T09:00:00Z");
    later.write(
        "contacts.csv",
        "id,email,unsubscribed\nann,ann@example.com,no\nzed,zed@example.com,no\n",
    );
    let ran = first.run_at("2026-03-02T10:00:00Z");
    // `capped` and `neighbour` both mail ann at once: `capped`'s first
    // email fills the day, and its second and the news wait.
    assert!(ran.stderr.contains("deferred 2"), "{}", ran.stderr);
    later.run_at("2026-03-02T10:00:00Z");
    for p in [&first, &later] {
        p.run_at("2026-03-03T10:30:00Z");
        p.run_at("2026-03-04T10:30:00Z");
        p.run_at("2026-03-05T10:30:00Z");
    }
    let sent = |p: &Project| -> Vec<String> {
        let mut sent: Vec<String> = (p.outbox().into_iter())
            .filter(|(contact, ..)| contact == "ann")
            .map(|(_, step, _, due)| format!("{due} {step}"))
            .collect();
        sent.sort();
        sent
    };
    assert_eq!(sent(&first), sent(&later));
    assert_eq!(
        sent(&first),
        // Each day's room goes to `capped`, walked first, until it is done.
        [
            "2026-03-02T10:00:00Z one",
            "2026-03-03T10:00:00Z receipt",
            "2026-03-03T10:00:00Z two",
            "2026-03-04T10:00:00Z three",
            "2026-03-05T10:00:00Z news",
        ]
    );
}
