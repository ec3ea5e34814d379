//! `funnel status`: contacts per stage and step, the outbox by status, the
//! latest failed actions and the count of overdue tasks.

use std::io::Write;

use chrono::Utc;
use serde::Serialize;

use crate::command::CommandError;
use crate::command::cli::{StateArgs, TableFormat};
use crate::command::rows::table;
use crate::command::state::open_current;
use crate::store::{self, Store, StoreError};

#[derive(Serialize)]
struct Status {
    positions: Vec<store::Position>,
    outbox: Vec<Count>,
    /// The most recent actions that did not go out, with why.
    failed: Vec<store::Failed>,
    overdue_tasks: usize,
}

/// How many failed actions `status` lists.
const FAILED_SHOWN: usize = 20;

#[derive(Serialize)]
struct Count {
    status: store::OutboxStatus,
    actions: i64,
}

pub(super) fn status(args: &StateArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    // Overdue tasks are read with every column: an older state is migrated.
    let store = open_current(&args.state)?;
    let status = gather(&store)?;
    if args.format == TableFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &status)?;
        writeln!(out)?;
    } else {
        table(&status.positions, args.format, out)?;
        writeln!(out)?;
        table(&status.outbox, args.format, out)?;
        if !status.failed.is_empty() {
            writeln!(out, "\nlatest failed actions:")?;
            table(&status.failed, args.format, out)?;
        }
        writeln!(out, "\noverdue tasks: {}", status.overdue_tasks)?;
    }
    Ok(0)
}

fn gather(store: &Store) -> Result<Status, StoreError> {
    Ok(Status {
        positions: store.positions()?,
        outbox: store
            .outbox_counts()?
            .into_iter()
            .map(|(status, actions)| Count { status, actions })
            .collect(),
        failed: store.failed(FAILED_SHOWN)?,
        overdue_tasks: store.tasks(Some(Utc::now()), None)?.len(),
    })
}
