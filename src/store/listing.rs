//! Read-only listings for operators: every journey (`funnel contacts`) and
//! every outbox row (`funnel actions`). Kept apart from the store's writes
//! so the journeys' schema can change under them: the `step` column is read
//! as whatever SQLite holds (a step index in state v6, a step id or NULL
//! later) and shown as text.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::Value;
use serde::Serialize;

use super::{
    OutboxStatus, StoreResult, TASK_COLUMN_COUNT, TASK_COLUMNS, Task, optional_time_column,
    task_from, time, time_column,
};

/// One contact's journey through one funnel, for `funnel contacts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JourneyRow {
    pub funnel: String,
    pub contact: String,
    pub stage: String,
    /// The step the contact is at, as stored; empty when none.
    pub step: Option<String>,
    /// Which entry into the funnel this is (1 for the first).
    pub entry: i64,
    #[serde(with = "super::stamp")]
    pub entered_at: DateTime<Utc>,
    /// When the contact reached its current stage.
    #[serde(with = "super::stamp")]
    pub since: DateTime<Utc>,
    pub active: bool,
}

/// Journeys, optionally of one funnel and one stage, by funnel, stage and
/// contact.
pub(super) fn journeys(
    connection: &Connection,
    funnel: Option<&str>,
    stage: Option<&str>,
) -> StoreResult<Vec<JourneyRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT funnel, contact, stage, step, entry, entered_at, stage_since, active FROM journeys \
         WHERE (?1 IS NULL OR funnel = ?1) AND (?2 IS NULL OR stage = ?2) ORDER BY funnel, stage, contact",
    )?;
    let rows = statement.query_map(rusqlite::params![funnel, stage], |r| {
        Ok(JourneyRow {
            funnel: r.get(0)?,
            contact: r.get(1)?,
            stage: r.get(2)?,
            step: text(r.get(3)?),
            entry: r.get(4)?,
            entered_at: time_column(r, 5)?,
            since: time_column(r, 6)?,
            active: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A column of any SQLite type as text; NULL as none.
fn text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Integer(n) => Some(n.to_string()),
        Value::Real(x) => Some(x.to_string()),
        Value::Text(s) => Some(s),
        Value::Blob(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// One outbox row, for `funnel actions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionRow {
    pub key: String,
    pub funnel: String,
    pub contact: String,
    pub step: String,
    pub channel: String,
    pub status: OutboxStatus,
    #[serde(with = "super::stamp")]
    pub due_at: DateTime<Utc>,
    pub attempts: i64,
    /// When a retry is due, for queued rows that failed once.
    #[serde(with = "super::stamp::optional")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last error, or why the row was skipped.
    pub error: Option<String>,
}

/// Outbox rows, optionally of one status and one funnel, by due time.
pub(super) fn actions(
    connection: &Connection,
    status: Option<OutboxStatus>,
    funnel: Option<&str>,
) -> StoreResult<Vec<ActionRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT key, funnel, contact, step, channel, status, due_at, attempts, next_attempt_at, error FROM outbox \
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR funnel = ?2) ORDER BY due_at, id",
    )?;
    let rows = statement.query_map(
        rusqlite::params![status.map(OutboxStatus::name), funnel],
        |r| {
            Ok(ActionRow {
                key: r.get(0)?,
                funnel: r.get(1)?,
                contact: r.get(2)?,
                step: r.get(3)?,
                channel: r.get(4)?,
                status: r.get(5)?,
                due_at: time_column(r, 6)?,
                attempts: r.get(7)?,
                next_attempt_at: optional_time_column(r, 8)?,
                error: r.get(9)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A task with when it was done and its brief's headline, for `funnel
/// tasks` and `funnel task show`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    #[serde(flatten)]
    pub task: Task,
    #[serde(with = "super::stamp::optional")]
    pub done_at: Option<DateTime<Utc>>,
    /// The brief's first non-empty line, shortened: what a one-line
    /// listing shows of it.
    pub title: Option<String>,
}

fn task_row(r: &rusqlite::Row) -> rusqlite::Result<TaskRow> {
    let task = task_from(r)?;
    Ok(TaskRow {
        title: task.title(),
        task,
        done_at: optional_time_column(r, TASK_COLUMN_COUNT)?,
    })
}

/// The tasks `funnel tasks` lists: all, or those open past `overdue_at`,
/// optionally of one assignee; open ones first, by due time.
pub(super) fn task_rows(
    connection: &Connection,
    overdue_at: Option<DateTime<Utc>>,
    assignee: Option<&str>,
) -> StoreResult<Vec<TaskRow>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS}, done_at FROM tasks WHERE (?1 IS NULL OR (status = 'open' AND due_at < ?1)) AND (?2 IS NULL OR assignee = ?2) ORDER BY status DESC, due_at, id"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params![overdue_at.map(time), assignee], task_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One task by id, for `funnel task show`; `None` when there is none.
pub(super) fn task_by_id(connection: &Connection, id: i64) -> StoreResult<Option<TaskRow>> {
    use rusqlite::OptionalExtension;
    let sql = format!("SELECT {TASK_COLUMNS}, done_at FROM tasks WHERE id = ?1");
    Ok(connection
        .prepare_cached(&sql)?
        .query_row(rusqlite::params![id], task_row)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The journeys' `step` turns from an index into a step id (or NULL);
    /// the listing must read both.
    #[test]
    fn a_step_is_read_as_integer_text_or_null() {
        assert_eq!(text(Value::Integer(2)), Some("2".to_string()));
        assert_eq!(text(Value::Text("call".into())), Some("call".to_string()));
        assert_eq!(text(Value::Null), None);
    }
}
