//! One `funnel run`: check and load the funnels, tell whether anything
//! changed since the last run (`unchanged.rs`: if not, nobody is walked),
//! screen the contacts feed for bad rows on one core while the state is
//! read on the other (`prepare.rs`), then walk every contact through the
//! [`Runner`] (a thousand walked contacts per transaction) while the feed
//! is read and typed again a few hundred rows ahead on the other core
//! (`feeds.rs`), escalate overdue tasks, and deliver what was queued. A
//! bad funnel or a broken feed stops the run before anything changes; a
//! bad feed row is reported and skipped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::lint::diagnostic::Severity;
use crate::lint::linter::{Checked, Linter};
use crate::run::dispatcher::{DeliverError, Delivered, Dispatcher};
use crate::run::feed::{self, Event, FeedOptions, MaxBadRows, Problem};
use crate::run::runner::{Loaded, Planned, Runner, Summary};
use crate::store::{self, Store, StoreError, Tx};

mod feeds;
mod order;
mod prepare;
mod unchanged;
mod writer;

use prepare::{Prepared, begin, prepare};

pub use unchanged::Unchanged;

pub struct TickOptions {
    pub funnels: Vec<PathBuf>,
    pub contacts: PathBuf,
    pub events: Option<PathBuf>,
    pub state: PathBuf,
    pub outbox: PathBuf,
    pub now: DateTime<Utc>,
    /// Why `now` may be before the last run's (`--allow-clock-reset`).
    pub clock_reset: Option<String>,
    pub dry_run: bool,
    /// Deliver after the tick (off with `--no-deliver`).
    pub deliver: bool,
    pub feed: FeedOptions,
    /// The feeds' encoding (`--encoding`, `[feed] encoding`); UTF-8 if `None`.
    pub encoding: Option<&'static feed::encoding::Encoding>,
    /// Past this many bad rows a feed is refused and nothing runs.
    pub max_bad_rows: MaxBadRows,
}

/// What a run did.
pub struct Ticked {
    pub summary: Summary,
    pub plan: Vec<Planned>,
    /// Bad rows and events, with the feed they came from.
    pub problems: Vec<(String, Problem)>,
    /// Notes about the feeds' headers ("did you mean"); not bad rows.
    pub notes: Vec<(String, Problem)>,
    /// Events of the events feed for contacts the contacts feed does not
    /// have, by line: nobody walked them.
    pub unknown: Vec<UnknownContact>,
    pub delivered: Delivered,
    /// What `[state] retention` pruned at the end of the run.
    pub pruned: Option<(DateTime<Utc>, store::Pruned)>,
    /// Set when nothing had changed since the last run and no contact was
    /// read (`tick/unchanged.rs`).
    pub unchanged: Option<Unchanged>,
}

/// An events-feed line whose contact is not in the contacts feed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnknownContact {
    pub feed: String,
    pub line: usize,
    pub contact: String,
    pub event: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The funnels have errors: the same report as `funnel check`.
    #[error("the funnels have errors; run `funnel check` and fix them first")]
    Funnels(Box<Checked>),
    #[error(transparent)]
    Check(#[from] crate::error::Error),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Feed {
        path: PathBuf,
        source: feed::FeedError,
    },
    /// More bad rows than `--max-bad-rows` (or every row): nothing ran.
    #[error(
        "{}: {bad} of {rows} rows are bad, more than --max-bad-rows allows ({limit}); nothing was run. A broken export usually means a renamed column or a changed format: fix the export or funnel.toml ([feed.columns], [feed] formats), or raise --max-bad-rows",
        path.display()
    )]
    TooManyBadRows {
        path: PathBuf,
        bad: usize,
        rows: usize,
        limit: MaxBadRows,
        /// Every bad row's problem, to show why.
        problems: Vec<(String, Problem)>,
    },
    /// A feed walked in id order is sorted through temporary files beside
    /// the state (see `tick/order.rs`); writing or reading them failed.
    #[error(
        "cannot sort the contacts feed by id through a temporary file in {}: {source}",
        dir.display()
    )]
    Sort {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Templates(String),
    /// An edit would move in-flight contacts and no migration says where.
    #[error(transparent)]
    Unmigrated(#[from] crate::run::migration::Unmigrated),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Deliver(#[from] DeliverError),
}

fn read(path: &Path) -> Result<Vec<u8>, TickError> {
    let result = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    result.map_err(|source| TickError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Compiles the funnels; any error stops the run.
pub fn load(paths: &[PathBuf], config: &Config) -> Result<Vec<Loaded>, TickError> {
    let checked = Linter::new(config).check(paths)?;
    if checked.count(Severity::Error) > 0 {
        return Err(TickError::Funnels(Box::new(checked)));
    }
    let links = match &config.serve.base_url {
        Some(base) => Some(
            crate::links::Links::from_env(base)
                .map(|l| l.with_pixel(config.serve.open_pixel))
                .map_err(|message| {
                    TickError::Check(crate::error::Error::Config {
                        path: config
                            .path
                            .clone()
                            .unwrap_or_else(|| PathBuf::from(crate::config::FILE_NAME)),
                        message,
                    })
                })?,
        ),
        None => None,
    };
    let unsubscribe = unsubscribe_fallback(config, links.is_some())?;
    let mut loaded = Vec::new();
    for funnel in checked.funnels {
        let file = checked_path(&checked.sources, funnel.source);
        let text = checked.sources.get(funnel.source).text.clone();
        let dir = file.parent().unwrap_or(Path::new(".")).join("templates");
        let mut one = Loaded::new(funnel, &text, &dir)
            .map_err(TickError::Templates)?
            .linked(links.clone());
        one.unsubscribe = unsubscribe.clone();
        one.path = file;
        loaded.push(one);
    }
    Ok(loaded)
}

/// Where `{{unsubscribe_url}}` points when runs make no signed links: the
/// email channel's `unsubscribe` URL, or a placeholder while messages only
/// go to the outbox file. With a real channel and neither, a template that
/// shows the link fails to render: a marketing email must not go out with
/// a dead unsubscribe link.
fn unsubscribe_fallback(
    config: &Config,
    signed: bool,
) -> Result<Option<std::sync::Arc<crate::links::Fallback>>, TickError> {
    use crate::config::ChannelSpec;
    use crate::links::Fallback;
    if signed {
        return Ok(None);
    }
    let fallback = match config.delivery.channels.get("email") {
        Some(ChannelSpec::Smtp(smtp)) => smtp
            .unsubscribe
            .as_deref()
            .map(Fallback::channel)
            .transpose()
            .map_err(TickError::Templates)?,
        None if config.delivery.channels.is_empty() => Some(Fallback::Preview),
        _ => None,
    };
    Ok(fallback.map(std::sync::Arc::new))
}

fn checked_path(
    sources: &crate::language::source::Sources,
    id: crate::language::source::SourceId,
) -> PathBuf {
    sources.get(id).path.clone()
}

/// Walked contacts per transaction. Each contact's moves and the actions
/// they queue still commit together (a crash loses whole batches, which
/// the next run redoes), and a commit per thousand contacts instead of one
/// each makes a run of millions several times faster.
const BATCH: usize = 1_000;

/// How far a run is through the contacts feed, for a progress bar: rows
/// walked (or found bad) of all the rows, since a feed sorted by id is not
/// walked in the order of its lines.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub rows: usize,
    pub of: usize,
}

pub fn tick(
    options: &TickOptions,
    config: &Config,
    progress: &mut dyn FnMut(Progress),
) -> Result<Ticked, TickError> {
    let mut funnels = load(&options.funnels, config)?;
    let contacts_name = options.contacts.display().to_string();
    let source = feeds::Source::new(&options.contacts)?;
    let mut event_problems: Vec<(String, Problem)> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let events_bytes = options.events.as_deref().map(read).transpose()?;
    if let (Some(path), Some(bytes)) = (&options.events, &events_bytes) {
        let (read_events, unread) = feeds::events(options, path, bytes, &funnels)?;
        events = read_events;
        event_problems.extend(unread.into_iter().map(|p| (path.display().to_string(), p)));
    }
    let contents = unchanged::contents(options, &source, events_bytes.as_deref(), &funnels)?;
    let creating = funnels
        .iter()
        .any(|l| crate::run::runner::creates(&l.funnel));
    // A state that exists may say that nothing changed since its last run;
    // a new one is made only once the feed passed the screen.
    let mut store = None;
    if options.state.exists() {
        let mut opened = Store::open(&options.state)?;
        let key = unchanged::stamp(&contents, opened.signals_mark()?);
        if let Some((unchanged, report)) =
            unchanged::unchanged(&mut opened, &key, options.now, &events, creating)?
        {
            progress(Progress {
                rows: report.lines,
                of: report.lines,
            });
            return unchanged::run(
                options,
                config,
                &mut funnels,
                (opened, event_problems),
                (key, unchanged),
                report,
            );
        }
        store = Some(opened);
    }
    // The screen reads the whole feed; what the run needs from the state
    // first is read meanwhile, on the other core. Nothing is written before
    // the screen's verdict (a new state is made only after it).
    let screen = || feeds::contacts(options, &source, &funnels);
    let (contacts, prepared) = match store {
        Some(store) => std::thread::scope(|scope| {
            let screening = scope.spawn(screen);
            let prepared = prepare(store, &contents, options.now);
            let contacts = screening
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (contacts, prepared)
        }),
        None => {
            let contacts = screen()?;
            let store = Store::open(&options.state)?;
            (Ok(contacts), prepare(store, &contents, options.now))
        }
    };
    let contacts = contacts?;
    let Prepared {
        mut store,
        key,
        stored,
    } = prepared?;
    let carries = crate::run::migration::plan(&store, &funnels)?;
    for (loaded, carries) in funnels.iter_mut().zip(carries) {
        loaded.carries = carries;
    }
    let lines = contacts.lines;
    // A large feed far from id order is walked by id (see `tick/order.rs`),
    // sorted through temporary files beside the state.
    let sort_in = contacts.by_id.then(|| match options.state.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    });
    let (mut done, rows_in_feed) = (0, contacts.rows);
    let mut problems: Vec<(String, Problem)> = Vec::new();
    // Events funnel recorded itself (`funnel task done`) count like the
    // feed's; both are read in time order.
    events.extend(stored);
    events.sort_by_key(|e| (e.at, e.line));
    let mut by_contact: HashMap<&str, Vec<&Event>> = HashMap::new();
    for event in &events {
        by_contact
            .entry(event.contact.as_str())
            .or_default()
            .push(event);
    }
    let run = begin(&mut store, &mut funnels, options)?;
    let delivering = if options.dry_run || !options.deliver {
        None
    } else {
        Dispatcher::new(&config.delivery, &options.outbox, options.now)
            .funnels(funnels.iter().map(|l| &l.funnel))
            .as_it_goes(&store)?
    };
    let mut runner = Runner::new(&funnels, options.now, options.dry_run);
    runner.ledger.delivering = delivering;
    let tx = store.transaction()?;
    runner.survey(&tx)?;
    // Contacts events created on earlier runs, by id: walked after the
    // feed's rows unless a row for them turns up (then it is theirs).
    let created = if creating {
        store::created_contacts(&tx)?
    } else {
        Vec::new()
    };
    close(tx, options.dry_run)?;
    let mut pending: BTreeMap<&str, Vec<&store::Created>> = BTreeMap::new();
    for c in &created {
        pending.entry(c.contact.as_str()).or_default().push(c);
    }
    let mut batch = 0;
    // The event feed's contacts that have a row: the rest are unknown.
    let mut seen: HashSet<&str> = HashSet::new();
    // The feed is read and typed on the other core, a few hundred rows
    // ahead of the walk.
    let (rows, typed_rows) = std::sync::mpsc::sync_channel(8);
    // A first run writes on the other core (see `runner/later.rs`).
    let later = if runner.may_write_later() {
        Some(writer::open(&store)?)
    } else {
        None
    };
    std::thread::scope(|scope| -> Result<(), TickError> {
        let (writer, writing) = match later {
            Some((writer, beside, batches)) => {
                let ledger = runner.write_later();
                let writing = scope.spawn(move || writer::write(beside, ledger, batches));
                (Some(writer), Some(writing))
            }
            None => (None, None),
        };
        let mut tx = match writer {
            Some(_) => None,
            None => Some(store.transaction()?),
        };
        let reading = scope.spawn(|| {
            let screened = (&contacts.options, contacts.repeated, sort_in.as_deref());
            feeds::read_typed((options, &source), screened, &funnels, rows)
        });
        // Owned by the loop: a walk that fails drops it, which stops the
        // reading thread instead of leaving it waiting to hand rows on.
        for row in typed_rows.into_iter().flatten() {
            done += 1;
            let (id, typed, typing) = match row {
                feeds::Typed::Row {
                    id,
                    typed,
                    problems,
                } => (id, typed, problems),
                feeds::Typed::Bad(problem) => {
                    problems.push((contacts_name.clone(), problem));
                    continue;
                }
            };
            progress(Progress {
                rows: done,
                of: rows_in_feed,
            });
            problems.extend(typing);
            if let Some((id, _)) = by_contact.get_key_value(id.as_str()) {
                seen.insert(id);
            }
            for c in pending.remove(id.as_str()).unwrap_or_default() {
                if typed.contains_key(&c.funnel) {
                    let (funnel, contact, now) = (c.funnel.clone(), c.contact.clone(), options.now);
                    runner.write(tx.as_ref(), move |tx, _| {
                        store::adopt_created(tx, (&funnel, &contact), now)
                    })?;
                }
            }
            let contact_events = by_contact.get(id.as_str()).cloned().unwrap_or_default();
            // Only walked contacts count: one the fast path left wrote
            // nothing, and a commit per thousand rows of a tick where few
            // changed wrote the same index and counter pages a thousand
            // times.
            if runner.contact(tx.as_ref(), &typed, &contact_events)? {
                batch += 1;
            }
            if batch == BATCH {
                batch = 0;
                match &writer {
                    Some(writer) => {
                        if !writer.hand_over(&mut runner) {
                            break;
                        }
                    }
                    None => {
                        // Moved out and gone before the next borrows the store.
                        if let Some(done) = { tx } {
                            writer::end_batch(done, &mut runner.ledger, options.dry_run)?;
                        }
                        tx = Some(store.transaction()?);
                    }
                }
            }
        }
        if let (Some(writer), Some(writing)) = (writer, writing) {
            // The last batch, then the writer's verdict on all of them.
            writer.hand_over(&mut runner);
            drop(writer);
            let ledger = writing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            runner.write_now(ledger);
        }
        // The file changed under the run, or a disk failed: what ran stays.
        reading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        match tx {
            Some(tx) => writer::end_batch(tx, &mut runner.ledger, options.dry_run),
            None => Ok(()),
        }
    })?;
    let mut tx = store.transaction()?;
    if creating {
        // Ids no row had: created before, or events that may create them.
        let mut ids: std::collections::BTreeSet<&str> = pending.keys().copied().collect();
        ids.extend(by_contact.keys().copied().filter(|id| !seen.contains(id)));
        for id in ids {
            let stored = pending.get(id).map(Vec::as_slice).unwrap_or_default();
            let contact_events = by_contact.get(id).map(Vec::as_slice).unwrap_or_default();
            if runner.created(&tx, id, stored, contact_events)?
                && let Some((id, _)) = by_contact.get_key_value(id)
            {
                seen.insert(id);
            }
            batch += 1;
            if batch == BATCH {
                writer::end_batch(tx, &mut runner.ledger, options.dry_run)?;
                tx = store.transaction()?;
                batch = 0;
            }
        }
    }
    runner.escalate(&tx)?;
    writer::end_batch(tx, &mut runner.ledger, options.dry_run)?;
    let delivered_as_it_went = (runner.ledger.delivering.as_ref()).map_or(0, |d| d.delivered);
    progress(Progress {
        rows: rows_in_feed,
        of: rows_in_feed,
    });
    let events_name = options
        .events
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    problems.extend(runner.refused.drain(..).map(|p| {
        let feed = if p.line == 0 {
            "the state's events".to_string()
        } else {
            events_name.clone()
        };
        (feed, p)
    }));
    let unknown = unknown_contacts(&events, &seen, options.events.as_deref());
    runner.summary.events_for_unknown_contacts = unknown.len();
    let report = unchanged::FeedReport {
        contacts: runner.summary.contacts,
        lines,
        problems,
        notes: contacts.notes,
        unknown,
    };
    let reading = unchanged::reading(key, runner.horizon, &report);
    let summary = runner.summary.clone();
    let plan = std::mem::take(&mut runner.plan);
    drop(runner);
    let mut ticked = Ended {
        funnels: &funnels,
        store,
        event_problems,
    }
    .finish(options, config, (run, reading), summary, report.problems)?;
    ticked.delivered.delivered += delivered_as_it_went;
    ticked.plan = plan;
    ticked.notes = report.notes;
    ticked.unknown = report.unknown;
    Ok(ticked)
}

/// The end of a run, walked or unchanged: delivery, the run's record and
/// the retention prune.
struct Ended<'f> {
    funnels: &'f [Loaded],
    store: Store,
    /// Bad lines of the events feed, reported last.
    event_problems: Vec<(String, Problem)>,
}

impl Ended<'_> {
    fn finish(
        mut self,
        options: &TickOptions,
        config: &Config,
        (run, reading): (Option<i64>, Option<store::Reading>),
        summary: Summary,
        mut problems: Vec<(String, Problem)>,
    ) -> Result<Ticked, TickError> {
        problems.append(&mut self.event_problems);
        let delivered = if options.dry_run || !options.deliver {
            Delivered::default()
        } else {
            Dispatcher::new(&config.delivery, &options.outbox, options.now)
                .funnels(self.funnels.iter().map(|l| &l.funnel))
                .deliver(&mut self.store)?
        };
        let mut pruned = None;
        if let Some(run) = run {
            let json = serde_json::to_value(&summary).unwrap_or_default();
            self.store
                .finish_run(run, Utc::now(), &json, reading.as_ref())?;
            if let Some(before) = config
                .state
                .retention
                .and_then(|keep| options.now.checked_sub_signed(keep))
            {
                let tx = self.store.transaction()?;
                let dropped = store::prune(&tx, before)?;
                tx.commit()?;
                pruned = Some((before, dropped));
            }
        }
        Ok(Ticked {
            summary,
            plan: Vec::new(),
            problems,
            notes: Vec::new(),
            unknown: Vec::new(),
            delivered,
            pruned,
            unchanged: None,
        })
    }
}

/// The events-feed lines whose contact had no row, by line. Events the
/// state recorded itself (`funnel task done`, line 0) name tasks' contacts
/// and are not the feed's to answer for.
fn unknown_contacts(
    events: &[Event],
    seen: &HashSet<&str>,
    feed: Option<&Path>,
) -> Vec<UnknownContact> {
    let feed = feed.map(|p| p.display().to_string()).unwrap_or_default();
    let mut unknown: Vec<UnknownContact> = events
        .iter()
        .filter(|e| e.line != 0 && !seen.contains(e.contact.as_str()))
        .map(|e| UnknownContact {
            feed: feed.clone(),
            line: e.line,
            contact: e.contact.clone(),
            event: e.name.clone(),
        })
        .collect();
    unknown.sort_by_key(|u| u.line);
    unknown
}

/// Ends a batch: committed, or for a dry run rolled back.
fn close(tx: Tx<'_>, dry_run: bool) -> Result<(), TickError> {
    if dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    Ok(())
}
