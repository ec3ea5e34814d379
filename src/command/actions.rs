//! `funnel actions`: every outbox row, optionally of one status or funnel,
//! as a table, CSV or JSON. The store's `listing` module reads them.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::ActionsArgs;
use crate::command::rows::table;
use crate::command::state::open;
use crate::store::OutboxStatus;

pub(super) fn actions(args: &ActionsArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let status = match args.status.as_deref() {
        None => None,
        Some(text) => Some(OutboxStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = OutboxStatus::ALL.iter().map(|s| s.name()).collect();
            CommandError::usage(format!(
                "`{text}` is not an action status; known: {}",
                known.join(", ")
            ))
        })?),
    };
    let store = open(&args.state)?;
    let rows = store.actions(status, args.funnel.as_deref())?;
    table(&rows, args.state.format, out)?;
    Ok(0)
}
