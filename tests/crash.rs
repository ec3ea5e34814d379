#![allow(clippy::unwrap_used)]
//! Crash test: `funnel run` is killed (SIGKILL) at pseudo-random points
//! while it delivers a few thousand webhooks and file rows, several times,
//! then run to completion. The HTTP server must have every idempotency key;
//! a key received twice must be the same message again (same body); the
//! JSON Lines outbox must hold every file row exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::Project;
use common::servers::{HttpServer, Reply};

const CONTACTS: usize = 2_000;
const NOW: &str = "2026-05-04T09:00:00Z";

const FUNNEL: &str = r#"
funnel: burst
timezone: UTC
contact: { first_name: string }
enter:
  - { when: "contact.first_name != ''", stage: go }
stages:
  go:
    steps:
      - id: hook
        webhook: { endpoint: crm, template: hook }
      - id: mark
        tag: greeted
    exhausted: done
  done: { terminal: true }
"#;

/// A small deterministic generator: the kill points differ run to run of
/// the loop but not between test runs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn killing_runs_during_delivery_loses_and_doubles_nothing() {
    let (requests, kills) = kill_during_delivery("concurrency = 8\nbatch = 50");
    // Only rows in flight when a run died can go twice.
    assert!(
        requests < CONTACTS + kills * 100,
        "{requests} requests for {CONTACTS} webhooks after {kills} kills"
    );
}

/// Outcomes committed a page (1,000 rows) at a time: a kill -9 during
/// delivery re-sent up to the whole page. Now each send's outcome commits
/// as it completes, so a kill re-sends at most twice `concurrency`.
#[test]
fn a_kill_during_delivery_re_sends_at_most_twice_the_concurrency() {
    let concurrency = 4;
    let (requests, kills) = kill_during_delivery(&format!("concurrency = {concurrency}"));
    assert!(
        requests <= CONTACTS + kills * 2 * concurrency,
        "{requests} requests for {CONTACTS} webhooks after {kills} kills"
    );
}

/// Runs `funnel run` with `delivery` settings, killing it mid-delivery
/// several times, then to completion; checks nothing was lost or changed
/// and gives the number of requests the server saw and of kills.
fn kill_during_delivery(delivery: &str) -> (usize, usize) {
    // Slow enough that a pass of 2,000 sends takes over a second: the kills
    // land while it delivers (file rows go out during the walk, in no time).
    let http = HttpServer::start(|_, _| Reply::status(200).delay(Duration::from_millis(5)));
    let p = Project::new();
    p.write("funnels/burst.yaml", FUNNEL)
        .write(
            "funnels/templates/hook.hbs",
            r#"{"hello": "{{contact.first_name}}"}"#,
        )
        .write(
            "funnel.toml",
            &format!(
                "[delivery]\n{delivery}\n\n[channels.crm]\nkind = \"http\"\nurl = \"{}\"\nsecret = \"${{CRM_SECRET}}\"\n",
                http.url("/hooks")
            ),
        );
    let mut csv = String::from("id,first_name\n");
    for i in 0..CONTACTS {
        csv.push_str(&format!("c{i},Name{i}\n"));
    }
    p.write("contacts.csv", &csv);
    let args = ["run", "--contacts", "contacts.csv", "--now", NOW];

    let mut random = Lcg(0x5eed);
    let mut kills = 0;
    for _ in 0..6 {
        let before = http.requests().len();
        let mut child = p.command(&args).env("CRM_SECRET", "k").spawn().unwrap();
        // Wait until delivery is under way (or the run ended), then a bit more.
        let started = Instant::now();
        while http.requests().len() == before
            && started.elapsed() < Duration::from_secs(60)
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(random.next(400)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-delivery");
    // Then to completion.
    for _ in 0..5 {
        let out = p.funnel_env(&args, &[("CRM_SECRET", "k")]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        if !p.outbox_counts().contains_key("queued") {
            break;
        }
    }
    let counts = p.outbox_counts();
    assert_eq!(
        counts.get("delivered"),
        Some(&(2 * CONTACTS as i64)),
        "{counts:?}"
    );
    assert_eq!(counts.len(), 1, "{counts:?}");

    let mut bodies: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let requests = http.requests();
    for r in &requests {
        bodies
            .entry(r.header("idempotency-key").unwrap().to_string())
            .or_default()
            .insert(r.body.clone());
    }
    for i in 0..CONTACTS {
        let key = format!("burst/c{i}/1/hook");
        let Some(seen) = bodies.get(&key) else {
            panic!("{key} never reached the server");
        };
        assert_eq!(
            seen.len(),
            1,
            "{key} was sent with different bodies: {seen:?}"
        );
    }
    assert_eq!(bodies.len(), CONTACTS);

    let file = std::fs::read_to_string(p.path(".funnel/outbox.jsonl")).unwrap();
    let keys: Vec<String> = file
        .lines()
        .map(|line| {
            let row: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
            row["key"].as_str().unwrap().to_string()
        })
        .collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), CONTACTS, "file rows written twice or lost");
    assert_eq!(unique.len(), CONTACTS);
    (requests.len(), kills)
}
