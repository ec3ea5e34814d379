//! A contact row typed by a funnel's declared `contact:` fields.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::Formats;
use super::format::{Style, not_a, typed_value};
use super::{Contact, Problem, Raw, Row, Value};
use crate::language::model::{Field, FieldType};

/// Types a row by a funnel's declared fields, with the built-in formats
/// and times without an offset in UTC. The first missing required field,
/// or value that does not parse as its type, is the problem.
pub fn typed(row: &Row, fields: &IndexMap<String, Field>) -> Result<Contact, Problem> {
    typed_in(row, fields, chrono_tz::Tz::UTC, &Formats::utc())
}

/// [`typed`] for a funnel in `timezone`, with an export's `formats`:
/// times without an offset are in the contact's own timezone field (the
/// funnel's first `timezone` field, when the row sets it) or `timezone`,
/// unless `formats` says otherwise.
pub fn typed_in(
    row: &Row,
    fields: &IndexMap<String, Field>,
    timezone: chrono_tz::Tz,
    formats: &Formats,
) -> Result<Contact, Problem> {
    let mut typed = BTreeMap::new();
    each_typed(row, fields, (timezone, formats), |name, value| {
        typed.insert(name.to_string(), value);
    })?;
    typed.insert("id".to_string(), Value::String(row.id.clone()));
    Ok(Contact {
        id: row.id.clone(),
        line: row.line,
        fields: typed,
    })
}

/// Whether [`typed_in`] types the row, without building the contact: the
/// bad-row screen asks it of every row.
pub fn types_in(
    row: &Row,
    fields: &IndexMap<String, Field>,
    timezone: chrono_tz::Tz,
    formats: &Formats,
) -> Result<(), Problem> {
    each_typed(row, fields, (timezone, formats), |_, _| {})
}

/// Types each declared field of the row in turn, handing it to `keep`;
/// the first missing required field, or value that does not parse as its
/// type, is the problem.
fn each_typed(
    row: &Row,
    fields: &IndexMap<String, Field>,
    (timezone, formats): (chrono_tz::Tz, &Formats),
    mut keep: impl FnMut(&str, Value),
) -> Result<(), Problem> {
    let own = fields
        .iter()
        .find(|(_, f)| f.kind == FieldType::Timezone)
        .and_then(|(name, _)| row.values.get(name))
        .and_then(|raw| match raw {
            Raw::Text(text) | Raw::Json(Json::String(text)) => text.trim().parse().ok(),
            Raw::Json(_) => None,
        });
    let zone = formats.naive_times.zone(timezone, own);
    for (name, field) in fields {
        let problem = |message: String| Problem {
            line: row.line,
            field: Some(name.clone()),
            message,
        };
        let style = formats.style(name, Some(zone));
        let value = match row.values.get(name) {
            None => Value::Null,
            Some(raw) => typed_value(raw, field.kind, &style)
                .map_err(|()| problem(not_a(name, raw, field.kind, &style)))?,
        };
        if value == Value::Null && !field.optional {
            return Err(problem(format!("missing required field `{name}`")));
        }
        keep(name, value);
    }
    Ok(())
}

/// A contact as the state kept its row (`stored`, the JSON object of its
/// typed fields, see the runner's sightings), typed again by `fields`; the
/// id and line are `now`'s. `None` when the stored row does not read back
/// (a field changed its type since): then only the current row counts.
pub fn from_stored(
    now: &Contact,
    stored: &str,
    fields: &IndexMap<String, Field>,
) -> Option<Contact> {
    let json: serde_json::Map<String, Json> = serde_json::from_str(stored).ok()?;
    let mut typed = BTreeMap::new();
    for (name, field) in fields {
        let value = match json.get(name) {
            None | Some(Json::Null) => Value::Null,
            // funnel wrote these itself: RFC 3339 and the built-in shapes.
            Some(Json::String(text)) => {
                typed_value(&Raw::Text(text.clone()), field.kind, &Style::builtin()).ok()?
            }
            Some(other) => {
                typed_value(&Raw::Json(other.clone()), field.kind, &Style::builtin()).ok()?
            }
        };
        typed.insert(name.clone(), value);
    }
    typed.insert("id".to_string(), Value::String(now.id.clone()));
    Some(Contact {
        id: now.id.clone(),
        line: now.line,
        fields: typed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::source::Span as SourceSpan;
    use chrono::NaiveDate;

    fn field(kind: FieldType, optional: bool) -> Field {
        let span = SourceSpan::default();
        Field {
            kind,
            optional,
            span,
        }
    }

    fn text(raw: &str, kind: FieldType) -> Result<Value, ()> {
        typed_value(&Raw::Text(raw.to_string()), kind, &Style::builtin())
    }

    fn json(raw: Json, kind: FieldType) -> Result<Value, ()> {
        typed_value(&Raw::Json(raw), kind, &Style::builtin())
    }

    fn at(text: &str) -> Option<String> {
        super::super::time::parse_timestamp(text, &Style::builtin()).map(|t| t.to_rfc3339())
    }

    #[test]
    fn timestamps_in_every_accepted_shape() {
        let nine_thirty = Some("2024-05-01T09:30:00+00:00".to_string());
        assert_eq!(at("2024-05-01T09:30:00Z"), nine_thirty);
        assert_eq!(at("2024-05-01T11:30:00+02:00"), nine_thirty);
        assert_eq!(at("2024-05-01 09:30"), nine_thirty);
        assert_eq!(at("2024-05-01 09:30:00"), nine_thirty);
        assert_eq!(at("2024-05-01T09:30"), nine_thirty);
        assert_eq!(at("2024-05-01T09:30:00"), nine_thirty);
        assert_eq!(
            at("2024-05-01 09:30:00.250"),
            Some("2024-05-01T09:30:00.250+00:00".into())
        );
        assert_eq!(at("2024-05-01"), None);
        assert_eq!(at("24-5-1 09:30"), None);
        assert_eq!(at("2024-02-30 09:30"), None);
        assert_eq!(at("2024-05-01 25:00"), None);
    }

    #[test]
    fn text_values_by_type() {
        use FieldType as T;
        assert_eq!(text(" 42 ", T::Int), Ok(Value::Int(42)));
        assert_eq!(text("4.2", T::Int), Err(()));
        assert_eq!(text("-3.5e1", T::Float), Ok(Value::Float(-35.0)));
        assert_eq!(text("NaN", T::Float), Err(()));
        assert_eq!(text("3,5", T::Float), Err(()));
        assert_eq!(text("Y", T::Bool), Ok(Value::Bool(true)));
        assert_eq!(text("No", T::Bool), Ok(Value::Bool(false)));
        assert_eq!(
            text("2024-05-01", T::Date),
            Ok(Value::Date(
                NaiveDate::from_ymd_opt(2024, 5, 1).unwrap_or_default()
            ))
        );
        assert_eq!(text("2024-5-1", T::Date), Err(()));
        assert_eq!(text("a@b", T::Email), Ok(Value::String("a@b".into())));
        assert_eq!(text("a@b@c", T::Email), Err(()));
        assert_eq!(text("@b", T::Email), Err(()));
        assert_eq!(text("a b@c", T::Email), Err(()));
        assert_eq!(
            text("+36 (20) 123-4567", T::Phone),
            Ok(Value::String("+36 (20) 123-4567".into()))
        );
        assert_eq!(text("12-34", T::Phone), Err(()));
        assert_eq!(text("+36 20 CALL ME", T::Phone), Err(()));
        assert_eq!(
            text("Europe/Budapest", T::Timezone),
            Ok(Value::String("Europe/Budapest".into()))
        );
        assert_eq!(text("Mars/Olympus", T::Timezone), Err(()));
        assert_eq!(text("   ", T::Int), Ok(Value::Null));
    }

    #[test]
    fn json_values_by_type() {
        use FieldType as T;
        assert_eq!(json(Json::from(7), T::Int), Ok(Value::Int(7)));
        assert_eq!(json(Json::from(7.5), T::Int), Err(()));
        assert_eq!(json(Json::from(1e300), T::Int), Err(()));
        assert_eq!(json(Json::from(7), T::Float), Ok(Value::Float(7.0)));
        assert_eq!(json(Json::from(true), T::Bool), Ok(Value::Bool(true)));
        assert_eq!(json(Json::from(0), T::Bool), Ok(Value::Bool(false)));
        assert_eq!(json(Json::from(2), T::Bool), Err(()));
        assert_eq!(json(Json::from(true), T::String), Err(()));
        assert_eq!(
            json(Json::from(36201234567_i64), T::Phone),
            Ok(Value::String("36201234567".into()))
        );
        assert_eq!(json(Json::from("yes"), T::Bool), Ok(Value::Bool(true)));
        assert_eq!(json(Json::from(1714555800), T::Timestamp), Err(()));
        assert_eq!(json(serde_json::json!([1]), T::String), Err(()));
        assert_eq!(json(Json::Null, T::Int), Ok(Value::Null));
    }

    #[test]
    fn typed_keeps_declared_fields_and_the_id() {
        let row = Row {
            line: 4,
            id: "c-1".into(),
            values: [
                ("score".to_string(), Raw::Json(Json::from(true))),
                ("extra".to_string(), Raw::Text("ignored".into())),
            ]
            .into_iter()
            .collect(),
        };
        let mut fields = IndexMap::new();
        fields.insert("owner".to_string(), field(FieldType::String, true));
        let contact = typed(&row, &fields).unwrap();
        let names: Vec<&String> = contact.fields.keys().collect();
        assert_eq!(names, ["id", "owner"]);
        assert_eq!(contact.fields["owner"], Value::Null);
        fields.insert("score".to_string(), field(FieldType::Int, true));
        let problem = typed(&row, &fields).unwrap_err();
        assert_eq!(
            problem.to_string(),
            "line 4: field `score`: `true` is not an int (expected a whole number like 42)"
        );
    }

    #[test]
    fn values_serialize_as_plain_json() {
        let at = super::super::time::parse_timestamp("2024-05-01 09:30", &Style::builtin())
            .map(Value::Timestamp);
        let values = vec![
            Value::Null,
            Value::Int(3),
            Value::String("x".into()),
            at.unwrap_or(Value::Null),
        ];
        let text = serde_json::to_string(&values).unwrap_or_default();
        assert_eq!(text, r#"[null,3,"x","2024-05-01T09:30:00Z"]"#);
    }

    #[test]
    fn long_values_are_clipped_in_messages() {
        let long = "x".repeat(50);
        let message = not_a("n", &Raw::Text(long), FieldType::Int, &Style::builtin());
        assert_eq!(
            message,
            format!(
                "field `n`: `{}…` is not an int (expected a whole number like 42)",
                "x".repeat(40)
            )
        );
    }
}
