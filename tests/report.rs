#![allow(clippy::unwrap_used)]
//! `funnel report` on states built the real way: the shipped quote
//! follow-up funnel run by the binary over three simulated weeks with known
//! outcomes, asserting exact counts, rates and times; snapshots of the
//! table, JSON and CSV; the HTML checked by an HTML5 parser.

use std::process::Command;

mod common;

use common::{Project, Run};

/// What these tests do with a project, over the shared harness.
trait Reports {
    fn tick(&self, now: &str, contacts: &str, events: &[(&str, &str, &str, &str)]);
    fn report(&self, args: &[&str]) -> Run;
    fn report_json(&self, args: &[&str]) -> serde_json::Value;
}

impl Reports for Project {
    /// One tick at `now` with the contacts as they are then and the events
    /// that have happened by then.
    fn tick(&self, now: &str, contacts: &str, events: &[(&str, &str, &str, &str)]) {
        self.write("contacts.csv", contacts);
        let lines: String = events
            .iter()
            .filter(|(_, _, at, _)| *at <= now)
            .map(|(contact, event, at, data)| {
                format!("{{\"contact\":\"{contact}\",\"event\":\"{event}\",\"at\":\"{at}\",\"data\":{data}}}\n")
            })
            .collect();
        self.write("events.jsonl", &lines);
        let run = self.funnel(&[
            "run",
            "--contacts",
            "contacts.csv",
            "--events",
            "events.jsonl",
            "--now",
            now,
        ]);
        assert_eq!(run.code, 0, "run at {now}: {}{}", run.stdout, run.stderr);
    }

    fn report(&self, args: &[&str]) -> Run {
        let mut all = vec!["report"];
        all.extend(args);
        let report = self.funnel(&all);
        assert_eq!(report.code, 0, "report {args:?}: {}", report.stderr);
        report
    }

    fn report_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend(args);
        serde_json::from_str(&self.report(&all).stdout).unwrap()
    }
}

const QUOTE_HEADER: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n";

/// The quote follow-up funnel over 19 days, one run a day at 10:00 UTC
/// (12:00 in Budapest, inside the send window). Twelve leads ask for a
/// quote on Monday 2026-05-04:
/// - a01-a08 get their quote on Tuesday; a09 unsubscribes on Tuesday;
///   a10-a12 never get one and are given up a week later (exhausted).
/// - Quoted: a01 and a02 book a meeting on Wednesday (the goal), a03
///   refuses (an exit), a04 replies (positive wait, then the nudge and the
///   last chance run out: exhausted), a05-a08 stay silent: after 3 days a
///   call; a05 is reached (then exhausted like a04), a06-a08 are not and
///   become `unreachable` (the negative path).
/// - Unreachable: a07 books a meeting (goal), a06 answers the SMS (a
///   callback, then exhausted), a08 ignores SMS and email (negative: lost).
/// - Meeting: a01 orders (goal); a02 and a07 are still there.
/// - The prepare-quote tasks: a01-a04 done the same day, a05 late.
fn quote_scenario() -> Project {
    let p = Project::with_examples(&["quote-follow-up"]);
    let contact = |id: &str, sent: bool, replied: bool, reached: bool, unsubscribed: bool| {
        let yn = |b: bool| if b { "yes" } else { "no" };
        format!(
            "{id},{id}@example.com,+36 1 234 5678,Lead {id},assistant,2026-05-04 08:00,{},{},{},{}\n",
            if sent { "2026-05-05 09:00" } else { "" },
            yn(replied),
            yn(reached),
            yn(unsubscribed)
        )
    };
    let events = [
        (
            "a01",
            "task.done",
            "2026-05-04T15:00:00Z",
            r#"{"step":"prepare-quote"}"#,
        ),
        (
            "a02",
            "task.done",
            "2026-05-04T15:00:00Z",
            r#"{"step":"prepare-quote"}"#,
        ),
        (
            "a03",
            "task.done",
            "2026-05-04T15:00:00Z",
            r#"{"step":"prepare-quote"}"#,
        ),
        (
            "a04",
            "task.done",
            "2026-05-04T15:00:00Z",
            r#"{"step":"prepare-quote"}"#,
        ),
        (
            "a05",
            "task.done",
            "2026-05-06T09:00:00Z",
            r#"{"step":"prepare-quote"}"#,
        ),
        ("a01", "meeting.booked", "2026-05-06T12:00:00Z", "{}"),
        ("a02", "meeting.booked", "2026-05-06T12:00:00Z", "{}"),
        ("a03", "quote.refused", "2026-05-06T12:00:00Z", "{}"),
        ("a01", "order.placed", "2026-05-08T12:00:00Z", "{}"),
        ("a06", "sms.replied", "2026-05-12T12:00:00Z", "{}"),
        ("a07", "meeting.booked", "2026-05-12T12:00:00Z", "{}"),
    ];
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 5, 4).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 5, 22).unwrap();
    while day <= last {
        let now = format!("{day}T10:00:00Z");
        let quoted = day >= chrono::NaiveDate::from_ymd_opt(2026, 5, 5).unwrap();
        let replied = day >= chrono::NaiveDate::from_ymd_opt(2026, 5, 6).unwrap();
        let reached = day >= chrono::NaiveDate::from_ymd_opt(2026, 5, 9).unwrap();
        let mut contacts = QUOTE_HEADER.to_string();
        for i in 1..=12 {
            let id = format!("a{i:02}");
            contacts.push_str(&contact(
                &id,
                quoted && i <= 8,
                replied && i == 4,
                reached && i == 5,
                quoted && i == 9,
            ));
        }
        p.tick(&now, &contacts, &events);
        day = day.succ_opt().unwrap();
    }
    p
}

fn stage<'v>(report: &'v serde_json::Value, name: &str) -> &'v serde_json::Value {
    report["funnels"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

fn counts(stage: &serde_json::Value) -> [u64; 7] {
    let n = |k: &str| stage[k].as_u64().unwrap();
    [
        n("entered"),
        n("converted"),
        n("negative"),
        n("exhausted"),
        n("exited"),
        n("other"),
        n("still"),
    ]
}

#[test]
fn quote_follow_up_stages_convert_as_the_simulated_weeks_say() {
    let p = quote_scenario();
    let report = p.report_json(&["--min-contacts", "3"]);
    // [entered, converted, negative, exhausted, exited, other, still]
    assert_eq!(counts(stage(&report, "requested")), [12, 8, 0, 3, 1, 0, 0]);
    assert_eq!(counts(stage(&report, "quoted")), [8, 2, 3, 2, 1, 0, 0]);
    assert_eq!(counts(stage(&report, "unreachable")), [3, 1, 1, 1, 0, 0, 0]);
    assert_eq!(counts(stage(&report, "meeting")), [3, 1, 0, 0, 0, 0, 2]);
    assert_eq!(stage(&report, "customer")["entered"], 1);
    assert_eq!(stage(&report, "lost")["entered"], 7);
    assert_eq!(stage(&report, "refused")["entered"], 1);
    assert_eq!(stage(&report, "opted-out")["entered"], 1);

    // 8 of 12: 66.7%, Wilson 39.1% to 86.2%.
    let requested = stage(&report, "requested");
    assert_eq!(requested["rate"], 0.6667);
    assert_eq!(requested["rate_low"], 0.3906);
    assert_eq!(requested["rate_high"], 0.8619);
    // Entered Monday 10:00, converted at Tuesday's 10:00 run: one day.
    assert_eq!(requested["median_seconds"], 86_400);
    // a01 and a02 entered `quoted` Tuesday 10:00 and booked Wednesday 12:00.
    assert_eq!(stage(&report, "quoted")["median_seconds"], 26 * 3600);
    assert_eq!(stage(&report, "quoted")["rate"], 0.25);
    assert_eq!(report["funnels"][0]["bottleneck"], "quoted");
    // Steps: the wait after the quote saw 1 reply and 4 silences; the
    // call reached 1 of 4; every lead got the thanks email.
    let steps = report["funnels"][0]["steps"].as_array().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["step"] == id).unwrap();
    assert_eq!(
        (
            step("await-answer")["yes"].as_u64(),
            step("await-answer")["no"].as_u64()
        ),
        (Some(1), Some(4))
    );
    assert_eq!(step("await-answer")["yes_rate"], 0.2);
    assert_eq!(
        (
            step("follow-up-call")["yes"].as_u64(),
            step("follow-up-call")["no"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert_eq!(step("thanks")["delivered"], 12);
    assert_eq!(step("thanks")["channel"], "email");
    // Staff: 12 prepare-quote tasks, 4 follow-up calls and a06's callback;
    // a01-a04 done on time. a05's quote went out (the goal) after its task
    // was due: the task was cancelled with the stage, so her late tick-off
    // changes nothing, and it was escalated, as it was overdue while she
    // was there. So were the other cancelled tasks past their deadline (8
    // escalations in all); a cancelled task is never open or overdue, and
    // 5 are still open and overdue.
    let staff = &report["funnels"][0]["staff"][0];
    assert_eq!(staff["assignee"], "assistant");
    let n = |k: &str| staff[k].as_u64().unwrap();
    assert_eq!(
        [
            n("created"),
            n("done"),
            n("on_time"),
            n("late"),
            n("open"),
            n("overdue"),
            n("escalated")
        ],
        [17, 4, 4, 0, 5, 5, 8]
    );
    // By default a stage needs 30 contacts to be judged.
    assert_eq!(
        p.report_json(&[])["funnels"][0]["bottleneck"],
        serde_json::Value::Null
    );
}

/// The funnel's content hash changes whenever the example is edited; the
/// snapshots should not.
fn stable(text: &str, p: &Project) -> String {
    let json = p.report_json(&[]);
    let mut text = text.to_string();
    for v in json["funnels"][0]["versions"].as_array().unwrap() {
        let hash = v["version"].as_str().unwrap();
        text = text.replace(hash, "HASH").replace(&hash[..8], "HASH");
    }
    text
}

#[test]
fn quote_follow_up_report_formats() {
    let p = quote_scenario();
    let args = ["--min-contacts", "3"];
    let table = p.report(&args).stdout;
    insta::assert_snapshot!("report_table", stable(&table, &p));
    let json = p
        .report(&[&args[..], &["--format", "json"]].concat())
        .stdout;
    insta::assert_snapshot!("report_json", stable(&json, &p));
    let csv = p.report(&[&args[..], &["--format", "csv"]].concat()).stdout;
    insta::assert_snapshot!("report_csv", stable(&csv, &p));
}

/// A state with one A/B split of `offer`/`pitch`, written straight through
/// the store as the runner would (its triggers keep the counters), with
/// `contacts` per arm and `converted` of them reaching the goal; the rest
/// run out of steps.
fn synthetic_split(arms: &[(&str, u64, u64)]) -> Project {
    use funnel::store::{self, HistoryKind as Kind, Store, Transition};
    let p = Project::with_examples(&[]);
    let mut state = Store::open(&p.path(".funnel/state.db")).unwrap();
    let tx = state.transaction().unwrap();
    let mut tally = store::Tally::default();
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
    store::record_version(
        &tx,
        "ab",
        ("0123456789abcdef", "funnel: ab"),
        "funnels/ab.yaml",
        None,
        at("2026-05-04T10:00:00Z"),
    )
    .unwrap();
    for (variant, contacts, converted) in arms {
        for i in 0..*contacts {
            let line = |when: &str, kind, from: Option<(&str, &str)>, to: (&str, Option<&str>)| {
                Transition {
                    funnel: "ab".into(),
                    contact: format!("{variant}-{i}"),
                    entry: 1,
                    at: at(when),
                    kind,
                    from_stage: from.map(|f| f.0.to_string()),
                    from_step: from.map(|f| f.1.to_string()).filter(|s| !s.is_empty()),
                    to_stage: Some(to.0.to_string()),
                    to_step: to.1.map(String::from),
                    reason: String::new(),
                }
            };
            let lines = [
                line("2026-05-04T10:00:00Z", Kind::Enter, None, ("offer", None)),
                line(
                    "2026-05-04T10:00:00Z",
                    Kind::Split,
                    Some(("offer", "pitch")),
                    ("offer", Some(variant)),
                ),
                if i < *converted {
                    line(
                        "2026-05-06T10:00:00Z",
                        Kind::Goal,
                        Some(("offer", "")),
                        ("won", None),
                    )
                } else {
                    line(
                        "2026-05-11T10:00:00Z",
                        Kind::Exhausted,
                        Some(("offer", "")),
                        ("lost", None),
                    )
                },
            ];
            for l in &lines {
                store::record(&tx, &mut tally, l, "0123456789abcdef").unwrap();
            }
        }
    }
    tally.flush(&tx).unwrap();
    tx.commit().unwrap();
    p
}

#[test]
fn ten_against_fifteen_percent_over_5000_contacts_each_is_significant() {
    let p = synthetic_split(&[("email", 5000, 500), ("call", 5000, 750)]);
    let report = p.report_json(&[]);
    let split = &report["funnels"][0]["splits"][0];
    assert_eq!(split["step"], "pitch");
    let arm = |i: usize| {
        let v = &split["variants"][i];
        (
            v["variant"].as_str().unwrap().to_string(),
            v["contacts"].as_u64().unwrap(),
            v["converted"].as_u64().unwrap(),
            v["rate"].as_f64().unwrap(),
        )
    };
    // Without the funnel file, variants come in name order: call first.
    assert_eq!(arm(0), ("call".to_string(), 5000, 750, 0.15));
    assert_eq!(arm(1), ("email".to_string(), 5000, 500, 0.1));
    let c = &split["comparisons"][0];
    assert_eq!(
        (c["control"].as_str(), c["variant"].as_str()),
        (Some("call"), Some("email"))
    );
    assert_eq!(c["difference"], -0.05);
    assert_eq!(c["significant"], true);
    assert_eq!(c["p_value"], 0.0, "z = 7.56: p is about 4e-14");
    // The stage's goal is learnt from the data: `won`.
    assert_eq!(stage(&report, "offer")["converted"], 1250);
    assert_eq!(stage(&report, "offer")["rate"], 0.125);
    let table = p.report(&[]).stdout;
    assert!(
        table.contains("email vs call: significant (p = 0.0000)"),
        "{table}"
    );
}

#[test]
fn no_real_difference_is_not_significant_and_says_how_many_more_would_tell() {
    let p = synthetic_split(&[("a", 5000, 500), ("b", 5000, 510)]);
    let report = p.report_json(&[]);
    let c = &report["funnels"][0]["splits"][0]["comparisons"][0];
    assert_eq!(c["significant"], false);
    assert_eq!(c["p_value"], 0.739992);
    assert_eq!(c["difference"], 0.002);
    // 10% against 10.2% needs 356,335 contacts a variant at 80% power.
    assert_eq!(c["needed_per_variant"], 356_335);
    assert_eq!(c["more_needed"], 351_335);
    let table = p.report(&[]).stdout;
    assert!(
        table.contains(
            "b vs a: not significant (p = 0.7400); about 351335 more contacts per variant to tell"
        ),
        "{table}"
    );
    // Identical rates: no sample would tell them apart.
    let p = synthetic_split(&[("a", 1000, 100), ("b", 1000, 100)]);
    let table = p.report(&[]).stdout;
    assert!(
        table.contains("b vs a: no difference (p = 1.0000)"),
        "{table}"
    );
}

const STICKY: &str = r#"
funnel: sticky
timezone: UTC
contact: { email: email, unsubscribed: bool, round: int }
enter: [{ when: "true", stage: offer }]
# A day between journeys: enter, run out a day later, enter again the day after.
reentry: after 1d
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  offer:
    goal: { when: "false", to: won }
    steps:
      - id: pitch
        split:
          - { variant: a, weight: 50, email: { template: hello } }
          - { variant: b, weight: 50, email: { template: hello } }
      - id: close
        after: 1d
    exhausted: lost
  won: { terminal: true }
  lost: { terminal: true }
  out: { terminal: true }
"#;

/// The variants each contact got, in order, from `funnel history`.
fn variants(p: &Project, contact: &str) -> Vec<String> {
    let out = p.funnel(&["history", contact, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "split")
        .map(|r| r["to_step"].as_str().unwrap().to_string())
        .collect()
}

fn sticky_project(days: u32) -> Project {
    let p = Project::with_examples(&[]);
    std::fs::write(p.path("funnels/sticky.yaml"), STICKY).unwrap();
    std::fs::write(
        p.path("funnels/templates/hello.hbs"),
        "subject: Hi\n---\nHello\n",
    )
    .unwrap();
    for day in 0..days {
        // The export changes every day (a contact re-enters on new data).
        let contacts: String = std::iter::once("id,email,unsubscribed,round\n".to_string())
            .chain((0..20).map(|i| format!("c{i},c{i}@example.com,no,{day}\n")))
            .collect();
        p.tick(&format!("2026-05-{:02}T10:00:00Z", 4 + day), &contacts, &[]);
    }
    p
}

#[test]
fn a_contact_keeps_its_variant_across_reentries_and_reimports() {
    // Enter, run out a day later, re-enter the day after: three entries.
    let p = sticky_project(6);
    let mut seen = std::collections::BTreeSet::new();
    let mut first = Vec::new();
    for i in 0..20 {
        let got = variants(&p, &format!("c{i}"));
        assert_eq!(got.len(), 3, "c{i}: {got:?}");
        assert!(
            got.iter().all(|v| v == &got[0]),
            "c{i} changed variant: {got:?}"
        );
        seen.insert(got[0].clone());
        first.push(got[0].clone());
    }
    assert_eq!(seen.len(), 2, "both variants are used");
    // A fresh state with the same contacts: the same variants.
    let again = sticky_project(1);
    for (i, variant) in first.iter().enumerate() {
        assert_eq!(&variants(&again, &format!("c{i}"))[0], variant);
    }
    // The report counts each entry's assignment once.
    let report = p.report_json(&["sticky"]);
    let arms = &report["funnels"][0]["splits"][0]["variants"];
    let total: u64 = arms
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["contacts"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 60);
}

fn git(p: &Project, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(p.dir.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {status:?}");
}

#[test]
fn an_edited_funnel_is_reported_per_version_and_the_mix_is_named() {
    let p = Project::with_examples(&[]);
    std::fs::write(p.path("funnels/sticky.yaml"), STICKY).unwrap();
    std::fs::write(
        p.path("funnels/templates/hello.hbs"),
        "subject: Hi\n---\nHello\n",
    )
    .unwrap();
    git(&p, &["init", "-q"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "-q", "-m", "first"]);
    let contacts = |round: u32| -> String {
        std::iter::once("id,email,unsubscribed,round\n".to_string())
            .chain((0..20).map(|i| format!("c{i},c{i}@example.com,no,{round}\n")))
            .collect()
    };
    // Under the committed version: enter on the 4th, run out on the 5th.
    p.tick("2026-05-04T10:00:00Z", &contacts(0), &[]);
    p.tick("2026-05-05T10:00:00Z", &contacts(1), &[]);
    // An uncommitted edit is a new version: re-enter on the 6th, run out
    // on the 7th.
    std::fs::write(p.path("funnels/sticky.yaml"), format!("{STICKY}# edited\n")).unwrap();
    p.tick("2026-05-06T10:00:00Z", &contacts(2), &[]);
    p.tick("2026-05-07T10:00:00Z", &contacts(3), &[]);

    let mixed = p.report_json(&["sticky"]);
    let funnel = &mixed["funnels"][0];
    assert_eq!(funnel["mixed"], true);
    let versions = funnel["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let commit = versions[0]["git_commit"]
        .as_str()
        .expect("the first version was committed");
    assert_eq!(commit.len(), 40);
    assert_eq!(versions[1]["git_commit"], serde_json::Value::Null);
    assert_eq!(counts(stage(&mixed, "offer")), [40, 0, 0, 40, 0, 0, 0]);
    let table = p.report(&["sticky"]).stdout;
    assert!(table.contains("warning: 2 versions mixed:"), "{table}");
    assert!(
        table.contains(&format!("(git {})", &commit[..7])),
        "{table}"
    );

    // Select by git commit or by hash prefix: 20 visits each.
    let first = p.report_json(&["sticky", "--version", &commit[..7]]);
    assert_eq!(first["funnels"][0]["mixed"], false);
    assert_eq!(counts(stage(&first, "offer")), [20, 0, 0, 20, 0, 0, 0]);
    let second_hash = versions[1]["version"].as_str().unwrap();
    let second = p.report_json(&["sticky", "--version", &second_hash[..6]]);
    assert_eq!(counts(stage(&second, "offer")), [20, 0, 0, 20, 0, 0, 0]);
    assert_eq!(second["funnels"][0]["versions"][0]["version"], second_hash);
    // The window counts visits by the day they began.
    let late = p.report_json(&["sticky", "--since", "2026-05-06"]);
    assert_eq!(counts(stage(&late, "offer")), [20, 0, 0, 20, 0, 0, 0]);
    assert_eq!(late["funnels"][0]["mixed"], false);

    let unknown = p.funnel(&["report", "sticky", "--version", "ffff"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no version `ffff` has run"),
        "{}",
        unknown.stderr
    );
    let bad_date = p.funnel(&["report", "--since", "May 4"]);
    assert_eq!(bad_date.code, 2);
    let no_funnel = p.funnel(&["report", "nope"]);
    assert_eq!(no_funnel.code, 2);
    assert!(
        no_funnel
            .stderr
            .contains("no funnel `nope` has run; known: sticky"),
        "{}",
        no_funnel.stderr
    );
}

fn cells(row: scraper::ElementRef) -> Vec<String> {
    let td = scraper::Selector::parse("td").unwrap();
    row.select(&td).map(|c| c.text().collect()).collect()
}

#[test]
fn the_html_report_is_well_formed_self_contained_and_carries_the_numbers() {
    let p = quote_scenario();
    let out = p.report(&[
        "--min-contacts",
        "3",
        "--format",
        "html",
        "--out",
        "report.html",
    ]);
    assert!(out.stdout.is_empty(), "--out writes the file only");
    let html = std::fs::read_to_string(p.path("report.html")).unwrap();
    let doc = scraper::Html::parse_document(&html);
    assert!(
        doc.errors.is_empty(),
        "HTML5 parse errors: {:?}",
        doc.errors
    );
    for outside in ["<script", "src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page must not load anything: {outside}"
        );
    }
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    assert_eq!(
        doc.select(&select("meta[name=viewport]")).count(),
        1,
        "phone-sized"
    );
    let bottleneck: String = doc
        .select(&select("p.bottleneck"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(
        bottleneck,
        "bottleneck: quoted (2 of 8 converted, 25.0%, 95% CI 7.1-59.1%)"
    );
    // The overall conversion: entered `requested` -> reached `customer`,
    // the terminal stage the goals lead to (a01 ordered).
    let overall: String = doc
        .select(&select("p.overall"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(
        overall,
        "overall: 1 of 12 reached customer (8.3%, 95% CI 1.5-35.4%)"
    );
    // The chart: the main path only (requested, quoted, meeting, then the
    // final goal), each bar as wide as its share of the 12 that entered
    // `requested`. `unreachable` is a detour and `lost`, `refused`,
    // `opted-out` side exits: listed apart, never drawn as the next stage.
    let bars: Vec<_> = doc.select(&select(".funnel .bar")).collect();
    let widths: Vec<&str> = bars
        .iter()
        .map(|b| b.value().attr("style").unwrap())
        .collect();
    assert_eq!(
        widths,
        ["width:100.0%", "width:66.7%", "width:25.0%", "width:8.3%"]
    );
    let labels: Vec<String> = doc
        .select(&select(".funnel .label"))
        .map(|l| l.text().collect())
        .collect();
    assert_eq!(labels[3], "customer (final goal): 1 reached");
    let side: Vec<String> = doc
        .select(&select("ul.side li"))
        .map(|l| l.text().collect())
        .collect();
    assert_eq!(
        side,
        [
            "unreachable: 3 entered, 33.3% converted",
            "refused: 1 entered (end)",
            "lost: 7 entered (end)",
            "opted-out: 1 entered (end)"
        ]
    );
    let hot: Vec<String> = doc
        .select(&select(".funnel .hot .label"))
        .map(|l| l.text().collect())
        .collect();
    assert_eq!(hot, ["quoted (bottleneck): 8 entered, 25.0% converted"]);
    let tables: Vec<_> = doc.select(&select("table")).collect();
    assert_eq!(tables.len(), 3, "stages, steps, staff");
    let rows: Vec<Vec<String>> = tables[0].select(&select("tr")).map(cells).collect();
    assert_eq!(
        rows[1],
        [
            "requested",
            "12",
            "8",
            "0",
            "3",
            "1",
            "0",
            "0",
            "66.7%",
            "39.1-86.2%",
            "1d 0h"
        ]
    );
    assert_eq!(
        rows[2],
        [
            "quoted",
            "8",
            "2",
            "3",
            "2",
            "1",
            "0",
            "0",
            "25.0%",
            "7.1-59.1%",
            "1d 2h"
        ]
    );
    let hot: Vec<_> = tables[0].select(&select("tr.hot")).map(cells).collect();
    assert_eq!(hot.len(), 1);
    assert_eq!(hot[0][0], "quoted");
    let staff: Vec<Vec<String>> = tables[2].select(&select("tr")).map(cells).collect();
    assert_eq!(staff[1], ["assistant", "17", "4", "4", "0", "5", "5", "8"]);

    // The A/B panel: the variants, their interval bars and the verdict.
    let p = synthetic_split(&[("email", 5000, 500), ("call", 5000, 750)]);
    let html = p.report(&["--format", "html"]).stdout;
    let doc = scraper::Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let verdict: String = doc
        .select(&select("p.verdict"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(verdict, "email vs call: significant (p = 0.0000)");
    // The winner named with the difference in words, as the table says it.
    let winner: String = doc
        .select(&select("p.winner"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(
        winner,
        "winner: call, converting 5.0 points more than email (p=0.0000)"
    );
    let table = p.report(&[]).stdout;
    assert!(table.contains(&winner), "{table}");
    assert_eq!(doc.select(&select("svg line")).count(), 2);
    let variants: Vec<Vec<String>> = doc
        .select(&select("table"))
        .nth(1)
        .unwrap()
        .select(&select("tr"))
        .map(cells)
        .collect();
    assert_eq!(
        variants[1],
        ["call", "5000", "750", "0", "15.0%", "14.0-16.0%"]
    );
    assert_eq!(
        variants[2],
        ["email", "5000", "500", "0", "10.0%", "9.2-10.9%"]
    );
}

/// `report` read stage order and step ids from the funnel files in the
/// current directory: run elsewhere, it named a different bottleneck. The
/// state keeps every version's text, and the report reads it from there.
#[test]
fn the_report_is_the_same_from_any_directory() {
    let p = quote_scenario();
    let here = p.report_json(&["--min-contacts", "3"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let state = p.path(".funnel/state.db");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args([
            "report",
            "--format",
            "json",
            "--min-contacts",
            "3",
            "--state",
        ])
        .arg(&state)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let there: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(there["funnels"][0]["bottleneck"], "quoted");
    assert_eq!(here["funnels"][0]["stages"], there["funnels"][0]["stages"]);
    assert_eq!(here["funnels"][0]["steps"], there["funnels"][0]["steps"]);
}

/// An advocate who bought again could only be sent back to care by a
/// stage `exit`, which the report counts as *exited*: a repeat purchase
/// looked like a loss. It is one of the stage's `goals:` now, so the report
/// counts it as converted, and the order starts a fresh journey in care
/// whose own goal counts again.
#[test]
fn a_repeat_purchase_by_an_advocate_counts_as_converted_not_exited() {
    let p = Project::with_examples(&["customer-care"]);
    p.write(
        "contacts.csv",
        "id,email,first_name,product,activated_at,unsubscribed\n\
         quinn,quinn@example.com,Quinn,Espresso machine,2026-09-01 09:00,false\n",
    );
    p.event("quinn", "order.placed", "2026-09-01T08:00:00Z");
    p.event("quinn", "order.placed", "2026-10-07T09:00:00Z");
    p.event("quinn", "order.placed", "2026-10-12T09:00:00Z");
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    while day <= chrono::NaiveDate::from_ymd_opt(2026, 10, 13).unwrap() {
        p.run_at(&format!("{day}T09:30:00Z"));
        day = day.succ_opt().unwrap();
    }
    assert_eq!(
        p.moves("quinn")[4..],
        [
            "2026-10-07T09:00:00Z goal retention/retention-close -> advocate",
            "2026-10-12T09:00:00Z goal advocate/referral-ask -> bought-again",
            "2026-10-12T09:00:00Z enter - -> care",
            "2026-10-12T09:00:00Z goal care/welcome -> support",
        ]
    );
    let report = p.report_json(&[]);
    // entered, converted, negative, exhausted, exited, other, still
    assert_eq!(counts(stage(&report, "advocate")), [1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(counts(stage(&report, "care")), [2, 2, 0, 0, 0, 0, 0]);
    assert_eq!(counts(stage(&report, "retention")), [1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(
        counts(stage(&report, "bought-again")),
        [1, 0, 0, 0, 0, 0, 1]
    );
    assert_eq!(stage(&report, "advocate")["goal"], "referrer");
}
