//! The `outbox` table: actions queued for delivery, their attempts and
//! dead letters, and the committed length of each outbox file
//! (`outbox_files`). The runner queues; the dispatcher pages through what
//! is due and records what became of each row.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::runs::latest_version;
use super::{
    FailedAction, OutboxStatus, Payload, StoreResult, Tally, Tx, counters, signals, stored_time,
    time,
};

/// An action queued for delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    pub key: String,
    pub funnel: String,
    pub contact: String,
    pub step: String,
    pub channel: String,
    pub payload: Payload,
    pub due_at: DateTime<Utc>,
    pub status: OutboxStatus,
}

/// An outbox row's columns as stored, before its payload and due time
/// are read (which can fail, and so cannot happen inside rusqlite's row
/// mapping).
struct Stored {
    key: String,
    funnel: String,
    contact: String,
    step: String,
    channel: String,
    payload: String,
    due_at: String,
    status: OutboxStatus,
}

impl Stored {
    /// Reads the row's eight columns from `first` on: key, funnel,
    /// contact, step, channel, payload, due_at, status.
    fn get(r: &rusqlite::Row, first: usize) -> rusqlite::Result<Stored> {
        Ok(Stored {
            key: r.get(first)?,
            funnel: r.get(first + 1)?,
            contact: r.get(first + 2)?,
            step: r.get(first + 3)?,
            channel: r.get(first + 4)?,
            payload: r.get(first + 5)?,
            due_at: r.get(first + 6)?,
            status: r.get(first + 7)?,
        })
    }

    fn row(self) -> StoreResult<OutboxRow> {
        Ok(OutboxRow {
            payload: Payload::parse(&self.channel, self.status, &self.payload)?,
            due_at: stored_time(&self.due_at)?,
            key: self.key,
            funnel: self.funnel,
            contact: self.contact,
            step: self.step,
            channel: self.channel,
            status: self.status,
        })
    }
}

/// When the marketing messages to `contact` on `channels` that reach (or
/// will reach) them were due, after `after`, oldest first: what frequency
/// caps count. Transactional messages and rows that never go out (stale,
/// failed, suppressed, dead) do not count.
pub fn marketing_sent_after(
    tx: &Tx<'_>,
    contact: &str,
    channels: &[&str],
    after: DateTime<Utc>,
) -> StoreResult<Vec<DateTime<Utc>>> {
    let tx = tx.connection();
    let mut statement = tx.prepare_cached(
        // Comparisons, not `NOT IN (...)`: SQLite builds a temporary
        // table for a list, on every call, and this runs per message.
        "SELECT due_at FROM outbox WHERE contact = ?1 AND channel = ?2 AND due_at > ?3 \
         AND status <> 'stale' AND status <> 'failed' AND status <> 'suppressed' \
         AND status <> 'dead' AND transactional = 0",
    )?;
    let mut times = Vec::new();
    for channel in channels {
        let rows = statement.query_map(params![contact, channel, time(after)], |r| {
            r.get::<_, String>(0)
        })?;
        for row in rows {
            times.push(stored_time(&row?)?);
        }
    }
    times.sort();
    Ok(times)
}

/// Whether the outbox holds no row at all: a run that begins so knows
/// every row a contact has is one it queued for them (see
/// `Runner::survey`).
pub fn outbox_is_empty(tx: &Tx<'_>) -> StoreResult<bool> {
    Ok(tx
        .connection()
        .query_row("SELECT NOT EXISTS (SELECT 1 FROM outbox)", [], |r| r.get(0))?)
}

/// Whether a row queued with `status` counts against frequency caps:
/// what [`marketing_sent_after`] reads (a row is never queued suppressed
/// or dead).
pub fn counts_against_caps(row: &OutboxRow) -> bool {
    !matches!(
        row.status,
        OutboxStatus::Stale | OutboxStatus::Failed | OutboxStatus::Suppressed | OutboxStatus::Dead
    ) && row.payload.transactional() != Some(true)
}

/// Queues an action; a row with the same idempotency key is left alone.
/// Returns whether a row was added, and counts it for `funnel report`
/// (into `tally`, flushed before `tx` commits).
/// `payload` is the row's payload as stored ([`Payload::text`]), made
/// once by the caller for the outbox and for the file the row may go to.
/// `version` is the funnel version the action was queued under; a writer
/// that does not know it gets the funnel's latest (escalation notices none).
pub fn enqueue(
    tx: &Tx<'_>,
    tally: &mut Tally,
    (row, payload): (&OutboxRow, &str),
    version: Option<&str>,
    created: DateTime<Utc>,
) -> StoreResult<bool> {
    let latest;
    let version = match version {
        Some(version) => Some(version),
        None if counters::is_escalation(&row.key) => None,
        None => {
            latest = latest_version(tx.connection(), &row.funnel)?;
            Some(latest.as_str())
        }
    };
    let due = time(row.due_at);
    // Frequency caps count what is not transactional, without reading
    // the payload back.
    let transactional = row.payload.transactional() == Some(true);
    // Queued as delivered by a run that delivers as it goes: sent once,
    // now (by the wall clock, as the dispatcher records it).
    let (attempts, sent) = match row.status {
        OutboxStatus::Delivered => (1, Some(time(Utc::now()))),
        _ => (0, None),
    };
    let added = tx.execute("INSERT INTO outbox (key, funnel, contact, step, channel, payload, due_at, status, created_at, version, transactional, attempts, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT DO NOTHING",
        params![row.key, row.funnel, row.contact, row.step, row.channel, payload, due, row.status, time(created), version, transactional, attempts, sent])?;
    if added > 0 {
        counters::queued(tally, row, &due, version.unwrap_or_default());
        signals::remember_address(tx, row, created)?;
    }
    Ok(added > 0)
}

/// Outbox rows of one status, oldest first; the store's tests read the
/// queue with it (the dispatcher pages through `due_outbox`).
#[cfg(test)]
pub(super) fn outbox(connection: &Connection, status: OutboxStatus) -> StoreResult<Vec<OutboxRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT key, funnel, contact, step, channel, payload, due_at, status FROM outbox WHERE status = ?1 ORDER BY due_at, id",
    )?;
    let rows = statement.query_map(params![status], |r| Stored::get(r, 0))?;
    rows.map(|row| row?.row()).collect()
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
pub(super) fn failed(connection: &Connection, limit: usize) -> StoreResult<Vec<Failed>> {
    let mut statement = connection.prepare_cached(
        "SELECT key, channel, status, error, CASE WHEN error IS NULL THEN payload END \
         FROM outbox WHERE status IN ('failed', 'dead') ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = statement.query_map(params![limit as i64], |r| {
        let payload: Option<String> = r.get(4)?;
        let failed = Failed {
            key: r.get(0)?,
            channel: r.get(1)?,
            status: r.get(2)?,
            error: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        };
        Ok((failed, payload))
    })?;
    rows.map(|row| {
        let (mut failed, payload) = row?;
        if let Some(text) = payload {
            let payload = Payload::parse(&failed.channel, failed.status, &text)?;
            if let Payload::Failed(FailedAction { error }) = payload {
                failed.error = error;
            }
        }
        Ok(failed)
    })
    .collect()
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
pub(super) fn due_outbox(
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
        let journey = match (r.get(10)?, r.get(11)?) {
            (Some(stage), Some(entry)) => Some((stage, entry)),
            _ => None,
        };
        let attempts = u32::try_from(r.get::<_, i64>(9)?).unwrap_or(0);
        Ok((r.get(0)?, Stored::get(r, 1)?, attempts, journey))
    })?;
    rows.map(|row| {
        let (id, stored, attempts, journey) = row?;
        Ok(Pending {
            id,
            row: stored.row()?,
            attempts,
            journey,
        })
    })
    .collect()
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
pub fn record_attempt(tx: &Tx<'_>, id: i64, attempt: &Attempt) -> StoreResult<()> {
    let tx = tx.connection();
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
    counters::restatus(tx, "id = ?2", &[&id], status)?;
    tx.prepare_cached(
        "UPDATE outbox SET status = ?1, next_attempt_at = ?2, error = ?3, attempts = attempts + ?4, \
         sent_at = CASE WHEN ?1 = 'delivered' THEN ?6 ELSE sent_at END WHERE id = ?5",
    )?
    .execute(params![status, next, error, counted, id, time(Utc::now())])?;
    Ok(())
}

/// How many ids one statement of [`record_delivered`] lists: well within
/// every SQL database's limit on parameters, few statements for a page.
const IDS_PER_STATEMENT: usize = 500;

/// Records that the rows `ids` went out: a statement for many rows at a
/// time (an `IN` list), since most of a pass is deliveries and a statement
/// per row costs more than the row.
pub fn record_delivered(tx: &Tx<'_>, ids: &[i64]) -> StoreResult<()> {
    let tx = tx.connection();
    let now = time(Utc::now());
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("?{i}")).collect();
        let rows = format!("id IN ({})", list.join(", "));
        let selection: Vec<&dyn ToSql> = chunk.iter().map(|id| id as &dyn ToSql).collect();
        counters::restatus(tx, &rows, &selection, OutboxStatus::Delivered)?;
        let mut values: Vec<&dyn ToSql> = vec![&now];
        values.extend_from_slice(&selection);
        tx.prepare_cached(&format!(
            "UPDATE outbox SET status = 'delivered', next_attempt_at = NULL, error = NULL, attempts = attempts + 1, sent_at = ?1 WHERE {rows}"
        ))?
        .execute(&values[..])?;
    }
    Ok(())
}

/// Whether any row waits in the queue: a run delivers its own file rows
/// as it goes only when none does.
pub(super) fn outbox_waiting(connection: &Connection) -> StoreResult<bool> {
    Ok(connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'queued')",
        [],
        |r| r.get(0),
    )?)
}

/// Puts back in the queue a row queued as delivered by a run that
/// delivers as it goes, whose line was not written after all (its contact
/// opted out in the same walk): the pass after the walk decides on it.
pub fn unsend(tx: &Tx<'_>, key: &str) -> StoreResult<()> {
    let tx = tx.connection();
    counters::restatus(tx, "key = ?2", &[&key], OutboxStatus::Queued)?;
    tx.prepare_cached(
        "UPDATE outbox SET status = 'queued', attempts = 0, sent_at = NULL WHERE key = ?1",
    )?
    .execute(params![key])?;
    Ok(())
}

/// Committed length of an outbox file, if this state ever wrote it.
pub(super) fn file_length(connection: &Connection, path: &str) -> StoreResult<Option<u64>> {
    let length: Option<i64> = connection
        .query_row(
            "SELECT length FROM outbox_files WHERE path = ?1",
            params![path],
            |r| r.get(0),
        )
        .optional()?;
    Ok(length.map(|l| u64::try_from(l).unwrap_or(0)))
}

/// Records an outbox file's committed length in `tx`, the transaction that
/// records the deliveries written up to it.
pub fn set_file_length(tx: &Tx<'_>, path: &str, length: u64) -> StoreResult<()> {
    write_file_length(tx.connection(), path, length)
}

/// [`set_file_length`] outside a transaction, for
/// [`Store::set_file_length`](super::Store::set_file_length).
pub(super) fn write_file_length(
    connection: &Connection,
    path: &str,
    length: u64,
) -> StoreResult<()> {
    connection.execute(
        "INSERT INTO outbox_files (path, length) VALUES (?1, ?2) \
         ON CONFLICT (path) DO UPDATE SET length = excluded.length",
        params![path, i64::try_from(length).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

/// Puts dead letters back in the queue with a fresh count of attempts:
/// all of them, or those whose key is in `keys`. Returns how many.
pub fn requeue_dead(tx: &Tx<'_>, keys: &[String]) -> StoreResult<usize> {
    let tx = tx.connection();
    let selections: Vec<Option<&str>> = if keys.is_empty() {
        vec![None]
    } else {
        keys.iter().map(|key| Some(key.as_str())).collect()
    };
    let mut count = 0;
    for key in selections {
        let dead = "status = 'dead' AND (?2 IS NULL OR key = ?2)";
        counters::restatus(tx, dead, &[&key], OutboxStatus::Queued)?;
        count += tx
            .prepare_cached(
                "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = NULL, error = NULL \
                 WHERE status = 'dead' AND (?1 IS NULL OR key = ?1)",
            )?
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

pub(super) fn dead_letters(connection: &Connection) -> StoreResult<Vec<DeadLetter>> {
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

/// Outbox counts by status.
pub(super) fn outbox_counts(connection: &Connection) -> StoreResult<Vec<(OutboxStatus, i64)>> {
    let mut statement = connection
        .prepare_cached("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")?;
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A page longer than one statement's list of ids is recorded whole,
    /// and counted once per row.
    #[test]
    fn a_page_of_deliveries_past_one_statements_ids_is_recorded_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let rows = IDS_PER_STATEMENT + 3;
        let tx = store.transaction().unwrap();
        let mut tally = Tally::default();
        for i in 0..rows {
            let row = OutboxRow {
                key: format!("f/c{i}/1/tag"),
                funnel: "f".into(),
                contact: format!("c{i}"),
                step: "tag".into(),
                channel: "tag".into(),
                payload: Payload::Tag(crate::store::AddTag { tag: "t".into() }),
                due_at: stored_time("2026-01-01T00:00:00Z").unwrap(),
                status: OutboxStatus::Queued,
            };
            let queued = (&row, row.payload.text());
            enqueue(
                &tx,
                &mut tally,
                (queued.0, &queued.1),
                Some("v"),
                Utc::now(),
            )
            .unwrap();
        }
        tally.flush(&tx).unwrap();
        let ids: Vec<i64> = (1..=rows as i64).collect();
        record_delivered(&tx, &ids).unwrap();
        tx.commit().unwrap();
        let counts = outbox_counts(store.connection()).unwrap();
        assert_eq!(counts, [(OutboxStatus::Delivered, rows as i64)]);
        let sends: Vec<(String, i64)> = store
            .connection()
            .prepare("SELECT status, actions FROM step_sends WHERE actions != 0")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sends, [("delivered".to_string(), rows as i64)]);
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
            channel: "tag".into(),
            payload: Payload::Tag(crate::store::AddTag { tag: "hi".into() }),
            due_at: stored_time("2026-01-01T00:00:00Z").unwrap(),
            status: OutboxStatus::Queued,
        };
        let tx = store.transaction().unwrap();
        let mut tally = Tally::default();
        let payload = row.payload.text();
        assert!(enqueue(&tx, &mut tally, (&row, &payload), None, Utc::now()).unwrap());
        assert!(!enqueue(&tx, &mut tally, (&row, &payload), None, Utc::now()).unwrap());
        tx.commit().unwrap();
        assert_eq!(
            outbox(store.connection(), OutboxStatus::Queued)
                .unwrap()
                .len(),
            1
        );
    }
}
