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

use rusqlite::{Connection, ToSql, params};

use super::{HistoryKind, OutboxRow, OutboxStatus, StoreResult, Transition};

/// Counts the history line `id` just written as `t` under `version`: the
/// plain increments into `tally`, a departure (which reads the history)
/// at once.
pub fn history_line(
    tx: &Connection,
    tally: &mut Tally,
    id: i64,
    t: &Transition,
    version: &str,
) -> StoreResult<()> {
    let day = day(&t.at);
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
fn departure(
    tx: &Connection,
    id: i64,
    t: &Transition,
    from_stage: &str,
    to_stage: &str,
) -> StoreResult<()> {
    const ARRIVAL: &str = "SELECT b.id FROM history b
        WHERE b.contact = ?2 AND b.funnel = ?1 AND b.entry = ?3
            AND b.id < ?4 AND b.to_stage = ?5 AND b.to_step IS NULL AND b.kind <> 'split'
            AND (b.kind IN ('enter', 'goal', 'exit', 'exhausted') OR b.to_stage IS NOT b.from_stage)
        ORDER BY b.id DESC LIMIT 1";
    // ?8, the time, only for the visit's length: SQLite wants exactly the
    // parameters a statement names.
    let keys: [&dyn ToSql; 8] = [
        &t.funnel,
        &t.contact,
        &t.entry,
        &id,
        &from_stage,
        &to_stage,
        &t.kind.name(),
        &t.at,
    ];
    tx.prepare_cached(&format!(
        "INSERT INTO stage_flow
            SELECT ?1, ?5, a.version, substr(a.at, 1, 10), ?7, ?6, 1
            FROM history a WHERE a.id = ({ARRIVAL})
        ON CONFLICT DO UPDATE SET contacts = contacts + 1"
    ))?
    .execute(&keys[..7])?;
    if matches!(
        t.kind,
        HistoryKind::Goal | HistoryKind::WaitYes | HistoryKind::BranchYes
    ) {
        tx.prepare_cached(&format!(
            "INSERT INTO stage_times
                SELECT ?1, ?5, unixepoch(?8) - unixepoch(a.at), ?4, a.version, substr(a.at, 1, 10), ?7, ?6
                FROM history a WHERE a.id = ({ARRIVAL})"
        ))?
        .execute(&keys[..])?;
    }
    tx.prepare_cached(&format!(
        "INSERT INTO split_flow
            SELECT s.funnel, s.from_stage, s.from_step, s.to_step, s.version, substr(s.at, 1, 10), ?7, ?6, 1
            FROM history s
            WHERE s.contact = ?2 AND s.funnel = ?1 AND s.entry = ?3
                AND s.kind = 'split' AND s.from_stage = ?5 AND s.id < ?4
                AND s.id > coalesce(({ARRIVAL}), 0)
        ON CONFLICT DO UPDATE SET contacts = contacts + 1"
    ))?
    .execute(&keys[..7])?;
    Ok(())
}

/// Counts an outbox row just queued under `version`. Escalation notices
/// are counted with the staff's tasks, not as sends.
pub fn queued(tally: &mut Tally, row: &OutboxRow, version: &str) {
    if is_escalation(&row.key) {
        return;
    }
    let key = [
        &row.funnel,
        &row.step,
        &row.channel,
        version,
        day(&row.due_at),
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
                 ON CONFLICT DO UPDATE SET contacts = contacts + excluded.contacts"
            }
            Counter::Step => {
                "INSERT INTO step_flow VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO UPDATE SET contacts = contacts + excluded.contacts"
            }
            Counter::Entered => {
                "INSERT INTO stage_flow VALUES (?1, ?2, ?3, ?4, 'entered', '', ?5)
                 ON CONFLICT DO UPDATE SET contacts = contacts + excluded.contacts"
            }
            Counter::Sends => {
                "INSERT INTO step_sends VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO UPDATE SET actions = actions + excluded.actions"
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
    pub fn flush(&mut self, tx: &Connection) -> StoreResult<()> {
        for ((counter, key), count) in std::mem::take(&mut self.0) {
            let mut values: Vec<&dyn ToSql> = key.iter().map(|k| k as &dyn ToSql).collect();
            values.push(&count);
            tx.prepare_cached(counter.upsert())?.execute(&values[..])?;
        }
        Ok(())
    }
}

/// Moves the outbox rows `rows` selects (an SQL condition on `outbox`
/// whose one parameter is `?1`) from their status to `status` in the
/// sends counters. Call it before the UPDATE that changes them: it counts
/// the rows as they still are. One statement out and one in for a whole
/// selection, so a page of deliveries costs two statements, not two per
/// row.
pub fn restatus(
    tx: &Connection,
    rows: &str,
    param: &dyn ToSql,
    status: OutboxStatus,
) -> StoreResult<()> {
    for (current, sign) in [("status", -1), ("?2", 1)] {
        tx.prepare_cached(&format!(
            "INSERT INTO step_sends
                SELECT funnel, step, channel, coalesce(version, ''), substr(due_at, 1, 10), {current}, {sign} * count(*)
                FROM outbox WHERE ({rows}) AND status IS NOT ?2 AND key NOT LIKE '%/escalation'
                GROUP BY 1, 2, 3, 4, 5, 6
            ON CONFLICT DO UPDATE SET actions = actions + excluded.actions"
        ))?
        .execute(params![param, status])?;
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
