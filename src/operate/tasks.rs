//! `funnel tasks`, `funnel task show` and `funnel task done`: the staff's
//! to-do list. A listing shows each task's brief as its one-line title (the
//! JSON keeps the full text); `task show` prints one task whole. These read
//! a state older than the brief by migrating it first.

use std::io::{self, Write};

use chrono::Utc;

use super::{Outcome, open_current, parse_now, store_failure, table};
use crate::cli::{StateArgs, TableFormat, TaskAction, TaskArgs, TasksArgs};
use crate::store::{self, Store, StoreError, TaskRow};
use crate::table::escape;

pub fn tasks(args: &TasksArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let store = match open_current(&args.state.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    let overdue = args.overdue.then(Utc::now);
    let rows = match store.task_rows(overdue, args.assignee.as_deref()) {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(store_failure(e))),
    };
    if args.state.format == TableFormat::Json {
        return table(&rows, args.state.format, out).map(|()| Ok(0));
    }
    // A brief is paragraphs: one line of a table shows its title only.
    let lines: Vec<serde_json::Value> = rows.iter().map(without_brief).collect();
    table(&lines, args.state.format, out).map(|()| Ok(0))
}

fn without_brief(row: &TaskRow) -> serde_json::Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("brief");
    }
    value
}

pub fn task(args: &TaskArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    match &args.action {
        TaskAction::Show { id, state } => show(*id, state, out),
        TaskAction::Done { id, at, state } => done(*id, at.as_deref(), state, out),
    }
}

/// `funnel task show ID`: every field, then the brief in full.
fn show(id: i64, args: &StateArgs, out: &mut dyn Write) -> io::Result<Outcome> {
    let store = match open_current(&args.state) {
        Ok(store) => store,
        Err(failure) => return Ok(Err(failure)),
    };
    let row = match store.task_by_id(id) {
        Ok(Some(row)) => row,
        Ok(None) => {
            return Ok(Err((format!("error: no task {id}; see `funnel tasks`"), 1)));
        }
        Err(e) => return Ok(Err(store_failure(e))),
    };
    if args.format != TableFormat::Table {
        let single = std::slice::from_ref(&row);
        if args.format == TableFormat::Json {
            serde_json::to_writer_pretty(&mut *out, &row)?;
            return writeln!(out).map(|()| Ok(0));
        }
        return table(single, args.format, out).map(|()| Ok(0));
    }
    let value = without_brief(&row);
    let fields = value.as_object().into_iter().flatten();
    let fields: Vec<(&String, String)> = fields
        .map(|(name, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".to_string(),
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    let width = fields.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, text) in &fields {
        writeln!(out, "{name:<width$}  {}", escape(text))?;
    }
    match &row.task.brief {
        Some(brief) => {
            writeln!(out)?;
            for line in brief.trim_end().lines() {
                writeln!(out, "{}", escape(line))?;
            }
        }
        None => writeln!(out, "\n(no brief)")?,
    }
    Ok(Ok(0))
}

fn done(
    id: i64,
    at: Option<&str>,
    state: &std::path::Path,
    out: &mut dyn Write,
) -> io::Result<Outcome> {
    let at = match parse_now("--at", at) {
        Ok(at) => at,
        Err(failure) => return Ok(Err(failure)),
    };
    let mut store = match Store::open(state) {
        Ok(store) => store,
        Err(e) => return Ok(Err(store_failure(e))),
    };
    let done = store.transaction().and_then(|tx| {
        let done = store::complete_task_as_event(&tx, id, at)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(done)
    });
    match done {
        Ok(true) => writeln!(out, "task {id} done").map(|()| Ok(0)),
        Ok(false) => Ok(Err((
            format!("error: no open task {id}; see `funnel tasks`"),
            1,
        ))),
        Err(e) => Ok(Err(store_failure(e))),
    }
}
