//! The `history` table: one line per move of a contact, appended (and
//! counted for `funnel report`) by the runner, read back for `history` and
//! by the dispatcher's opt-out recheck.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{HistoryKind, StoreResult, Tally, Tx, counters, time, time_column};

/// One line of a contact's history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Transition {
    pub funnel: String,
    pub contact: String,
    pub entry: i64,
    #[serde(with = "super::stamp")]
    pub at: DateTime<Utc>,
    /// What moved the contact.
    pub kind: HistoryKind,
    pub from_stage: Option<String>,
    pub from_step: Option<String>,
    pub to_stage: Option<String>,
    pub to_step: Option<String>,
    pub reason: String,
}

/// Appends a history line and counts it for `funnel report` (into
/// `tally`, which must be flushed before `tx` commits).
pub fn record(tx: &Tx<'_>, tally: &mut Tally, t: &Transition, version: &str) -> StoreResult<()> {
    let at = time(t.at);
    tx.execute(
        "INSERT INTO history (funnel, contact, entry, at, kind, from_stage, from_step, to_stage, to_step, reason, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![t.funnel, t.contact, t.entry, at, t.kind.name(), t.from_stage, t.from_step, t.to_stage, t.to_step, t.reason, version])?;
    let tx = tx.connection();
    counters::history_line(tx, tally, (tx.last_insert_rowid(), &at), t, version)
}

/// Whether the variant of a split step was already recorded for this
/// entry (a loop back to the step must not count the contact twice).
pub fn split_recorded(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    entry: i64,
    step: &str,
) -> StoreResult<bool> {
    let tx = tx.connection();
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM history WHERE contact = ?2 AND funnel = ?1 AND entry = ?3 AND kind = 'split' AND from_step = ?4)",
        )?
        .query_row(params![funnel, contact, entry, step], |r| r.get(0))?)
}

pub(super) fn history(connection: &Connection, contact: &str) -> StoreResult<Vec<Transition>> {
    let mut statement = connection.prepare_cached(
        "SELECT funnel, contact, entry, at, kind, from_stage, from_step, to_stage, to_step, reason FROM history WHERE contact = ?1 ORDER BY id",
    )?;
    let rows = statement.query_map(params![contact], |r| {
        Ok(Transition {
            funnel: r.get(0)?,
            contact: r.get(1)?,
            entry: r.get(2)?,
            at: time_column(r, 3)?,
            kind: r.get(4)?,
            from_stage: r.get(5)?,
            from_step: r.get(6)?,
            to_stage: r.get(7)?,
            to_step: r.get(8)?,
            reason: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether a contact entered the stage it is in through an exit (the
/// history line of the move into it says so), for the dispatcher's opt-out
/// recheck. States written before kinds were recorded say it in the reason.
pub(super) fn entered_by_exit(
    connection: &Connection,
    (funnel, contact): (&str, &str),
    (stage, entry): (&str, i64),
) -> StoreResult<bool> {
    let found: Option<(HistoryKind, String)> = connection
        .prepare_cached(
            "SELECT kind, reason FROM history WHERE contact = ?1 AND funnel = ?2 AND entry = ?3 AND to_stage = ?4 AND (from_stage IS NULL OR from_stage != to_stage) ORDER BY id DESC LIMIT 1",
        )?
        .query_row(
            params![contact, funnel, entry, stage],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(
        found
            .is_some_and(|(kind, reason)| kind == HistoryKind::Exit || reason.starts_with("exit:")),
    )
}
