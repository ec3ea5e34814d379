#![allow(clippy::unwrap_used)]
//! `funnel report` on states built the real way: the shipped quote
//! follow-up funnel run by the binary over three simulated weeks with known
//! outcomes, asserting exact counts, rates and times; snapshots of the
//! table, JSON and CSV; the HTML checked by an HTML5 parser.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Project {
    dir: tempfile::TempDir,
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Project {
    fn new(funnels: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("funnels");
        let templates = dir.path().join("funnels/templates");
        std::fs::create_dir_all(&templates).unwrap();
        for name in funnels {
            let file = format!("{name}.yaml");
            std::fs::copy(examples.join(&file), dir.path().join("funnels").join(&file)).unwrap();
        }
        for entry in std::fs::read_dir(examples.join("templates")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, templates.join(path.file_name().unwrap())).unwrap();
        }
        std::fs::write(
            dir.path().join("funnel.toml"),
            "[rules]\nunused-template = \"off\"\n",
        )
        .unwrap();
        Project { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn funnel(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_funnel"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// One tick at `now` with the contacts as they are then and the events
    /// that have happened by then.
    fn run_at(&self, now: &str, contacts: &str, events: &[(&str, &str, &str, &str)]) {
        std::fs::write(self.path("contacts.csv"), contacts).unwrap();
        let lines: String = events
            .iter()
            .filter(|(_, _, at, _)| *at <= now)
            .map(|(contact, event, at, data)| {
                format!("{{\"contact\":\"{contact}\",\"event\":\"{event}\",\"at\":\"{at}\",\"data\":{data}}}\n")
            })
            .collect();
        std::fs::write(self.path("events.jsonl"), lines).unwrap();
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

    fn report(&self, args: &[&str]) -> Output {
        let mut all = vec!["report"];
        all.extend(args);
        let report = self.funnel(&all);
        assert_eq!(report.code, 0, "report {args:?}: {}", report.stderr);
        report
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
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
    let p = Project::new(&["quote-follow-up"]);
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
        p.run_at(&now, &contacts, &events);
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
    let report = p.json(&["--min-contacts", "3"]);
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
    // a01-a04 done on time, a05 late, the rest overdue and escalated once.
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
        [17, 5, 4, 1, 12, 12, 12]
    );
    // By default a stage needs 30 contacts to be judged.
    assert_eq!(
        p.json(&[])["funnels"][0]["bottleneck"],
        serde_json::Value::Null
    );
}

/// The funnel's content hash changes whenever the example is edited; the
/// snapshots should not.
fn stable(text: &str, p: &Project) -> String {
    let json = p.json(&[]);
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
