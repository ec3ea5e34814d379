//! Store: the runner's durable state in one SQLite file. Owns the schema and
//! its migrations, the run lock, and every read and write of journeys,
//! history, the outbox and tasks. Knows nothing of funnel semantics.
//!
//! This file opens the state ([`Store`]: the run lock, identifying the file,
//! migrating it) and says how times are stored. The schema and its
//! migrations are in `schema`; the reads and writes of each table are in a
//! file named after it (`journeys`, `history`, `outbox`, `runs`, `tasks`,
//! `signals`, ...), re-exported here so that callers name them
//! `store::journey`, not by the file they live in. Writes are made in a
//! [`Tx`] (`tx`), which the modules outside hold and pass to those
//! functions but cannot run SQL on.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

mod contacts;
mod counters;
mod created;
mod error;
mod history;
mod journeys;
mod listing;
mod moments;
mod outbox;
mod payload;
mod prune;
mod reads;
mod report;
mod runs;
mod schema;
mod signals;
mod tasks;
mod tx;
mod values;

use schema::identify;

pub use contacts::*;
pub use counters::Tally;
pub use created::*;
pub use error::{StoreError, StoreResult};
pub use history::*;
pub use journeys::*;
pub use listing::*;
pub use moments::*;
pub use outbox::*;
pub use payload::{
    AddTag, Escalation, FailedAction, MESSAGE_CHANNELS, Message, Notice, Payload, PrunedPayload,
    SetFields, Webhook,
};
pub use prune::{PRUNED, Pruned, prune};
pub use reads::DeliveryReads;
pub use report::*;
pub use runs::*;
pub use signals::*;
pub use tasks::*;
pub use tx::Tx;
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
    use chrono::{Datelike, Timelike};
    // Written by hand: a first run formats a dozen times per contact, and
    // chrono's formatter (through `fmt::Write`) was 3% of its profile.
    // Years past four digits and leap seconds take chrono's way. The
    // fields are read from the naive time once: each read through the
    // `DateTime` applies the offset again.
    let chrono_way = || at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let naive = at.naive_utc();
    let year = match u32::try_from(naive.year()) {
        Ok(year @ 0..=9999) if naive.nanosecond() < 1_000_000_000 => year,
        _ => return chrono_way(),
    };
    let mut out = [0u8; 20];
    let mut put = |at: usize, value: u32, digits: u32| {
        for i in 0..digits {
            let digit = value / 10u32.pow(digits - 1 - i) % 10;
            out[at + i as usize] = b'0' + digit as u8;
        }
    };
    put(0, year, 4);
    put(5, naive.month(), 2);
    put(8, naive.day(), 2);
    put(11, naive.hour(), 2);
    put(14, naive.minute(), 2);
    put(17, naive.second(), 2);
    for (at, mark) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'Z'),
    ] {
        out[at] = mark;
    }
    // ASCII digits and marks: always text (a char at a time cost as much
    // as the digits).
    match std::str::from_utf8(&out) {
        Ok(text) => text.to_owned(),
        Err(_) => chrono_way(),
    }
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time read back from the state; one that does not parse is an error.
pub fn stored_time(text: &str) -> StoreResult<DateTime<Utc>> {
    parse_time(text).ok_or_else(|| StoreError::BadTime {
        text: text.to_string(),
    })
}

/// Column `index` of `row` as a time, parsed once as the row is read. Text
/// that is not one fails the read (as [`StoreError::BadTime`] once it
/// leaves the store), never a default: a task read as due in 1970 would be
/// escalated at once.
fn time_column(row: &rusqlite::Row, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(index)?;
    parse_time(&text).ok_or_else(|| not_a_time(index, text))
}

/// [`time_column`] for a column that may be NULL.
fn optional_time_column(
    row: &rusqlite::Row,
    index: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| parse_time(&text).ok_or_else(|| not_a_time(index, text)))
        .transpose()
}

fn not_a_time(index: usize, text: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        Box::new(NotATime { text }),
    )
}

/// A stored text where a time belongs that does not parse. Travels
/// through rusqlite's conversion error (a row closure can return no
/// other) and becomes [`StoreError::BadTime`].
#[derive(Debug, thiserror::Error)]
#[error("the state holds {text:?} where a time belongs")]
struct NotATime {
    text: String,
}

/// Times serialized as the state stores them (see [`time`]), so that what
/// listings show is the text they showed when times were strings.
pub(crate) mod stamp {
    use chrono::{DateTime, Utc};

    pub fn serialize<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::time(*at))
    }

    /// The same for a time that may be absent, which is `null`.
    pub mod optional {
        use chrono::{DateTime, Utc};

        pub fn serialize<S: serde::Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, s),
                None => s.serialize_none(),
            }
        }
    }
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

/// Makes a new state file that already says it is one, under a temporary
/// name first: a run killed between creating the file and writing to it
/// would otherwise leave an empty `state.db`, which every later run rightly
/// refuses (an empty file may be a lost state). Called under the run lock's
/// sidecar, so no other run makes it at the same time.
fn create_marked(path: &Path) -> std::io::Result<()> {
    let mut building = path.as_os_str().to_owned();
    building.push(".new");
    let building = PathBuf::from(building);
    // What a run killed here before left: never a state.
    let _ = std::fs::remove_file(&building);
    crate::private::create_file(&building)?;
    let mark = || -> rusqlite::Result<()> {
        Connection::open(&building)?.pragma_update(None, "application_id", schema::APPLICATION_ID)
    };
    mark().map_err(std::io::Error::other)?;
    std::fs::rename(&building, path)
}

/// How a run's connections are set up. A 40 MB page cache: a run touches
/// every journey, and the default 2 MB sends most page reads to the
/// kernel. 64 MB was no faster (a commit walks the whole cache, and the
/// state is larger than either) and put a 1% tick at three million
/// contacts over 150 MB in three runs of four; 40 MB kept it at 134-137 MB
/// (README, Performance). A checkpoint every 64 MB of log rather than
/// 4 MB: a run rewrites the same index and counter pages batch after
/// batch, and each checkpoint writes them to the file and syncs it.
const RUN_SETUP: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA cache_size = -40960; PRAGMA wal_autocheckpoint = 16384;";

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
        let created = !path.exists();
        if created {
            create_marked(path).map_err(io)?;
        }
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
        connection.execute_batch(RUN_SETUP)?;
        let mut store = Store {
            connection,
            path: path.to_path_buf(),
            _lock: Some(lock),
        };
        store.migrate()?;
        Ok(store)
    }

    /// A second connection to this state, for a run's writer thread
    /// (`run/tick/writer.rs`): the run holds the lock through `self`, and
    /// the connection is set up as [`Store::open`] sets up its own.
    pub fn beside(&self) -> StoreResult<Self> {
        let connection = Connection::open(&self.path)?;
        connection.execute_batch(RUN_SETUP)?;
        Ok(Store {
            connection,
            path: self.path.clone(),
            _lock: None,
        })
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

    /// A write transaction, taking SQLite's write lock at once: with
    /// `funnel serve` writing beside a run, a transaction that read first
    /// and then wanted to write could find the snapshot it read outdated
    /// and fail (`SQLITE_BUSY_SNAPSHOT`); taken up front, the lock is
    /// waited for instead (the busy timeout).
    pub fn transaction(&mut self) -> StoreResult<Tx<'_>> {
        Tx::begin(&self.connection)
    }

    /// The connection, for the store's own tests, which write rows no
    /// method writes (a damaged time, an unknown status). Nothing outside
    /// the store gets it: other modules call the store's methods.
    #[cfg(test)]
    fn connection(&self) -> &Connection {
        &self.connection
    }
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
    fn times_are_written_as_chrono_writes_them() {
        let chrono = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut seconds = -62_167_219_200_i64; // 0000-01-01T00:00:00Z
        while seconds < 253_402_300_800 {
            // 10000-01-01T00:00:00Z
            let at = DateTime::from_timestamp(seconds, 999_999_999).unwrap();
            assert_eq!(time(at), chrono(at));
            seconds += 7_654_321;
        }
        for at in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::from_timestamp(-62_167_219_201, 0).unwrap(),
            DateTime::from_timestamp(253_402_300_800, 0).unwrap(),
            // A leap second, as chrono holds one.
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap(),
        ] {
            assert_eq!(time(at), chrono(at));
        }
        assert_eq!(
            time(DateTime::from_timestamp(1_780_304_405, 0).unwrap()),
            "2026-06-01T09:00:05Z"
        );
    }
}
