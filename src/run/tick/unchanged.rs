//! The tick that has nothing to do. Most cron ticks find the export as the
//! last one read it and nobody due; walking a million contacts only to
//! confirm that costs seconds. A run is *unchanged* when:
//!
//! - its feeds are byte for byte what the latest run read, under the same
//!   funnel versions, feed settings and build of funnel, and the state has
//!   recorded no event or unsubscribe since that run began (one hash kept
//!   with the run: [`key`] and [`stamp`]);
//! - that latest run finished (one that stopped half-way may have moved
//!   some contacts and not others) and recorded the earliest moment at
//!   which anyone it walked or left could next move, and that moment is
//!   after this run's `now`;
//! - no event or unsubscribe, in the feed or the state, is dated after
//!   the last run's `now` and by this one's: the last run's walks saw every
//!   signal there was, at its own moment;
//! - the state has no `set` fields or tags (conditions may read them, and
//!   they are not in the rows' fingerprints) and no contact created from an
//!   event waiting for a row.
//!
//! Then every contact would either be left by the fast path
//! (`runner/fast.rs`) or walked to the same place it is in: the walk of a
//! contact with events or an unsubscribe, over the same signals, finds
//! nothing before the moment it saw coming. So none is read. The run still
//! records itself, escalates overdue tasks, delivers what is queued and
//! prunes, and reports the feeds' bad rows and unknown contacts as the run
//! that read them found them. Anything else runs in full.

use std::io::Read;

use chrono::{DateTime, Utc};
use xxhash_rust::xxh3::Xxh3;

use super::{Ended, TickError, TickOptions, Ticked, UnknownContact, begin, close, feeds::Source};
use crate::config::Config;
use crate::run::feed::{Event, Problem};
use crate::run::runner::{Loaded, Runner};
use crate::store::{self, Due, Reading, Store};

/// What a run reported about its feeds, kept with it so that an
/// unchanged run reports the same without reading them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct FeedReport {
    /// Rows walked.
    pub contacts: usize,
    /// The last line a row is on.
    pub lines: usize,
    /// Bad rows and refused events, with the feed (and funnel) they are
    /// filed under.
    pub problems: Vec<(String, Problem)>,
    /// Notes about the header.
    pub notes: Vec<(String, Problem)>,
    /// Events of contacts the feed does not have.
    pub unknown: Vec<UnknownContact>,
}

/// Why a run read no contact: the run whose reading it found unchanged,
/// and until when nobody has anything due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unchanged {
    pub since: DateTime<Utc>,
    pub next_due: Due,
}

/// A hash (xxh3, 128 bits) of everything a run reads besides the state
/// and the clock: the contacts feed's bytes, the events feed's, the
/// funnels' versions, the feed settings and funnel's own version (a new
/// build may read the same bytes otherwise).
pub(super) fn contents(
    options: &TickOptions,
    contacts: &Source,
    events: Option<&[u8]>,
    funnels: &[Loaded],
) -> Result<String, TickError> {
    let mut hash = Xxh3::new();
    part(&mut hash, env!("CARGO_PKG_VERSION").as_bytes());
    // Debug text of plain data: lists and ordered maps, no hash maps.
    let settings = format!(
        "{:?} {:?} {:?}",
        options.feed,
        options.encoding.map(|e| e.name()),
        options.max_bad_rows
    );
    part(&mut hash, settings.as_bytes());
    for loaded in funnels {
        part(&mut hash, loaded.funnel.name.as_bytes());
        part(&mut hash, loaded.version.as_bytes());
    }
    match events {
        Some(bytes) => part(&mut hash, bytes),
        None => hash.update(b"-"),
    }
    let mut reader = contacts.open()?;
    let mut buffer = vec![0; 1 << 20];
    let mut length = 0_u64;
    loop {
        let read = reader.read(&mut buffer).map_err(|source| TickError::Read {
            path: options.contacts.clone(),
            source,
        })?;
        if read == 0 {
            break;
        }
        hash.update(&buffer[..read]);
        length = length.saturating_add(read as u64);
    }
    hash.update(&length.to_le_bytes());
    Ok(format!("{:032x}", hash.digest128()))
}

/// One part of the key, with its length, so parts cannot run together.
fn part(hash: &mut Xxh3, bytes: &[u8]) {
    hash.update(&(bytes.len() as u64).to_le_bytes());
    hash.update(bytes);
}

/// The key of a run that read feeds hashed to `contents` with the state
/// at `mark` ([`Store::signals_mark`], read before the state's events).
pub(super) fn stamp(contents: &str, (events, suppressions): (i64, i64)) -> String {
    format!("{contents}-{events}-{suppressions}")
}

/// The last run's report when this run at `now`, with the feed's
/// `events` and `key`, is unchanged from it (see the module's header).
pub(super) fn unchanged(
    store: &mut Store,
    key: &str,
    now: DateTime<Utc>,
    events: &[Event],
    creating: bool,
) -> Result<Option<(Unchanged, FeedReport)>, TickError> {
    let Some((since, reading)) = store.last_reading()? else {
        return Ok(None);
    };
    if reading.key != key
        || since >= now
        || !reading.next_due.after(now)
        || events.iter().any(|e| e.at > since)
    {
        return Ok(None);
    }
    // A report this build cannot read: the feed is read again.
    let Ok(report) = serde_json::from_str::<FeedReport>(&reading.feed_report) else {
        return Ok(None);
    };
    if store.signals_between(since, now)? {
        return Ok(None);
    }
    let tx = store.transaction()?;
    let quiet = store::side_tables_used(&tx)? == (false, false)
        && (!creating || store::created_contacts(&tx)?.is_empty());
    tx.rollback()?;
    Ok(quiet.then_some((
        Unchanged {
            since,
            next_due: reading.next_due,
        },
        report,
    )))
}

/// What a run records for the next one, when it can: a run that left
/// someone it cannot date (`Due::Unknown`) records nothing, and the next
/// run reads everything.
pub(super) fn reading(key: String, next_due: Due, report: &FeedReport) -> Option<Reading> {
    if next_due == Due::Unknown {
        return None;
    }
    Some(Reading {
        key,
        next_due,
        feed_report: serde_json::to_string(report).ok()?,
    })
}

/// A run that found nothing changed: recorded like any run, overdue tasks
/// escalated, the queue delivered, the feed's report repeated, and the
/// reading kept for the next run.
pub(super) fn run(
    options: &TickOptions,
    config: &Config,
    funnels: &mut [Loaded],
    (mut store, event_problems): (Store, Vec<(String, Problem)>),
    (key, unchanged): (String, Unchanged),
    report: FeedReport,
) -> Result<Ticked, TickError> {
    let run = begin(&mut store, funnels, options)?;
    let mut runner = Runner::new(funnels, options.now, options.dry_run);
    runner.summary.contacts = report.contacts;
    runner.summary.events_for_unknown_contacts = report.unknown.len();
    let tx = store.transaction()?;
    runner.escalate(&tx)?;
    runner.flush(&tx)?;
    close(tx, options.dry_run)?;
    let summary = runner.summary.clone();
    let plan = std::mem::take(&mut runner.plan);
    let reading = reading(key, unchanged.next_due, &report);
    let FeedReport {
        problems,
        notes,
        unknown,
        ..
    } = report;
    let ended = Ended {
        funnels,
        store,
        event_problems,
    };
    let mut ticked = ended.finish(options, config, (run, reading), summary, problems)?;
    ticked.plan = plan;
    ticked.notes = notes;
    ticked.unknown = unknown;
    ticked.unchanged = Some(unchanged);
    Ok(ticked)
}
