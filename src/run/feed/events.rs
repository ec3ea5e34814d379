//! The events feed: what contacts did, with when, as JSON Lines, a JSON
//! array or CSV.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::chunks::Chunks;
use super::format::{Style, not_a, typed_value};
use super::json::json_reason;
use super::{
    CONTROL_IN_ID, Event, Failure, FeedError, FeedOptions, Problem, Raw, Record, Value,
    has_control, key_text, read_records,
};
use crate::language::model::FieldType;

/// Reads an events feed: JSON Lines (or a JSON array) with keys `contact`,
/// `event`, `at` and optional `data`, or CSV with those columns, `data`
/// being JSON text or empty. Events come in feed order.
pub fn read_events(
    bytes: &[u8],
    options: &FeedOptions,
) -> Result<(Vec<Event>, Vec<Problem>), FeedError> {
    let chunks = Chunks::new(Box::new(bytes), options.encoding);
    let failure = Failure::default();
    let (records, _) = read_records(chunks, options, &EVENT_COLUMNS[..3], failure.clone())?;
    let style = options.formats.style("at", options.zone);
    let mut events = Vec::new();
    let mut problems = Vec::new();
    for record in records {
        match record.and_then(|r| event(r, &style)) {
            Ok(event) => events.push(event),
            Err(problem) => problems.push(problem),
        }
    }
    if let Some(error) = failure.borrow_mut().take() {
        return Err(error);
    }
    Ok((events, problems))
}

/// The events feed's columns; `data` is optional.
pub const EVENT_COLUMNS: [&str; 4] = ["contact", "event", "at", "data"];

fn event(record: Record, style: &Style) -> Result<Event, Problem> {
    let line = record.line;
    let value = |key: &str| record.values.get(key);
    Ok(Event {
        line,
        contact: event_contact(value("contact"), line)?,
        name: event_name(value("event"), line)?,
        at: event_at(value("at"), line, style)?,
        data: event_data(value("data"), line)?,
    })
}

fn event_problem(line: usize, field: &str, message: String) -> Problem {
    Problem {
        line,
        field: Some(field.to_string()),
        message,
    }
}

fn event_contact(raw: Option<&Raw>, line: usize) -> Result<String, Problem> {
    match raw.map(key_text) {
        Some(Ok(contact)) if has_control(&contact) => {
            Err(event_problem(line, "contact", CONTROL_IN_ID.into()))
        }
        Some(Ok(contact)) if !contact.is_empty() => Ok(contact),
        Some(Err(found)) => {
            let message = format!("field `contact`: expected a contact id, found {found}");
            Err(event_problem(line, "contact", message))
        }
        _ => Err(event_problem(line, "contact", "missing contact".into())),
    }
}

fn event_name(raw: Option<&Raw>, line: usize) -> Result<String, Problem> {
    match raw {
        Some(Raw::Text(name) | Raw::Json(Json::String(name))) if !name.trim().is_empty() => {
            Ok(name.trim().to_string())
        }
        Some(Raw::Json(other)) if !other.is_null() => {
            let message = format!("field `event`: expected an event name, found `{other}`");
            Err(event_problem(line, "event", message))
        }
        _ => Err(event_problem(line, "event", "missing event name".into())),
    }
}

fn event_at(raw: Option<&Raw>, line: usize, style: &Style) -> Result<DateTime<Utc>, Problem> {
    let Some(raw) = raw else {
        return Err(event_problem(line, "at", "missing `at`".into()));
    };
    match typed_value(raw, FieldType::Timestamp, style) {
        Ok(Value::Timestamp(at)) => Ok(at),
        _ => {
            let message = not_a("at", raw, FieldType::Timestamp, style);
            Err(event_problem(line, "at", message))
        }
    }
}

/// `data` is any JSON value; in CSV it is JSON text.
fn event_data(raw: Option<&Raw>, line: usize) -> Result<Json, Problem> {
    match raw {
        None => Ok(Json::Null),
        Some(Raw::Json(data)) => Ok(data.clone()),
        Some(Raw::Text(text)) => serde_json::from_str(text).map_err(|error| {
            let message = format!("field `data`: not valid JSON: {}", json_reason(&error));
            event_problem(line, "data", message)
        }),
    }
}
