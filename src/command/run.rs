//! `funnel run`: one tick. Turns the flags and `[feed]` into
//! [`TickOptions`], shows a progress bar to a person watching, and writes
//! the summary lines (or one JSON object); the tick does the work.

mod warnings;

use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::command::cli::{RunArgs, TableFormat};
use crate::command::deliver::report_delivery;
use crate::command::prune::pruned_line;
use crate::command::{CommandError, parse_now};
use crate::config::Config;
use crate::lint::render::{self, Format};
use crate::run::dispatcher::Delivered;
use crate::run::feed::encoding::Encoding;
use crate::run::feed::{Columns, FeedOptions, MaxBadRows};
use crate::run::runner::{Planned, Summary};
use crate::run::tick::{self, Progress, TickError, TickOptions, tick};
use crate::store::{self, Due};
use warnings::warn;

pub(super) fn run(
    args: &RunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    let now = parse_now("--now", args.now.as_deref())?;
    if args
        .allow_clock_reset
        .as_ref()
        .is_some_and(|r| r.trim().is_empty())
    {
        return Err(CommandError::usage(
            "--allow-clock-reset needs a reason, e.g. \"--now 2062 was a typo for 2026\"",
        ));
    }
    let delimiter = match args.delimiter.map(u8::try_from) {
        Some(Ok(byte)) => Some(byte),
        Some(Err(_)) => {
            return Err(CommandError::usage(
                "--delimiter must be a single ASCII character",
            ));
        }
        None => None,
    };
    let cwd = std::env::current_dir()?;
    let config = Config::discover(args.config.as_deref(), &cwd)?;
    let (encoding, max_bad_rows) = export(args, &config)?;
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
            columns: Columns {
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
            bar.set_length(p.of as u64);
            bar.set_position(p.rows as u64);
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
            return Err(CommandError::Funnels {
                then: "nothing was changed",
            });
        }
        Err(e) => {
            // Why the rows were bad comes before the count of them.
            if let TickError::TooManyBadRows { problems, .. } = &e {
                warn(problems, &[], err)?;
            }
            return Err(e.into());
        }
    };
    // Notes about a feed's header ("did you mean") go to stderr in every
    // format: they are not bad rows.
    warn(&ticked.notes, &[], err)?;
    // `--format json`: one object on stdout; `table` and `csv` (the
    // state flags' formats) keep the human lines.
    if args.state.format == TableFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &RunJson::new(&ticked, args.dry_run))?;
        writeln!(out)?;
        return Ok(0);
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
    summarize(&ticked, args.dry_run, err)?;
    Ok(0)
}

/// `--encoding` and `--max-bad-rows`, over `[feed]` in funnel.toml.
fn export(
    args: &RunArgs,
    config: &Config,
) -> Result<(Option<&'static Encoding>, MaxBadRows), CommandError> {
    let usage = |flag: &str, message: String| CommandError::usage(format!("{flag}: {message}"));
    let encoding = match &args.encoding {
        Some(label) => {
            Some(crate::run::feed::encoding::encoding(label).map_err(|m| usage("--encoding", m))?)
        }
        None => config.feed.encoding,
    };
    let limit = match &args.max_bad_rows {
        Some(text) => MaxBadRows::parse(text).map_err(|m| usage("--max-bad-rows", m))?,
        None => config.feed.max_bad_rows.unwrap_or_default(),
    };
    Ok((encoding, limit))
}

/// The summary lines on stderr: what the tick did, then what the delivery
/// pass and the retention prune did, each only when there is something.
fn summarize(ticked: &tick::Ticked, dry_run: bool, err: &mut dyn Write) -> io::Result<()> {
    let s = &ticked.summary;
    writeln!(
        err,
        "{}contacts read {} / entered {} / moved {} / exited {}; actions queued {} / skipped as stale {} / deferred {} / failed {}; tasks {} / escalated {}; bad rows {} / events for unknown contacts {}",
        if dry_run {
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
    if let Some(unchanged) = &ticked.unchanged {
        writeln!(err, "{}", unchanged_line(unchanged))?;
    }
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
    Ok(())
}

/// Why a run read no contact: its feeds and funnels are as the last run
/// read them and nobody has anything due yet.
fn unchanged_line(unchanged: &tick::Unchanged) -> String {
    let due = match unchanged.next_due {
        Due::At(at) => format!("nothing is due before {}", store::time(at)),
        _ => "nothing is due".to_string(),
    };
    format!(
        "unchanged since the run at {}: the same feeds, funnels and settings, and {due}; no contact was read or walked (contacts read and bad rows are as that run found them)",
        store::time(unchanged.since)
    )
}

/// `funnel run --format json`: the same facts as the summary line, the
/// delivery line and the warnings, as one object.
#[derive(Serialize)]
struct RunJson<'a> {
    dry_run: bool,
    summary: &'a Summary,
    delivery: &'a Delivered,
    /// Bad feed rows and events, skipped.
    problems: Vec<ProblemJson<'a>>,
    /// Events-feed lines whose contact is not in the contacts feed.
    unknown_contacts: &'a [tick::UnknownContact],
    /// What the tick would do; only with `--dry-run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a [Planned]>,
    /// What `[state] retention` pruned; only when it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pruned: Option<&'a store::Pruned>,
    /// Set when nothing changed since the last run: no contact was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    unchanged: Option<UnchangedJson>,
}

#[derive(Serialize)]
struct UnchangedJson {
    /// The `now` of the run whose reading this one found unchanged.
    since: String,
    /// When anyone next has something due; `null` for never.
    next_due: Option<String>,
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
            unchanged: ticked.unchanged.map(|u| UnchangedJson {
                since: store::time(u.since),
                next_due: match u.next_due {
                    Due::At(at) => Some(store::time(at)),
                    _ => None,
                },
            }),
        }
    }
}
