//! Opening the state for a command that reads it: a missing state is "run
//! `funnel run` first", not an empty answer, and SQLite is never asked to
//! create one.

use std::path::Path;

use crate::command::CommandError;
use crate::command::cli::{StateArgs, TableFormat};
use crate::store::Store;

pub(super) fn open(args: &StateArgs) -> Result<Store, CommandError> {
    if !args.state.exists() {
        return Err(CommandError::NoState {
            path: args.state.clone(),
        });
    }
    Ok(Store::open_read(&args.state)?)
}

/// Opens the state to read; a state from an older funnel is migrated
/// first, which needs the run lock for a moment.
pub(super) fn open_current(path: &Path) -> Result<Store, CommandError> {
    let args = StateArgs {
        state: path.to_path_buf(),
        format: TableFormat::Table,
    };
    let store = open(&args)?;
    if store.outdated()? {
        drop(store);
        return Ok(Store::open(path)?);
    }
    Ok(store)
}
