//! `funnel tasks`, `funnel task show` and `funnel task done`: the staff's
//! to-do list. A listing shows each task's brief as its one-line title (the
//! JSON keeps the full text); `task show` prints one task whole. These read
//! a state older than the brief by migrating it first.

use std::io::Write;

use chrono::Utc;

use crate::command::cli::{StateArgs, TableFormat, TaskAction, TaskArgs, TasksArgs};
use crate::command::rows::table;
use crate::command::state::open_current;
use crate::command::{CommandError, parse_now};
use crate::store::{self, Store, TaskRow};
use crate::table::escape;

pub(super) fn tasks(args: &TasksArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let store = open_current(&args.state.state)?;
    let overdue = args.overdue.then(Utc::now);
    let rows = store.task_rows(overdue, args.assignee.as_deref())?;
    if args.state.format == TableFormat::Json {
        table(&rows, args.state.format, out)?;
        return Ok(0);
    }
    // A brief is paragraphs: one line of a table shows its title only.
    let lines: Vec<serde_json::Value> = rows.iter().map(without_brief).collect();
    table(&lines, args.state.format, out)?;
    Ok(0)
}

fn without_brief(row: &TaskRow) -> serde_json::Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("brief");
    }
    value
}

pub(super) fn task(args: &TaskArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    match &args.action {
        TaskAction::Show { id, state } => show(*id, state, out),
        TaskAction::Done { id, at, state } => done(*id, at.as_deref(), state, out),
    }
}

/// `funnel task show ID`: every field, then the brief in full.
fn show(id: i64, args: &StateArgs, out: &mut dyn Write) -> Result<i32, CommandError> {
    let store = open_current(&args.state)?;
    let row = store.task_by_id(id)?.ok_or(CommandError::NoTask { id })?;
    if args.format != TableFormat::Table {
        let single = std::slice::from_ref(&row);
        if args.format == TableFormat::Json {
            serde_json::to_writer_pretty(&mut *out, &row)?;
            writeln!(out)?;
            return Ok(0);
        }
        table(single, args.format, out)?;
        return Ok(0);
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
    Ok(0)
}

fn done(
    id: i64,
    at: Option<&str>,
    state: &std::path::Path,
    out: &mut dyn Write,
) -> Result<i32, CommandError> {
    let at = parse_now("--at", at)?;
    let mut store = Store::open(state)?;
    let done = store.transaction().and_then(|tx| {
        let done = store::complete_task_as_event(&tx, id, at)?;
        tx.commit()?;
        Ok(done)
    })?;
    if !done {
        return Err(CommandError::NoOpenTask { id });
    }
    writeln!(out, "task {id} done")?;
    Ok(0)
}
