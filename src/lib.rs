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
//! `config`, `store`, `git` (a file's text at a revision, the commit a run
//! records), `input` (the project's own files, read safely), `secret`
//! (`${NAME}` references, what looks like a literal secret, redaction),
//! `private` (creating the files with personal data owner-only) and
//! `error` are shared by all of them. [`run`] is the command-line entry
//! point; the library never prints except through the writers `run` is
//! given.

pub mod command;
pub mod config;
pub mod error;
pub mod git;
pub mod input;
pub mod language;
pub mod links;
pub mod lint;
pub mod measure;
pub mod private;
pub mod run;
pub mod secret;
pub mod serve;
pub mod store;
pub mod table;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::Parser as _;

use crate::command::CommandError;
use crate::command::cli::Cli;

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
            let text = if command::stdout_is_terminal() {
                error.render().ansi().to_string()
            } else {
                error.render().to_string()
            };
            let sink: &mut dyn Write = if code == 0 { stdout } else { stderr };
            return match sink.write_all(text.as_bytes()) {
                Ok(()) => code,
                Err(e) => failed(CommandError::Output(e), stderr),
            };
        }
    };
    match command::execute(cli.command, stdout, stderr) {
        Ok(code) => code,
        Err(e) => failed(e, stderr),
    }
}

/// Writes why a command failed and gives its exit code. A closed pipe
/// (`funnel check | head`) is success, like ripgrep; a message that cannot
/// be written is reported as that failure instead.
fn failed(error: CommandError, stderr: &mut dyn Write) -> i32 {
    if error.is_broken_pipe() {
        return 0;
    }
    match writeln!(stderr, "error: {error}") {
        Ok(()) => error.exit_code(),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(stderr, "error: {}", CommandError::Output(e));
            3
        }
    }
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
