//! What the store keeps so that a journey depends on when things happened,
//! not on when a run looked: when a contact's row was first seen with its
//! values, tasks closed at the moment they were done or the contact left,
//! and the events funnel records itself (`funnel task done`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Due, StoreResult, Tx, stored_time, time};

/// What the state knows of a contact's row in one funnel.
#[derive(Clone, Debug, PartialEq)]
pub struct Sighting {
    /// Since when the row has had the values it has now.
    pub seen_at: DateTime<Utc>,
    /// When this run is the first to see them: the values before (as
    /// stored, a JSON object) and since when those held.
    pub before: Option<(String, DateTime<Utc>)>,
    /// What the state holds, so that [`settle`] writes only what changed.
    held: Held,
}

impl Sighting {
    /// A row the state has never seen: its values are new as of `now`.
    pub fn first(fingerprint: u64, now: DateTime<Utc>) -> Self {
        Sighting {
            seen_at: now,
            before: None,
            held: Held::New {
                fingerprint: i64::from_ne_bytes(fingerprint.to_ne_bytes()),
            },
        }
    }

    /// Whether [`settle`] stores the row's values: they are new.
    pub fn is_new(&self) -> bool {
        matches!(self.held, Held::New { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Held {
    /// No row, or one with other values: written whole.
    New { fingerprint: i64 },
    /// The same values, since `seen_at`, and the last walk's verdict.
    Same {
        seen_at: DateTime<Utc>,
        version: Option<String>,
        next_due: Due,
    },
}

/// Whether the state shows `contact` in `funnel` as a tick's fast path
/// may leave it: its row has had the values whose `fingerprint` is given
/// since before `now`, and the last walk of it, under `version`, saw
/// nothing due by `now`. Gives that walk's `next_due` when it does. One
/// lookup, decided in SQL (times are stored as text that sorts as they
/// do), for the contacts a tick mostly sees.
pub fn settled(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    (fingerprint, version): (u64, &str),
    now: DateTime<Utc>,
) -> StoreResult<Option<Due>> {
    let tx = tx.connection();
    let print = i64::from_ne_bytes(fingerprint.to_ne_bytes());
    let found: Option<Option<String>> = tx
        .prepare_cached(
            "SELECT next_due FROM sightings \
             WHERE funnel = ?1 AND contact = ?2 AND fingerprint = ?3 AND seen_at < ?4 \
             AND version = ?5 AND (next_due = ?6 OR next_due > ?4)",
        )?
        .query_row(
            params![
                funnel,
                contact,
                print,
                time(now),
                version,
                super::journeys::NEVER
            ],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.map(super::journeys::due_from))
}

/// When the row of `contact`, as `funnel` declares it, was first seen with
/// the values whose `fingerprint` is given: a changed row is seen at `now`.
/// Writes nothing: [`settle`] does, after the walk.
pub fn sighting(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    fingerprint: u64,
    now: DateTime<Utc>,
) -> StoreResult<Sighting> {
    let tx = tx.connection();
    // SQLite integers are signed: the hash is kept bit for bit.
    let print = i64::from_ne_bytes(fingerprint.to_ne_bytes());
    let known = tx
        .prepare_cached(
            "SELECT fingerprint, seen_at, fields, version, next_due FROM sightings \
             WHERE funnel = ?1 AND contact = ?2",
        )?
        .query_row(params![funnel, contact], |r| {
            Ok(Stored {
                fingerprint: r.get(0)?,
                seen_at: r.get(1)?,
                fields: r.get(2)?,
                version: r.get(3)?,
                next_due: r.get(4)?,
            })
        })
        .optional()?;
    match known {
        Some(known) if known.fingerprint == print => {
            let seen_at = stored_time(&known.seen_at)?;
            Ok(Sighting {
                seen_at,
                before: None,
                held: Held::Same {
                    seen_at,
                    version: known.version,
                    next_due: super::journeys::due_from(known.next_due),
                },
            })
        }
        known => {
            let before = match known {
                Some(Stored {
                    seen_at,
                    fields: Some(fields),
                    ..
                }) => Some((fields, stored_time(&seen_at)?)),
                _ => None,
            };
            Ok(Sighting {
                before,
                ..Sighting::first(fingerprint, now)
            })
        }
    }
}

/// Whether the state holds nothing of `funnel`: no sighting, no journey.
/// A run walks each contact once a funnel, so in such a funnel (one that
/// creates no contacts, which writes a sighting before the walk) every
/// lookup of a contact's sighting or journey would find nothing.
pub fn funnel_is_new(tx: &Tx<'_>, funnel: &str) -> StoreResult<bool> {
    Ok(tx.connection().query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM sightings WHERE funnel = ?1) \
         AND NOT EXISTS (SELECT 1 FROM journeys WHERE funnel = ?1)",
        params![funnel],
        |r| r.get(0),
    )?)
}

/// A `sightings` row as stored.
struct Stored {
    fingerprint: i64,
    seen_at: String,
    fields: Option<String>,
    version: Option<String>,
    next_due: Option<String>,
}

/// Keeps what a walk of the row found: since when its values hold
/// (`sighting.seen_at`, which an unsubscribe may have moved back), the
/// values themselves when they are new (`fields`, as a JSON object; read
/// only when [`Sighting::is_new`]), and the walk's verdict, the funnel
/// `version` it ran under and when anything is next due. Writes only
/// what changed, and nothing for a walk that changed nothing.
pub fn settle(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    sighting: &Sighting,
    fields: &str,
    (version, next_due): (&str, Due),
) -> StoreResult<()> {
    let due = super::journeys::due_column(next_due);
    match &sighting.held {
        Held::New { fingerprint } => {
            tx.execute(
                "INSERT INTO sightings (funnel, contact, fingerprint, seen_at, fields, version, next_due) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (funnel, contact) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 seen_at = excluded.seen_at, fields = excluded.fields, version = excluded.version, \
                 next_due = excluded.next_due",
                params![
                funnel,
                contact,
                fingerprint,
                time(sighting.seen_at),
                fields,
                version,
                due
            ])?;
        }
        Held::Same {
            seen_at,
            version: held,
            next_due: was,
        } => {
            if *seen_at == sighting.seen_at && held.as_deref() == Some(version) && *was == next_due
            {
                return Ok(());
            }
            tx.execute(
                "UPDATE sightings SET seen_at = ?1, version = ?2, next_due = ?3 \
                 WHERE funnel = ?4 AND contact = ?5",
                params![time(sighting.seen_at), version, due, funnel, contact],
            )?;
        }
    }
    Ok(())
}

/// Closes the open task a contact's step created at or before `at` as
/// done at `at` (a `task.done` event, or `funnel task done`).
pub fn complete_step_tasks_at(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    step: &str,
    at: DateTime<Utc>,
) -> StoreResult<usize> {
    let tx = tx.connection();
    Ok(tx
        .prepare_cached(
            "UPDATE tasks SET status = 'done', done_at = ?1 WHERE funnel = ?2 AND contact = ?3 AND step = ?4 AND status = 'open' AND created_at <= ?1",
        )?
        .execute(params![time(at), funnel, contact, step])?)
}

/// Cancels the open tasks of `steps` when the contact leaves their stage
/// at `at`: the automation of a stage ends with it, its tasks included.
pub fn cancel_step_tasks(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    steps: &[&str],
    at: DateTime<Utc>,
    reason: &str,
) -> StoreResult<usize> {
    let tx = tx.connection();
    let mut statement = tx.prepare_cached(
        "UPDATE tasks SET status = 'cancelled', done_at = ?1, reason = CASE WHEN reason IS NULL OR reason = '' THEN ?5 ELSE reason || '; ' || ?5 END WHERE funnel = ?2 AND contact = ?3 AND step = ?4 AND status = 'open'",
    )?;
    let mut count = 0;
    for step in steps {
        count += statement.execute(params![time(at), funnel, contact, step, reason])?;
    }
    Ok(count)
}

/// An event funnel recorded itself, for the next run to read with the feed.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub contact: String,
    pub name: String,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// Records an event once: `dedupe` names it, and a second one with the
/// same name is ignored. Returns whether it was new.
pub(super) fn add_event(tx: &Connection, event: &StoredEvent, dedupe: &str) -> StoreResult<bool> {
    let added = tx
        .prepare_cached(
            "INSERT INTO events (contact, name, at, data, dedupe) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            event.contact,
            event.name,
            time(event.at),
            event.data.to_string(),
            dedupe
        ])?;
    Ok(added > 0)
}

/// Every event in the state up to `until`, by time.
pub(super) fn events_until(
    connection: &Connection,
    until: DateTime<Utc>,
) -> StoreResult<Vec<StoredEvent>> {
    let mut statement = connection.prepare_cached(
        "SELECT contact, name, at, data FROM events WHERE at <= ?1 ORDER BY at, id",
    )?;
    let rows = statement.query_map(params![time(until)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (contact, name, at, data) = row?;
        events.push(StoredEvent {
            contact,
            name,
            at: stored_time(&at)?,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        });
    }
    Ok(events)
}

/// Active journeys per place, by the version they run under, for the
/// check a run makes before an edit moves anyone, and `funnel diff`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub funnel: String,
    pub version: String,
    pub stage: String,
    pub step: Option<String>,
    pub waiting: bool,
    pub contacts: u64,
}

pub(super) fn in_flight(connection: &Connection, funnel: &str) -> StoreResult<Vec<InFlight>> {
    // Counted here rather than by GROUP BY: SQLite would sort every active
    // journey first, in memory up to the page cache's size again, on every
    // run; the places are few, so a map of them stays small.
    let mut statement = connection.prepare_cached(
        "SELECT version, stage, step, waiting_since IS NOT NULL FROM journeys \
         WHERE funnel = ?1 AND active = 1",
    )?;
    let mut rows = statement.query(params![funnel])?;
    let mut places: std::collections::BTreeMap<(String, String, Option<String>, bool), u64> =
        std::collections::BTreeMap::new();
    while let Some(row) = rows.next()? {
        let version = text(0, row.get_ref(0)?.as_str().map(Some))?.unwrap_or_default();
        let stage = text(1, row.get_ref(1)?.as_str().map(Some))?.unwrap_or_default();
        let step = text(2, row.get_ref(2)?.as_str_or_null())?;
        let waiting: bool = row.get(3)?;
        // Most rows add to a place already counted: no allocation then.
        let found = places.iter_mut().find(|((v, s, p, w), _)| {
            v == version && s == stage && p.as_deref() == step && *w == waiting
        });
        match found {
            Some((_, count)) => *count += 1,
            None => {
                let key = (
                    version.to_string(),
                    stage.to_string(),
                    step.map(str::to_string),
                    waiting,
                );
                places.insert(key, 1);
            }
        }
    }
    Ok(places
        .into_iter()
        .map(|((version, stage, step, waiting), contacts)| InFlight {
            funnel: funnel.to_string(),
            version,
            stage,
            step,
            waiting,
            contacts,
        })
        .collect())
}

/// A text column read in place, or why it is not text.
fn text(
    i: usize,
    value: rusqlite::types::FromSqlResult<Option<&str>>,
) -> rusqlite::Result<Option<&str>> {
    value.map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

/// The text of a funnel version, when the state kept it (states written
/// before v7 did not).
pub(super) fn version_source(
    connection: &Connection,
    funnel: &str,
    version: &str,
) -> StoreResult<Option<String>> {
    Ok(connection
        .prepare_cached("SELECT source FROM versions WHERE funnel = ?1 AND version = ?2")?
        .query_row(params![funnel, version], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Marks task `id` done at `at` the way a `task.done` event does: closed,
/// and recorded as an event so the next run's waits and goals on
/// `task.done` see it. False when there is no such open task.
pub fn complete_task_as_event(tx: &Tx<'_>, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
    let tx = tx.connection();
    let owner: Option<(String, String)> = tx
        .prepare_cached("SELECT contact, step FROM tasks WHERE id = ?1 AND status = 'open'")?
        .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((contact, step)) = owner else {
        return Ok(false);
    };
    if !super::complete_task(tx, id, at)? {
        return Ok(false);
    }
    let event = StoredEvent {
        contact,
        name: "task.done".to_string(),
        at,
        data: serde_json::json!({ "step": step, "task": id }),
    };
    add_event(tx, &event, &format!("task.done/{id}"))?;
    Ok(true)
}

/// Another funnel name last run from `path` with active journeys, and how
/// many: the funnel in that file was renamed.
pub(super) fn renamed_from(
    connection: &Connection,
    funnel: &str,
    path: &str,
) -> StoreResult<Option<(String, u64)>> {
    let found: Option<(String, i64)> = connection
        .prepare_cached(
            "SELECT v.funnel, (SELECT COUNT(*) FROM journeys j WHERE j.funnel = v.funnel AND j.active = 1) AS n \
             FROM versions v WHERE v.path = ?1 AND v.funnel != ?2 \
             AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.funnel = v.funnel AND w.path != ?1 AND w.last_run > v.last_run) \
             AND n > 0 ORDER BY v.last_run DESC LIMIT 1",
        )?
        .query_row(params![path, funnel], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(name, n)| (name, u64::try_from(n).unwrap_or(0))))
}

/// When the action or task with idempotency key `key` was due (an outbox
/// row's `due_at`, a task's `created_at`), if one exists.
pub fn key_moment(tx: &Tx<'_>, key: &str) -> StoreResult<Option<String>> {
    let tx = tx.connection();
    let outbox: Option<String> = tx
        .prepare_cached("SELECT due_at FROM outbox WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?;
    if outbox.is_some() {
        return Ok(outbox);
    }
    Ok(tx
        .prepare_cached("SELECT created_at FROM tasks WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?)
}

/// The text of the version of each funnel that ran last, where the state
/// kept it: what `funnel report` reads a funnel's structure from, so its
/// answer does not depend on the directory it runs in.
pub(super) fn latest_sources(connection: &Connection) -> StoreResult<Vec<(String, String)>> {
    let mut statement = connection.prepare_cached(
        "SELECT v.funnel, v.source FROM versions v WHERE v.source IS NOT NULL \
         AND v.last_run = (SELECT MAX(w.last_run) FROM versions w WHERE w.funnel = v.funnel) \
         ORDER BY v.funnel",
    )?;
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The file a funnel version ran from and its git commit, when known.
pub(super) fn version_origin(
    connection: &Connection,
    funnel: &str,
    version: &str,
) -> StoreResult<Option<(String, Option<String>)>> {
    Ok(connection
        .prepare_cached("SELECT path, git_commit FROM versions WHERE funnel = ?1 AND version = ?2")?
        .query_row(params![funnel, version], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_funnel_is_new_until_a_contact_is_settled_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let tx = store.transaction().unwrap();
        let now = stored_time("2026-01-01T00:00:00Z").unwrap();
        assert!(funnel_is_new(&tx, "f").unwrap());
        // What the walk of a new funnel takes instead of a lookup is what
        // the lookup finds for a row never seen.
        let first = Sighting::first(7, now);
        assert_eq!(sighting(&tx, ("f", "c"), 7, now).unwrap(), first);
        settle(&tx, ("f", "c"), &first, "{}", ("v", Due::Never)).unwrap();
        assert!(!funnel_is_new(&tx, "f").unwrap());
        assert!(funnel_is_new(&tx, "g").unwrap());
    }
}
