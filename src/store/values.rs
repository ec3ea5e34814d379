//! The values the state keeps in its enumerated columns: what became of a
//! queued action (`outbox.status`), of a task (`tasks.status`), what kind
//! of task it is (`tasks.kind`) and what a history line records
//! (`history.kind`); tables declare their own beside their reads and
//! writes with [`stored!`] (`suppressions.channel` in `signals`). Each is a type with `name()` (the stored text) and
//! `parse()`, used by the writes and the reads alike, so a value is spelt
//! in one place. A stored text no variant names is an error
//! ([`UnknownValue`], surfaced as [`super::StoreError::UnknownValue`]),
//! never a plausible default: the file was edited, damaged, or written by
//! a newer funnel.

use crate::language::document::TaskKind;

/// A stored value that no variant of its column's type names. Travels
/// through rusqlite's conversion error and becomes
/// [`super::StoreError::UnknownValue`].
#[derive(Debug, thiserror::Error)]
#[error("the state holds {text:?} in {column}")]
pub struct UnknownValue {
    pub column: &'static str,
    pub text: String,
}

/// The column's text for the value, and the value of the column's text.
macro_rules! column {
    ($type:ty, $column:literal) => {
        impl $type {
            /// The column this type is stored in, for errors.
            pub const COLUMN: &'static str = $column;
        }

        impl rusqlite::types::FromSql for $type {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                <$type>::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(Box::new($crate::store::UnknownValue {
                        column: $column,
                        text: text.to_string(),
                    }))
                })
            }
        }

        impl rusqlite::types::ToSql for $type {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.name()))
            }
        }
    };
}

pub(super) use column;

/// An enumeration stored as text: the type, its `ALL`, `name()` and
/// `parse()`, its [`column!`] conversions, and `Serialize` as its name.
macro_rules! stored {
    (
        $(#[$meta:meta])*
        pub enum $type:ident in $column:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $type {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $type {
            pub const ALL: &'static [$type] = &[$($type::$variant,)+];

            /// The text stored for the value.
            pub fn name(self) -> &'static str {
                match self {
                    $($type::$variant => $text,)+
                }
            }

            /// The value of a stored text; `None` for a text no variant
            /// names.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == text)
            }
        }

        $crate::store::values::column!($type, $column);

        // JSON outputs show the stored text, so the two cannot drift.
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }
    };
}

stored! {
    /// What became of a queued action: the `status` column of the outbox
    /// (and of the `step_sends` counters).
    pub enum OutboxStatus in "outbox.status" {
        /// Waiting to go out, maybe for a retry or a cap.
        Queued = "queued",
        Delivered = "delivered",
        /// Failed too often, or in a way that cannot succeed.
        Dead = "dead",
        /// The contact left through a global exit before it went out.
        Suppressed = "suppressed",
        /// Too late to be worth sending.
        Stale = "stale",
        /// Its template could not render.
        Failed = "failed",
    }
}

stored! {
    /// What became of a task: the `status` column of `tasks`.
    pub enum TaskStatus in "tasks.status" {
        Open = "open",
        Done = "done",
        /// Closed because the contact left the step's stage.
        Cancelled = "cancelled",
        /// Made with nobody to do it (the funnel has no staff): never open.
        Failed = "failed",
    }
}

stored! {
    /// What a history line records: the `kind` column of `history`. Stage
    /// moves say why the contact left (`goal`, `exit`, `exhausted`, or the
    /// outcome of the step it left from); a step's outcome inside a stage
    /// has `from_step`/`to_step` set.
    pub enum HistoryKind in "history.kind" {
        /// Entered the funnel.
        Enter = "enter",
        /// The stage's goal was reached.
        Goal = "goal",
        /// A global or stage exit (opt-out and the like).
        Exit = "exit",
        /// The stage's steps ran out without the goal.
        Exhausted = "exhausted",
        /// A wait's positive outcome: the event or condition happened in time.
        WaitYes = "wait-yes",
        /// A wait's negative outcome: the window passed.
        WaitNo = "wait-no",
        BranchYes = "branch-yes",
        BranchNo = "branch-no",
        /// An A/B split chose a variant (`to_step` holds its name).
        Split = "split",
        /// A move of a state written before kinds were recorded (v2 gave
        /// the older lines this kind).
        Moved = "moved",
        /// Carried across an edit by the funnel's `migrate:` block.
        Migrate = "migrate",
    }
}

// The other tables' values are declared beside their reads and writes
// (`Scope` in `signals`).
pub(super) use stored;

// A task's kind is the funnel's `kind:` (the document owns the type); the
// state stores its name.
column!(TaskKind, "tasks.kind");

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreError, StoreResult};
    use super::*;

    fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        name: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for &value in all {
            assert_eq!(parse(name(value)), Some(value));
        }
        assert_eq!(parse("sent"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn every_value_round_trips_and_no_other_text_parses() {
        round_trips(OutboxStatus::ALL, OutboxStatus::name, OutboxStatus::parse);
        round_trips(TaskStatus::ALL, TaskStatus::name, TaskStatus::parse);
        round_trips(HistoryKind::ALL, HistoryKind::name, HistoryKind::parse);
        round_trips(TaskKind::ALL, TaskKind::name, TaskKind::parse);
        round_trips(
            super::super::Scope::ALL,
            super::super::Scope::name,
            super::super::Scope::parse,
        );
    }

    /// A state from before the store wrote task kinds by `name()` (it
    /// wrote their lowercased `Debug` text) reads back.
    #[test]
    fn a_v6_states_task_kind_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/v6-quote-follow-up.db"
        );
        std::fs::copy(fixture, &path).unwrap();
        let store = Store::open(&path).unwrap();
        let tasks = super::super::tasks(store.connection(), None, None).unwrap();
        let read: Vec<_> = tasks.iter().map(|t| (t.kind, t.status)).collect();
        assert_eq!(read, [(TaskKind::Other, TaskStatus::Open)]);
    }

    /// Each column read back with a text its type does not know: an error
    /// naming the column and the text, never a default (an unknown
    /// history kind was read as `moved`, an unknown outbox status
    /// counted as failed).
    #[test]
    fn an_unknown_stored_value_is_an_error_naming_its_column() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let connection = store.connection();
        connection
            .execute_batch(
                "INSERT INTO history (funnel, contact, entry, at, kind, reason, version) VALUES ('f', 'c', 1, '2026-01-01T00:00:00Z', 'teleported', '', 'v');
                 INSERT INTO outbox (key, funnel, contact, step, channel, payload, due_at, status, created_at) VALUES ('k', 'f', 'c', 's', 'email', '{}', '2026-01-01T00:00:00Z', 'sent', '2026-01-01T00:00:00Z');
                 INSERT INTO tasks (key, funnel, contact, step, kind, assignee, created_at, status) VALUES ('t', 'f', 'c', 's', 'Visit', 'ann', '2026-01-01T00:00:00Z', 'open');
                 INSERT INTO tasks (key, funnel, contact, step, kind, assignee, created_at, status) VALUES ('u', 'f', 'c', 's', 'call', 'bob', '2026-01-01T00:00:00Z', 'closed');",
            )
            .unwrap();
        let unknown = |result: StoreResult<()>| match result {
            Err(StoreError::UnknownValue { column, text }) => (column, text),
            other => panic!("{other:?}"),
        };
        let history = super::super::history(connection, "c").map(drop);
        assert_eq!(unknown(history), ("history.kind", "teleported".into()));
        let counts = super::super::outbox_counts(connection).map(drop);
        assert_eq!(unknown(counts), ("outbox.status", "sent".into()));
        let failed = super::super::outbox(connection, OutboxStatus::Queued).map(drop);
        assert!(failed.is_ok(), "rows of other statuses are not read");
        let ann = super::super::tasks(connection, None, Some("ann")).map(drop);
        assert_eq!(unknown(ann), ("tasks.kind", "Visit".into()));
        let bob = super::super::tasks(connection, None, Some("bob")).map(drop);
        assert_eq!(unknown(bob), ("tasks.status", "closed".into()));
        let message = StoreError::UnknownValue {
            column: "outbox.status",
            text: "sent".into(),
        };
        assert_eq!(
            message.to_string(),
            "the state holds \"sent\" in outbox.status, which this funnel does not know; it was edited or damaged"
        );
    }

    /// Serialized (JSON outputs) as stored, so the two cannot drift.
    #[test]
    fn values_serialize_as_their_names() {
        let json = serde_json::to_value([HistoryKind::WaitYes]).unwrap();
        assert_eq!(json, serde_json::json!(["wait-yes"]));
        let json = serde_json::to_value([OutboxStatus::Suppressed]).unwrap();
        assert_eq!(json, serde_json::json!(["suppressed"]));
    }
}
