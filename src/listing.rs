//! `funnel contacts` and `funnel actions`: the operator's listings of every
//! journey and every outbox row, as a table, CSV or JSON. The store's
//! `listing` module reads them; this one only checks the flags and renders.

use std::io::{self, Write};

use crate::cli::{ActionsArgs, ContactsArgs};
use crate::operate::{Outcome, open, store_failure, table};
use crate::store::OutboxStatus;

pub fn contacts(args: &ContactsArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let store = match open(&args.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    match store.journeys(args.funnel.as_deref(), args.stage.as_deref()) {
        Ok(rows) => table(&rows, args.state.format, out).map(|()| Ok(0)),
        Err(e) => Ok(Err(store_failure(e))),
    }
}

pub fn actions(args: &ActionsArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let status = match args.status.as_deref().map(|s| (s, OutboxStatus::parse(s))) {
        None => None,
        Some((_, Some(status))) => Some(status),
        Some((text, None)) => {
            let known: Vec<&str> = OutboxStatus::ALL.iter().map(|s| s.name()).collect();
            return Ok(Err((
                format!(
                    "error: `{text}` is not an action status; known: {}",
                    known.join(", ")
                ),
                2,
            )));
        }
    };
    let store = match open(&args.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    match store.actions(status, args.funnel.as_deref()) {
        Ok(rows) => table(&rows, args.state.format, out).map(|()| Ok(0)),
        Err(e) => Ok(Err(store_failure(e))),
    }
}
