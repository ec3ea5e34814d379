//! `funnel retry`: list the dead letters, or put them (all, or those with
//! the keys given) back in the queue for the next delivery pass.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::RetryArgs;
use crate::command::rows::table;
use crate::command::state::open;
use crate::store::{self, Store};

pub(super) fn retry(args: &RetryArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    if args.list {
        let store = open(&args.state)?;
        let rows = store.dead_letters()?;
        table(&rows, args.state.format, out)?;
        return Ok(0);
    }
    let mut store = Store::open(&args.state.state)?;
    let count = store.transaction().and_then(|tx| {
        let count = store::requeue_dead(&tx, &args.keys)?;
        tx.commit()?;
        Ok(count)
    })?;
    if count == 0 && !args.keys.is_empty() {
        return Err(CommandError::NoDeadLetter);
    }
    writeln!(
        out,
        "re-queued {count} dead letter{}; they go out on the next `funnel run` or `funnel deliver`",
        if count == 1 { "" } else { "s" }
    )?;
    Ok(0)
}
