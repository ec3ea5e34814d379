//! `funnel history CONTACT`: a contact's journey with the reason for every
//! move.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::HistoryArgs;
use crate::command::rows::table;
use crate::command::state::open;

pub(super) fn history(args: &HistoryArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let store = open(&args.state)?;
    let rows = store.history(&args.contact)?;
    if rows.is_empty() {
        return Err(CommandError::NoHistory {
            contact: args.contact.clone(),
        });
    }
    table(&rows, args.state.format, out)?;
    Ok(0)
}
