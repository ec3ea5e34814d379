//! `funnel events`: the events `funnel serve` and `funnel task done`
//! recorded, for one contact or all, since a time.

use std::io::Write;

use crate::command::cli::EventsArgs;
use crate::command::rows::table;
use crate::command::state::open_current;
use crate::command::{CommandError, parse_now};

pub(super) fn events(args: &EventsArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let since = match args.since.as_deref() {
        None => None,
        Some(text) => Some(parse_now("--since", Some(text))?),
    };
    let store = open_current(&args.state.state)?;
    let rows = store.list_events(args.contact.as_deref(), since)?;
    table(&rows, args.state.format, out)?;
    Ok(0)
}
