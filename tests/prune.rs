//! Retention: `funnel prune` and `[state] retention` forget what nobody
//! acts on (bodies of sent messages, history of ended journeys) and keep
//! what later runs rely on: nothing is sent twice, the report is the same,
//! open journeys keep their history.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;
use serde_json::Value;

/// Ann is no VIP: two emails, then `done`. Bob is: after the welcome he
/// waits up to a year for an order, so his journey stays open.
const FUNNEL: &str = r#"
funnel: news
timezone: UTC
contact: { email: email, first_name: string, vip: bool, unsubscribed: bool }
enter:
  - { when: "contact.first_name != ''", stage: reading }
exit:
  - { when: "contact.unsubscribed", to: opted-out }
stages:
  reading:
    goal: { event: order.placed, to: customer }
    steps:
      - id: hello
        email: { template: hello }
      - id: vip-check
        branch: { when: "contact.vip", yes: vip-wait, no: follow-up }
      - id: follow-up
        after: 3d
        email: { template: hello }
        wait: { event: order.placed, within: 1d, yes: customer, no: done }
      - id: vip-wait
        after: 365d
    exhausted: done
  customer: { terminal: true }
  done: { terminal: true }
  opted-out: { terminal: true }
"#;

const T0: &str = "2026-01-05T09:00:00Z";

fn project() -> Project {
    let funnel = FUNNEL.replace(
        "      - id: vip-check\n        branch: { when: \"contact.vip\", yes: vip-wait, no: next }\n",
        "      - id: vip-check\n        branch: { when: \"contact.vip\", yes: vip-wait, no: follow-up }\n      - id: vip-wait\n        wait: { event: order.placed, within: 365d, yes: follow-up, no: follow-up }\n",
    );
    let p = Project::with_funnel(
        &funnel,
        &[(
            "hello",
            "subject: Hello {{contact.first_name}}\n---\nHi.\nLeave: {{unsubscribe_url}}\n",
        )],
    );
    p.write(
        "contacts.csv",
        "id,email,first_name,vip,unsubscribed\nann,ann@example.com,Ann,false,false\nbob,bob@example.com,Bob,true,false\n",
    );
    p
}

fn at(days: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(T0).unwrap() + chrono::TimeDelta::days(days);
    t.to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn json(p: &Project, args: &[&str]) -> Value {
    let out = p.funnel(args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn pruning_forgets_bodies_and_ended_history_and_nothing_is_sent_twice() {
    let p = project();
    for day in [0, 5, 40] {
        p.run_at(&at(day));
    }
    let report = json(&p, &["report", "--format", "json"]);
    let actions = json(&p, &["actions", "--format", "json"]);
    let outbox_lines = std::fs::read_to_string(p.path(".funnel/outbox.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(p.history("bob").len(), 2, "bob entered and waits");
    assert!(p.history("ann").len() >= 3);

    let out = p.funnel(&["prune", "--older-than", "30d", "--now", &at(40)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("retention: pruned 3 message bodies and 3 history lines from before 2026-01-15T09:00:00Z"),
        "{}",
        out.stderr
    );
    // Ann's journey ended: its lines are gone. Bob's is open: kept whole.
    assert!(p.history("ann").is_empty());
    assert_eq!(p.history("bob").len(), 2);
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    let payload: String = state
        .query_row(
            "SELECT payload FROM outbox WHERE key = 'news/ann/1/hello'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(payload, r#"{"pruned":true}"#);
    // The report and every key and status are as they were.
    assert_eq!(json(&p, &["report", "--format", "json"]), report);
    let after: Vec<(Value, Value)> = json(&p, &["actions", "--format", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].clone(), r["status"].clone()))
        .collect();
    let before: Vec<(Value, Value)> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(after, before);

    // The same feed again, and a later tick: nothing goes out twice.
    p.run_at(&at(40));
    p.run_at(&at(41));
    let lines = std::fs::read_to_string(p.path(".funnel/outbox.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, outbox_lines);
}

#[test]
fn retention_prunes_at_the_end_of_every_run() {
    let p = project();
    p.write("funnel.toml", "[state]\nretention = \"30d\"\n");
    p.run_at(&at(0));
    let run = p.run_at(&at(40));
    assert!(
        run.stderr
            .contains("retention: pruned 2 message bodies and 3 history lines"),
        "{}",
        run.stderr
    );
    let later = p.run_at(&at(41));
    assert!(
        later
            .stderr
            .contains("retention: pruned 0 message bodies and 0 history lines"),
        "{}",
        later.stderr
    );
}

#[test]
fn a_retention_under_a_week_or_none_at_all_is_refused() {
    let p = project();
    p.run_at(&at(0));
    let short = p.funnel(&["prune", "--older-than", "2d"]);
    assert_eq!(short.code, 2);
    assert!(
        short.stderr.contains("keep at least 7d"),
        "{}",
        short.stderr
    );
    let none = p.funnel(&["prune"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("give --older-than"), "{}", none.stderr);
    p.write("funnel.toml", "[state]\nretention = \"1d\"\n");
    let config = p.funnel(&["prune"]);
    assert_eq!(config.code, 2, "{}", config.stderr);
}
