//! What a run reads from the state before it walks anyone (while the
//! contacts feed is screened on the other core), and the record of its
//! start.

use chrono::{DateTime, Utc};

use super::{TickError, TickOptions, unchanged};
use crate::run::feed::Event;
use crate::run::runner::Loaded;
use crate::store::{self, Store};

/// What a run reads from the state before it walks anyone.
pub(super) struct Prepared {
    pub store: Store,
    /// The run's reading ([`unchanged::stamp`]).
    pub key: String,
    /// The events the state recorded, by `now`.
    pub stored: Vec<Event>,
}

/// Only what is small: the migration plan, which reads every journey,
/// waits for the screen, whose set of id hashes and SQLite's page cache
/// would otherwise both be at their largest at once (at 3M contacts, 164
/// MB instead of 142).
pub(super) fn prepare(
    store: Store,
    contents: &str,
    now: DateTime<Utc>,
) -> Result<Prepared, TickError> {
    // Noted before the events are read: one recorded in between makes the
    // next run read everything, never the other way round.
    let key = unchanged::stamp(contents, store.signals_mark()?);
    let stored = store
        .events_until(now)?
        .into_iter()
        .map(|stored| Event {
            line: 0,
            contact: stored.contact,
            name: stored.name,
            at: stored.at,
            data: stored.data,
        })
        .collect();
    Ok(Prepared { store, key, stored })
}

/// Records the run's start (a dry run only checks that the clock moves
/// forward) and each funnel version it runs, with when it first ran.
pub(super) fn begin(
    store: &mut Store,
    funnels: &mut [Loaded],
    options: &TickOptions,
) -> Result<Option<i64>, TickError> {
    if options.dry_run {
        store.check_forward(options.now, options.clock_reset.as_deref())?;
        for loaded in funnels.iter_mut() {
            let known = store.first_run(&loaded.funnel.name, &loaded.version)?;
            loaded.first_run = known.unwrap_or(options.now);
        }
        return Ok(None);
    }
    let reset = options.clock_reset.as_deref();
    let run = store.begin_run(options.now, Utc::now(), reset)?;
    let tx = store.transaction()?;
    for loaded in funnels.iter_mut() {
        loaded.first_run = store::record_version(
            &tx,
            &loaded.funnel.name,
            (&loaded.version, &loaded.source),
            &loaded.path.display().to_string(),
            // Asked only here, where a run records a version: `deliver`
            // and `--dry-run` load funnels too but need no commit.
            crate::git::last_commit(&loaded.path).as_deref(),
            options.now,
        )?;
    }
    tx.commit()?;
    Ok(Some(run))
}
