//! Dispatcher: delivers the due outbox rows, after the tick committed
//! (`funnel run`) or on its own (`funnel deliver`). Pages through queued
//! rows in id order, a batch at a time, so a million rows cost one batch
//! of memory. For each batch: rows whose contact has since left through a
//! global exit (opted out) are suppressed; the rest are routed to their
//! channel (`channel/`); network sends run on a bounded pool of threads,
//! each channel held to its rate, and their outcomes commit as they come
//! in, at most `concurrency` to a transaction; file rows are appended in
//! one write, then their outcome, the file's new committed length and the
//! suppressed rows commit in one transaction.
//!
//! A crash loses nothing: a row is marked delivered only after it went out.
//! It may send a row twice (sent, then killed before the commit), but only
//! rows whose send had started and not yet committed: at most twice
//! `concurrency` (a committing group, and one send per worker, which waits
//! for the commit before it hands on its result; a commit in WAL mode with
//! `synchronous = NORMAL` costs tens of microseconds, nothing beside a
//! network round trip). The
//! retry carries the same idempotency key and the same body, so the
//! receiver can tell. Failed sends are retried with exponential backoff
//! and jitter (`next_attempt_at`), honouring `Retry-After` up to
//! [`MAX_RETRY_AFTER`] (a provider's number is not trusted to fit a date:
//! a wait that overflowed once panicked a pass after its page went out and
//! before it committed, so every later run sent the page again); after
//! `max-attempts`, or at once for a permanent failure, a row is dead (see
//! `funnel retry`). A pass starts no send after its `budget`, so a slow
//! provider cannot stall a run; what is left goes out next time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;

use crate::config::{Delivery, Settings};
use crate::language::model::{Funnel, Target};
use crate::run::channel::{Channel, Channels, Failure, Route, file};
use crate::store::{self, Attempt, DeliveryReads, OutboxRow, Pending, Store, StoreError};

mod as_it_goes;
pub use as_it_goes::AsItGoes;

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The JSON Lines outbox could not be written.
    #[error("cannot write {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivered {
    pub delivered: usize,
    /// Failed this time, to be tried again later.
    pub retrying: usize,
    /// Dead-lettered in this pass.
    pub dead: usize,
    /// Not sent: the contact opted out after the row was queued.
    pub suppressed: usize,
    /// Left queued, not attempted: their channel is missing or broken.
    pub held: usize,
    /// Left queued, not attempted: the pass ran out of time.
    pub deferred: usize,
    /// Why rows were held, retried or dead, each reason once (no secrets).
    pub reasons: Vec<String>,
}

impl Delivered {
    fn note(&mut self, reason: &str) {
        if self.reasons.len() < 20 && !self.reasons.iter().any(|r| r == reason) {
            self.reasons.push(reason.to_string());
        }
    }
}

/// The longest wait a provider's `Retry-After` can impose: a day. A longer
/// (or absurd) value waits this long; the backoff and `max-attempts` still
/// apply after that.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

pub struct Dispatcher<'a> {
    delivery: &'a Delivery,
    outbox: &'a Path,
    now: DateTime<Utc>,
    opt_outs: OptOuts,
}

/// A network send of one row.
struct Send<'r, 'c> {
    pending: &'r Pending,
    index: usize,
    channel: &'c dyn Channel,
}

impl<'a> Dispatcher<'a> {
    /// `outbox` is the JSON Lines file of the embedded default; `now` the
    /// pass's time (`--now`), against which retries fall due.
    pub fn new(delivery: &'a Delivery, outbox: &'a Path, now: DateTime<Utc>) -> Self {
        Self {
            delivery,
            outbox,
            now,
            opt_outs: OptOuts::default(),
        }
    }

    /// Checks every contact-facing row against these funnels' global exits.
    pub fn funnels<'f>(mut self, funnels: impl IntoIterator<Item = &'f Funnel>) -> Self {
        self.opt_outs = OptOuts::new(funnels);
        self
    }

    pub fn deliver(&self, store: &mut Store) -> Result<Delivered, DeliverError> {
        let settings = &self.delivery.settings;
        let channels = Channels::build(self.delivery, self.outbox);
        let limits: Vec<RateLimit> = channels.rates.iter().map(|r| RateLimit::new(*r)).collect();
        let budget = settings.budget.to_std().unwrap_or(Duration::from_secs(60));
        let started = Instant::now();
        // A budget past what the clock can count is no budget: an hour.
        let deadline = started
            .checked_add(budget)
            .or_else(|| started.checked_add(Duration::from_secs(3600)))
            .unwrap_or(started);
        let mut report = Delivered::default();
        let mut after = 0;
        // While nobody is suppressed, no row needs the lookup.
        let suppressions = store.any_suppression()?;
        loop {
            let page = store.due_outbox(self.now, after, settings.batch)?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            let mut outcomes: Vec<(i64, Attempt)> = Vec::new();
            let mut files: IndexMap<&Path, Vec<&Pending>> = IndexMap::new();
            let mut sends = Vec::new();
            for pending in &page {
                if let Some(reason) = self.opt_outs.check(store, pending)? {
                    outcomes.push((pending.id, Attempt::Suppressed { reason }));
                    continue;
                }
                if suppressions && let Some(reason) = suppressed(store, pending)? {
                    outcomes.push((pending.id, Attempt::Suppressed { reason }));
                    continue;
                }
                match channels.route(&pending.row) {
                    Route::File(path) => files.entry(path).or_default().push(pending),
                    Route::Send { index, channel } => sends.push(Send {
                        pending,
                        index,
                        channel,
                    }),
                    Route::Held(reason) => {
                        report.held += 1;
                        report.note(&reason);
                    }
                }
            }
            // Network outcomes commit as they come in, a few at a time, so
            // a crash re-sends only what was in flight: the page's other
            // rows (suppressed, file rows) commit with the file lengths.
            let mut failed = None;
            let deferred = send_all(&sends, &limits, settings.concurrency, deadline, |done| {
                if failed.is_some() {
                    return;
                }
                let group: Vec<(i64, Attempt)> = done
                    .into_iter()
                    .map(|(index, result)| {
                        let send = &sends[index];
                        (
                            send.pending.id,
                            self.outcome(send.pending, result, &mut report),
                        )
                    })
                    .collect();
                if let Err(error) = commit(store, &group, &[], &mut report) {
                    failed = Some(error);
                }
            });
            if let Some(error) = failed {
                return Err(error);
            }
            report.deferred += deferred;
            let lengths = self.write_files(store, &files, &mut outcomes)?;
            commit(store, &outcomes, &lengths, &mut report)?;
        }
        Ok(report)
    }

    /// Appends each file's rows; gives each file's new committed length.
    fn write_files(
        &self,
        store: &Store,
        files: &IndexMap<&Path, Vec<&Pending>>,
        outcomes: &mut Vec<(i64, Attempt)>,
    ) -> Result<Vec<(String, u64)>, DeliverError> {
        let mut lengths = Vec::new();
        for (path, rows) in files {
            let key = path.display().to_string();
            let committed = match store.file_length(&key)? {
                Some(length) => length,
                None => first_length(store, path, &key)?,
            };
            let lines: Vec<Vec<u8>> = (rows.iter())
                .map(|p| file::line(&p.row, &p.row.payload.text()))
                .collect();
            let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            let length =
                file::append(path, committed, &lines).map_err(|source| DeliverError::File {
                    path: path.to_path_buf(),
                    source,
                })?;
            outcomes.extend(rows.iter().map(|p| (p.id, Attempt::Delivered)));
            lengths.push((key, length));
        }
        Ok(lengths)
    }

    /// What a send's result makes of its row; a failure's reason noted.
    fn outcome(
        &self,
        pending: &Pending,
        result: Result<(), Failure>,
        report: &mut Delivered,
    ) -> Attempt {
        match result {
            Ok(()) => Attempt::Delivered,
            Err(failure) => {
                let attempt = self.failed(pending, failure);
                if let Attempt::Retry { error, .. } | Attempt::Dead { error } = &attempt {
                    report.note(&format!("{}: {error}", label(&pending.row)));
                }
                attempt
            }
        }
    }

    /// A failed send: retried later, or dead.
    fn failed(&self, pending: &Pending, failure: Failure) -> Attempt {
        let settings = &self.delivery.settings;
        let made = pending.attempts + 1;
        match failure {
            Failure::Permanent(error) => Attempt::Dead { error },
            Failure::Retry { reason, .. } if made >= settings.max_attempts => Attempt::Dead {
                error: format!("gave up after {made} attempts: {reason}"),
            },
            Failure::Retry { after, reason } => {
                let asked = after.map(|a| a.min(MAX_RETRY_AFTER));
                let wait = match asked.and_then(|a| TimeDelta::from_std(a).ok()) {
                    Some(wait) => wait,
                    None => backoff(settings, &pending.row.key, made),
                };
                Attempt::Retry {
                    at: retry_at(self.now, wait),
                    error: reason,
                }
            }
        }
    }
}

/// `wait` after `now`, checked: a time past the calendar's end (only from a
/// `--now` near it) is the last second of year 9999, which the state's
/// text times still sort correctly.
fn retry_at(now: DateTime<Utc>, wait: TimeDelta) -> DateTime<Utc> {
    let last = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    now.checked_add_signed(wait).map_or(last, |at| at.min(last))
}

/// The first write to the file at `path` (`key` in the state): its length
/// as found (what others wrote is kept) is committed before anything is
/// appended, so a pass that dies after appending leaves a length to cut
/// back to, not a file that looks untouched.
fn first_length(store: &Store, path: &Path, key: &str) -> Result<u64, StoreError> {
    let found = std::fs::metadata(path).map_or(0, |m| m.len());
    store.set_file_length(key, found)?;
    Ok(found)
}

/// Records `outcomes` (and files' new committed lengths) in one
/// transaction, and counts them in `report`.
fn commit(
    store: &mut Store,
    outcomes: &[(i64, Attempt)],
    lengths: &[(String, u64)],
    report: &mut Delivered,
) -> Result<(), DeliverError> {
    if outcomes.is_empty() && lengths.is_empty() {
        return Ok(());
    }
    let tx = store.transaction()?;
    let delivered: Vec<i64> = outcomes
        .iter()
        .filter(|(_, attempt)| *attempt == Attempt::Delivered)
        .map(|(id, _)| *id)
        .collect();
    store::record_delivered(&tx, &delivered)?;
    for (id, attempt) in outcomes {
        if *attempt != Attempt::Delivered {
            store::record_attempt(&tx, *id, attempt)?;
        }
        match attempt {
            Attempt::Delivered => report.delivered += 1,
            Attempt::Retry { .. } => report.retrying += 1,
            Attempt::Dead { .. } => report.dead += 1,
            Attempt::Suppressed { .. } => report.suppressed += 1,
        }
    }
    for (path, length) in lengths {
        store::set_file_length(&tx, path, *length)?;
    }
    tx.commit()?;
    Ok(())
}

/// The channel a row went to, for reports: `sms`, or `webhook crm`.
fn label(row: &OutboxRow) -> String {
    match row.payload.endpoint() {
        Some(endpoint) if row.channel == "webhook" => format!("webhook {endpoint}"),
        _ => row.channel.clone(),
    }
}

/// Sends on at most `concurrency` threads, handing the results to `done`
/// on this thread as they arrive: each time, what arrived since the last
/// call (at most `concurrency` results, by index into `sends`). Returns how
/// many rows were not attempted because the pass ran out of time.
fn send_all(
    sends: &[Send],
    limits: &[RateLimit],
    concurrency: usize,
    deadline: Instant,
    mut done: impl FnMut(Vec<(usize, Result<(), Failure>)>),
) -> usize {
    let next = AtomicUsize::new(0);
    let deferred = AtomicUsize::new(0);
    // Rendezvous: a worker hands on its result only once this thread takes
    // it, so no more than one send per worker runs ahead of the commits.
    let (tx, rx) = mpsc::sync_channel(0);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(sends.len()) {
            let tx = tx.clone();
            let (next, deferred) = (&next, &deferred);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(send) = sends.get(index) else {
                        break;
                    };
                    if Instant::now() >= deadline || !limits[send.index].wait(deadline) {
                        deferred.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // The receiver lives until every worker has ended.
                    let _ = tx.send((index, send.channel.send(&send.pending.row)));
                }
            });
        }
        drop(tx);
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            while group.len() < concurrency.max(1) {
                match rx.try_recv() {
                    Ok(result) => group.push(result),
                    Err(_) => break,
                }
            }
            done(group);
        }
    });
    deferred.into_inner()
}

/// Exponential backoff from `backoff`, doubling per attempt up to
/// `max-backoff`, with jitter: a stable draw in [d/2, d] from the key and
/// attempt, so retries of many rows spread out yet tests can predict bounds.
pub fn backoff(settings: &Settings, key: &str, attempts: u32) -> TimeDelta {
    let base = settings.backoff.num_seconds().max(1);
    let max = settings.max_backoff.num_seconds().max(base);
    let doubled = base.saturating_mul(1_i64 << attempts.saturating_sub(1).min(40));
    let full = doubled.min(max);
    let hash = format!("{key}#{attempts}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let half = full / 2;
    let spread = u64::try_from(full - half).unwrap_or(0);
    let jitter = i64::try_from(hash % spread.saturating_add(1)).unwrap_or(0);
    TimeDelta::try_seconds(half.saturating_add(jitter)).unwrap_or(TimeDelta::MAX)
}

/// Messages per second for one channel, shared by the workers.
struct RateLimit {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimit {
    fn new(rate: Option<f64>) -> Self {
        Self {
            // A rate too small for an interval the clock can hold (the
            // config checked it is positive and finite) sends one a pass.
            interval: rate.map(|r| Duration::try_from_secs_f64(1.0 / r).unwrap_or(Duration::MAX)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this channel's next slot; false if it comes after `deadline`.
    fn wait(&self, deadline: Instant) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (*next).max(Instant::now());
            if slot >= deadline {
                return false;
            }
            *next = slot.checked_add(interval).unwrap_or(deadline);
            slot
        };
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
        true
    }
}

/// Why a row must not go out because `funnel serve` heard its contact
/// unsubscribe, its address bounce or complain, or its number say STOP.
fn suppressed(store: &impl DeliveryReads, pending: &Pending) -> Result<Option<String>, StoreError> {
    let row = &pending.row;
    if !CONTACT_FACING.contains(&row.channel.as_str()) {
        return Ok(None);
    }
    let transactional = row
        .payload
        .transactional()
        // Webhooks carry no such flag: they are the funnel's own calls.
        .unwrap_or(row.channel == "webhook");
    let to = row.payload.to();
    store.suppressed((&row.channel, transactional), &row.contact, to)
}

/// The global exits of each funnel, to recheck opt-outs at dispatch.
#[derive(Default)]
struct OptOuts {
    funnels: HashMap<String, Exits>,
}

struct Exits {
    /// Stages a global exit leads to (`opted-out`).
    targets: HashSet<String>,
    /// The steps of each such stage: their own messages (a goodbye) still go.
    steps: HashMap<String, HashSet<String>>,
}

/// The actions that reach the contact; staff notifications and field
/// changes are not held back.
const CONTACT_FACING: [&str; 4] = ["email", "sms", "messenger", "webhook"];

impl OptOuts {
    fn new<'f>(funnels: impl IntoIterator<Item = &'f Funnel>) -> Self {
        let funnels = funnels
            .into_iter()
            .map(|funnel| {
                let targets: HashSet<String> = funnel
                    .exits
                    .iter()
                    .filter_map(|exit| match exit.to {
                        Target::Stage(s) => Some(funnel.stages[s].name.clone()),
                        _ => None,
                    })
                    .collect();
                let steps = funnel
                    .stages
                    .iter()
                    .filter(|s| targets.contains(&s.name))
                    .map(|s| {
                        (
                            s.name.clone(),
                            s.steps.iter().map(|x| x.id.clone()).collect(),
                        )
                    })
                    .collect();
                (funnel.name.clone(), Exits { targets, steps })
            })
            .collect();
        Self { funnels }
    }

    /// Why a row must not go out, if it must not: its contact has since
    /// left this entry of the journey through a global exit.
    fn check(
        &self,
        store: &impl DeliveryReads,
        pending: &Pending,
    ) -> Result<Option<String>, StoreError> {
        let row = &pending.row;
        if !CONTACT_FACING.contains(&row.channel.as_str()) {
            return Ok(None);
        }
        let Some(exits) = self.funnels.get(&row.funnel) else {
            return Ok(None);
        };
        let Some((stage, entry)) = &pending.journey else {
            return Ok(None);
        };
        // The key is funnel/contact/entry/step; contact ids may hold `/`.
        let queued_in = row
            .key
            .rsplit('/')
            .nth(1)
            .and_then(|e| e.parse::<i64>().ok());
        let own_step = exits
            .steps
            .get(stage)
            .is_some_and(|steps| steps.contains(&row.step));
        if queued_in != Some(*entry) || !exits.targets.contains(stage) || own_step {
            return Ok(None);
        }
        // Reaching `opted-out` by running out of steps is no opt-out.
        if store.entered_by_exit((&row.funnel, &row.contact), (stage, *entry))? {
            return Ok(Some(format!(
                "not sent: the contact left for `{stage}` after it was queued"
            )));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
