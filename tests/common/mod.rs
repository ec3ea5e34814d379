//! The harness shared by the tests that run the real binary: a project in
//! a temporary directory with copies of the example funnels, feeds written
//! as the simulated days go by, the binary run at a given `--now`, and
//! readers for what it left behind (the outbox, history, tasks, status);
//! real servers for delivery in `servers`.
//!
//! Not every test binary uses every helper.
#![allow(dead_code, clippy::unwrap_used)]

pub mod serve;
pub mod servers;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Project {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What a finished run of the binary left.
    pub fn of(output: std::process::Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The binary with `args` in `dir`, colours off, not yet started: for
/// tests of files outside a [`Project`] (the shipped funnels, `tests/cli/`).
pub fn command_in(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_funnel"));
    command.args(args).env("NO_COLOR", "1").current_dir(dir);
    command
}

/// Runs the binary with `args` in `dir`, colours off.
pub fn funnel_in(dir: &Path, args: &[&str]) -> Run {
    Run::of(command_in(dir, args).output().unwrap())
}

/// The contacts feed files `run_at` looks for, in this order.
const CONTACT_FEEDS: [&str; 3] = ["contacts.csv", "contacts.json", "contacts.jsonl"];

impl Project {
    /// An empty project: a `funnels/templates` directory and nothing else.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("funnels/templates")).unwrap();
        Project { dir }
    }

    /// A project holding the shipped example funnels and their templates.
    pub fn with_examples(names: &[&str]) -> Self {
        let Project { dir } = Self::new();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("funnels");
        for name in names {
            std::fs::copy(
                examples.join(format!("{name}.yaml")),
                dir.path().join(format!("funnels/{name}.yaml")),
            )
            .unwrap();
        }
        for entry in std::fs::read_dir(examples.join("templates")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                dir.path()
                    .join("funnels/templates")
                    .join(path.file_name().unwrap()),
            )
            .unwrap();
        }
        // Only the copied funnels' templates are used; silence the rest.
        // The tests' feeds write times without an offset in UTC, as funnel
        // read them before naive times were local.
        std::fs::write(
            dir.path().join("funnel.toml"),
            "[rules]\nunused-template = \"off\"\n[feed]\nnaive-times = \"utc\"\n",
        )
        .unwrap();
        Project { dir }
    }

    pub fn with_funnel(yaml: &str, templates: &[(&str, &str)]) -> Self {
        let Project { dir } = Self::new();
        std::fs::write(dir.path().join("funnels/f.yaml"), yaml).unwrap();
        for (name, text) in templates {
            std::fs::write(
                dir.path().join(format!("funnels/templates/{name}.hbs")),
                text,
            )
            .unwrap();
        }
        Project { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.path(name), text).unwrap();
        self
    }

    /// Writes the contacts feed as a JSON array (replacing any other feed).
    pub fn contacts_json(&self, contacts: &Value) {
        for name in CONTACT_FEEDS {
            let _ = std::fs::remove_file(self.path(name));
        }
        self.write(
            "contacts.json",
            &serde_json::to_string_pretty(contacts).unwrap(),
        );
    }

    /// Appends one event to `events.jsonl`, the way a cumulative export grows.
    pub fn event(&self, contact: &str, event: &str, at: &str) {
        self.event_with(contact, event, at, Value::Null);
    }

    /// Appends one event with its `data` to `events.jsonl`.
    pub fn event_with(&self, contact: &str, event: &str, at: &str, data: Value) {
        let mut line = serde_json::json!({ "contact": contact, "event": event, "at": at });
        if !data.is_null() {
            line["data"] = data;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("events.jsonl"))
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }

    /// The binary with `args`, in the project directory, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_funnel"));
        command.args(args).current_dir(self.dir.path());
        command
    }

    pub fn funnel(&self, args: &[&str]) -> Run {
        self.funnel_env(args, &[])
    }

    /// Runs the binary with extra environment variables (secrets).
    pub fn funnel_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Run::of(command.output().unwrap())
    }

    /// One tick at `now` over the contacts feed and, once written, the
    /// events feed; fails the test unless it exits 0.
    pub fn run_at(&self, now: &str) -> Run {
        let contacts = CONTACT_FEEDS
            .into_iter()
            .find(|name| self.path(name).exists())
            .unwrap_or("contacts.csv");
        let mut args = vec!["run", "--contacts", contacts, "--now", now];
        if self.path("events.jsonl").exists() {
            args.extend(["--events", "events.jsonl"]);
        }
        let run = self.funnel(&args);
        // `task_done` closes tasks at the simulated time of the last run.
        self.write(".last-now", now);
        assert_eq!(
            run.code, 0,
            "run at {now} failed:\n{}{}",
            run.stdout, run.stderr
        );
        run
    }

    /// Runs a `funnel` command that prints JSON and parses its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let run = self.funnel(args);
        assert_eq!(run.code, 0, "funnel {args:?} failed:\n{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    }

    /// Every delivered outbox line, as written.
    pub fn delivered(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path(".funnel/outbox.jsonl")).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Delivered messages as (contact, step, channel, due_at).
    pub fn outbox(&self) -> Vec<(String, String, String, String)> {
        self.delivered()
            .iter()
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (s("contact"), s("step"), s("channel"), s("due_at"))
            })
            .collect()
    }

    pub fn steps_of(&self, contact: &str) -> Vec<String> {
        self.outbox()
            .into_iter()
            .filter(|(c, ..)| c == contact)
            .map(|(_, step, ..)| step)
            .collect()
    }

    /// What one contact was sent, in order, as `due_at channel step`
    /// (`2026-05-04T07:00:00Z email quote-thanks`).
    pub fn sent(&self, contact: &str) -> Vec<String> {
        self.outbox()
            .into_iter()
            .filter(|(c, ..)| c == contact)
            .map(|(_, step, channel, due)| format!("{due} {channel} {step}"))
            .collect()
    }

    /// The payload of the delivered action of `contact`'s `step`.
    pub fn payload(&self, contact: &str, step: &str) -> Value {
        self.delivered()
            .into_iter()
            .find(|v| v["contact"] == contact && v["step"] == step && !is_escalation(v))
            .map(|v| v["payload"].clone())
            .unwrap_or_else(|| panic!("nothing delivered for {contact}'s {step}"))
    }

    /// The status the state records for `contact`'s action of `step`
    /// (`queued`, `delivered`, `stale`, `failed`...), read from the state.
    pub fn payload_status(&self, contact: &str, step: &str) -> String {
        let state = rusqlite::Connection::open(self.path(".funnel/state.db")).unwrap();
        state
            .query_row(
                "SELECT status FROM outbox WHERE contact = ?1 AND step = ?2 AND key NOT LIKE '%/escalation'",
                [contact, step],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no action for {contact}'s {step}: {e}"))
    }

    /// Escalations delivered, as `to: contact/step`.
    pub fn escalations(&self) -> Vec<String> {
        self.delivered()
            .iter()
            .filter(|v| is_escalation(v))
            .map(|v| {
                format!(
                    "{}: {}/{}",
                    v["payload"]["to"].as_str().unwrap_or_default(),
                    v["contact"].as_str().unwrap_or_default(),
                    v["step"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// `funnel history CONTACT --format json`; empty for a contact that
    /// never entered a funnel.
    pub fn history(&self, contact: &str) -> Vec<Value> {
        let run = self.funnel(&["history", contact, "--format", "json"]);
        if run.code == 5 && run.stderr.contains("no history for contact") {
            return Vec::new();
        }
        assert_eq!(
            run.code, 0,
            "funnel history {contact} failed:\n{}",
            run.stderr
        );
        match serde_json::from_str(&run.stdout).unwrap() {
            Value::Array(rows) => rows,
            other => panic!("history is not a list: {other}"),
        }
    }

    /// A contact's moves as `at kind from -> to`, where a position is
    /// `stage` or `stage/step` (`2026-05-07T07:00:00Z wait-no quoted/await-answer -> quoted/follow-up-call`).
    pub fn moves(&self, contact: &str) -> Vec<String> {
        let position = |stage: &Value, step: &Value| match (stage.as_str(), step.as_str()) {
            (Some(stage), Some(step)) => format!("{stage}/{step}"),
            (Some(stage), None) => stage.to_string(),
            _ => "-".to_string(),
        };
        self.history(contact)
            .iter()
            .map(|t| {
                format!(
                    "{} {} {} -> {}",
                    t["at"].as_str().unwrap_or_default(),
                    t["kind"].as_str().unwrap_or_default(),
                    position(&t["from_stage"], &t["from_step"]),
                    position(&t["to_stage"], &t["to_step"]),
                )
            })
            .collect()
    }

    /// `funnel tasks --format json`.
    pub fn tasks(&self) -> Vec<Value> {
        match self.json(&["tasks", "--format", "json"]) {
            Value::Array(rows) => rows,
            other => panic!("tasks is not a list: {other}"),
        }
    }

    /// The tasks as `contact/step assignee due_at status`, plus
    /// ` escalated` once escalated.
    pub fn task_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .tasks()
            .iter()
            .map(|t| {
                format!(
                    "{}/{} {} {} {}{}",
                    t["contact"].as_str().unwrap_or_default(),
                    t["step"].as_str().unwrap_or_default(),
                    t["assignee"].as_str().unwrap_or_default(),
                    t["due_at"].as_str().unwrap_or("-"),
                    t["status"].as_str().unwrap_or_default(),
                    if t["escalated_at"].is_null() {
                        ""
                    } else {
                        " escalated"
                    },
                )
            })
            .collect();
        lines.sort();
        lines
    }

    /// The id of `contact`'s task for `step`.
    pub fn task_id(&self, contact: &str, step: &str) -> i64 {
        self.tasks()
            .iter()
            .find(|t| t["contact"] == contact && t["step"] == step)
            .and_then(|t| t["id"].as_i64())
            .unwrap_or_else(|| panic!("no task for {contact}'s {step}"))
    }

    /// `funnel task done ID`, as staff would.
    pub fn task_done(&self, id: i64) {
        let at = std::fs::read_to_string(self.path(".last-now")).unwrap();
        let run = self.funnel(&["task", "done", &id.to_string(), "--at", &at]);
        assert_eq!(run.code, 0, "task done {id} failed:\n{}", run.stderr);
    }

    /// Outbox actions by status (`delivered`, `stale`, `failed`), from
    /// `funnel status`.
    pub fn outbox_counts(&self) -> BTreeMap<String, i64> {
        self.status()["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or_default().to_string(),
                    c["actions"].as_i64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// `funnel status --format json`.
    pub fn status(&self) -> Value {
        self.json(&["status", "--format", "json"])
    }
}

fn is_escalation(row: &Value) -> bool {
    row["key"]
        .as_str()
        .is_some_and(|key| key.ends_with("/escalation"))
}
