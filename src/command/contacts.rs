//! `funnel contacts`: every journey (funnel, stage, step, since when), as a
//! table, CSV or JSON. The store's `listing` module reads them.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::ContactsArgs;
use crate::command::rows::table;
use crate::command::state::open;

pub(super) fn contacts(args: &ContactsArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let store = open(&args.state)?;
    let rows = store.journeys(args.funnel.as_deref(), args.stage.as_deref())?;
    table(&rows, args.state.format, out)?;
    Ok(0)
}
