//! `cargo bench --bench report`: `funnel report` over a state of 1,000,000
//! contacts and about 10,400,000 history lines. The state is generated once
//! (a few minutes) into `$CARGO_TARGET_DIR/bench-report/state.db` and
//! reused; delete it to generate it again. History lines go through
//! `store::record` and `store::enqueue`, so the report's counters are kept
//! as in a real run; the versions and tasks are inserted with plain SQL.
//! Target (release): a report in under 2 s.
//!
//! Also measured: what the counters cost a writer (100,000 history lines
//! with and without them), and what the report would cost without
//! them (one GROUP BY over the history).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use funnel::command::cli::TableFormat;
use funnel::measure::{Filter, Measurer};
use funnel::store::{self, HistoryKind, OutboxStatus, Store, Transition, Tx};
use rusqlite::{Connection, OpenFlags, params};

const CONTACTS: u64 = 1_000_000;

fn main() {
    let state = state();
    let _ = writeln!(
        std::io::stderr(),
        "state: {} ({} history lines)",
        state.display(),
        lines(&state)
    );
    divan::main();
}

fn state() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let dir = target.join("bench-report");
    let path = dir.join("state.db");
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("bench dir");
        let partial = dir.join("partial.db");
        let _ = std::fs::remove_file(&partial);
        let started = Instant::now();
        generate(&partial, CONTACTS, true);
        std::fs::rename(&partial, &path).expect("rename");
        let _ = writeln!(
            std::io::stderr(),
            "generated {} in {:.0?}",
            path.display(),
            started.elapsed()
        );
    }
    path
}

fn lines(path: &Path) -> i64 {
    let connection = Connection::open(path).expect("open");
    connection
        .query_row("SELECT max(id) FROM history", [], |r| r.get(0))
        .expect("count")
}

/// xorshift64*: a fixed stream, so every generated state is the same.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// One contact's journey through a five-stage funnel, line by line.
struct Journey<'a, 's> {
    tx: &'a Tx<'s>,
    contact: String,
    stage: &'static str,
    at: i64,
    version: &'static str,
    random: &'a mut Random,
    tally: &'a mut store::Tally,
}

impl Journey<'_, '_> {
    fn line(&mut self, kind: HistoryKind, step: Option<&str>, to: (&'static str, Option<&str>)) {
        self.at += 3600 + (self.random.next() % (36 * 3600)) as i64;
        let at = chrono::DateTime::from_timestamp(self.at, 0).expect("time");
        let t = Transition {
            funnel: "bench".into(),
            contact: self.contact.clone(),
            entry: 1,
            at,
            kind,
            from_stage: (kind != HistoryKind::Enter).then(|| self.stage.to_string()),
            from_step: step.map(String::from),
            to_stage: Some(to.0.to_string()),
            to_step: to.1.map(String::from),
            reason: String::new(),
        };
        store::record(self.tx, self.tally, &t, self.version).expect("record");
        if to.1.is_none() {
            self.stage = to.0;
        }
    }

    /// Step outcomes inside the stage.
    fn steps(&mut self, names: &[&str]) {
        for pair in names.windows(2) {
            let kind = if self.random.chance(0.5) {
                HistoryKind::WaitYes
            } else {
                HistoryKind::WaitNo
            };
            let stage = self.stage;
            self.line(kind, Some(pair[0]), (stage, Some(pair[1])));
        }
    }

    /// Leaves the stage: the goal with probability `p`, else a negative
    /// outcome or exhaustion; false when the contact stops here.
    fn leave(&mut self, p: f64, next: &'static str) -> bool {
        if self.random.chance(0.08) {
            return false; // still in the stage
        }
        if self.random.chance(p) {
            self.line(HistoryKind::Goal, None, (next, None));
            return true;
        }
        if self.random.chance(0.1) {
            self.line(HistoryKind::Exit, None, ("out", None));
        } else if self.random.chance(0.5) {
            self.line(HistoryKind::WaitNo, Some("last"), ("lost", None));
        } else {
            self.line(HistoryKind::Exhausted, None, ("lost", None));
        }
        false
    }
}

/// Writes `contacts` contacts' history and outbox rows into the state at
/// `path`; `counters`: with the report's counters, as a run keeps them.
fn generate(path: &Path, contacts: u64, counters: bool) {
    // History lines, outbox rows and their counters go through the store,
    // as a run writes them. The two versions and the tasks, rows no store
    // function writes as they are here (done, escalated), go in with plain
    // SQL on a connection of the bench's own, outside the store's
    // transactions: the versions first, since queued rows take the latest
    // one, and each batch's tasks once its transaction has committed.
    let mut store = Store::open(path).expect("open");
    let mut connection = Connection::open(path).expect("open");
    // A fixture is thrown away if generating it dies: no syncs.
    connection
        .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = OFF;")
        .expect("pragma");
    for (v, first) in [
        ("1111111111111111", "2026-01-01T00:00:00Z"),
        ("2222222222222222", "2026-03-01T00:00:00Z"),
    ] {
        connection
            .execute(
                "INSERT OR IGNORE INTO versions (funnel, version, path, git_commit, first_run, last_run) VALUES ('bench', ?1, 'funnels/bench.yaml', NULL, ?2, ?2)",
                params![v, first],
            )
            .expect("version");
    }
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T08:00:00Z")
        .expect("start")
        .timestamp();
    let mut done = 0;
    while done < contacts {
        let tx = store.transaction().expect("tx");
        let mut tally = store::Tally::default();
        let mut tasks = Vec::new();
        for i in done..(done + 50_000).min(contacts) {
            let day = (i % 120) as i64;
            let version = if day < 59 {
                "1111111111111111"
            } else {
                "2222222222222222"
            };
            let mut j = Journey {
                tx: &tx,
                contact: format!("c{i:07}"),
                stage: "s0",
                at: start + day * 86_400,
                version,
                random: &mut random,
                tally: &mut tally,
            };
            j.line(HistoryKind::Enter, None, ("s0", None));
            j.steps(&["mail", "sms", "call", "visit", "last"]);
            outbox(
                &tx,
                j.tally,
                &j.contact,
                "mail",
                "email",
                j.at,
                i.is_multiple_of(33),
            );
            if i.is_multiple_of(10) {
                tasks.push((j.contact.clone(), j.at, i));
            }
            if !j.leave(0.8, "s1") {
                continue;
            }
            let variant = if i.is_multiple_of(2) { "a" } else { "b" };
            j.line(HistoryKind::Split, Some("pitch"), ("s1", Some(variant)));
            j.steps(&["pitch", "follow", "remind", "last"]);
            outbox(&tx, j.tally, &j.contact, "pitch", "email", j.at, false);
            let p = if variant == "a" { 0.30 } else { 0.33 };
            if !j.leave(p, "s2") {
                continue;
            }
            j.steps(&["demo", "offer", "last"]);
            if !j.leave(0.5, "s3") {
                continue;
            }
            j.steps(&["contract", "last"]);
            j.leave(0.6, "won");
        }
        if counters {
            tally.flush(&tx).expect("counters");
        }
        tx.commit().expect("commit");
        let own = connection.transaction().expect("tx");
        for (contact, at, i) in &tasks {
            task(&own, contact, "call", *at, *i);
        }
        own.commit().expect("commit");
        done = (done + 50_000).min(contacts);
    }
}

fn outbox(
    tx: &Tx<'_>,
    tally: &mut store::Tally,
    contact: &str,
    step: &str,
    channel: &str,
    at: i64,
    failed: bool,
) {
    let due = chrono::DateTime::from_timestamp(at, 0).expect("time");
    let row = store::OutboxRow {
        key: format!("bench/{contact}/1/{step}"),
        funnel: "bench".into(),
        contact: contact.into(),
        step: step.into(),
        channel: channel.into(),
        payload: store::Payload::Message(store::Message {
            to: Some(format!("{contact}@example.com")),
            subject: None,
            body: String::new(),
            template: step.into(),
            transactional: false,
            unsubscribe: None,
            html: None,
        }),
        due_at: due,
        status: if failed {
            OutboxStatus::Failed
        } else {
            OutboxStatus::Delivered
        },
    };
    store::enqueue(tx, tally, (&row, &row.payload.text()), None, due).expect("outbox");
}

fn task(tx: &Connection, contact: &str, step: &str, at: i64, i: u64) {
    let created = chrono::DateTime::from_timestamp(at, 0).expect("time");
    let due = created + chrono::TimeDelta::hours(4);
    let done = (!i.is_multiple_of(3))
        .then(|| store::time(created + chrono::TimeDelta::hours((i % 7) as i64)));
    tx.prepare_cached(
        "INSERT INTO tasks (key, funnel, contact, step, kind, assignee, created_at, due_at, status, done_at, escalated_at) VALUES (?1, 'bench', ?2, ?3, 'call', ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .expect("prepare")
    .execute(params![
        format!("bench/{contact}/1/{step}"),
        contact,
        step,
        ["anna", "bela", "cili", "dani", "emma"][(i % 5) as usize],
        store::time(created),
        store::time(due),
        if done.is_some() { "done" } else { "open" },
        done,
        i.is_multiple_of(3).then(|| store::time(due)),
    ])
    .expect("task");
}

fn measure(store: &Store, filter: &Filter) -> usize {
    let card = Measurer::new(store, &[], filter)
        .measure()
        .expect("measure");
    let mut out = Vec::new();
    funnel::measure::scorecard::render(&card, TableFormat::Table, &mut out).expect("render");
    out.len()
}

fn open() -> Store {
    Store::open_read(&state()).expect("state")
}

/// The default report: every version, all time.
#[divan::bench(sample_count = 10)]
fn report_1m_contacts(bencher: divan::Bencher) {
    let store = open();
    let filter = Filter {
        min_contacts: 30,
        ..Filter::default()
    };
    bencher.bench_local(|| measure(&store, &filter));
}

/// One version, one month.
#[divan::bench(sample_count = 10)]
fn report_1m_contacts_one_version_one_month(bencher: divan::Bencher) {
    let store = open();
    let filter = Filter {
        since: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
        until: chrono::NaiveDate::from_ymd_opt(2026, 3, 31),
        version: Some("2222".into()),
        min_contacts: 30,
        ..Filter::default()
    };
    bencher.bench_local(|| measure(&store, &filter));
}

/// What the summary tables save: one GROUP BY of the stage moves over the
/// whole history, which is a fraction of what the report needs. SQL no
/// store method runs, so on a read-only connection of its own.
#[divan::bench(sample_count = 1, sample_size = 1)]
fn without_counters_one_group_by(bencher: divan::Bencher) {
    let connection =
        Connection::open_with_flags(state(), OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    bencher.bench_local(|| {
        connection
            .prepare("SELECT version, kind, from_stage, to_stage, COUNT(*) FROM history GROUP BY 1, 2, 3, 4")
            .expect("prepare")
            .query_map([], |r| r.get::<_, i64>(4))
            .expect("query")
            .count()
    });
}

/// The writer's side: 10,000 contacts (about 100,000 history lines)
/// recorded with the report's counters, and without them.
#[divan::bench(args = [true, false], sample_count = 3, sample_size = 1)]
fn record_10k_contacts(bencher: divan::Bencher, counters: bool) {
    bencher
        .with_inputs(|| {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("state.db");
            drop(Store::open(&path).expect("open"));
            (dir, path)
        })
        .bench_local_values(|(dir, path)| {
            generate(&path, 10_000, counters);
            drop(dir);
        });
}
