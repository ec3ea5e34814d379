//! The subcommands, one file each: `cli` holds the flags as clap parses
//! them; every other module turns one subcommand's flags into calls on the
//! layers below and renders the answer. Nothing here decides funnel
//! semantics. A command returns its exit code, or a [`CommandError`] that
//! knows its own; only `lib.rs` writes the error out.

pub mod cli;
mod error;

mod actions;
mod check;
mod contacts;
mod deliver;
pub mod diff;
mod events;
mod graph;
mod history;
mod prune;
mod report;
mod retry;
mod rows;
mod rules;
mod run;
pub mod schema;
mod serve;
mod state;
mod status;
mod suppressions;
mod tasks;

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};

pub use error::{BAD_FEED, CommandError, LOCKED, NOT_FOUND};

use crate::command::cli::Command;

/// Runs one parsed subcommand, writing to `out` and `err`; `Ok` holds the
/// exit code of a command that ran, which is 1 for one that found problems.
pub fn execute(
    command: Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    match command {
        Command::Check(args) => check::check(&args, out, err),
        Command::Graph(args) => graph::graph(&args, out, err),
        Command::Schema => schema::schema(out),
        Command::Rules(args) => rules::rules(&args, out),
        Command::Run(args) => run::run(&args, out, err),
        Command::Status(args) => status::status(&args, out),
        Command::History(args) => history::history(&args, out),
        Command::Tasks(args) => tasks::tasks(&args, out),
        Command::Task(args) => tasks::task(&args, out),
        Command::Events(args) => events::events(&args, out),
        Command::Suppressions(args) => suppressions::suppressions(&args, out),
        Command::Serve(args) => serve::serve(&args, err),
        Command::Prune(args) => prune::prune(&args, err),
        Command::Contacts(args) => contacts::contacts(&args, out),
        Command::Actions(args) => actions::actions(&args, out),
        Command::Deliver(args) => deliver::deliver(&args, err),
        Command::Retry(args) => retry::retry(&args, out),
        Command::Report(args) => report::report(&args, out),
        Command::Diff(args) => diff::diff(&args, out, err),
    }
}

/// The times funnel takes for `--now` and `--at`: a year past 9000 or
/// before 1970 is a typo, and one stored would hold every later run back.
/// Seconds since 1970 of 9000-01-01T00:00:00Z, the first time refused.
const LATEST: i64 = 221_845_392_000;

/// Parses `--now`/`--at` (`flag`), refusing a time out of range.
fn parse_now(flag: &str, text: Option<&str>) -> Result<DateTime<Utc>, CommandError> {
    let Some(text) = text else {
        return Ok(Utc::now());
    };
    let Ok(at) = DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)) else {
        return Err(CommandError::usage(format!(
            "{flag} `{text}` is not an RFC 3339 timestamp, e.g. 2026-05-04T09:00:00Z"
        )));
    };
    if !(0..LATEST).contains(&at.timestamp()) {
        return Err(CommandError::usage(format!(
            "{flag} `{text}` is out of range: funnel takes times from 1970-01-01 up to 9000-01-01"
        )));
    }
    Ok(at)
}

pub(crate) fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}
