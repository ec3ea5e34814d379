//! The `journeys` table: where each contact is in each funnel, read and
//! written a whole row at a time, and counted by place for `status`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreResult, Tx, optional_time_column, parse_time, time, time_column};

/// Where one contact is in one funnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journey {
    pub funnel: String,
    pub contact: String,
    /// How many times the contact entered the funnel, this time included.
    pub entry: i64,
    pub stage: String,
    /// Id of the step being worked on; `None` once the stage's steps ran
    /// out. A state written before ids were kept holds `#N` (the index)
    /// until the runner resolves it.
    pub step: Option<String>,
    /// When the current step's delay started counting.
    pub clock: DateTime<Utc>,
    /// Set while the current step's action is done and its wait is open.
    pub waiting_since: Option<DateTime<Utc>>,
    /// When the contact entered the current stage.
    pub stage_since: DateTime<Utc>,
    pub active: bool,
    pub entered_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// The funnel version (content hash) the journey runs under.
    pub version: String,
    /// The events (`name@time`, one a line) consumed by the moves at the
    /// journey's latest moment: each fires one move only.
    pub cause: Option<String>,
    /// When the open wait runs out, fixed when it opened: an edit of the
    /// wait's window does not move a promise already made.
    pub deadline: Option<DateTime<Utc>>,
}

/// The earliest moment at which a walk could next move a journey, as
/// known by the last walk of it: a lower bound, never later than the
/// truth, or `Unknown` when the walk could not tell (a condition that
/// reads `now`, a message held by the send window or caps, a row walked
/// before state v15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Unknown,
    /// Nothing moves it until its row, its events or the funnel change.
    Never,
    At(DateTime<Utc>),
}

impl Due {
    /// The sooner of two bounds: unknown when either is.
    pub fn sooner(self, other: Due) -> Due {
        match (self, other) {
            (Due::Unknown, _) | (_, Due::Unknown) => Due::Unknown,
            (Due::Never, due) | (due, Due::Never) => due,
            (Due::At(a), Due::At(b)) => Due::At(a.min(b)),
        }
    }

    /// Whether nothing is due up to and including `now`.
    pub fn after(self, now: DateTime<Utc>) -> bool {
        match self {
            Due::Unknown => false,
            Due::Never => true,
            Due::At(at) => at > now,
        }
    }
}

/// How `next_due` is kept: NULL for unknown, `never`, or a time.
pub(super) const NEVER: &str = "never";

pub(super) fn due_from(stored: Option<String>) -> Due {
    match stored.as_deref() {
        None => Due::Unknown,
        Some(NEVER) => Due::Never,
        // An unreadable moment is unknown: the contact is walked in full.
        Some(at) => parse_time(at).map_or(Due::Unknown, Due::At),
    }
}

pub(super) fn due_column(due: Due) -> Option<String> {
    match due {
        Due::Unknown => None,
        Due::Never => Some(NEVER.to_string()),
        Due::At(at) => Some(time(at)),
    }
}

fn journey_from(row: &rusqlite::Row) -> rusqlite::Result<Journey> {
    Ok(Journey {
        funnel: row.get(0)?,
        contact: row.get(1)?,
        entry: row.get(2)?,
        stage: row.get(3)?,
        step: row.get(4)?,
        clock: time_column(row, 5)?,
        waiting_since: optional_time_column(row, 6)?,
        stage_since: time_column(row, 7)?,
        active: row.get(8)?,
        entered_at: time_column(row, 9)?,
        left_at: optional_time_column(row, 10)?,
        version: row.get(11)?,
        cause: row.get(12)?,
        deadline: optional_time_column(row, 13)?,
    })
}

/// A macro, not a const, so the statements below are built by `concat!` at
/// compile time rather than by `format!` once per contact.
macro_rules! journey_columns {
    () => {
        "funnel, contact, entry, stage, step, clock, waiting_since, stage_since, active, entered_at, left_at, version, cause, deadline"
    };
}

/// Reads and writes inside one transaction: a contact's changes and the
/// outbox rows they create commit together.
pub fn journey(tx: &Tx<'_>, funnel: &str, contact: &str) -> StoreResult<Option<Journey>> {
    const SQL: &str = concat!(
        "SELECT ",
        journey_columns!(),
        " FROM journeys WHERE funnel = ?1 AND contact = ?2"
    );
    Ok(tx
        .connection()
        .prepare_cached(SQL)?
        .query_row(params![funnel, contact], journey_from)
        .optional()?)
}

/// Writes the whole row, new or not. An upsert on the key rather than
/// SQLite's `INSERT OR REPLACE`, so that the statement runs on PostgreSQL
/// too; every column but the key is set.
pub fn save_journey(tx: &Tx<'_>, j: &Journey) -> StoreResult<()> {
    tx.execute(
        concat!(
            "INSERT INTO journeys (",
            journey_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (funnel, contact) DO UPDATE SET entry = excluded.entry, \
         stage = excluded.stage, step = excluded.step, clock = excluded.clock, \
         waiting_since = excluded.waiting_since, stage_since = excluded.stage_since, \
         active = excluded.active, entered_at = excluded.entered_at, \
         left_at = excluded.left_at, version = excluded.version, cause = excluded.cause, \
         deadline = excluded.deadline"
        ),
        params![
            j.funnel,
            j.contact,
            j.entry,
            j.stage,
            j.step,
            time(j.clock),
            j.waiting_since.map(time),
            time(j.stage_since),
            j.active,
            time(j.entered_at),
            j.left_at.map(time),
            j.version,
            j.cause,
            j.deadline.map(time)
        ],
    )?;
    Ok(())
}

/// How many contacts are at one place of one funnel, for `status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    pub funnel: String,
    pub stage: String,
    /// The step's id; `None` once the stage's steps ran out.
    pub step: Option<String>,
    pub active: bool,
    pub contacts: i64,
}

/// Contacts per funnel, stage and step.
pub(super) fn positions(connection: &Connection) -> StoreResult<Vec<Position>> {
    let mut statement = connection.prepare_cached(
        "SELECT funnel, stage, step, active, COUNT(*) FROM journeys GROUP BY funnel, stage, step, active ORDER BY funnel, stage, step",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(Position {
            funnel: r.get(0)?,
            stage: r.get(1)?,
            step: r.get(2)?,
            active: r.get(3)?,
            contacts: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::{Store, stored_time};
    use super::*;

    /// A second save of a contact's journey replaces every column but the
    /// key, a set one with NULL too, as `INSERT OR REPLACE` did.
    #[test]
    fn saving_a_journey_again_replaces_the_whole_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        let at = |t: &str| stored_time(t).unwrap();
        let first = Journey {
            funnel: "f".into(),
            contact: "c".into(),
            entry: 1,
            stage: "lead".into(),
            step: Some("call".into()),
            clock: at("2026-05-04T10:00:00Z"),
            waiting_since: Some(at("2026-05-04T11:00:00Z")),
            stage_since: at("2026-05-04T10:00:00Z"),
            active: true,
            entered_at: at("2026-05-04T10:00:00Z"),
            left_at: None,
            version: "v1".into(),
            cause: Some("paid@2026-05-04T10:00:00Z".into()),
            deadline: Some(at("2026-05-05T11:00:00Z")),
        };
        let second = Journey {
            entry: 2,
            stage: "won".into(),
            step: None,
            clock: at("2026-05-06T10:00:00Z"),
            waiting_since: None,
            stage_since: at("2026-05-06T10:00:00Z"),
            active: false,
            entered_at: at("2026-05-06T09:00:00Z"),
            left_at: Some(at("2026-05-06T10:00:00Z")),
            version: "v2".into(),
            cause: None,
            deadline: None,
            ..first.clone()
        };
        let tx = store.transaction().unwrap();
        save_journey(&tx, &first).unwrap();
        assert_eq!(journey(&tx, "f", "c").unwrap(), Some(first));
        save_journey(&tx, &second).unwrap();
        assert_eq!(journey(&tx, "f", "c").unwrap(), Some(second));
        assert_eq!(
            positions(tx.connection()).unwrap().len(),
            1,
            "one row per contact"
        );
    }
}
