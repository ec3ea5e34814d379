//! The operator's commands: `run`, `deliver`, `retry`, `status`,
//! `history`, `tasks`, `task done` and `report`. Each turns flags into a call on the tick or the store and
//! renders the answer; nothing here decides funnel semantics.

use std::io::{self, IsTerminal, Write};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::{
    DeliverArgs, HistoryArgs, ReportArgs, ReportFormat, RetryArgs, RunArgs, StateArgs, TableFormat,
};
use crate::config::Config;
use crate::dashboard;
use crate::dispatcher::{Delivered, Dispatcher};
use crate::feed::{FeedOptions, MaxBadRows};
use crate::lint::render::{self, Format};
use crate::linter::Linter;
use crate::measure::{Filter, MeasureError, Measurer};
use crate::scorecard;
use crate::store::{self, Store, StoreError};
use crate::tick::{self, Progress, TickError, TickOptions, tick};

mod prune;
mod serve;
mod tasks;
mod warnings;

pub use prune::prune;
pub use serve::{events, serve, suppressions};
pub use tasks::{task, tasks};
use warnings::warn;

/// Exit code when another run holds the state.
pub const LOCKED: i32 = 4;

/// Exit code when the contact asked about has no history in the state.
pub const NOT_FOUND: i32 = 5;

/// Exit code when a feed has more bad rows than `--max-bad-rows` allows.
pub const BAD_FEED: i32 = 6;

/// `--encoding` and `--max-bad-rows`, over `[feed]` in funnel.toml.
fn export(
    args: &RunArgs,
    config: &Config,
) -> Result<(Option<&'static crate::feed::encoding::Encoding>, MaxBadRows), (String, i32)> {
    let usage = |flag: &str, message: String| (format!("error: {flag}: {message}"), 2);
    let encoding = match &args.encoding {
        Some(label) => {
            Some(crate::feed::encoding::encoding(label).map_err(|m| usage("--encoding", m))?)
        }
        None => config.feed.encoding,
    };
    let limit = match &args.max_bad_rows {
        Some(text) => MaxBadRows::parse(text).map_err(|m| usage("--max-bad-rows", m))?,
        None => config.feed.max_bad_rows.unwrap_or_default(),
    };
    Ok((encoding, limit))
}

/// A command's outcome: an exit code, or a message for stderr with one.
pub type Outcome = Result<i32, (String, i32)>;

pub(crate) fn store_failure(error: StoreError) -> (String, i32) {
    let code = match error {
        StoreError::Locked { .. } => LOCKED,
        StoreError::Backwards { .. } => 2,
        _ => 3,
    };
    (format!("error: {error}"), code)
}

/// The times funnel takes for `--now` and `--at`: a year past 9000 or
/// before 1970 is a typo, and one stored would hold every later run back.
/// Seconds since 1970 of 9000-01-01T00:00:00Z, the first time refused.
const LATEST: i64 = 221_845_392_000;

/// Parses `--now`/`--at` (`flag`), refusing a time out of range.
pub(crate) fn parse_now(flag: &str, text: Option<&str>) -> Result<DateTime<Utc>, (String, i32)> {
    let Some(text) = text else {
        return Ok(Utc::now());
    };
    let Ok(at) = DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)) else {
        return Err((
            format!(
                "error: {flag} `{text}` is not an RFC 3339 timestamp, e.g. 2026-05-04T09:00:00Z"
            ),
            2,
        ));
    };
    if !(0..LATEST).contains(&at.timestamp()) {
        return Err((
            format!(
                "error: {flag} `{text}` is out of range: funnel takes times from 1970-01-01 up to 9000-01-01"
            ),
            2,
        ));
    }
    Ok(at)
}

pub fn run(args: &RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<Outcome> {
    let now = match parse_now("--now", args.now.as_deref()) {
        Ok(now) => now,
        Err(failure) => return Ok(Err(failure)),
    };
    if args
        .allow_clock_reset
        .as_ref()
        .is_some_and(|r| r.trim().is_empty())
    {
        return Ok(Err((
            "error: --allow-clock-reset needs a reason, e.g. \"--now 2062 was a typo for 2026\""
                .to_string(),
            2,
        )));
    }
    let delimiter = match args.delimiter.map(u8::try_from) {
        Some(Ok(byte)) => Some(byte),
        Some(Err(_)) => {
            return Ok(Err((
                "error: --delimiter must be a single ASCII character".to_string(),
                2,
            )));
        }
        None => None,
    };
    let cwd = std::env::current_dir()?;
    let config = match Config::discover(args.config.as_deref(), &cwd) {
        Ok(config) => config,
        Err(e) => return Ok(Err((format!("error: {e}"), e.exit_code()))),
    };
    let (encoding, max_bad_rows) = match export(args, &config) {
        Ok(settings) => settings,
        Err(failure) => return Ok(Err(failure)),
    };
    let options = TickOptions {
        funnels: args.funnels.clone(),
        contacts: args.contacts.clone(),
        events: args.events.clone(),
        state: args.state.state.clone(),
        outbox: args.outbox.clone(),
        now,
        clock_reset: args.allow_clock_reset.clone(),
        dry_run: args.dry_run,
        deliver: !args.no_deliver,
        feed: FeedOptions {
            id_column: args.id_column.clone(),
            delimiter,
            formats: config.feed.formats.clone(),
            columns: crate::feed::Columns {
                mapping: config.feed.columns.clone(),
                known: Vec::new(),
            },
            ..FeedOptions::default()
        },
        encoding,
        max_bad_rows,
    };
    // A bar only for a person watching: cron's mail stays a summary line.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {percent:>3}% of the contacts feed, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |p: Progress| {
        if let Some(bar) = &bar {
            bar.set_length(p.lines as u64);
            bar.set_position(p.line as u64);
        }
    };
    let ticked = tick(&options, &config, &mut progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let ticked = match ticked {
        Ok(ticked) => ticked,
        Err(TickError::Funnels(checked)) => {
            render::render(Format::Human, &checked, false, err)?;
            return Ok(Err((
                "error: the funnels have errors; nothing was changed".to_string(),
                1,
            )));
        }
        Err(TickError::Unmigrated(e)) => return Ok(Err((format!("error: {e}"), 1))),
        Err(e @ TickError::TooManyBadRows { .. }) => {
            if let TickError::TooManyBadRows { problems, .. } = &e {
                warn(problems, &[], err)?;
            }
            return Ok(Err((format!("error: {e}"), BAD_FEED)));
        }
        Err(TickError::Store(e)) => return Ok(Err(store_failure(e))),
        Err(TickError::Check(e)) => return Ok(Err((format!("error: {e}"), e.exit_code()))),
        Err(e) => return Ok(Err((format!("error: {e}"), 3))),
    };
    // Notes about a feed's header ("did you mean") go to stderr in every
    // format: they are not bad rows.
    warn(&ticked.notes, &[], err)?;
    // `--format json`: one object on stdout; `table` and `csv` (the
    // state flags' formats) keep the human lines.
    if args.state.format == TableFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &RunJson::new(&ticked, args.dry_run))?;
        writeln!(out)?;
        return Ok(Ok(0));
    }
    warn(&ticked.problems, &ticked.unknown, err)?;
    if args.dry_run {
        for line in &ticked.plan {
            let text = format!(
                "{}  {}  {}  {}",
                line.at, line.funnel, line.contact, line.what
            );
            writeln!(out, "{}", crate::table::escape(&text))?;
        }
    }
    let s = &ticked.summary;
    writeln!(
        err,
        "{}contacts read {} / entered {} / moved {} / exited {}; actions queued {} / skipped as stale {} / deferred {} / failed {}; tasks {} / escalated {}; bad rows {} / events for unknown contacts {}",
        if args.dry_run {
            "dry run, nothing changed: "
        } else {
            ""
        },
        s.contacts,
        s.entered,
        s.moved,
        s.exited,
        s.queued,
        s.stale,
        s.deferred,
        s.failed,
        s.tasks,
        s.escalated,
        ticked.problems.len(),
        s.events_for_unknown_contacts
    )?;
    if s.created > 0 {
        writeln!(err, "contacts created from events {}", s.created)?;
    }
    if s.migrated + s.blocked + s.move_limit > 0 {
        writeln!(
            err,
            "edits: migrated {} / left in place (no migration) {}; stopped at the move limit {}",
            s.migrated, s.blocked, s.move_limit
        )?;
    }
    report_delivery(&ticked.delivered, err)?;
    if let Some((before, pruned)) = &ticked.pruned {
        writeln!(err, "{}", pruned_line(*before, pruned))?;
    }
    Ok(Ok(0))
}

/// What a prune dropped, in one line.
pub(crate) fn pruned_line(before: DateTime<Utc>, pruned: &store::Pruned) -> String {
    format!(
        "retention: pruned {} message bodies and {} history lines from before {}",
        pruned.payloads,
        pruned.history,
        store::time(before)
    )
}

/// `funnel run --format json`: the same facts as the summary line, the
/// delivery line and the warnings, as one object.
#[derive(Serialize)]
struct RunJson<'a> {
    dry_run: bool,
    summary: &'a crate::runner::Summary,
    delivery: &'a Delivered,
    /// Bad feed rows and events, skipped.
    problems: Vec<ProblemJson<'a>>,
    /// Events-feed lines whose contact is not in the contacts feed.
    unknown_contacts: &'a [tick::UnknownContact],
    /// What the tick would do; only with `--dry-run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a [crate::runner::Planned]>,
    /// What `[state] retention` pruned; only when it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pruned: Option<&'a store::Pruned>,
}

#[derive(Serialize)]
struct ProblemJson<'a> {
    feed: &'a str,
    line: usize,
    field: Option<&'a str>,
    message: &'a str,
}

impl<'a> RunJson<'a> {
    fn new(ticked: &'a tick::Ticked, dry_run: bool) -> Self {
        Self {
            dry_run,
            summary: &ticked.summary,
            delivery: &ticked.delivered,
            problems: ticked
                .problems
                .iter()
                .map(|(feed, p)| ProblemJson {
                    feed,
                    line: p.line,
                    field: p.field.as_deref(),
                    message: &p.message,
                })
                .collect(),
            unknown_contacts: &ticked.unknown,
            plan: dry_run.then_some(ticked.plan.as_slice()),
            pruned: ticked.pruned.as_ref().map(|(_, p)| p),
        }
    }
}

/// One line of counts, then why rows were held or dead; silent when the
/// pass had nothing to do.
fn report_delivery(delivered: &Delivered, err: &mut dyn Write) -> io::Result<()> {
    let d = delivered;
    if *d == Delivered::default() {
        return Ok(());
    }
    writeln!(
        err,
        "delivery: delivered {} / retrying {} / dead {} / suppressed {} / held {} / left for the next pass {}",
        d.delivered, d.retrying, d.dead, d.suppressed, d.held, d.deferred
    )?;
    for reason in &d.reasons {
        writeln!(err, "  {reason}")?;
    }
    if d.dead > 0 {
        writeln!(
            err,
            "  see `funnel retry --list`; `funnel retry` re-queues dead letters"
        )?;
    }
    Ok(())
}

pub fn deliver(args: &DeliverArgs, err: &mut dyn Write) -> io::Result<Outcome> {
    let now = match parse_now("--now", args.now.as_deref()) {
        Ok(now) => now,
        Err(failure) => return Ok(Err(failure)),
    };
    let cwd = std::env::current_dir()?;
    let config = match Config::discover(args.config.as_deref(), &cwd) {
        Ok(config) => config,
        Err(e) => return Ok(Err((format!("error: {e}"), e.exit_code()))),
    };
    let funnels = match tick::load(&args.funnels, &config) {
        Ok(funnels) => funnels,
        Err(TickError::Funnels(checked)) => {
            render::render(Format::Human, &checked, false, err)?;
            return Ok(Err((
                "error: the funnels have errors; nothing was delivered".to_string(),
                1,
            )));
        }
        Err(TickError::Check(e)) => return Ok(Err((format!("error: {e}"), e.exit_code()))),
        Err(e) => return Ok(Err((format!("error: {e}"), 3))),
    };
    let mut store = match Store::open(&args.state) {
        Ok(store) => store,
        Err(e) => return Ok(Err(store_failure(e))),
    };
    let delivered = Dispatcher::new(&config.delivery, &args.outbox, now)
        .funnels(funnels.iter().map(|l| &l.funnel))
        .deliver(&mut store);
    match delivered {
        Ok(delivered) if delivered == Delivered::default() => {
            writeln!(err, "delivery: nothing due")?;
            Ok(Ok(0))
        }
        Ok(delivered) => report_delivery(&delivered, err).map(|()| Ok(0)),
        Err(crate::dispatcher::DeliverError::Store(e)) => Ok(Err(store_failure(e))),
        Err(e) => Ok(Err((format!("error: {e}"), 3))),
    }
}

pub fn retry(args: &RetryArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    if args.list {
        let store = match open(&args.state) {
            Ok(store) => store,
            Err(failure) => return Ok(Err(failure)),
        };
        return match store.dead_letters() {
            Ok(rows) => table(&rows, args.state.format, out).map(|()| Ok(0)),
            Err(e) => Ok(Err(store_failure(e))),
        };
    }
    let mut store = match Store::open(&args.state.state) {
        Ok(store) => store,
        Err(e) => return Ok(Err(store_failure(e))),
    };
    let requeued = store.transaction().and_then(|tx| {
        let count = store::requeue_dead(&tx, &args.keys)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(count)
    });
    match requeued {
        Ok(0) if !args.keys.is_empty() => Ok(Err((
            "error: no dead letter with that key; see `funnel retry --list`".to_string(),
            1,
        ))),
        Ok(count) => writeln!(
            out,
            "re-queued {count} dead letter{}; they go out on the next `funnel run` or `funnel deliver`",
            if count == 1 { "" } else { "s" }
        )
        .map(|()| Ok(0)),
        Err(e) => Ok(Err(store_failure(e))),
    }
}

pub(crate) fn open(args: &StateArgs) -> Result<Store, (String, i32)> {
    if !args.state.exists() {
        return Err((
            format!(
                "error: no state at {}: run `funnel run` first",
                args.state.display()
            ),
            3,
        ));
    }
    Store::open_read(&args.state).map_err(store_failure)
}

/// Renders rows as an aligned table, CSV or JSON; the first two through
/// [`crate::table`], which makes cells safe for a terminal or a spreadsheet.
pub(crate) fn table<T: Serialize>(
    rows: &[T],
    format: TableFormat,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == TableFormat::Json {
        serde_json::to_writer_pretty(&mut *out, rows)?;
        return writeln!(out);
    }
    let values: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .filter_map(|r| match serde_json::to_value(r) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        })
        .collect();
    let Some(first) = values.first() else {
        return writeln!(out, "(none)");
    };
    let headers: Vec<&String> = first.keys().collect();
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let grid: Vec<Vec<String>> = values
        .iter()
        .map(|row| headers.iter().map(|h| cell(&row[h.as_str()])).collect())
        .collect();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    if format == TableFormat::Csv {
        let mut csv = crate::table::Csv::new(out);
        csv.row(&header)?;
        for row in &grid {
            csv.row(row)?;
        }
        return csv.finish();
    }
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(grid).collect();
    crate::table::aligned(out, &rows, crate::table::Align::Left)
}

#[derive(Serialize)]
struct Status {
    positions: Vec<store::Position>,
    outbox: Vec<Count>,
    /// The most recent actions that did not go out, with why.
    failed: Vec<store::Failed>,
    overdue_tasks: usize,
}

/// How many failed actions `status` lists.
const FAILED_SHOWN: usize = 20;

#[derive(Serialize)]
struct Count {
    status: store::OutboxStatus,
    actions: i64,
}

pub fn status(args: &StateArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    // Overdue tasks are read with every column: an older state is migrated.
    let store = match open_current(&args.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    let gather = || -> Result<Status, StoreError> {
        Ok(Status {
            positions: store.positions()?,
            outbox: store
                .outbox_counts()?
                .into_iter()
                .map(|(status, actions)| Count { status, actions })
                .collect(),
            failed: store.failed(FAILED_SHOWN)?,
            overdue_tasks: store.tasks(Some(Utc::now()), None)?.len(),
        })
    };
    let status = match gather() {
        Ok(status) => status,
        Err(e) => return Ok(Err(store_failure(e))),
    };
    if args.format == TableFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &status)?;
        writeln!(out)?;
    } else {
        table(&status.positions, args.format, out)?;
        writeln!(out)?;
        table(&status.outbox, args.format, out)?;
        if !status.failed.is_empty() {
            writeln!(out, "\nlatest failed actions:")?;
            table(&status.failed, args.format, out)?;
        }
        writeln!(out, "\noverdue tasks: {}", status.overdue_tasks)?;
    }
    Ok(Ok(0))
}

pub fn history(args: &HistoryArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let store = match open(&args.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    match store.history(&args.contact) {
        Ok(rows) if rows.is_empty() => Ok(Err((
            format!(
                "error: no history for contact `{}`",
                crate::table::escape(&args.contact)
            ),
            NOT_FOUND,
        ))),
        Ok(rows) => table(&rows, args.state.format, out).map(|()| Ok(0)),
        Err(e) => Ok(Err(store_failure(e))),
    }
}

pub fn report(args: &ReportArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let store = match open_current(&args.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    // The definitions order and name things. Each funnel's is the version
    // that ran last, as the state kept it, so the report is the same from
    // any directory; the files on disk stand in for states written before
    // versions' text was kept. Without either, the report still stands on
    // the state's counters.
    let mut definitions = match store.latest_sources() {
        Ok(sources) => sources
            .into_iter()
            .filter_map(|(funnel, text)| {
                let file = crate::source::SourceFile::new(format!("{funnel} (state)").into(), text);
                crate::compare::compile(&file).ok()
            })
            .collect::<Vec<_>>(),
        Err(e) => return Ok(Err(store_failure(e))),
    };
    if args.funnels.exists() {
        let on_disk = Linter::new(&Config::default())
            .check(std::slice::from_ref(&args.funnels))
            .map(|checked| checked.funnels)
            .unwrap_or_default();
        for funnel in on_disk {
            if definitions.iter().all(|d| d.name != funnel.name) {
                definitions.push(funnel);
            }
        }
    }
    let filter = Filter {
        funnel: args.funnel.clone(),
        since: args.since,
        until: args.until,
        version: args.version.clone(),
        min_contacts: args.min_contacts,
    };
    let card = match Measurer::new(&store, &definitions, &filter).measure() {
        Ok(card) => card,
        Err(MeasureError::Store(e)) => return Ok(Err(store_failure(e))),
        Err(e) => return Ok(Err((format!("error: {e}"), 2))),
    };
    let mut file;
    let sink: &mut dyn Write = match &args.out {
        Some(path) => {
            file = match std::fs::File::create(path) {
                Ok(f) => io::BufWriter::new(f),
                Err(e) => {
                    return Ok(Err((
                        format!("error: cannot write {}: {e}", path.display()),
                        3,
                    )));
                }
            };
            &mut file
        }
        None => out,
    };
    match args.format {
        ReportFormat::Table => scorecard::render(&card, TableFormat::Table, sink)?,
        ReportFormat::Json => scorecard::render(&card, TableFormat::Json, sink)?,
        ReportFormat::Csv => scorecard::render(&card, TableFormat::Csv, sink)?,
        ReportFormat::Html => sink.write_all(dashboard::render(&card).as_bytes())?,
    }
    sink.flush()?;
    Ok(Ok(0))
}

/// Opens the state to read; a state from an older funnel is migrated
/// first, which needs the run lock for a moment.
pub(crate) fn open_current(path: &std::path::Path) -> Result<Store, (String, i32)> {
    let args = StateArgs {
        state: path.to_path_buf(),
        format: TableFormat::Table,
    };
    let store = open(&args)?;
    match store.outdated() {
        Ok(false) => Ok(store),
        Ok(true) => {
            drop(store);
            Store::open(path).map_err(store_failure)
        }
        Err(e) => Err(store_failure(e)),
    }
}
