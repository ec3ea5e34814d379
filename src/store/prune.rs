//! Retention: what a state can forget without changing what happens next.
//!
//! A state grows with every message and every move. After a while the
//! rendered body of a message that went out, and the journey lines of an
//! entry that ended, are history nobody acts on. Pruning drops exactly
//! those, and keeps what later runs and `funnel report` rely on: every
//! outbox row's key and status (so nothing is sent twice), the report's
//! counters, open journeys with their whole history, tasks, events and
//! suppressions. Dead letters and failed rows keep their payload (they may
//! be retried or read for the reason).

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{StoreResult, Tx, time};

/// What a payload becomes once pruned: still JSON, saying why it is empty.
pub const PRUNED: &str = r#"{"pruned":true}"#;

/// What one prune dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Payloads of messages queued before the cutoff that went out, were
    /// suppressed or were too late to send.
    pub payloads: usize,
    /// History lines before the cutoff of entries that have ended.
    pub history: usize,
}

/// Drops what [`Pruned`] counts from before `before`, inside `tx`.
pub fn prune(tx: &Tx<'_>, before: DateTime<Utc>) -> StoreResult<Pruned> {
    let tx = tx.connection();
    let cutoff = time(before);
    let payloads = tx.execute(
        "UPDATE outbox SET payload = ?2 WHERE created_at < ?1 \
         AND status IN ('delivered', 'suppressed', 'stale') AND payload != ?2",
        params![cutoff, PRUNED],
    )?;
    let history = tx.execute(
        "DELETE FROM history WHERE at < ?1 AND NOT EXISTS (\
             SELECT 1 FROM journeys j WHERE j.funnel = history.funnel \
             AND j.contact = history.contact AND j.entry = history.entry AND j.active = 1)",
        params![cutoff],
    )?;
    Ok(Pruned { payloads, history })
}
