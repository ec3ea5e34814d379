//! Errors that stop a command before or instead of a report: unreadable
//! input, a broken project config. Problems *in* funnels are diagnostics,
//! not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A funnel, template or config file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A path given on the command line holds no funnel files.
    #[error("no funnel files (*.yaml, *.yml) in {}", path.display())]
    NoFunnels { path: PathBuf },
    /// The project config `funnel.toml` is malformed.
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// The project config has an error at a line, column and key.
    #[error("{0}")]
    ConfigAt(Box<crate::config::Located>),
}

impl Error {
    /// The process exit code: 2 usage (including a bad config), 3 unreadable input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Read { .. } | Error::NoFunnels { .. } => 3,
            Error::Config { .. } | Error::ConfigAt(_) => 2,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
