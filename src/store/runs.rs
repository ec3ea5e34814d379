//! The `runs` and `versions` tables: each `funnel run` recorded with its
//! `now` (which may only move forward), and each funnel version with when
//! it first and last ran, which outbox rows and tasks are tagged with.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, StoreResult, Tx, parse_time, stored_time, time};

impl Store {
    /// Records the start of a run at `now`, refusing to go back in time
    /// unless `reset` gives the reason to (then recorded with the run).
    pub fn begin_run(
        &mut self,
        now: DateTime<Utc>,
        started: DateTime<Utc>,
        reset: Option<&str>,
    ) -> StoreResult<i64> {
        let from = self.check_forward(now, reset)?;
        let reason = from.as_ref().and(reset);
        self.connection.execute(
            "INSERT INTO runs (now, started_at, reset_from, reset_reason) VALUES (?1, ?2, ?3, ?4)",
            params![time(now), time(started), from, reason],
        )?;
        Ok(self.connection.last_insert_rowid())
    }

    /// Refuses a `now` before the last run's, unless `reset` gives a
    /// reason; then gives the last run's `now` it goes back from. The last
    /// run is the latest recorded, not the latest `now`: after a reset the
    /// mistyped future no longer counts.
    pub fn check_forward(
        &self,
        now: DateTime<Utc>,
        reset: Option<&str>,
    ) -> StoreResult<Option<String>> {
        let last: Option<String> = self
            .connection
            .query_row("SELECT now FROM runs ORDER BY id DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        match last.filter(|last| parse_time(last).is_some_and(|l| l > now)) {
            Some(last) if reset.is_some() => Ok(Some(last)),
            Some(last) => Err(StoreError::Backwards {
                now: time(now),
                last,
            }),
            None => Ok(None),
        }
    }

    /// Records that `run` finished, with its summary and, when it can
    /// tell the next run enough, what it read.
    pub fn finish_run(
        &mut self,
        run: i64,
        finished: DateTime<Utc>,
        summary: &serde_json::Value,
        reading: Option<&Reading>,
    ) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE runs SET finished_at = ?1, summary = ?2, reading = ?3, next_due = ?4, feed_report = ?5 WHERE id = ?6",
            params![
                time(finished),
                summary.to_string(),
                reading.map(|r| r.key.as_str()),
                reading.and_then(|r| super::journeys::due_column(r.next_due)),
                reading.map(|r| r.feed_report.as_str()),
                run
            ],
        )?;
        Ok(())
    }

    /// The latest run's `now` and what it read, when that run finished
    /// and recorded it. A run that started and never finished (a crash,
    /// a failed delivery) may have changed journeys half-way: then `None`.
    pub fn last_reading(&self) -> StoreResult<Option<(DateTime<Utc>, Reading)>> {
        let row = self
            .connection
            .query_row(
                "SELECT now, reading, next_due, feed_report FROM runs WHERE finished_at IS NOT NULL \
                 AND id = (SELECT max(id) FROM runs)",
                [],
                |r| {
                    let now: String = r.get(0)?;
                    let (key, next_due, report): (Option<String>, _, Option<String>) =
                        (r.get(1)?, r.get(2)?, r.get(3)?);
                    Ok(key.zip(report).map(|(key, feed_report)| {
                        let next_due = super::journeys::due_from(next_due);
                        (now, Reading {
                            key,
                            next_due,
                            feed_report,
                        })
                    }))
                },
            )
            .optional()?
            .flatten();
        let Some((now, reading)) = row else {
            return Ok(None);
        };
        Ok(Some((stored_time(&now)?, reading)))
    }
}

/// What a finished run read and left behind, for the next run to tell
/// that nothing changed (`run/tick/unchanged.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// A hash of the feeds, the funnels and the settings the run read.
    pub key: String,
    /// The earliest moment at which anyone the run walked or left could
    /// next move.
    pub next_due: super::Due,
    /// What the run reported about its contacts feed (bad rows, notes,
    /// how many rows), as the run layer writes it.
    pub feed_report: String,
}

/// Records a funnel version: its content hash, the file it came from, its
/// text and the git commit, when there is one, the first time it runs;
/// and, every run, that it is the one running now (outbox rows and tasks
/// are tagged with it). Returns when the version first ran: no journey is
/// entered under it earlier than that.
pub fn record_version(
    tx: &Tx<'_>,
    funnel: &str,
    (version, source): (&str, &str),
    path: &str,
    git_commit: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<DateTime<Utc>> {
    let tx = tx.connection();
    tx.prepare_cached(
        "INSERT INTO versions (funnel, version, path, git_commit, first_run, last_run, source) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
         ON CONFLICT DO UPDATE SET last_run = excluded.last_run, git_commit = coalesce(versions.git_commit, excluded.git_commit), source = coalesce(versions.source, excluded.source)",
    )?
    .execute(params![funnel, version, path, git_commit, time(at), source])?;
    Ok(first_run(tx, funnel, version)?.unwrap_or(at))
}

/// When a funnel version first ran, if it has.
pub(super) fn first_run(
    tx: &Connection,
    funnel: &str,
    version: &str,
) -> StoreResult<Option<DateTime<Utc>>> {
    let text: Option<String> = tx
        .prepare_cached("SELECT first_run FROM versions WHERE funnel = ?1 AND version = ?2")?
        .query_row(params![funnel, version], |r| r.get(0))
        .optional()?;
    text.map(|t| stored_time(&t)).transpose()
}

/// The version of `funnel` that ran last, or "" before any run recorded one.
pub(super) fn latest_version(tx: &Connection, funnel: &str) -> StoreResult<String> {
    Ok(tx
        .prepare_cached(
            "SELECT version FROM versions WHERE funnel = ?1 ORDER BY last_run DESC LIMIT 1",
        )?
        .query_row(params![funnel], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}
