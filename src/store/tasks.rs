//! Tasks: the staff's to-do list in the state. A task is written once, when
//! its step runs (with its brief already rendered, and why it went to whom
//! when the assignee the funnel named was nobody), then closed by staff,
//! by an event or by the contact leaving, and escalated once when overdue.
//! Who gets a task and what it says is the runner's business, not this
//! module's.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{StoreResult, TaskStatus, Tx, optional_time_column, time, time_column};
use crate::language::document::TaskKind;

/// A staff task.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    pub id: i64,
    pub key: String,
    pub funnel: String,
    pub contact: String,
    pub step: String,
    pub kind: TaskKind,
    pub assignee: String,
    pub escalate_to: Option<String>,
    #[serde(with = "super::stamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "super::stamp::optional")]
    pub due_at: Option<DateTime<Utc>>,
    pub status: TaskStatus,
    #[serde(with = "super::stamp::optional")]
    pub escalated_at: Option<DateTime<Utc>>,
    /// Notes on the task in words: why it went to someone other than the
    /// assignee the funnel named, why its brief is missing, why it was
    /// cancelled or could not be escalated; `; `-separated.
    pub reason: Option<String>,
    /// What the step's `template` rendered to when the task was made.
    pub brief: Option<String>,
}

impl Task {
    /// The brief's headline, for one-line listings and notifications.
    pub fn title(&self) -> Option<String> {
        self.brief.as_deref().and_then(title)
    }
}

/// How many characters of a brief's first line a title keeps.
const TITLE_CHARS: usize = 72;

/// The first non-empty line of `brief`, cut at [`TITLE_CHARS`] with `…`.
pub fn title(brief: &str) -> Option<String> {
    let line = brief.lines().map(str::trim).find(|l| !l.is_empty())?;
    if line.chars().count() <= TITLE_CHARS {
        return Some(line.to_string());
    }
    let cut: String = line.chars().take(TITLE_CHARS - 1).collect();
    Some(format!("{}…", cut.trim_end()))
}

pub fn add_task(tx: &Tx<'_>, task: &Task) -> StoreResult<bool> {
    let tx = tx.connection();
    let added = tx.prepare_cached("INSERT INTO tasks (key, funnel, contact, step, kind, assignee, escalate_to, created_at, due_at, status, reason, brief) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT DO NOTHING")?
        .execute(params![task.key, task.funnel, task.contact, task.step, task.kind.name(), task.assignee, task.escalate_to, time(task.created_at), task.due_at.map(time), task.status.name(), task.reason, task.brief])?;
    Ok(added > 0)
}

pub(crate) fn task_from(row: &rusqlite::Row) -> rusqlite::Result<Task> {
    Ok(Task {
        id: row.get(0)?,
        key: row.get(1)?,
        funnel: row.get(2)?,
        contact: row.get(3)?,
        step: row.get(4)?,
        kind: row.get(5)?,
        assignee: row.get(6)?,
        escalate_to: row.get(7)?,
        created_at: time_column(row, 8)?,
        due_at: optional_time_column(row, 9)?,
        status: row.get(10)?,
        escalated_at: optional_time_column(row, 11)?,
        reason: row.get(12)?,
        brief: row.get(13)?,
    })
}

/// The columns [`task_from`] reads, in its order; listings add theirs after.
pub(crate) const TASK_COLUMNS: &str = "id, key, funnel, contact, step, kind, assignee, escalate_to, created_at, due_at, status, escalated_at, reason, brief";

/// How many columns [`TASK_COLUMNS`] names.
pub(crate) const TASK_COLUMN_COUNT: usize = 14;

/// Adds `note` to a task's reason, once: a run that notes the same thing
/// again (nobody to escalate to, still) changes nothing.
pub fn note_task(tx: &Tx<'_>, id: i64, note: &str) -> StoreResult<()> {
    let tx = tx.connection();
    tx.prepare_cached(
        "UPDATE tasks SET reason = CASE WHEN reason IS NULL OR reason = '' THEN ?1 \
         WHEN instr(reason, ?1) > 0 THEN reason ELSE reason || '; ' || ?1 END WHERE id = ?2",
    )?
    .execute(params![note, id])?;
    Ok(())
}

/// Tasks past their due time that have not been escalated yet: open
/// ones, and ones closed (done, or cancelled when the contact left) only
/// after their deadline, since they were overdue whether or not a run
/// looked while they were.
pub fn overdue_unescalated(tx: &Tx<'_>, now: DateTime<Utc>) -> StoreResult<Vec<Task>> {
    let tx = tx.connection();
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'open' AND escalated_at IS NULL AND due_at IS NOT NULL AND due_at < ?1 \
         UNION ALL SELECT {TASK_COLUMNS} FROM tasks WHERE escalated_at IS NULL AND status != 'open' AND done_at > due_at AND due_at < ?1 \
         ORDER BY due_at, id"
    );
    let mut statement = tx.prepare_cached(&sql)?;
    let rows = statement.query_map(params![time(now)], task_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn mark_escalated(tx: &Tx<'_>, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
    let tx = tx.connection();
    tx.prepare_cached("UPDATE tasks SET escalated_at = ?1 WHERE id = ?2")?
        .execute(params![time(at), id])?;
    Ok(())
}

/// Marks a task done; false when there is no such open task.
pub(super) fn complete_task(tx: &Connection, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
    let changed = tx
        .prepare_cached(
            "UPDATE tasks SET status = 'done', done_at = ?1 WHERE id = ?2 AND status = 'open'",
        )?
        .execute(params![time(at), id])?;
    Ok(changed > 0)
}

/// Tasks, filtered; `overdue_at` keeps open tasks due before it.
pub(super) fn tasks(
    connection: &Connection,
    overdue_at: Option<DateTime<Utc>>,
    assignee: Option<&str>,
) -> StoreResult<Vec<Task>> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE (?1 IS NULL OR (status = 'open' AND due_at < ?1)) AND (?2 IS NULL OR assignee = ?2) ORDER BY status DESC, due_at, id"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params![overdue_at.map(time), assignee], task_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_the_first_non_empty_line_shortened() {
        assert_eq!(
            title("\n  Call Ann  \nthen more"),
            Some("Call Ann".to_string())
        );
        assert_eq!(title(" \n"), None);
        let long = title(&"é".repeat(100)).unwrap();
        assert_eq!(long.chars().count(), TITLE_CHARS);
        assert!(long.ends_with('…'));
    }

    /// A task's times are parsed as it is read: one that is no time fails
    /// the read, rather than showing as text or as a default.
    #[test]
    fn a_damaged_task_time_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("state.db")).unwrap();
        store
            .connection()
            .execute_batch(
                "INSERT INTO tasks (key, funnel, contact, step, kind, assignee, created_at, due_at, status) \
                 VALUES ('t', 'f', 'c', 's', 'call', 'ann', '2026-01-01T00:00:00Z', 'soon', 'open')",
            )
            .unwrap();
        let read = tasks(store.connection(), None, None);
        assert!(
            matches!(&read, Err(super::super::StoreError::BadTime { text }) if text == "soon"),
            "{read:?}"
        );
    }
}
