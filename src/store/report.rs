//! The reads behind `funnel report`: the counter tables the store keeps
//! (`stage_flow`, `stage_times`, `step_flow`, `split_flow`, `step_sends`;
//! see `counters`), the tasks and the funnel versions, summed over a window
//! of days and, optionally, one version. Gives typed rows; what they add up
//! to (rates, medians, the scorecard) is `measure`'s.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rusqlite::{Connection, params};

use super::{
    OutboxStatus, Store, StoreError, StoreResult, optional_time_column, stored_time, time,
    time_column,
};

/// The counters of a window of days, as `funnel report` reads them.
pub struct Report<'s> {
    connection: &'s Connection,
    /// The window as day strings, inclusive; open ends sort outside any day.
    lo: String,
    hi: String,
    /// The window as stored times, for the columns that hold a time rather
    /// than a day: from the first day's midnight (inclusive) to the
    /// midnight after the last day (exclusive); `None` where it is open.
    start: Option<String>,
    end: Option<String>,
}

/// A funnel version as first recorded, with when it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    pub version: String,
    pub git_commit: Option<String>,
    pub path: String,
    pub first_run: DateTime<Utc>,
    pub last_run: Option<DateTime<Utc>>,
}

/// Visits of `stage` that began in the window and ended by `outcome` in
/// `to_stage` (`entered` counts the visits themselves).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageFlow {
    pub stage: String,
    pub outcome: String,
    pub to_stage: String,
    pub contacts: u64,
}

/// A step's outcomes (`wait-yes`, `branch-no`, ...) in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFlow {
    pub stage: String,
    pub step: String,
    pub outcome: String,
    pub contacts: u64,
}

/// A step's actions on `channel` in the window that are now `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepSends {
    pub step: String,
    pub channel: String,
    pub status: OutboxStatus,
    pub actions: u64,
}

/// Contacts a split's `variant` was assigned to (`outcome` `assigned`),
/// and how the visits it was assigned in ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitFlow {
    pub stage: String,
    pub step: String,
    pub variant: String,
    pub outcome: String,
    pub to_stage: String,
    pub contacts: u64,
}

/// One assignee's tasks created in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffTasks {
    pub assignee: String,
    pub created: u64,
    pub done: u64,
    /// Done by their due time, or without one.
    pub on_time: u64,
    pub open: u64,
    /// Open and past due at the last run.
    pub overdue: u64,
    pub escalated: u64,
}

/// Counts come out of SQLite as i64; a negative one would be a bug, not data.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// The counters of the days from `since` to `until`, inclusive; an
    /// open end is no bound.
    pub fn report(&self, since: Option<NaiveDate>, until: Option<NaiveDate>) -> Report<'_> {
        let day = |d: Option<NaiveDate>, open: &str| {
            d.map_or_else(|| open.to_string(), |d| d.format("%Y-%m-%d").to_string())
        };
        let midnight = |d: NaiveDate| time(d.and_time(NaiveTime::MIN).and_utc());
        Report {
            connection: &self.connection,
            lo: day(since, "0000"),
            hi: day(until, "9999"),
            start: since.map(midnight),
            end: until.and_then(|d| d.succ_opt()).map(midnight),
        }
    }
}

impl Report<'_> {
    /// The `now` of the latest run, the moment the figures are as of.
    pub fn as_of(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let now: Option<String> =
            self.connection
                .query_row("SELECT max(now) FROM runs", [], |r| r.get(0))?;
        now.as_deref().map(stored_time).transpose()
    }

    /// Every funnel that has run or has figures, by name.
    pub fn funnels(&self) -> StoreResult<Vec<String>> {
        let mut statement = self.connection.prepare(
            "SELECT funnel FROM versions UNION SELECT DISTINCT funnel FROM stage_flow ORDER BY 1",
        )?;
        let rows = statement.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The versions of `funnel`, oldest first.
    pub fn versions(&self, funnel: &str) -> StoreResult<Vec<VersionRow>> {
        let mut statement = self.connection.prepare(
            "SELECT version, git_commit, path, first_run, last_run FROM versions WHERE funnel = ?1 ORDER BY first_run, version",
        )?;
        let rows = statement.query_map(params![funnel], |r| {
            Ok(VersionRow {
                version: r.get(0)?,
                git_commit: r.get(1)?,
                path: r.get(2)?,
                first_run: time_column(r, 3)?,
                last_run: optional_time_column(r, 4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The versions of `funnel` (`selected`, or any) that have figures in
    /// the window.
    pub fn versions_with_data(
        &self,
        funnel: &str,
        selected: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let mut statement = self.connection.prepare(
            "SELECT DISTINCT version FROM stage_flow WHERE funnel = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR version = ?4)
             UNION SELECT DISTINCT version FROM step_sends WHERE funnel = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR version = ?4)",
        )?;
        let rows =
            statement.query_map(params![funnel, self.lo, self.hi, selected], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A counter table's `sum` column in the window, grouped by three of
    /// its text columns (`keys`, comma-separated).
    fn sums(
        &self,
        (table, keys, sum): (&str, &str, &str),
        funnel: &str,
        selected: Option<&str>,
    ) -> StoreResult<Vec<(String, String, String, u64)>> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {keys}, SUM({sum}) FROM {table}
             WHERE funnel = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR version = ?4)
             GROUP BY {keys}"
        ))?;
        let rows = statement.query_map(params![funnel, self.lo, self.hi, selected], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, count(r.get(3)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How the visits of each stage of `funnel` ended.
    pub fn stage_flow(&self, funnel: &str, selected: Option<&str>) -> StoreResult<Vec<StageFlow>> {
        let rows = self.sums(
            ("stage_flow", "stage, outcome, to_stage", "contacts"),
            funnel,
            selected,
        )?;
        Ok(rows
            .into_iter()
            .map(|(stage, outcome, to_stage, contacts)| StageFlow {
                stage,
                outcome,
                to_stage,
                contacts,
            })
            .collect())
    }

    /// The outcomes of each step of `funnel`.
    pub fn step_flow(&self, funnel: &str, selected: Option<&str>) -> StoreResult<Vec<StepFlow>> {
        let rows = self.sums(
            ("step_flow", "stage, step, outcome", "contacts"),
            funnel,
            selected,
        )?;
        Ok(rows
            .into_iter()
            .map(|(stage, step, outcome, contacts)| StepFlow {
                stage,
                step,
                outcome,
                contacts,
            })
            .collect())
    }

    /// The actions of each step of `funnel`, by channel and status.
    pub fn step_sends(&self, funnel: &str, selected: Option<&str>) -> StoreResult<Vec<StepSends>> {
        let rows = self.sums(
            ("step_sends", "step, channel, status", "actions"),
            funnel,
            selected,
        )?;
        rows.into_iter()
            .map(|(step, channel, status, actions)| {
                let status = OutboxStatus::parse(&status).ok_or(StoreError::UnknownValue {
                    column: "step_sends.status",
                    text: status,
                })?;
                Ok(StepSends {
                    step,
                    channel,
                    status,
                    actions,
                })
            })
            .collect()
    }

    /// Up to `limit` of the times (in seconds) the converted visits of
    /// `stage` took, shortest first, from the `offset`th: the middle of
    /// the index on (funnel, stage, seconds), reached without a sort. A
    /// visit converted when it left by the goal, or by a step's positive
    /// outcome into `goal`.
    pub fn conversion_seconds(
        &self,
        (funnel, stage, goal): (&str, &str, Option<&str>),
        selected: Option<&str>,
        (limit, offset): (u64, u64),
    ) -> StoreResult<Vec<i64>> {
        let mut statement = self.connection.prepare(
            "SELECT seconds FROM stage_times
             WHERE funnel = ?1 AND stage = ?2
                AND (outcome = 'goal' OR (outcome IN ('wait-yes', 'branch-yes') AND to_stage = ?3))
                AND day BETWEEN ?4 AND ?5 AND (?6 IS NULL OR version = ?6)
             ORDER BY seconds LIMIT ?7 OFFSET ?8",
        )?;
        let rows = statement.query_map(
            params![
                funnel,
                stage,
                goal,
                self.lo,
                self.hi,
                selected,
                i64::try_from(limit).unwrap_or(i64::MAX),
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How each variant of each split of `funnel` did.
    pub fn split_flow(&self, funnel: &str, selected: Option<&str>) -> StoreResult<Vec<SplitFlow>> {
        let mut statement = self.connection.prepare(
            "SELECT stage, step, variant, outcome, to_stage, SUM(contacts) FROM split_flow
             WHERE funnel = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR version = ?4)
             GROUP BY stage, step, variant, outcome, to_stage",
        )?;
        let rows = statement.query_map(params![funnel, self.lo, self.hi, selected], |r| {
            Ok(SplitFlow {
                stage: r.get(0)?,
                step: r.get(1)?,
                variant: r.get(2)?,
                outcome: r.get(3)?,
                to_stage: r.get(4)?,
                contacts: count(r.get(5)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tasks of `funnel` created in the window, by assignee; overdue
    /// as of `as_of` (none without it).
    ///
    /// Portable SQL: the window is a range of times rather than a day cut
    /// out of each stored time as text, which holds only while times are
    /// text, and each count is a `CASE` rather than a sum of booleans,
    /// which PostgreSQL does not add up.
    pub fn staff(
        &self,
        funnel: &str,
        selected: Option<&str>,
        as_of: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<StaffTasks>> {
        let mut statement = self.connection.prepare(
            "SELECT assignee, COUNT(*),
                SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'done' AND (due_at IS NULL OR done_at <= due_at) THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'open' AND due_at < ?5 THEN 1 ELSE 0 END),
                SUM(CASE WHEN escalated_at IS NOT NULL THEN 1 ELSE 0 END)
             FROM tasks
             WHERE funnel = ?1 AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at < ?3)
                AND (?4 IS NULL OR version = ?4)
             GROUP BY assignee ORDER BY assignee",
        )?;
        let window = params![funnel, self.start, self.end, selected, as_of.map(time)];
        let rows = statement.query_map(window, |r| {
            Ok(StaffTasks {
                assignee: r.get(0)?,
                created: count(r.get(1)?),
                done: count(r.get(2)?),
                on_time: count(r.get(3)?),
                open: count(r.get(4)?),
                overdue: count(r.get(5)?),
                escalated: count(r.get(6)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The staff figures count a task by the UTC day it was created on,
    /// both ends of the window included, as the day cut from the stored
    /// time did; overdue only with a run to be overdue at.
    #[test]
    fn staff_tasks_are_counted_by_the_day_they_were_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let tasks = [
            ("before", "2026-05-03T23:59:59Z", None, "open", None),
            (
                "first",
                "2026-05-04T00:00:00Z",
                Some("2026-05-04T04:00:00Z"),
                "open",
                None,
            ),
            (
                "late",
                "2026-05-04T12:00:00Z",
                Some("2026-05-04T16:00:00Z"),
                "done",
                Some("2026-05-04T16:00:01Z"),
            ),
            (
                "last",
                "2026-05-05T23:59:59Z",
                Some("2026-05-06T04:00:00Z"),
                "done",
                Some("2026-05-06T04:00:00Z"),
            ),
            (
                "after",
                "2026-05-06T00:00:00Z",
                None,
                "done",
                Some("2026-05-06T01:00:00Z"),
            ),
        ];
        for (key, created, due, status, done) in tasks {
            store
                .connection()
                .execute(
                    "INSERT INTO tasks (key, funnel, contact, step, kind, assignee, created_at, due_at, status, done_at) \
                     VALUES (?1, 'f', 'c', 's', 'call', 'ann', ?2, ?3, ?4, ?5)",
                    params![key, created, due, status, done],
                )
                .unwrap();
        }
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d);
        let staff = |since, until, as_of: Option<&str>| {
            let as_of = as_of.map(|t| stored_time(t).unwrap());
            let rows = store.report(since, until).staff("f", None, as_of).unwrap();
            let t = &rows[0];
            [t.created, t.done, t.on_time, t.open, t.overdue, t.escalated]
        };
        assert_eq!(staff(day(4), day(5), None), [3, 2, 1, 1, 0, 0]);
        assert_eq!(
            staff(day(4), day(5), Some("2026-05-04T04:00:01Z")),
            [3, 2, 1, 1, 1, 0]
        );
        assert_eq!(staff(None, None, None), [5, 3, 2, 2, 0, 0]);
        assert_eq!(staff(day(6), None, None), [1, 1, 1, 0, 0, 0]);
        assert_eq!(staff(None, day(3), None), [1, 0, 0, 1, 0, 0]);
    }
}
