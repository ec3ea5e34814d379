//! The state's schema: the migrations that build it, one per version, and
//! how a file is known as a funnel state ([`identify`]) and brought up to
//! date ([`Store::migrate`]). Reads and writes of the tables live in the
//! files named after them; this file only says what the tables are. A
//! test snapshots the schema a fresh state ends up with, so that a
//! migration's effect is reviewed as a diff and cannot drift unnoticed.

use std::path::Path;

use rusqlite::Connection;

use super::{Store, StoreError, StoreResult};

/// Migrations, applied in order; the index + 1 is the schema version.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    now TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT
);
CREATE TABLE journeys (
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    entry INTEGER NOT NULL,
    stage TEXT NOT NULL,
    step INTEGER NOT NULL,
    clock TEXT NOT NULL,
    waiting_since TEXT,
    stage_since TEXT NOT NULL,
    active INTEGER NOT NULL,
    entered_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (funnel, contact)
);
CREATE INDEX journeys_stage ON journeys (funnel, stage, step);
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    entry INTEGER NOT NULL,
    at TEXT NOT NULL,
    from_stage TEXT,
    from_step TEXT,
    to_stage TEXT,
    to_step TEXT,
    reason TEXT NOT NULL,
    version TEXT NOT NULL
);
CREATE INDEX history_contact ON history (contact, id);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    step TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    due_at TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_status ON outbox (status, next_attempt_at);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    step TEXT NOT NULL,
    kind TEXT NOT NULL,
    assignee TEXT NOT NULL,
    escalate_to TEXT,
    created_at TEXT NOT NULL,
    due_at TEXT,
    status TEXT NOT NULL,
    done_at TEXT,
    escalated_at TEXT
);
CREATE INDEX tasks_open ON tasks (status, due_at);
CREATE TABLE contact_fields (
    contact TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (contact, field)
);
CREATE TABLE tags (
    contact TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (contact, tag)
);
"#,
    // v2: what kind of move each history line is, so `report` can count
    // without parsing reasons; and every funnel version that ran.
    r#"
ALTER TABLE history ADD COLUMN kind TEXT NOT NULL DEFAULT 'moved';
CREATE INDEX history_stage ON history (funnel, version, kind, from_stage, to_stage);
CREATE INDEX outbox_contact ON outbox (contact, channel, due_at);
CREATE TABLE versions (
    funnel TEXT NOT NULL,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    git_commit TEXT,
    first_run TEXT NOT NULL,
    PRIMARY KEY (funnel, version)
);
"#,
    // v3: delivery. The dispatcher pages through queued rows by id, and
    // records how many bytes of each outbox file are committed, so a crash
    // between writing and marking rows delivered is undone by truncating.
    r#"
CREATE INDEX outbox_pending ON outbox (status, id);
CREATE TABLE outbox_files (
    path TEXT PRIMARY KEY,
    length INTEGER NOT NULL
);
"#,
    // v4: summary tables for `funnel report`, kept by triggers so every
    // writer (runner, dispatcher, `task done`, a future one) keeps them
    // right without knowing they exist, and a report over millions of
    // history rows reads a few thousand counters instead. See
    // `measure.rs` for what each one means.
    include_str!("v4_summaries.sql"),
    // v5: history lines and queued actions are counted by the store's
    // writes (`store/counters.rs`), not by triggers; one index fewer.
    r#"
DROP TRIGGER report_arrival;
DROP TRIGGER report_departure;
DROP TRIGGER report_split;
DROP TRIGGER report_step;
DROP TRIGGER report_version;
DROP TRIGGER report_queued;
-- `outbox_pending` (status, id) serves every lookup by status.
DROP INDEX outbox_status;
"#,
    // v6: fewer b-trees per contact. Outbox status changes are counted by
    // the store's writes too (a page of deliveries in two statements, not
    // a trigger program per row); nothing reads `history_stage` since the
    // counters took over; a journey is found by its key alone, so it needs
    // no rowid and the key index that came with it.
    r#"
DROP TRIGGER report_status;
DROP INDEX history_stage;
CREATE TABLE journeys_v6 (
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    entry INTEGER NOT NULL,
    stage TEXT NOT NULL,
    step INTEGER NOT NULL,
    clock TEXT NOT NULL,
    waiting_since TEXT,
    stage_since TEXT NOT NULL,
    active INTEGER NOT NULL,
    entered_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (funnel, contact)
) WITHOUT ROWID;
INSERT INTO journeys_v6 SELECT funnel, contact, entry, stage, step, clock, waiting_since, stage_since, active, entered_at, left_at FROM journeys;
DROP TABLE journeys;
ALTER TABLE journeys_v6 RENAME TO journeys;
CREATE INDEX journeys_stage ON journeys (funnel, stage, step);
"#,
    include_str!("v7_identity.sql"),
    // v8: the brief a task's `template` renders to when the task is made,
    // so staff read what to do without the funnel's templates at hand.
    "ALTER TABLE tasks ADD COLUMN brief TEXT;",
    // v9: a sighting keeps the row's values too, so a run that sees them
    // change first plays out what the old values made due before it.
    "ALTER TABLE sightings ADD COLUMN fields TEXT;",
    // v10: the file says it is a funnel state, so that a run refuses
    // another program's database instead of adding its tables to it.
    "PRAGMA application_id = 1179536433;",
    // v11: a run that went back in time on purpose (`--allow-clock-reset`,
    // after a mistyped future `--now`) says from when and why.
    "ALTER TABLE runs ADD COLUMN reset_from TEXT; ALTER TABLE runs ADD COLUMN reset_reason TEXT;",
    include_str!("v12_signals.sql"),
    // v13: contacts an event created (an entry's `create:`), walked on
    // later runs although no feed row has them, until one does.
    r#"
CREATE TABLE created_contacts (
    funnel TEXT NOT NULL,
    contact TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at TEXT NOT NULL,
    event TEXT NOT NULL,
    adopted_at TEXT,
    PRIMARY KEY (funnel, contact)
) WITHOUT ROWID;
"#,
    // v14: `funnel status` counts journeys by place from the index alone
    // (ten times faster on a big state than reading every journey).
    "DROP INDEX journeys_stage; CREATE INDEX journeys_stage ON journeys (funnel, stage, step, active);",
    // v15: when each journey could next move, so a tick walks in full only
    // the contacts that have something due (`runner/fast.rs`); NULL, as
    // every journey starts, means unknown: walked in full.
    "ALTER TABLE journeys ADD COLUMN next_due TEXT;",
    // v16: whether a message is transactional, as a column: frequency caps
    // count the others on every message a run queues, and reading the
    // flag out of the JSON payload there was slow and SQLite's own. Rows
    // already queued are filled from their payload: only messages carry
    // the flag, and their payloads (written by serde_json, no nested
    // objects) spell it `"transactional":true` exactly when it is set; a
    // `"` inside a string is escaped, so no text of theirs can. Rows pruned
    // before this lost their flag and stay 0, as the old query read them.
    r#"
ALTER TABLE outbox ADD COLUMN transactional INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET transactional = 1
    WHERE channel IN ('email', 'sms', 'messenger') AND payload LIKE '%"transactional":true%';
"#,
    // v17: what a finished run read (a hash of its feeds, funnels and
    // settings), the earliest moment anyone it walked could next move, and
    // what it reported about its feeds, so that the next run can tell it
    // has nothing to do without reading a row (`run/tick/unchanged.rs`);
    // NULL: the next run reads everything. And the last walk's verdict kept
    // with the row's sighting (the funnel version it ran under and when
    // anything is next due), so that the fast path decides a contact with
    // one lookup, and a contact who did not enter is not walked every run;
    // moved over from the journeys, which kept it until now.
    r#"
ALTER TABLE runs ADD COLUMN reading TEXT;
ALTER TABLE runs ADD COLUMN next_due TEXT;
ALTER TABLE runs ADD COLUMN feed_report TEXT;
ALTER TABLE sightings ADD COLUMN version TEXT;
ALTER TABLE sightings ADD COLUMN next_due TEXT;
UPDATE sightings SET version = j.version, next_due = j.next_due
    FROM journeys j WHERE j.funnel = sightings.funnel AND j.contact = sightings.contact;
ALTER TABLE journeys DROP COLUMN next_due;
"#,
];

/// `PRAGMA application_id` of a funnel state (`FNL1`), set by migration
/// v10. States from before it are known by their `runs` table.
pub(super) const APPLICATION_ID: i64 = 0x464E_4C31;

/// Refuses a file that is not a funnel state. `created`: this open made
/// the file, so it may be empty.
pub(super) fn identify(connection: &Connection, path: &Path, created: bool) -> StoreResult<()> {
    let refuse = |why: &str| StoreError::NotAState {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    let read = || -> rusqlite::Result<(i64, i64, i64)> {
        let id: i64 = connection.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let (tables, runs) = connection.query_row(
            "SELECT count(*), count(*) FILTER (WHERE name = 'runs') FROM sqlite_master WHERE type = 'table'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((id, tables, runs))
    };
    let (id, tables, runs) = match read() {
        Ok(found) => found,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(refuse("not an SQLite database"));
        }
        Err(e) => return Err(e.into()),
    };
    match (id, tables, runs) {
        (APPLICATION_ID, ..) | (0, _, 1..) => Ok(()),
        (0, 0, _) if created => Ok(()),
        (0, 0, _) if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) => {
            Err(refuse("an empty file"))
        }
        (0, 0, _) => Err(refuse("an SQLite database with no tables")),
        (0, ..) => Err(refuse("an SQLite database without funnel's tables")),
        (other, ..) => Err(refuse(&format!(
            "an SQLite database of another program, application_id {other:#x}"
        ))),
    }
}

impl Store {
    /// Whether the state was written by an older funnel and needs
    /// [`Store::open`] to migrate it before it can be read.
    pub fn outdated(&self) -> StoreResult<bool> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(version < MIGRATIONS.len() as i64)
    }

    /// Refuses a state written by a newer funnel; gives its version.
    pub(super) fn check_version(&self) -> StoreResult<i64> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        Ok(version)
    }

    pub(super) fn migrate(&mut self) -> StoreResult<()> {
        let version = self.check_version()?;
        let tx = self.connection.transaction()?;
        for (index, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use rusqlite::params;

    use super::*;
    use crate::store::{journey, parse_time};

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    #[test]
    fn migrates_once_and_refuses_going_back_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut store = Store::open(&path).unwrap();
            store
                .begin_run(at("2026-01-02T00:00:00Z"), Utc::now(), None)
                .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let version: i64 = store
            .connection()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let err = store
            .begin_run(at("2026-01-01T00:00:00Z"), Utc::now(), None)
            .unwrap_err();
        assert!(matches!(err, StoreError::Backwards { .. }), "{err}");
        store
            .begin_run(at("2026-01-02T00:00:00Z"), Utc::now(), None)
            .unwrap();
    }

    /// A state written before the report's counters existed gets them
    /// counted on upgrade, the same as if the triggers had always run.
    #[test]
    fn upgrading_a_v2_state_counts_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let connection = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..2] {
                connection.execute_batch(sql).unwrap();
            }
            connection.pragma_update(None, "user_version", 2).unwrap();
            let line = |id: i64, at: &str, kind: &str, from: Option<&str>, to: &str| {
                connection.execute(
                    "INSERT INTO history (id, funnel, contact, entry, at, kind, from_stage, to_stage, reason, version) VALUES (?1, 'f', 'c', 1, ?2, ?3, ?4, ?5, '', 'v1')",
                    params![id, at, kind, from, to],
                ).unwrap();
            };
            line(1, "2026-05-04T10:00:00Z", "enter", None, "a");
            line(2, "2026-05-05T12:00:00Z", "goal", Some("a"), "b");
        }
        let store = Store::open(&path).unwrap();
        let flows: Vec<(String, String, String, i64)> = store
            .connection()
            .prepare("SELECT stage, day, outcome, contacts FROM stage_flow ORDER BY stage, outcome")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let row = |s: &str, d: &str, o: &str| (s.to_string(), d.to_string(), o.to_string(), 1);
        assert_eq!(
            flows,
            [
                row("a", "2026-05-04", "entered"),
                row("a", "2026-05-04", "goal"),
                row("b", "2026-05-05", "entered")
            ]
        );
        let seconds: i64 = store
            .connection()
            .query_row("SELECT seconds FROM stage_times", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seconds, 26 * 3600);
    }

    /// v16 takes the transactional flag out of the payloads of the
    /// messages already queued, and of nothing else: frequency caps count
    /// the same rows as when they read the payload.
    #[test]
    fn upgrading_a_v15_state_fills_the_transactional_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let connection = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..15] {
                connection.execute_batch(sql).unwrap();
            }
            connection.pragma_update(None, "user_version", 15).unwrap();
            let insert = "INSERT INTO outbox (key, funnel, contact, step, channel, payload, due_at, status, created_at) VALUES (?1, 'f', 'c', 's', ?2, ?3, '2026-01-01T00:00:00Z', 'queued', '2026-01-01T00:00:00Z')";
            for (key, channel, payload) in [
                (
                    "receipt",
                    "email",
                    r#"{"to":"a@x.test","subject":null,"body":"b","template":"t","transactional":true}"#,
                ),
                (
                    "promo",
                    "sms",
                    r#"{"to":"1","subject":null,"body":"\"transactional\":true","template":"t","transactional":false}"#,
                ),
                (
                    "crm",
                    "webhook",
                    r#"{"endpoint":"crm","funnel":"f","stage":"s","step":"s","contact":{"transactional":true},"body":null}"#,
                ),
            ] {
                connection
                    .execute(insert, params![key, channel, payload])
                    .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        let flagged: Vec<(String, bool)> = store
            .connection()
            .prepare("SELECT key, transactional FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [("receipt", true), ("promo", false), ("crm", false)];
        assert_eq!(flagged, expected.map(|(k, t)| (k.to_string(), t)));
    }

    /// v6 rebuilds the journeys table without a rowid: every journey
    /// comes through, and the rowid is gone.
    #[test]
    fn upgrading_a_v5_state_keeps_its_journeys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let connection = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..5] {
                connection.execute_batch(sql).unwrap();
            }
            connection.pragma_update(None, "user_version", 5).unwrap();
            connection
                .execute_batch(
                    "INSERT INTO journeys VALUES ('f', 'c1', 2, 'trial', 1, '2026-05-04T10:00:00Z', NULL, '2026-05-04T09:00:00Z', 1, '2026-05-01T00:00:00Z', NULL);
                     INSERT INTO journeys VALUES ('f', 'c2', 1, 'won', 3, '2026-05-04T10:00:00Z', '2026-05-04T11:00:00Z', '2026-05-04T09:00:00Z', 0, '2026-05-01T00:00:00Z', '2026-05-05T00:00:00Z');",
                )
                .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let tx = store.transaction().unwrap();
        let c1 = journey(&tx, "f", "c1").unwrap().unwrap();
        // v7 keeps the position as `#1` for the runner to resolve by id.
        let step = c1.step.as_deref();
        assert_eq!(
            (c1.entry, c1.stage.as_str(), step),
            (2, "trial", Some("#1"))
        );
        let c2 = journey(&tx, "f", "c2").unwrap().unwrap();
        assert_eq!(c2.left_at, Some(at("2026-05-05T00:00:00Z")));
        assert_eq!(c2.waiting_since, Some(at("2026-05-04T11:00:00Z")));
        assert!(!c2.active);
        assert!(
            tx.connection()
                .prepare("SELECT rowid FROM journeys")
                .is_err()
        );
    }

    /// The schema a fresh state ends up with, as SQLite keeps it: a
    /// migration shows here as a snapshot diff, so the change is reviewed.
    #[test]
    fn a_fresh_state_has_the_snapshotted_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let connection = store.connection();
        let pragma = |name| {
            connection
                .pragma_query_value(None, name, |r| r.get::<_, i64>(0))
                .unwrap()
        };
        let mut schema = format!(
            "user_version {}\napplication_id {:#x}\n",
            pragma("user_version"),
            pragma("application_id")
        );
        let mut statement = connection
            .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (kind, name, table, sql) = row.unwrap();
            let sql = sql.unwrap_or_else(|| "(made by SQLite)".to_string());
            schema += &format!("\n{kind} {name} on {table}\n{sql}\n");
        }
        insta::assert_snapshot!(schema);
    }
}
