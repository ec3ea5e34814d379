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
mod outbox;
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
pub use outbox::*;
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
}
