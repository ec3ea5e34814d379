//! What can go wrong with the state file: one enum, each variant saying
//! what was being done. SQLite's own errors are wrapped here, except a
//! column that held a text its [`values`](super::values) type does not
//! know, which says which column and what text, and one that held no time
//! where a time belongs, which says what it held.

use std::path::PathBuf;

use super::{NotATime, UnknownValue};

/// Errors of the state file, each with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another `funnel run` holds the state.
    #[error("{} is in use by another funnel run; nothing was changed", path.display())]
    Locked { path: PathBuf },
    /// The lock file or the state directory could not be created.
    #[error("cannot open {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("state database: {source}")]
    Sqlite { source: rusqlite::Error },
    /// The state was written by a newer funnel.
    #[error("{} has schema version {found}; this funnel knows up to {known}: upgrade funnel", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The file is not a funnel state: empty, not SQLite, or another
    /// program's database. Running on it would start from nothing and
    /// re-enter (and re-message) every contact.
    #[error("{} is not a funnel state ({why}); nothing was changed. If a first run was interrupted, delete it; if the state was lost, restore it from a backup, or pass --state with another path", path.display())]
    NotAState { path: PathBuf, why: String },
    /// A time in the state does not parse: the file was edited or damaged.
    #[error("the state holds {text:?} where a time belongs; it was edited or damaged")]
    BadTime { text: String },
    /// An outbox row's payload is not the JSON its channel's actions
    /// carry: the file was edited or damaged.
    #[error(
        "the state holds an outbox payload of channel {channel} that does not parse ({reason}); it was edited or damaged"
    )]
    BadPayload { channel: String, reason: String },
    /// An enumerated column (a status, a kind) holds a text its type does
    /// not name: the file was edited, damaged or written by a newer funnel.
    #[error(
        "the state holds {text:?} in {column}, which this funnel does not know; it was edited or damaged"
    )]
    UnknownValue { column: &'static str, text: String },
    /// `--now` is before the last run's.
    #[error(
        "--now {now} is before the last run's {last}; runs must move forward in time (if that --now was a typo, add --allow-clock-reset \"REASON\")"
    )]
    Backwards { now: String, last: String },
    /// A first run writing on its other core (`run/runner/later.rs`) met
    /// a read of the state, or a write whose outcome the walk could not
    /// know: a fault in funnel itself, stopped before it could diverge.
    #[error(
        "internal: {what} while the run's writes were on the other core; the batches before were written, this one was not (please report this)"
    )]
    Deferred { what: &'static str },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Whether another connection held the database past the busy
    /// timeout: a failure that waiting and trying again may cure, unlike
    /// the others.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _)
            }
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

impl From<rusqlite::Error> for StoreError {
    /// A column read as one of the [`values`](super::values) types that
    /// held a text the type does not know says which column and what text;
    /// one read as a time that held no time says what it held.
    fn from(source: rusqlite::Error) -> Self {
        if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &source {
            if let Some(unknown) = inner.downcast_ref::<UnknownValue>() {
                return StoreError::UnknownValue {
                    column: unknown.column,
                    text: unknown.text.clone(),
                };
            }
            if let Some(bad) = inner.downcast_ref::<NotATime>() {
                return StoreError::BadTime {
                    text: bad.text.clone(),
                };
            }
        }
        StoreError::Sqlite { source }
    }
}
