//! `funnel prune`: drop what the state keeps but nobody acts on any more
//! (see `store::prune`), by hand or beside `[state] retention`.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::command::cli::PruneArgs;
use crate::command::{CommandError, parse_now};
use crate::config::Config;
use crate::store::{self, Store, StoreError};

pub(super) fn prune(args: &PruneArgs, err: &mut dyn Write) -> Result<i32, CommandError> {
    let cwd = std::env::current_dir()?;
    let config = Config::discover(args.config.as_deref(), &cwd)?;
    let keep = match (&args.older_than, config.state.retention) {
        (Some(text), _) => crate::config::retention(text)
            .map_err(|e| CommandError::usage(format!("--older-than {text}: {e}")))?,
        (None, Some(keep)) => keep,
        (None, None) => {
            return Err(CommandError::usage(
                "give --older-than (e.g. 90d) or set [state] retention in funnel.toml",
            ));
        }
    };
    let now = parse_now("--now", args.now.as_deref())?;
    let Some(before) = now.checked_sub_signed(keep) else {
        return Err(CommandError::usage(
            "--older-than reaches before any time funnel stores",
        ));
    };
    if !args.state.exists() {
        return Err(CommandError::NothingToPrune {
            path: args.state.clone(),
        });
    }
    let done = || -> Result<store::Pruned, StoreError> {
        let mut store = Store::open(&args.state)?;
        let tx = store.transaction()?;
        let pruned = store::prune(&tx, before)?;
        tx.commit()?;
        if args.vacuum {
            // Pruning frees pages for later rows; only VACUUM gives them
            // back to the file system, rewriting the whole file.
            store.vacuum()?;
        }
        Ok(pruned)
    };
    let pruned = done()?;
    writeln!(err, "{}", pruned_line(before, &pruned))?;
    Ok(0)
}

/// What a prune dropped, in one line.
pub(super) fn pruned_line(before: DateTime<Utc>, pruned: &store::Pruned) -> String {
    format!(
        "retention: pruned {} message bodies and {} history lines from before {}",
        pruned.payloads,
        pruned.history,
        store::time(before)
    )
}
