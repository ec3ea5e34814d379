//! The counters `funnel report` reads (tables of migration v4), kept by the
//! store's own writes: each history line and each queued action adds to
//! them in the same transaction (through a [`Tally`] that writes a batch's
//! increments once, just before it commits). Until v5 these were
//! triggers; measured on the benchmark's first run they took 44 µs of
//! every contact's 101 µs, because SQLite runs every trigger of a table as
//! a sub-program (with a statement journal) for every row, even when its
//! `WHEN` is false. Here Rust decides which counter a row touches.
//!
//! A history line is a *stage move* when it takes the contact into a stage
//! (`to_step` empty): an entry, a goal, an exit, an exhaustion, or a step's
//! outcome whose target is another stage. A step outcome that stays in the
//! stage, or an A/B split, is not. Stage figures are counted per *visit*
//! and dated by the day the visit began, with the funnel version the
//! contact entered the stage under.
//!
//! Since v6 outbox status changes are counted here too ([`restatus`]), a
//! selection of rows at a time. Tasks still count by trigger
//! (`report_task`): few, with many writers.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::{HistoryKind, OutboxRow, OutboxStatus, StoreResult, Transition, Tx, stored_time};

/// Counts the history line `id` just written as `t` under `version`, its
/// time stored as `at`: the plain increments into `tally`, a departure
/// (which reads the history) at once.
pub(super) fn history_line(
    tx: &Connection,
    tally: &mut Tally,
    (id, at): (i64, &str),
    t: &Transition,
    version: &str,
) -> StoreResult<()> {
    let day = day(at);
    let text = |s: &str| Some(s.to_string());
    if t.kind == HistoryKind::Split {
        tally.add(
            Counter::Split,
            [
                text(&t.funnel),
                t.from_stage.clone(),
                t.from_step.clone(),
                t.to_step.clone(),
                text(version),
                text(day),
            ],
        );
        return Ok(());
    }
    if t.from_step.is_some()
        && matches!(
            t.kind,
            HistoryKind::WaitYes
                | HistoryKind::WaitNo
                | HistoryKind::BranchYes
                | HistoryKind::BranchNo
        )
    {
        tally.add(
            Counter::Step,
            [
                text(&t.funnel),
                t.from_stage.clone(),
                t.from_step.clone(),
                text(version),
                text(day),
                text(t.kind.name()),
            ],
        );
    }
    let Some(to_stage) = t.to_stage.as_deref().filter(|_| is_stage_move(t)) else {
        return Ok(());
    };
    tally.add(
        Counter::Entered,
        [text(&t.funnel), text(to_stage), text(version), text(day)],
    );
    if let Some(from_stage) = &t.from_stage {
        departure(tx, id, t, from_stage, to_stage)?;
    }
    Ok(())
}

/// Whether a history line begins a visit of `to_stage`.
fn is_stage_move(t: &Transition) -> bool {
    t.to_step.is_none()
        && t.kind != HistoryKind::Split
        && (matches!(
            t.kind,
            HistoryKind::Enter | HistoryKind::Goal | HistoryKind::Exit | HistoryKind::Exhausted
        ) || t.to_stage != t.from_stage)
}

/// The visit of `from_stage` that `t` ends: how it ended, how long it took
/// when it ended well, and how its A/B splits turned out. The visit is
/// found by the line that began it: the same contact's last move into the
/// stage, in the same entry. The condition on `b` is `is_stage_move` in SQL.
///
/// The visit's length is worked out here from the two times rather than
/// by SQLite's `unixepoch`, which PostgreSQL lacks, and its day with the
/// tally's; so the arrival is read once for all three counters instead of
/// being a sub-select of each.
fn departure(
    tx: &Connection,
    id: i64,
    t: &Transition,
    from_stage: &str,
    to_stage: &str,
) -> StoreResult<()> {
    // (Comparisons rather than `IN (...)`: SQLite would build a temporary
    // table for the list on every stage move.)
    let arrival: Option<(i64, String, String)> = tx
        .prepare_cached(
            "SELECT b.id, b.version, b.at FROM history b
            WHERE b.contact = ?2 AND b.funnel = ?1 AND b.entry = ?3
                AND b.id < ?4 AND b.to_stage = ?5 AND b.to_step IS NULL AND b.kind <> 'split'
                AND (b.kind = 'enter' OR b.kind = 'goal' OR b.kind = 'exit' OR b.kind = 'exhausted'
                    OR b.to_stage IS DISTINCT FROM b.from_stage)
            ORDER BY b.id DESC LIMIT 1",
        )?
        .query_row(params![t.funnel, t.contact, t.entry, id, from_stage], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let outcome = t.kind.name();
    if let Some((_, version, began)) = &arrival {
        tx.prepare_cached(
            "INSERT INTO stage_flow VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)
            ON CONFLICT (funnel, stage, version, day, outcome, to_stage) DO UPDATE SET contacts = contacts + 1",
        )?
        .execute(params![
            t.funnel,
            from_stage,
            version,
            day(began),
            outcome,
            to_stage
        ])?;
        if matches!(
            t.kind,
            HistoryKind::Goal | HistoryKind::WaitYes | HistoryKind::BranchYes
        ) {
            let seconds = t.at.timestamp() - stored_time(began)?.timestamp();
            tx.prepare_cached("INSERT INTO stage_times VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?
                .execute(params![
                    t.funnel,
                    from_stage,
                    seconds,
                    id,
                    version,
                    day(began),
                    outcome,
                    to_stage
                ])?;
        }
    }
    let after = arrival.map_or(0, |(arrived, ..)| arrived);
    splits(tx, (id, after), t, from_stage, to_stage)
}

/// Counts how the A/B splits of `from_stage` between the lines `after`
/// and `id` (the visit's) turned out: as `t` ended the visit.
fn splits(
    tx: &Connection,
    (id, after): (i64, i64),
    t: &Transition,
    from_stage: &str,
    to_stage: &str,
) -> StoreResult<()> {
    let mut statement = tx.prepare_cached(
        "SELECT s.from_step, s.to_step, s.version, s.at FROM history s
        WHERE s.contact = ?2 AND s.funnel = ?1 AND s.entry = ?3
            AND s.kind = 'split' AND s.from_stage = ?4 AND s.id < ?5 AND s.id > ?6",
    )?;
    let rows = statement.query_map(
        params![t.funnel, t.contact, t.entry, from_stage, id, after],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        },
    )?;
    for row in rows {
        let (step, variant, version, at) = row?;
        tx.prepare_cached(
            "INSERT INTO split_flow VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)
            ON CONFLICT (funnel, stage, step, variant, version, day, outcome, to_stage) DO UPDATE SET contacts = contacts + 1",
        )?
        .execute(params![
            t.funnel,
            from_stage,
            step,
            variant,
            version,
            day(&at),
            t.kind.name(),
            to_stage
        ])?;
    }
    Ok(())
}

/// Counts an outbox row just queued under `version`. Escalation notices
/// are counted with the staff's tasks, not as sends.
pub fn queued(tally: &mut Tally, row: &OutboxRow, due: &str, version: &str) {
    if is_escalation(&row.key) {
        return;
    }
    let key = [
        &row.funnel,
        &row.step,
        &row.channel,
        version,
        day(due),
        row.status.name(),
    ];
    tally.add(Counter::Sends, key.map(|k| Some(k.to_string())));
}

/// Counter increments held until the batch they belong to commits. Most
/// contacts of a run add to the same few counters (entered the first stage
/// today, the welcome email queued today), so a batch of a thousand
/// contacts writes each of them once instead of once per contact: two
/// statements fewer per contact. Departures are not held; they read the
/// history for the visit they end.
#[derive(Debug, Default)]
pub struct Tally(BTreeMap<(Counter, Vec<Option<String>>), i64>);

/// A counter table, and the upsert that adds to it: the key's columns,
/// then the increment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Counter {
    Split,
    Step,
    Entered,
    Sends,
}

impl Counter {
    fn upsert(self) -> &'static str {
        match self {
            Counter::Split => {
                "INSERT INTO split_flow VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'assigned', '', ?7)
                 ON CONFLICT (funnel, stage, step, variant, version, day, outcome, to_stage) DO UPDATE SET contacts = contacts + excluded.contacts"
            }
            Counter::Step => {
                "INSERT INTO step_flow VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (funnel, stage, step, version, day, outcome) DO UPDATE SET contacts = contacts + excluded.contacts"
            }
            Counter::Entered => {
                "INSERT INTO stage_flow VALUES (?1, ?2, ?3, ?4, 'entered', '', ?5)
                 ON CONFLICT (funnel, stage, version, day, outcome, to_stage) DO UPDATE SET contacts = contacts + excluded.contacts"
            }
            Counter::Sends => {
                "INSERT INTO step_sends VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (funnel, step, channel, version, day, status) DO UPDATE SET actions = actions + excluded.actions"
            }
        }
    }
}

impl Tally {
    fn add<const N: usize>(&mut self, counter: Counter, key: [Option<String>; N]) {
        *self.0.entry((counter, key.into())).or_default() += 1;
    }

    /// Writes the held increments. Call it in the transaction that wrote
    /// the rows they count, before it commits.
    pub fn flush(&mut self, tx: &Tx<'_>) -> StoreResult<()> {
        let tx = tx.connection();
        for ((counter, key), count) in std::mem::take(&mut self.0) {
            let mut values: Vec<&dyn ToSql> = key.iter().map(|k| k as &dyn ToSql).collect();
            values.push(&count);
            tx.prepare_cached(counter.upsert())?.execute(&values[..])?;
        }
        Ok(())
    }
}

/// Moves the outbox rows `rows` selects (an SQL condition on `outbox`
/// whose parameters, `selection`, are numbered from `?2`) from their
/// status to `status` in the sends counters. Call it before the UPDATE
/// that changes them: it counts the rows as they still are. One statement
/// out and one in for a whole selection, so a page of deliveries costs two
/// statements, not two per row.
pub(super) fn restatus(
    tx: &Connection,
    rows: &str,
    selection: &[&dyn ToSql],
    status: OutboxStatus,
) -> StoreResult<()> {
    let mut values: Vec<&dyn ToSql> = vec![&status];
    values.extend_from_slice(selection);
    for (current, sign) in [("status", -1), ("?1", 1)] {
        tx.prepare_cached(&format!(
            "INSERT INTO step_sends
                SELECT funnel, step, channel, coalesce(version, ''), substr(due_at, 1, 10), {current}, {sign} * count(*)
                FROM outbox WHERE ({rows}) AND status IS NOT ?1 AND key NOT LIKE '%/escalation'
                GROUP BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (funnel, step, channel, version, day, status) DO UPDATE SET actions = actions + excluded.actions"
        ))?
        .execute(&values[..])?;
    }
    Ok(())
}

/// Escalation notices carry no funnel version and are not sends.
pub fn is_escalation(key: &str) -> bool {
    key.ends_with("/escalation")
}

fn day(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use rusqlite::params;

    use super::super::schema::MIGRATIONS;
    use crate::store::*;

    /// The report's counters as the v4 triggers kept them and as the store
    /// keeps them now agree, over a few hundred varied history lines and
    /// queued actions.
    #[test]
    fn counters_match_the_triggers_they_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join("v4.db")).unwrap();
        for sql in &MIGRATIONS[..4] {
            old.execute_batch(sql).unwrap();
        }
        let mut store = Store::open(&dir.path().join("v5.db")).unwrap();
        let new = store.transaction().unwrap();
        let mut tally = Tally::default();
        for db in [&old, new.connection()] {
            db.execute_batch(
                "INSERT INTO versions (funnel, version, path, git_commit, first_run, last_run) VALUES ('f', 'v1', 'f.yaml', NULL, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
                 INSERT INTO versions (funnel, version, path, git_commit, first_run, last_run) VALUES ('f', 'v2', 'f.yaml', NULL, '2026-02-01T00:00:00Z', '2026-02-01T00:00:00Z');",
            )
            .unwrap();
        }
        let stages = ["a", "b", "c", "opted-out"];
        let mut random = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random % n
        };
        for contact in 0..40 {
            for entry in 1..=2 {
                let mut at = 1_767_225_600 + contact * 7_200 + entry * 40 * 86_400;
                let mut stage = "a";
                let mut lines = vec![(HistoryKind::Enter, None, None, Some(stage), None)];
                for _ in 0..6 {
                    let other = stages[next(4) as usize];
                    let step = ["s1", "s2"][next(2) as usize];
                    let line = match next(9) {
                        0 => (HistoryKind::Goal, Some(stage), None, Some(other), None),
                        1 => (
                            HistoryKind::WaitYes,
                            Some(stage),
                            Some(step),
                            Some(stage),
                            Some("s2"),
                        ),
                        2 => (
                            HistoryKind::WaitYes,
                            Some(stage),
                            Some(step),
                            Some(other),
                            None,
                        ),
                        3 => (
                            HistoryKind::WaitNo,
                            Some(stage),
                            Some(step),
                            Some(other),
                            None,
                        ),
                        4 => (
                            HistoryKind::BranchYes,
                            Some(stage),
                            Some(step),
                            Some(other),
                            None,
                        ),
                        5 => (
                            HistoryKind::BranchNo,
                            Some(stage),
                            Some(step),
                            Some(stage),
                            Some("s1"),
                        ),
                        6 => (
                            HistoryKind::Split,
                            Some(stage),
                            Some(step),
                            Some(stage),
                            Some(["x", "y"][next(2) as usize]),
                        ),
                        7 => (
                            HistoryKind::Exit,
                            Some(stage),
                            None,
                            Some("opted-out"),
                            None,
                        ),
                        _ => (HistoryKind::Exhausted, Some(stage), None, Some(other), None),
                    };
                    lines.push(line);
                    stage = line.3.unwrap_or(stage);
                }
                for (kind, from_stage, from_step, to_stage, to_step) in lines {
                    at += i64::try_from(next(3 * 86_400)).unwrap();
                    let when = time(DateTime::from_timestamp(at, 0).unwrap());
                    let version = if when.as_str() < "2026-03-15" {
                        "v1"
                    } else {
                        "v2"
                    };
                    let t = Transition {
                        funnel: "f".into(),
                        contact: format!("c{contact}"),
                        entry,
                        at: stored_time(&when).unwrap(),
                        kind,
                        from_stage: from_stage.map(str::to_string),
                        from_step: from_step.map(str::to_string),
                        to_stage: to_stage.map(str::to_string),
                        to_step: to_step.map(str::to_string),
                        reason: String::new(),
                    };
                    old.execute(
                        "INSERT INTO history (funnel, contact, entry, at, kind, from_stage, from_step, to_stage, to_step, reason, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![t.funnel, t.contact, t.entry, when, t.kind.name(), t.from_stage, t.from_step, t.to_stage, t.to_step, t.reason, version],
                    )
                    .unwrap();
                    record(&new, &mut tally, &t, version).unwrap();
                    let row = OutboxRow {
                        key: format!(
                            "f/c{contact}/{entry}/{}",
                            ["s1", "escalation"][next(2) as usize]
                        ),
                        funnel: "f".into(),
                        contact: t.contact.clone(),
                        step: "s1".into(),
                        channel: "email".into(),
                        payload: Payload::Message(Message {
                            to: Some(format!("c{contact}@example.com")),
                            subject: None,
                            body: String::new(),
                            template: "s1".into(),
                            transactional: false,
                            unsubscribe: None,
                            html: None,
                        }),
                        due_at: stored_time(&when).unwrap(),
                        status: [OutboxStatus::Queued, OutboxStatus::Stale][next(2) as usize],
                    };
                    let version = [None, Some(version)][next(2) as usize];
                    old.execute(
                        "INSERT INTO outbox (key, funnel, contact, step, channel, payload, due_at, status, created_at, version) VALUES (?1, ?2, ?3, ?4, ?5, '{}', ?6, ?7, ?6, ?8) ON CONFLICT DO NOTHING",
                        params![row.key, row.funnel, row.contact, row.step, row.channel, when, row.status, version],
                    )
                    .unwrap();
                    let payload = row.payload.text();
                    enqueue(&new, &mut tally, (&row, &payload), version, Utc::now()).unwrap();
                }
            }
        }
        tally.flush(&new).unwrap();
        // Then the status changes a dispatcher and `funnel retry` make:
        // through the store here, by plain UPDATEs (and the triggers) there.
        let ids: Vec<i64> = new
            .connection()
            .prepare("SELECT id FROM outbox WHERE status = 'queued' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for round in 0..2 {
            let mut delivered = Vec::new();
            for &id in &ids {
                let attempt = match next(6) {
                    0 | 1 => Attempt::Delivered,
                    2 => Attempt::Dead { error: "x".into() },
                    3 => Attempt::Suppressed { reason: "x".into() },
                    4 => Attempt::Retry {
                        at: Utc::now(),
                        error: "x".into(),
                    },
                    _ => continue,
                };
                let status = match &attempt {
                    Attempt::Delivered => "delivered",
                    Attempt::Dead { .. } => "dead",
                    Attempt::Suppressed { .. } => "suppressed",
                    Attempt::Retry { .. } => "queued",
                };
                old.execute(
                    "UPDATE outbox SET status = ?1 WHERE id = ?2 AND status = 'queued'",
                    params![status, id],
                )
                .unwrap();
                let queued: bool = new
                    .connection()
                    .query_row(
                        "SELECT status = 'queued' FROM outbox WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .unwrap();
                match attempt {
                    _ if !queued => {}
                    Attempt::Delivered => delivered.push(id),
                    attempt => record_attempt(&new, id, &attempt).unwrap(),
                }
            }
            record_delivered(&new, &delivered).unwrap();
            let dead: Vec<String> = new
                .connection()
                .prepare("SELECT key FROM outbox WHERE status = 'dead' ORDER BY id LIMIT 3")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!dead.is_empty(), "the rows exercise dead letters");
            let keys = if round == 0 { Vec::new() } else { dead };
            requeue_dead(&new, &keys).unwrap();
            let requeue = "UPDATE outbox SET status = 'queued' WHERE status = 'dead' AND (?1 IS NULL OR key = ?1)";
            if round == 0 {
                old.execute(requeue, params![None::<String>]).unwrap();
            }
            for key in &keys {
                old.execute(requeue, params![key]).unwrap();
            }
        }
        let dump = |db: &Connection| -> Vec<String> {
            let tables = [
                "stage_flow",
                "stage_times",
                "step_flow",
                "split_flow",
                "step_sends",
                "(SELECT key, version, status FROM outbox)",
            ];
            tables
                .iter()
                .flat_map(|table| {
                    let mut statement = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
                    let columns = statement.column_count();
                    let mut rows: Vec<String> = statement
                        .query_map([], |r| {
                            let cells: Vec<String> = (0..columns)
                                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                                .collect();
                            Ok(format!("{table}: {}", cells.join(" | ")))
                        })
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    rows.sort();
                    rows
                })
                .collect()
        };
        let (before, after) = (dump(&old), dump(new.connection()));
        for table in ["stage_times", "split_flow", "step_flow"] {
            assert!(
                before.iter().any(|r| r.starts_with(table)),
                "the lines exercise {table}"
            );
        }
        assert_eq!(before, after);
    }
}
