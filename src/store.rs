//! Store: the runner's durable state in one SQLite file. Owns the schema and
//! its migrations, the run lock, and every read and write of journeys,
//! history, the outbox and tasks. Knows nothing of funnel semantics.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

mod counters;
mod created;
mod error;
mod history;
mod journeys;
mod listing;
mod moments;
mod prune;
mod schema;
mod signals;
mod tasks;
mod values;

use schema::identify;

pub use listing::*;

pub use counters::Tally;
pub use created::*;
pub use error::{StoreError, StoreResult};
pub use history::*;
pub use journeys::*;
pub use moments::*;
pub use prune::{PRUNED, Pruned, prune};
pub use signals::*;
pub use tasks::*;
pub use values::{HistoryKind, OutboxStatus, TaskStatus, UnknownValue};

/// `path` with its links resolved; a file yet to be created is named in
/// its directory's resolved path.
fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = std::fs::canonicalize(dir.unwrap_or(Path::new(".")))?;
            Ok(match path.file_name() {
                Some(name) => dir.join(name),
                None => dir,
            })
        }
        result => result,
    }
}

/// Times are stored as RFC 3339 text in UTC, which sorts as it should.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An action queued for delivery.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OutboxRow {
    pub key: String,
    pub funnel: String,
    pub contact: String,
    pub step: String,
    pub channel: String,
    pub payload: serde_json::Value,
    pub due_at: String,
    pub status: OutboxStatus,
}

pub struct Store {
    connection: Connection,
    path: PathBuf,
    /// Held for the store's life: the OS locks that keep a second run out
    /// (see [`Store::open`]). Declared after `connection` so that they are
    /// closed after it: closing any descriptor of the database file drops
    /// the POSIX locks SQLite holds on it.
    _lock: Option<RunLock>,
}

/// The run lock: the database file itself, `flock`ed through a descriptor
/// of its own, so every name of the file (a symlink, a hard link, a
/// relative path) meets the same lock; SQLite's own locks are `fcntl`
/// locks, which `flock` does not touch on Linux. Beside it the older
/// `state.lock` file, still taken so that a run of an older funnel on the
/// same path is kept out as well.
struct RunLock {
    _sidecar: File,
    #[cfg(unix)]
    _file: File,
}

impl Store {
    /// Opens (creating and migrating) the state at `path` and takes the run
    /// lock. A second process gets [`StoreError::Locked`] at once.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir).map_err(io)?;
        }
        let locked = || StoreError::Locked {
            path: path.to_path_buf(),
        };
        let lock_path = real_path(path).map_err(io)?.with_extension("lock");
        let sidecar = crate::private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        if sidecar.try_lock().is_err() {
            return Err(locked());
        }
        // Created here, `0600`, so that SQLite gives its `-wal` and `-shm`
        // files the same mode rather than the umask's.
        let created = crate::private::create_file(path).map_err(io)?;
        // The lock belongs to the file, not to the name it was reached by.
        // Elsewhere than unix a lock on the file would be mandatory and
        // shut SQLite out: there the name's lock file is all there is.
        #[cfg(unix)]
        let file = {
            let file = File::open(path).map_err(io)?;
            if file.try_lock().is_err() {
                return Err(locked());
            }
            file
        };
        let lock = RunLock {
            _sidecar: sidecar,
            #[cfg(unix)]
            _file: file,
        };
        let connection = Connection::open(path)?;
        identify(&connection, path, created)?;
        connection.execute_batch(
            // A 64 MB page cache: a run touches every journey, and the
            // default 2 MB sends most page reads to the kernel.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -65536;",
        )?;
        let mut store = Store {
            connection,
            path: path.to_path_buf(),
            _lock: Some(lock),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the state read-only without the lock, for `status`, `history`
    /// and `tasks` while a run may be going on. Refuses what
    /// [`Store::open`] refuses: a file that is not a funnel state, and a
    /// state from a newer funnel.
    pub fn open_read(path: &Path) -> StoreResult<Self> {
        let connection =
            Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        identify(&connection, path, false)?;
        let store = Store {
            connection,
            path: path.to_path_buf(),
            _lock: None,
        };
        store.check_version()?;
        Ok(store)
    }

    /// Opens the state for `funnel serve`: read-write but without the run
    /// lock, since serve writes only what it hears (events, suppressions)
    /// while runs come and go. The state is created and migrated under the
    /// lock first, so serve never writes to a file it does not know.
    pub fn open_shared(path: &Path) -> StoreResult<Self> {
        match Store::open(path) {
            // A run holds the lock: it has created and migrated the state.
            Ok(_) | Err(StoreError::Locked { .. }) => {}
            Err(error) => return Err(error),
        }
        let connection = Connection::open(path)?;
        identify(&connection, path, false)?;
        // WAL lets serve append while a run reads and writes; the busy
        // timeout waits out a run's batch commit instead of failing.
        // FULL: a provider told 2xx forgets the signal, so each commit
        // reaches the disk before the answer (one sync per group commit),
        // not only the process's survival.
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        let store = Store {
            connection,
            path: path.to_path_buf(),
            _lock: None,
        };
        store.check_version()?;
        Ok(store)
    }

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

    pub fn finish_run(
        &mut self,
        run: i64,
        finished: DateTime<Utc>,
        summary: &serde_json::Value,
    ) -> StoreResult<()> {
        self.connection.execute(
            "UPDATE runs SET finished_at = ?1, summary = ?2 WHERE id = ?3",
            params![time(finished), summary.to_string(), run],
        )?;
        Ok(())
    }

    /// A write transaction, taking SQLite's write lock at once: with
    /// `funnel serve` writing beside a run, a transaction that read first
    /// and then wanted to write could find the snapshot it read outdated
    /// and fail (`SQLITE_BUSY_SNAPSHOT`); taken up front, the lock is
    /// waited for instead (the busy timeout).
    pub fn transaction(&mut self) -> StoreResult<Transaction<'_>> {
        Ok(self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

/// When the marketing messages to `contact` on `channels` that reach (or
/// will reach) them were due, after `after`, oldest first: what frequency
/// caps count. Transactional messages and rows that never go out (stale,
/// failed, suppressed, dead) do not count.
pub fn marketing_sent_after(
    tx: &Connection,
    contact: &str,
    channels: &[&str],
    after: DateTime<Utc>,
) -> StoreResult<Vec<DateTime<Utc>>> {
    let mut statement = tx.prepare_cached(
        "SELECT due_at FROM outbox WHERE contact = ?1 AND channel = ?2 AND due_at > ?3 \
         AND status NOT IN ('stale', 'failed', 'suppressed', 'dead') \
         AND json_extract(payload, '$.transactional') IS NOT 1",
    )?;
    let mut times = Vec::new();
    for channel in channels {
        let rows = statement.query_map(params![contact, channel, time(after)], |r| {
            r.get::<_, String>(0)
        })?;
        for row in rows {
            times.extend(parse_time(&row?));
        }
    }
    times.sort();
    Ok(times)
}

/// Records a funnel version: its content hash, the file it came from, its
/// text and the git commit, when there is one, the first time it runs;
/// and, every run, that it is the one running now (outbox rows and tasks
/// are tagged with it). Returns when the version first ran: no journey is
/// entered under it earlier than that.
pub fn record_version(
    tx: &Connection,
    funnel: &str,
    (version, source): (&str, &str),
    path: &str,
    git_commit: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<DateTime<Utc>> {
    tx.prepare_cached(
        "INSERT INTO versions (funnel, version, path, git_commit, first_run, last_run, source) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
         ON CONFLICT DO UPDATE SET last_run = excluded.last_run, git_commit = coalesce(versions.git_commit, excluded.git_commit), source = coalesce(versions.source, excluded.source)",
    )?
    .execute(params![funnel, version, path, git_commit, time(at), source])?;
    Ok(first_run(tx, funnel, version)?.unwrap_or(at))
}

/// When a funnel version first ran, if it has.
pub fn first_run(
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

/// A time read back from the state; one that does not parse is an error.
pub fn stored_time(text: &str) -> StoreResult<DateTime<Utc>> {
    parse_time(text).ok_or_else(|| StoreError::BadTime {
        text: text.to_string(),
    })
}

/// Queues an action; a row with the same idempotency key is left alone.
/// Returns whether a row was added, and counts it for `funnel report`
/// (into `tally`, flushed before `tx` commits).
/// `version` is the funnel version the action was queued under; a writer
/// that does not know it gets the funnel's latest (escalation notices none).
pub fn enqueue(
    tx: &Connection,
    tally: &mut Tally,
    row: &OutboxRow,
    version: Option<&str>,
    created: DateTime<Utc>,
) -> StoreResult<bool> {
    let latest;
    let version = match version {
        Some(version) => Some(version),
        None if counters::is_escalation(&row.key) => None,
        None => {
            latest = latest_version(tx, &row.funnel)?;
            Some(latest.as_str())
        }
    };
    let added = tx.prepare_cached("INSERT OR IGNORE INTO outbox (key, funnel, contact, step, channel, payload, due_at, status, created_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?
        .execute(params![row.key, row.funnel, row.contact, row.step, row.channel, row.payload.to_string(), row.due_at, row.status, time(created), version])?;
    if added > 0 {
        counters::queued(tally, row, version.unwrap_or_default());
        signals::remember_address(tx, row, created)?;
    }
    Ok(added > 0)
}

/// The version of `funnel` that ran last, or "" before any run recorded one.
fn latest_version(tx: &Connection, funnel: &str) -> StoreResult<String> {
    Ok(tx
        .prepare_cached(
            "SELECT version FROM versions WHERE funnel = ?1 ORDER BY last_run DESC LIMIT 1",
        )?
        .query_row(params![funnel], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Outbox rows of one status, oldest first.
pub fn outbox(connection: &Connection, status: OutboxStatus) -> StoreResult<Vec<OutboxRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT key, funnel, contact, step, channel, payload, due_at, status FROM outbox WHERE status = ?1 ORDER BY due_at, id",
    )?;
    let rows = statement.query_map(params![status], |r| {
        Ok(OutboxRow {
            key: r.get(0)?,
            funnel: r.get(1)?,
            contact: r.get(2)?,
            step: r.get(3)?,
            channel: r.get(4)?,
            payload: serde_json::from_str(&r.get::<_, String>(5)?)
                .unwrap_or(serde_json::Value::Null),
            due_at: r.get(6)?,
            status: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An action that did not go out, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failed {
    pub key: String,
    pub channel: String,
    pub status: OutboxStatus,
    pub error: String,
}

/// The `limit` most recent failed or dead-lettered actions, newest first.
/// A render failure keeps its error in the payload; a delivery failure in
/// the `error` column.
pub fn failed(connection: &Connection, limit: usize) -> StoreResult<Vec<Failed>> {
    let mut statement = connection.prepare_cached(
        "SELECT key, channel, status, COALESCE(error, json_extract(payload, '$.error'), '') \
         FROM outbox WHERE status IN ('failed', 'dead') ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = statement.query_map(params![limit as i64], |r| {
        Ok(Failed {
            key: r.get(0)?,
            channel: r.get(1)?,
            status: r.get(2)?,
            error: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A queued row as the dispatcher sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub row: OutboxRow,
    /// Attempts already made.
    pub attempts: u32,
    /// The contact's journey in the row's funnel now, if any: its stage and
    /// entry number, for the opt-out recheck.
    pub journey: Option<(String, i64)>,
}

/// Up to `limit` queued rows after id `after` whose retry time has come,
/// in id order: the dispatcher pages through them without loading all.
pub fn due_outbox(
    connection: &Connection,
    now: DateTime<Utc>,
    after: i64,
    limit: usize,
) -> StoreResult<Vec<Pending>> {
    let mut statement = connection.prepare_cached(
        "SELECT o.id, o.key, o.funnel, o.contact, o.step, o.channel, o.payload, o.due_at, o.status, o.attempts, j.stage, j.entry \
         FROM outbox o LEFT JOIN journeys j ON j.funnel = o.funnel AND j.contact = o.contact \
         WHERE o.status = 'queued' AND o.id > ?1 AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?2) ORDER BY o.id LIMIT ?3",
    )?;
    let rows = statement.query_map(params![after, time(now), limit as i64], |r| {
        Ok(Pending {
            id: r.get(0)?,
            row: OutboxRow {
                key: r.get(1)?,
                funnel: r.get(2)?,
                contact: r.get(3)?,
                step: r.get(4)?,
                channel: r.get(5)?,
                payload: serde_json::from_str(&r.get::<_, String>(6)?)
                    .unwrap_or(serde_json::Value::Null),
                due_at: r.get(7)?,
                status: r.get(8)?,
            },
            attempts: u32::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
            journey: match (r.get(10)?, r.get(11)?) {
                (Some(stage), Some(entry)) => Some((stage, entry)),
                _ => None,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What became of one delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Dead-lettered: kept for `funnel retry`, never sent on its own.
    Dead {
        error: String,
    },
    /// Not sent, never will be: the contact opted out after it was queued.
    Suppressed {
        reason: String,
    },
}

/// Records one attempt's outcome; counts the attempt unless suppressed.
pub fn record_attempt(tx: &Connection, id: i64, attempt: &Attempt) -> StoreResult<()> {
    let (status, next, error, counted) = match attempt {
        Attempt::Delivered => (OutboxStatus::Delivered, None, None, 1),
        Attempt::Retry { at, error } => (
            OutboxStatus::Queued,
            Some(time(*at)),
            Some(error.as_str()),
            1,
        ),
        Attempt::Dead { error } => (OutboxStatus::Dead, None, Some(error.as_str()), 1),
        Attempt::Suppressed { reason } => {
            (OutboxStatus::Suppressed, None, Some(reason.as_str()), 0)
        }
    };
    counters::restatus(tx, "id = ?1", &id, status)?;
    tx.prepare_cached(
        "UPDATE outbox SET status = ?1, next_attempt_at = ?2, error = ?3, attempts = attempts + ?4, \
         sent_at = CASE WHEN ?1 = 'delivered' THEN ?6 ELSE sent_at END WHERE id = ?5",
    )?
    .execute(params![status, next, error, counted, id, time(Utc::now())])?;
    Ok(())
}

/// Records that the rows `ids` went out: one statement for a whole page,
/// since most of a pass is deliveries and a statement per row costs more
/// than the row.
pub fn record_delivered(tx: &Connection, ids: &[i64]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_string());
    const PAGE: &str = "id IN (SELECT value FROM json_each(?1))";
    counters::restatus(tx, PAGE, &ids, OutboxStatus::Delivered)?;
    tx.prepare_cached(&format!(
        "UPDATE outbox SET status = 'delivered', next_attempt_at = NULL, error = NULL, attempts = attempts + 1, sent_at = ?2 WHERE {PAGE}"
    ))?
    .execute(params![ids, time(Utc::now())])?;
    Ok(())
}

/// Committed length of an outbox file, if this state ever wrote it.
pub fn file_length(connection: &Connection, path: &str) -> StoreResult<Option<u64>> {
    let length: Option<i64> = connection
        .query_row(
            "SELECT length FROM outbox_files WHERE path = ?1",
            params![path],
            |r| r.get(0),
        )
        .optional()?;
    Ok(length.map(|l| u64::try_from(l).unwrap_or(0)))
}

pub fn set_file_length(tx: &Connection, path: &str, length: u64) -> StoreResult<()> {
    tx.execute(
        "INSERT OR REPLACE INTO outbox_files (path, length) VALUES (?1, ?2)",
        params![path, i64::try_from(length).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

/// Puts dead letters back in the queue with a fresh count of attempts:
/// all of them, or those whose key is in `keys`. Returns how many.
pub fn requeue_dead(tx: &Connection, keys: &[String]) -> StoreResult<usize> {
    const DEAD: &str = "status = 'dead' AND (?1 IS NULL OR key = ?1)";
    let selections: Vec<Option<&str>> = if keys.is_empty() {
        vec![None]
    } else {
        keys.iter().map(|key| Some(key.as_str())).collect()
    };
    let mut count = 0;
    for key in selections {
        counters::restatus(tx, DEAD, &key, OutboxStatus::Queued)?;
        count += tx
            .prepare_cached(&format!(
                "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = NULL, error = NULL WHERE {DEAD}"
            ))?
            .execute(params![key])?;
    }
    Ok(count)
}

/// One dead letter, for `funnel retry --list` and reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub key: String,
    pub channel: String,
    pub attempts: i64,
    pub error: Option<String>,
}

pub fn dead_letters(connection: &Connection) -> StoreResult<Vec<DeadLetter>> {
    let mut statement = connection.prepare(
        "SELECT key, channel, attempts, error FROM outbox WHERE status = 'dead' ORDER BY id",
    )?;
    let rows = statement.query_map([], |r| {
        Ok(DeadLetter {
            key: r.get(0)?,
            channel: r.get(1)?,
            attempts: r.get(2)?,
            error: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Values set by `set` actions, which override the feed's.
pub fn overrides(tx: &Connection, contact: &str) -> StoreResult<Vec<(String, serde_json::Value)>> {
    let mut statement =
        tx.prepare_cached("SELECT field, value FROM contact_fields WHERE contact = ?1")?;
    let rows = statement.query_map(params![contact], |r| {
        let value: String = r.get(1)?;
        Ok((
            r.get(0)?,
            serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_field(
    tx: &Connection,
    contact: &str,
    field: &str,
    value: &serde_json::Value,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO contact_fields (contact, field, value) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![contact, field, value.to_string()])?;
    Ok(())
}

pub fn tags_of(tx: &Connection, contact: &str) -> StoreResult<Vec<String>> {
    let mut statement =
        tx.prepare_cached("SELECT tag FROM tags WHERE contact = ?1 ORDER BY tag")?;
    let rows = statement.query_map(params![contact], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether any contact has `set` fields, and whether any has tags.
pub fn side_tables_used(tx: &Connection) -> StoreResult<(bool, bool)> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM contact_fields), EXISTS (SELECT 1 FROM tags)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

pub fn add_tag(tx: &Connection, contact: &str, tag: &str) -> StoreResult<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO tags (contact, tag) VALUES (?1, ?2)")?
        .execute(params![contact, tag])?;
    Ok(())
}

/// Outbox counts by status.
pub fn outbox_counts(connection: &Connection) -> StoreResult<Vec<(OutboxStatus, i64)>> {
    let mut statement = connection
        .prepare_cached("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")?;
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let _first = Store::open(&path).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::Locked { .. })));
    }

    #[test]
    fn the_same_idempotency_key_is_queued_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let row = OutboxRow {
            key: "f/c/1/step".into(),
            funnel: "f".into(),
            contact: "c".into(),
            step: "step".into(),
            channel: "email".into(),
            payload: serde_json::json!({"body": "hi"}),
            due_at: "2026-01-01T00:00:00Z".into(),
            status: OutboxStatus::Queued,
        };
        let tx = store.transaction().unwrap();
        let mut tally = Tally::default();
        assert!(enqueue(&tx, &mut tally, &row, None, Utc::now()).unwrap());
        assert!(!enqueue(&tx, &mut tally, &row, None, Utc::now()).unwrap());
        tx.commit().unwrap();
        assert_eq!(
            outbox(store.connection(), OutboxStatus::Queued)
                .unwrap()
                .len(),
            1
        );
    }
}
