//! `funnel prune`: drop what the state keeps but nobody acts on any more
//! (see `store::prune`), by hand or beside `[state] retention`.

use std::io::{self, Write};

use crate::cli::PruneArgs;
use crate::config::Config;
use crate::operate::{Outcome, parse_now, pruned_line, store_failure};
use crate::store::{self, Store, StoreError};

pub fn prune(args: &PruneArgs, err: &mut dyn Write) -> io::Result<Outcome> {
    let cwd = std::env::current_dir()?;
    let config = match Config::discover(args.config.as_deref(), &cwd) {
        Ok(config) => config,
        Err(e) => return Ok(Err((format!("error: {e}"), e.exit_code()))),
    };
    let keep = match (&args.older_than, config.state.retention) {
        (Some(text), _) => match crate::config::retention(text) {
            Ok(keep) => keep,
            Err(e) => return Ok(Err((format!("error: --older-than {text}: {e}"), 2))),
        },
        (None, Some(keep)) => keep,
        (None, None) => {
            return Ok(Err((
                "error: give --older-than (e.g. 90d) or set [state] retention in funnel.toml"
                    .to_string(),
                2,
            )));
        }
    };
    let now = match parse_now("--now", args.now.as_deref()) {
        Ok(now) => now,
        Err(failure) => return Ok(Err(failure)),
    };
    let Some(before) = now.checked_sub_signed(keep) else {
        return Ok(Err((
            "error: --older-than reaches before any time funnel stores".to_string(),
            2,
        )));
    };
    if !args.state.exists() {
        return Ok(Err((
            format!(
                "error: no state at {}: nothing to prune",
                args.state.display()
            ),
            3,
        )));
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
    match done() {
        Ok(pruned) => {
            writeln!(err, "{}", pruned_line(before, &pruned))?;
            Ok(Ok(0))
        }
        Err(e) => Ok(Err(store_failure(e))),
    }
}
