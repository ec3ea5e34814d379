//! `funnel suppressions`: the addresses and numbers `funnel serve` heard
//! an unsubscribe, a bounce or a complaint for.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::SuppressionsArgs;
use crate::command::rows::table;
use crate::command::state::open_current;

pub(super) fn suppressions(
    args: &SuppressionsArgs,
    out: &mut dyn Write,
) -> Result<i32, CommandError> {
    let store = open_current(&args.state.state)?;
    let rows = store.list_suppressions(args.contact.as_deref())?;
    table(&rows, args.state.format, out)?;
    Ok(0)
}
