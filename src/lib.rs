//! funnel: sales and service funnels as code.
//!
//! The source tree is the pipeline, one directory per layer:
//! - `language`: YAML text -> `parser` -> `document` -> `compiler` ->
//!   `model::Funnel`, with `graph`, `diagram` and `diff` (two compiled
//!   versions of one funnel).
//! - `lint`: `linter` runs the `rules` over compiled funnels; `render`
//!   writes the diagnostics.
//! - `run`: a `tick` reads the feeds and has the `runner` walk each contact
//!   into the `store`; the `dispatcher` delivers the outbox through the
//!   `channel`s.
//! - `serve`: `funnel serve`, the provider `webhook`s and signed `links`.
//! - `measure`: the store's counters as a `scorecard` (table, JSON, CSV) or
//!   a `dashboard` (HTML), with `stats` for intervals and tests.
//! - `command`: the subcommands, and `cli`, their flags.
//!
//! `config`, `store` and `error` are shared by all of them. [`run`] is the
//! command-line entry point; the library never prints except through the
//! writers `run` is given.

pub mod command;
pub mod config;
pub mod error;
pub mod language;
pub mod lint;
pub mod measure;
pub mod run;
pub mod serve;
pub mod store;
pub mod table;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};

use clap::Parser as _;

use crate::command::cli::{CheckArgs, Cli, Color, Command, GraphArgs, RulesArgs};
use crate::config::Config;
use crate::error::Error;
use crate::lint::diagnostic::Severity;
use crate::lint::linter::Linter;
use crate::lint::render::{self, Format};

/// Runs the command line `args` (program name first), writing to `stdout`
/// and `stderr`; returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = error.exit_code();
            let text = if stdout_is_terminal() {
                error.render().ansi().to_string()
            } else {
                error.render().to_string()
            };
            let sink: &mut dyn Write = if code == 0 { stdout } else { stderr };
            return match sink.write_all(text.as_bytes()) {
                Ok(()) => code,
                Err(e) => io_failure(&e, stderr),
            };
        }
    };
    let result = match cli.command {
        Command::Check(args) => check(&args, stdout, stderr),
        Command::Graph(args) => graph(&args, stdout, stderr),
        Command::Schema => schema(stdout),
        Command::Rules(args) => rules_command(&args, stdout),
        Command::Run(args) => operated(command::operate::run(&args, stdout, stderr), stderr),
        Command::Status(args) => operated(command::operate::status(&args, stdout), stderr),
        Command::History(args) => operated(command::operate::history(&args, stdout), stderr),
        Command::Tasks(args) => operated(command::operate::tasks(&args, stdout), stderr),
        Command::Events(args) => operated(command::operate::events(&args, stdout), stderr),
        Command::Suppressions(args) => {
            operated(command::operate::suppressions(&args, stdout), stderr)
        }
        Command::Serve(args) => operated(command::operate::serve(&args, stderr), stderr),
        Command::Prune(args) => operated(command::operate::prune(&args, stderr), stderr),
        Command::Contacts(args) => operated(command::listing::contacts(&args, stdout), stderr),
        Command::Actions(args) => operated(command::listing::actions(&args, stdout), stderr),
        Command::Task(args) => operated(command::operate::task(&args, stdout), stderr),
        Command::Deliver(args) => operated(command::operate::deliver(&args, stderr), stderr),
        Command::Retry(args) => operated(command::operate::retry(&args, stdout), stderr),
        Command::Report(args) => operated(command::operate::report(&args, stdout), stderr),
        Command::Diff(args) => compared(command::compare::diff(&args, stdout, stderr), stderr),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Io(e)) => io_failure(&e, stderr),
        Err(Failure::Error(e)) => {
            let _ = writeln!(stderr, "error: {e}");
            e.exit_code()
        }
    }
}

/// Prints an operator command's failure message and gives its exit code.
fn operated(
    result: io::Result<command::operate::Outcome>,
    stderr: &mut dyn Write,
) -> Result<i32, Failure> {
    match result? {
        Ok(code) => Ok(code),
        Err((message, code)) => {
            writeln!(stderr, "{message}")?;
            Ok(code)
        }
    }
}

/// Prints `funnel diff`'s failure and gives its exit code.
fn compared(
    result: Result<i32, command::compare::CompareError>,
    stderr: &mut dyn Write,
) -> Result<i32, Failure> {
    match result {
        Ok(code) => Ok(code),
        Err(command::compare::CompareError::Output(e)) => Err(Failure::Io(e)),
        Err(e) => {
            writeln!(stderr, "error: {e}")?;
            Ok(e.exit_code())
        }
    }
}

enum Failure {
    Error(Error),
    Io(io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// A closed pipe (`funnel check | head`) is success, like ripgrep.
fn io_failure(error: &io::Error, stderr: &mut dyn Write) -> i32 {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return 0;
    }
    let _ = writeln!(stderr, "error: cannot write output: {error}");
    3
}

fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

fn check(args: &CheckArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<i32, Failure> {
    let cwd = std::env::current_dir().map_err(|source| Error::Read {
        path: ".".into(),
        source,
    })?;
    let config = Config::discover(args.config.as_deref(), &cwd)?;
    let checked = Linter::new(&config).check(&args.paths)?;
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout_is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    render::render(args.format, &checked, color, stdout)?;
    if args.format != Format::Human {
        // Machine formats keep stdout parseable; the summary goes beside it.
        writeln!(stderr, "{}", render::summary(&checked))?;
    }
    let warnings_allowed = args
        .max_warnings
        .or(config.max_warnings)
        .unwrap_or(usize::MAX);
    let failed =
        checked.count(Severity::Error) > 0 || checked.count(Severity::Warning) > warnings_allowed;
    Ok(i32::from(failed))
}

/// Draws the funnels only when they check without errors: a diagram of a
/// broken funnel would silently leave out the moves that did not compile.
fn graph(args: &GraphArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<i32, Failure> {
    let cwd = std::env::current_dir().map_err(|source| Error::Read {
        path: ".".into(),
        source,
    })?;
    let config = Config::discover(None, &cwd)?;
    let checked = Linter::new(&config).check(std::slice::from_ref(&args.path))?;
    if checked.count(Severity::Error) > 0 {
        // The same report `check` prints, on stderr: stdout is the diagram.
        let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        render::render(Format::Human, &checked, color, stderr)?;
        return Ok(1);
    }
    stdout.write_all(language::diagram::render(&checked.funnels, args.format).as_bytes())?;
    Ok(0)
}

/// The JSON Schema of the funnel format, generated from the document types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(language::document::Document);
    serde_json::to_string_pretty(&schema)
        .map(|s| s + "\n")
        .unwrap_or_default()
}

fn schema(stdout: &mut dyn Write) -> Result<i32, Failure> {
    stdout.write_all(json_schema().as_bytes())?;
    Ok(0)
}

fn rules_command(args: &RulesArgs, stdout: &mut dyn Write) -> Result<i32, Failure> {
    let Some(id) = &args.rule else {
        for rule in lint::rules::RULES {
            writeln!(
                stdout,
                "{:<24} {:<8} {}",
                rule.id,
                rule.severity.as_str(),
                rule.summary
            )?;
        }
        return Ok(0);
    };
    let Some(rule) = lint::rules::find(id) else {
        let hint = lint::diagnostic::suggest(id, lint::rules::RULES.iter().map(|r| r.id));
        return Err(Error::Usage {
            message: format!("no rule `{id}`: {hint}"),
        }
        .into());
    };
    writeln!(
        stdout,
        "{} ({} by default)\n\n{}\n\n## What it does\n{}\n\n## Why is this bad?\n{}\n\n## Example\n{}",
        rule.id,
        rule.severity.as_str(),
        rule.summary,
        rule.what,
        rule.why,
        rule.example
    )?;
    Ok(0)
}

/// Parses and compiles one funnel from text, for unit tests.
#[cfg(test)]
pub(crate) fn compile_str(
    yaml: &str,
) -> (language::model::Funnel, Vec<lint::diagnostic::Diagnostic>) {
    let file = language::source::SourceFile::new("test.yaml".into(), yaml.to_string());
    let id = language::source::SourceId(0);
    match language::parser::Parser::parse(id, &file) {
        Ok(document) => language::compiler::Compiler::compile(&document, id, &file.text),
        Err(d) => panic!("test funnel does not parse: {d:?}"),
    }
}
