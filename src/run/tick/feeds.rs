//! The feeds of one tick, made ready before anything runs: decoded from
//! their encoding, their headers matched to the funnels' fields, and
//! screened for bad rows. A feed past the bad-row limit stops the tick
//! here, before the state is opened (see `feed::MaxBadRows` for why).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::SyncSender;
use std::time::SystemTime;

use chrono_tz::Tz;

use super::{TickError, TickOptions};
use crate::run::feed::{self, Contact, Event, FeedOptions, NaiveTimes, Problem};
use crate::run::runner::Loaded;

/// Where the contacts feed comes from: a file, read twice (the screen,
/// then the run) a chunk at a time, or standard input, which cannot be
/// read twice and is held.
pub(super) enum Source {
    /// The file, and its length and modification time when first opened.
    File(PathBuf, OnceLock<(u64, SystemTime)>),
    Stdin(Vec<u8>),
}

impl Source {
    pub fn new(path: &Path) -> Result<Source, TickError> {
        if path.as_os_str() == "-" {
            return super::read(path).map(Source::Stdin);
        }
        Ok(Source::File(path.to_path_buf(), Default::default()))
    }

    /// The feed from its start. A file that changed since it was first
    /// opened is refused: the screen's verdict and its ids seen twice
    /// would be about another file.
    pub fn open(&self) -> Result<Box<dyn Read + Send + '_>, TickError> {
        let (path, first) = match self {
            Source::Stdin(bytes) => return Ok(Box::new(&bytes[..])),
            Source::File(path, first) => (path, first),
        };
        let failed = |source| TickError::Read {
            path: path.clone(),
            source,
        };
        let file = File::open(path).map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        let seen = (meta.len(), meta.modified().map_err(failed)?);
        if *first.get_or_init(|| seen) != seen {
            return Err(failed(std::io::Error::other(
                "the file changed while this run read it (between the bad-row screen and the run); nothing was run from it, run again",
            )));
        }
        Ok(Box::new(file))
    }
}

/// The contacts feed, screened: how to read it, and what the run's pass
/// needs from the screen.
pub(super) struct Contacts {
    pub options: FeedOptions,
    /// Notes about its header ("did you mean"), with the feed's name.
    pub notes: Vec<(String, Problem)>,
    /// The last line a row is on.
    pub lines: usize,
    /// Hashes of ids the screen saw more than once.
    pub repeated: HashSet<u64>,
    /// Rows, bad ones included.
    pub rows: usize,
    /// Whether the run walks the rows in id order (see `order.rs`).
    pub by_id: bool,
}

fn feed_error(path: &Path) -> impl FnOnce(feed::FeedError) -> TickError + '_ {
    |source| TickError::Feed {
        path: path.to_path_buf(),
        source,
    }
}

/// Screens the contacts feed from `source` for `funnels`.
pub(super) fn contacts(
    options: &TickOptions,
    source: &Source,
    funnels: &[Loaded],
) -> Result<Contacts, TickError> {
    let path = &options.contacts;
    let mut feed = options.feed.clone();
    // Checked as UTF-8 when no encoding is given: a file that is not is
    // one error suggesting `--encoding`, not a bad row per line.
    feed.encoding = Some(options.encoding.unwrap_or(feed::encoding::UTF_8));
    let mut known = vec![feed.id_column.clone()];
    for name in funnels.iter().flat_map(|l| l.funnel.fields.keys()) {
        if !known.contains(name) {
            known.push(name.clone());
        }
    }
    feed.columns.known = known;
    let schemas: Vec<&crate::language::model::Funnel> = funnels.iter().map(|l| &l.funnel).collect();
    let screened = feed::screen(source.open()?, &feed, &schemas).map_err(feed_error(path))?;
    let name = path.display().to_string();
    if options.max_bad_rows.exceeded(screened.bad, screened.rows) {
        // The header's "did you mean" first: it is usually why.
        let notes = screened.notes.into_iter().map(|note| (name.clone(), note));
        let problems = screened
            .problems
            .into_iter()
            .map(|(funnel, problem)| (named(&name, funnel.as_deref()), problem));
        let problems = notes.chain(problems).collect();
        return Err(TickError::TooManyBadRows {
            path: path.clone(),
            bad: screened.bad,
            rows: screened.rows,
            limit: options.max_bad_rows,
            problems,
        });
    }
    let notes = screened
        .notes
        .into_iter()
        .map(|note| (name.clone(), note))
        .collect();
    Ok(Contacts {
        options: feed,
        notes,
        lines: screened.lines,
        repeated: screened.repeated,
        rows: screened.rows,
        by_id: super::order::sorts(screened.rows, screened.descents),
    })
}

/// One row of the contacts feed as the run walks it.
pub(super) enum Typed {
    /// The row typed for each funnel that could type it, with why the
    /// others could not.
    Row {
        id: String,
        typed: BTreeMap<String, Contact>,
        problems: Vec<(String, Problem)>,
    },
    /// A row that cannot be read, or repeats an id.
    Bad(Problem),
}

/// Rows handed from the reading thread to the walk at a time: one hand-off
/// per row would cost as much as the typing it saves.
const HAND_OFF: usize = 256;

/// Reads the screened contacts feed again, typing each row for every
/// funnel, and hands the rows on through `to`: in feed order, or by id
/// when `by_id` names the directory to sort in (see `order.rs`). Run on a
/// thread of its own, so that the walk, which is the state's one writer,
/// does not wait for the parsing. Stops early, without error, when the
/// walk stops listening; fails as the feed does (a file changed under the
/// run, a disk error) after handing on every row before the failure. A
/// feed sorted by id is read to its end before the first row is handed
/// on, so its failures come before anyone is walked.
pub(super) fn read_typed(
    (options, source): (&TickOptions, &Source),
    (feed, repeated, by_id): (&FeedOptions, HashSet<u64>, Option<&Path>),
    funnels: &[Loaded],
    to: SyncSender<Vec<Typed>>,
) -> Result<(), TickError> {
    let name = options.contacts.display().to_string();
    let mut rows = feed::contacts_from(source.open()?, feed)
        .map_err(feed_error(&options.contacts))?
        .screened(repeated);
    let mut hand = Hand {
        batch: Vec::with_capacity(HAND_OFF),
        to,
    };
    let type_row = |row: feed::Row| {
        let mut typed = BTreeMap::new();
        let mut problems = Vec::new();
        for loaded in funnels {
            let (fields, zone) = (&loaded.funnel.fields, loaded.funnel.timezone);
            match feed::typed_in(&row, fields, zone, &feed.formats) {
                Ok(contact) => {
                    typed.insert(loaded.funnel.name.clone(), contact);
                }
                Err(problem) => problems.push((named(&name, Some(&loaded.funnel.name)), problem)),
            }
        }
        Typed::Row {
            id: row.id,
            typed,
            problems,
        }
    };
    let Some(dir) = by_id else {
        for row in rows.by_ref() {
            let typed = row.map_or_else(Typed::Bad, &type_row);
            if !hand.on(typed) {
                return Ok(());
            }
        }
        if !hand.rest() {
            return Ok(());
        }
        return rows.finish().map_err(feed_error(&options.contacts));
    };
    let sorting = |source| TickError::Sort {
        dir: dir.to_path_buf(),
        source,
    };
    let mut sorter = super::order::Sorter::new(dir);
    for row in rows.by_ref() {
        match row {
            Ok(row) => sorter.push(&row).map_err(sorting)?,
            Err(problem) => {
                if !hand.on(Typed::Bad(problem)) {
                    return Ok(());
                }
            }
        }
    }
    rows.finish().map_err(feed_error(&options.contacts))?;
    for row in sorter.sorted().map_err(sorting)? {
        if !hand.on(type_row(row.map_err(sorting)?)) {
            return Ok(());
        }
    }
    hand.rest();
    Ok(())
}

/// Rows on their way to the walk, [`HAND_OFF`] at a time.
struct Hand {
    batch: Vec<Typed>,
    to: SyncSender<Vec<Typed>>,
}

impl Hand {
    /// Adds a row; false once the walk stopped listening.
    fn on(&mut self, row: Typed) -> bool {
        self.batch.push(row);
        self.batch.len() < HAND_OFF || self.rest()
    }

    /// Hands on what is left; false once the walk stopped listening.
    fn rest(&mut self) -> bool {
        self.batch.is_empty() || self.to.send(std::mem::take(&mut self.batch)).is_ok()
    }
}

/// The name problems of a funnel's typing are filed under.
fn named(feed: &str, funnel: Option<&str>) -> String {
    match funnel {
        Some(funnel) => format!("{feed} ({funnel})"),
        None => feed.to_string(),
    }
}

/// Reads the events feed at `path`, decoded like the contacts feed; its
/// times without an offset are in the funnels' timezone when they share
/// one.
pub(super) fn events(
    options: &TickOptions,
    path: &Path,
    bytes: &[u8],
    funnels: &[Loaded],
) -> Result<(Vec<Event>, Vec<Problem>), TickError> {
    let text = feed::encoding::decode(bytes, options.encoding).map_err(feed_error(path))?;
    let mut feed = FeedOptions {
        formats: options.feed.formats.clone(),
        zone: events_zone(options.feed.formats.naive_times, funnels),
        ..FeedOptions::default()
    };
    feed.columns.mapping = options.feed.columns.mapping.clone();
    feed.columns.known = feed::EVENT_COLUMNS.iter().map(|c| c.to_string()).collect();
    let (events, problems) = feed::read_events(text.as_bytes(), &feed).map_err(feed_error(path))?;
    let rows = events.len() + problems.len();
    if options.max_bad_rows.exceeded(problems.len(), rows) {
        let name = path.display().to_string();
        return Err(TickError::TooManyBadRows {
            path: path.to_path_buf(),
            bad: problems.len(),
            rows,
            limit: options.max_bad_rows,
            problems: problems.into_iter().map(|p| (name.clone(), p)).collect(),
        });
    }
    Ok((events, problems))
}

/// The zone of an event's time without an offset: the setting's, or the
/// funnels' one timezone; `None` when they differ (such times are refused).
fn events_zone(naive: NaiveTimes, funnels: &[Loaded]) -> Option<Tz> {
    let zones: Vec<Tz> = funnels.iter().map(|l| l.funnel.timezone).collect();
    let common = match zones.split_first() {
        None => Some(Tz::UTC),
        Some((first, rest)) => rest.iter().all(|z| z == first).then_some(*first),
    };
    match naive {
        NaiveTimes::Funnel => common,
        NaiveTimes::Utc => Some(Tz::UTC),
        NaiveTimes::Zone(zone) => Some(zone),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_that_changes_between_the_passes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.csv");
        std::fs::write(&path, "id\nc1\n").unwrap();
        let source = Source::new(&path).unwrap();
        assert!(source.open().is_ok());
        assert!(source.open().is_ok(), "unchanged: read again");
        std::fs::write(&path, "id\nc1\nc2\n").unwrap();
        match source.open() {
            Err(TickError::Read { source, .. }) => {
                assert!(
                    source
                        .to_string()
                        .contains("changed while this run read it")
                );
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
