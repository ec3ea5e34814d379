//! Why a command stopped: one enum for every subcommand, with every message
//! and every exit code, so the README's exit-code tables can be read off
//! one file. A command that ran and found problems (`check` with errors,
//! `diff` with an unmigrated edit) is not an error: it returns its code.

use std::io;
use std::path::PathBuf;

use crate::git::GitError;
use crate::measure::MeasureError;
use crate::run::dispatcher::DeliverError;
use crate::run::tick::TickError;
use crate::serve::ServeError;
use crate::store::StoreError;
use crate::table::escape;

/// Exit code when another run holds the state.
pub const LOCKED: i32 = 4;

/// Exit code when the contact asked about has no history in the state.
pub const NOT_FOUND: i32 = 5;

/// Exit code when a feed has more bad rows than `--max-bad-rows` allows.
pub const BAD_FEED: i32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Writing to stdout or stderr failed; a closed pipe is success.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    /// A funnel, template or config file could not be read, or
    /// `funnel.toml` is malformed.
    #[error(transparent)]
    Input(#[from] crate::error::Error),
    /// A flag's value that clap cannot validate by itself.
    #[error("{message}")]
    Usage { message: String },
    /// The state could not be opened, read or written.
    #[error(transparent)]
    State(#[from] StoreError),
    /// A listing or a task command before any `funnel run`.
    #[error("no state at {}: run `funnel run` first", path.display())]
    NoState { path: PathBuf },
    /// `funnel prune` before any `funnel run`.
    #[error("no state at {}: nothing to prune", path.display())]
    NothingToPrune { path: PathBuf },
    /// The funnels have errors, already rendered on stderr; `then` says
    /// what the command did not do because of them.
    #[error("the funnels have errors; {then}")]
    Funnels { then: &'static str },
    /// `funnel run` stopped before or during its tick.
    #[error(transparent)]
    Tick(#[from] TickError),
    /// `funnel deliver` could not finish its pass.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    /// `funnel serve` could not start or stopped on an error.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// `funnel report` was asked for a funnel or version that never ran.
    #[error(transparent)]
    Measure(#[from] MeasureError),
    /// `funnel report --out` names a file that cannot be created.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// `funnel history` for a contact the state has never seen.
    #[error("no history for contact `{}`", escape(contact))]
    NoHistory { contact: String },
    /// `funnel task show` with an unknown id.
    #[error("no task {id}; see `funnel tasks`")]
    NoTask { id: i64 },
    /// `funnel task done` with an id that is unknown or already done.
    #[error("no open task {id}; see `funnel tasks`")]
    NoOpenTask { id: i64 },
    /// `funnel retry KEY...` matched no dead letter.
    #[error("no dead letter with that key; see `funnel retry --list`")]
    NoDeadLetter,
    /// `funnel diff --state` names no file.
    #[error("no state at {}: run `funnel run` first, or point --state at the state file", path.display())]
    NoStateToCompare { path: PathBuf },
    /// `funnel diff --state`: the state file could not be read.
    #[error("{}: {source}", path.display())]
    StateToCompare { path: PathBuf, source: StoreError },
    /// `funnel diff --against` could not read an earlier version.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// JSON on stdout fails only as its writer does.
impl From<serde_json::Error> for CommandError {
    fn from(e: serde_json::Error) -> Self {
        CommandError::Output(e.into())
    }
}

impl CommandError {
    /// The process exit code: 1 the funnels have errors or an answer was
    /// not found, 2 usage, 3 unreadable input or output, 4 the state is
    /// locked, 5 no such contact, 6 a feed with too many bad rows.
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::Input(e) => e.exit_code(),
            CommandError::State(e) => state_code(e),
            CommandError::Tick(e) => tick_code(e),
            CommandError::Serve(e) => e.exit_code(),
            CommandError::Deliver(DeliverError::Store(e)) => state_code(e),
            CommandError::Measure(MeasureError::Store(e)) => state_code(e),
            CommandError::Measure(_) => 2,
            CommandError::Funnels { .. }
            | CommandError::NoTask { .. }
            | CommandError::NoOpenTask { .. }
            | CommandError::NoDeadLetter => 1,
            CommandError::Git(e) => git_code(e),
            CommandError::Usage { .. } => 2,
            CommandError::Output(_)
            | CommandError::NoState { .. }
            | CommandError::NothingToPrune { .. }
            | CommandError::Deliver(_)
            | CommandError::Write { .. }
            | CommandError::NoStateToCompare { .. }
            | CommandError::StateToCompare { .. } => 3,
            CommandError::NoHistory { .. } => NOT_FOUND,
        }
    }

    /// A closed pipe (`funnel status | head`) is success, like ripgrep.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CommandError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CommandError::Usage {
            message: message.into(),
        }
    }
}

/// A state that is locked by another run is worth waiting for (4); one
/// written with a later clock is a usage error (2); the rest cannot be
/// read (3).
fn state_code(error: &StoreError) -> i32 {
    match error {
        StoreError::Locked { .. } => LOCKED,
        StoreError::Backwards { .. } => 2,
        _ => 3,
    }
}

fn tick_code(error: &TickError) -> i32 {
    match error {
        TickError::Funnels(_) | TickError::Unmigrated(_) => 1,
        TickError::TooManyBadRows { .. } => BAD_FEED,
        TickError::Store(e) => state_code(e),
        TickError::Check(e) => e.exit_code(),
        _ => 3,
    }
}

/// Asking for what git cannot give (no git, no repository, no such
/// revision) is a usage error (2); git failing on what it has, or a file
/// that cannot be resolved, is unreadable input (3).
fn git_code(error: &GitError) -> i32 {
    match error {
        GitError::Missing { .. }
        | GitError::NotARepository { .. }
        | GitError::UnknownRevision { .. } => 2,
        GitError::Show { .. } | GitError::Read { .. } => 3,
    }
}
