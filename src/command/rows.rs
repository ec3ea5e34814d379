//! The listings' rows as an aligned table, CSV or JSON. JSON is written
//! here, exact; the first two go through [`crate::table`], which makes
//! cells safe for a terminal or a spreadsheet.

use std::io::{self, Write};

use serde::Serialize;

use crate::command::cli::TableFormat;

/// Renders `rows` with the columns of the first row's fields.
pub(super) fn table<T: Serialize>(
    rows: &[T],
    format: TableFormat,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == TableFormat::Json {
        serde_json::to_writer_pretty(&mut *out, rows)?;
        return writeln!(out);
    }
    let values: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .filter_map(|r| match serde_json::to_value(r) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        })
        .collect();
    let Some(first) = values.first() else {
        return writeln!(out, "(none)");
    };
    let headers: Vec<&String> = first.keys().collect();
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let grid: Vec<Vec<String>> = values
        .iter()
        .map(|row| headers.iter().map(|h| cell(&row[h.as_str()])).collect())
        .collect();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    if format == TableFormat::Csv {
        let mut csv = crate::table::Csv::new(out);
        csv.row(&header)?;
        for row in &grid {
            csv.row(row)?;
        }
        return csv.finish();
    }
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(grid).collect();
    crate::table::aligned(out, &rows, crate::table::Align::Left)
}
