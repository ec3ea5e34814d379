//! Value formats: how an export writes timestamps, dates, booleans and
//! numbers, and the typing of one raw value by a declared field type.
//!
//! A funnel says what a field means (`meeting_at: timestamp`); the
//! operator's `funnel.toml` says how this particular export writes it
//! (`[feed] timestamp-formats`, `[feed.fields.meeting_at] formats`), so a
//! funnel stays portable between CRMs. The built-in shapes (RFC 3339, ISO
//! dates, true/false/yes/no/y/n/1/0, a decimal dot) are always accepted; an
//! export's own formats are tried first. Times without an offset are read in
//! a zone the caller chooses ([`NaiveTimes`]). Nothing here reads files.

use std::borrow::Cow;

use chrono_tz::Tz;
use serde_json::Value as Json;

use super::time::{parse_date, parse_timestamp};
use super::{Formats, NaiveTimes, Raw, Value, Writing};
use crate::language::model::FieldType;

impl NaiveTimes {
    fn describe(self) -> &'static str {
        match self {
            NaiveTimes::Funnel => "in the contact's or the funnel's timezone",
            NaiveTimes::Utc => "in UTC",
            NaiveTimes::Zone(_) => "in the feed's timezone",
        }
    }
}

impl Formats {
    /// The writing of `field`, its own settings over the feed's, with the
    /// zone naive times are read in.
    pub fn style(&self, field: &str, zone: Option<Tz>) -> Style<'_> {
        let feed = &self.feed;
        let own = self.fields.get(field);
        let pick = |of: fn(&Writing) -> &Vec<String>| -> &[String] {
            match own.map(of) {
                Some(list) if !list.is_empty() => list,
                _ => of(feed),
            }
        };
        Style {
            timestamps: pick(|w| &w.timestamps),
            dates: pick(|w| &w.dates),
            truths: pick(|w| &w.truths),
            falsehoods: pick(|w| &w.falsehoods),
            decimal_comma: own
                .and_then(|w| w.decimal_comma)
                .or(feed.decimal_comma)
                .unwrap_or(false),
            zone,
            naive: self.naive_times,
        }
    }
}

/// The resolved writing of one field: what [`Formats::style`] gives.
#[derive(Clone, Copy, Debug)]
pub struct Style<'a> {
    pub(super) timestamps: &'a [String],
    pub(super) dates: &'a [String],
    truths: &'a [String],
    falsehoods: &'a [String],
    decimal_comma: bool,
    /// `None`: a time without an offset cannot be placed (events, when
    /// the funnels' timezones differ) and is refused.
    pub(super) zone: Option<Tz>,
    naive: NaiveTimes,
}

impl Style<'static> {
    /// The built-in shapes only, naive times in UTC.
    pub fn builtin() -> Self {
        Style {
            timestamps: &[],
            dates: &[],
            truths: &[],
            falsehoods: &[],
            decimal_comma: false,
            zone: Some(Tz::UTC),
            naive: NaiveTimes::Utc,
        }
    }
}

/// A raw value as `kind`; blank text and JSON null are `Null`.
pub(super) fn typed_value(raw: &Raw, kind: FieldType, style: &Style) -> Result<Value, ()> {
    let text = match raw {
        Raw::Text(text) | Raw::Json(Json::String(text)) => text.trim(),
        Raw::Json(Json::Null) => return Ok(Value::Null),
        Raw::Json(other) => return typed_json(other, kind, style).ok_or(()),
    };
    if text.is_empty() {
        return Ok(Value::Null);
    }
    typed_text(text, kind, style).ok_or(())
}

fn typed_text(text: &str, kind: FieldType, style: &Style) -> Option<Value> {
    let string = || Value::String(text.to_string());
    match kind {
        FieldType::String => Some(string()),
        FieldType::Email => is_email(text).then(string),
        FieldType::Phone => is_phone(text).then(string),
        FieldType::Timezone => text
            .parse::<Tz>()
            .ok()
            .map(|tz| Value::String(tz.name().to_string())),
        FieldType::Int => number(text, style.decimal_comma)?
            .parse()
            .ok()
            .map(Value::Int),
        FieldType::Float => number(text, style.decimal_comma)?
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float),
        FieldType::Bool => parse_bool(text, style).map(Value::Bool),
        FieldType::Timestamp => parse_timestamp(text, style).map(Value::Timestamp),
        FieldType::Date => parse_date(text, style).map(Value::Date),
    }
}

/// A JSON bool or number as `kind`, where that is natural.
fn typed_json(json: &Json, kind: FieldType, style: &Style) -> Option<Value> {
    match (json, kind) {
        (Json::Bool(b), FieldType::Bool) => Some(Value::Bool(*b)),
        (Json::Number(n), FieldType::Bool) => match n.as_u64() {
            Some(0) => Some(Value::Bool(false)),
            Some(1) => Some(Value::Bool(true)),
            _ => None,
        },
        (Json::Number(n), FieldType::Int) => {
            n.as_i64().or_else(|| whole(n.as_f64()?)).map(Value::Int)
        }
        (Json::Number(n), FieldType::Float) => n.as_f64().map(Value::Float),
        // Phone numbers and codes are often written as JSON numbers.
        (Json::Number(n), FieldType::String | FieldType::Phone) => {
            typed_text(&n.to_string(), kind, style)
        }
        _ => None,
    }
}

/// `3.0` as 3: some writers put every JSON number as a float.
fn whole(f: f64) -> Option<i64> {
    // i64::MIN as f64 is exact (-2^63); 2^63 itself is out of range.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    (f.fract() == 0.0 && in_range).then_some(f as i64)
}

/// A number as Rust parses it. With a decimal comma, `1 234,5` is
/// `1234.5`: digit groups may be split by spaces (Hungarian and Russian
/// exports use a space or no-break space), and a dot is refused, since
/// `1.234` would be a thousand in one export and one in another.
fn number(text: &str, decimal_comma: bool) -> Option<Cow<'_, str>> {
    if !decimal_comma {
        return Some(Cow::Borrowed(text));
    }
    if text.contains('.') || text.matches(',').count() > 1 {
        return None;
    }
    let spaces = ['\u{20}', '\u{a0}', '\u{202f}'];
    Some(Cow::Owned(
        text.chars()
            .filter(|c| !spaces.contains(c))
            .map(|c| if c == ',' { '.' } else { c })
            .collect(),
    ))
}

fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn is_phone(text: &str) -> bool {
    let allowed = |c: char| c.is_ascii_digit() || " +-()".contains(c);
    text.chars().all(allowed) && text.chars().filter(char::is_ascii_digit).count() >= 6
}

/// The export's words first, then the built-in ones; any case
/// (`IGEN`, `Да`).
fn parse_bool(text: &str, style: &Style) -> Option<bool> {
    let lower = text.to_lowercase();
    if style.truths.contains(&lower) {
        return Some(true);
    }
    if style.falsehoods.contains(&lower) {
        return Some(false);
    }
    match lower.as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// "field `score`: `abc` is not an int (expected a whole number like 42)".
/// The same for every row of one field, so alike warnings group.
pub(super) fn not_a(name: &str, raw: &Raw, kind: FieldType, style: &Style) -> String {
    let shown = match raw {
        Raw::Text(text) | Raw::Json(Json::String(text)) => text.trim().to_string(),
        Raw::Json(other) => other.to_string(),
    };
    let listed = |formats: &[String]| {
        let quoted: Vec<String> = formats.iter().map(|f| format!("`{f}`")).collect();
        quoted.join(", ")
    };
    let expected: Cow<str> = match kind {
        FieldType::String => "text".into(),
        FieldType::Int => "a whole number like 42".into(),
        FieldType::Float if style.decimal_comma => "a number like 3,5, with a comma".into(),
        FieldType::Float => "a number like 3.5, with a dot".into(),
        FieldType::Bool => {
            let mut words: Vec<String> = style
                .truths
                .iter()
                .zip(style.falsehoods)
                .map(|(t, f)| format!("{t}/{f}"))
                .collect();
            words.push("true/false, yes/no, y/n or 1/0".to_string());
            words.join(", ").into()
        }
        FieldType::Timestamp if style.zone.is_none() => "RFC 3339 with an offset like 2024-05-01T09:30:00Z: the funnels have different timezones, so a time without an offset is ambiguous; write one, or set `naive-times` in funnel.toml's [feed]".into(),
        FieldType::Timestamp if !style.timestamps.is_empty() => format!(
            "{} (funnel.toml) or RFC 3339, read {} when it has no offset",
            listed(style.timestamps),
            style.naive.describe()
        )
        .into(),
        FieldType::Timestamp => format!(
            "RFC 3339 like 2024-05-01T09:30:00Z, or 2024-05-01 09:30 {}",
            style.naive.describe()
        )
        .into(),
        FieldType::Date if !style.dates.is_empty() => {
            format!("{} (funnel.toml) or YYYY-MM-DD", listed(style.dates)).into()
        }
        FieldType::Date => "YYYY-MM-DD".into(),
        FieldType::Email => "one @ with text on both sides".into(),
        FieldType::Phone => "at least 6 digits, and only spaces, +, -, ( and ) besides".into(),
        FieldType::Timezone => "an IANA name like Europe/Budapest".into(),
    };
    format!(
        "field `{name}`: `{}` is not {} (expected {expected})",
        clip(&shown),
        what(kind)
    )
}

fn what(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String => "a string",
        FieldType::Int => "an int",
        FieldType::Float => "a float",
        FieldType::Bool => "a bool",
        FieldType::Timestamp => "a timestamp",
        FieldType::Date => "a date",
        FieldType::Email => "an email address",
        FieldType::Phone => "a phone number",
        FieldType::Timezone => "a timezone",
    }
}

/// Long values are cut so a message stays one readable line.
pub(super) fn clip(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::collections::BTreeMap;

    fn hungarian() -> Formats {
        Formats {
            feed: Writing {
                timestamps: vec!["%Y.%m.%d. %H:%M".into()],
                dates: vec!["%Y.%m.%d.".into()],
                truths: vec!["igen".into()],
                falsehoods: vec!["nem".into()],
                decimal_comma: Some(true),
            },
            fields: BTreeMap::from([(
                "born".to_string(),
                Writing {
                    dates: vec!["%d/%m/%Y".into()],
                    ..Writing::default()
                },
            )]),
            naive_times: NaiveTimes::Funnel,
        }
    }

    fn value(text: &str, kind: FieldType, style: &Style) -> Result<Value, ()> {
        typed_value(&Raw::Text(text.to_string()), kind, style)
    }

    #[test]
    fn an_exports_formats_come_first_and_naive_times_are_local() {
        let budapest: Tz = "Europe/Budapest".parse().unwrap();
        let formats = hungarian();
        let style = formats.style("meeting_at", Some(budapest));
        // 9:30 in Budapest in March (CET, UTC+1) is 8:30 UTC; a one-digit
        // hour is how Hungarian Excel writes it.
        let at = value("2026.03.02. 9:30", FieldType::Timestamp, &style).unwrap();
        assert_eq!(
            at,
            Value::Timestamp("2026-03-02T08:30:00Z".parse().unwrap())
        );
        // Built-ins still work, and are local too; an offset is kept.
        let at = value("2026-07-01 09:30", FieldType::Timestamp, &style).unwrap();
        assert_eq!(
            at,
            Value::Timestamp("2026-07-01T07:30:00Z".parse().unwrap())
        );
        let at = value("2026-07-01T09:30:00+03:00", FieldType::Timestamp, &style).unwrap();
        assert_eq!(
            at,
            Value::Timestamp("2026-07-01T06:30:00Z".parse().unwrap())
        );
        assert!(value("02/03/2026 9:30", FieldType::Timestamp, &style).is_err());
    }

    #[test]
    fn a_fields_formats_override_the_feeds() {
        let formats = hungarian();
        let born = formats.style("born", Some(Tz::UTC));
        let day = NaiveDate::from_ymd_opt(1990, 3, 2).unwrap();
        assert_eq!(
            value("02/03/1990", FieldType::Date, &born),
            Ok(Value::Date(day))
        );
        assert!(value("1990.03.02.", FieldType::Date, &born).is_err());
        let other = formats.style("joined", Some(Tz::UTC));
        assert_eq!(
            value("1990.03.02.", FieldType::Date, &other),
            Ok(Value::Date(day))
        );
        assert_eq!(
            value("1990-03-02", FieldType::Date, &other),
            Ok(Value::Date(day))
        );
    }

    #[test]
    fn words_and_decimal_commas() {
        let formats = hungarian();
        let style = formats.style("x", Some(Tz::UTC));
        assert_eq!(
            value("IGEN", FieldType::Bool, &style),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            value("nem", FieldType::Bool, &style),
            Ok(Value::Bool(false))
        );
        assert_eq!(value("yes", FieldType::Bool, &style), Ok(Value::Bool(true)));
        assert!(value("talán", FieldType::Bool, &style).is_err());
        assert_eq!(
            value("1 234,5", FieldType::Float, &style),
            Ok(Value::Float(1234.5))
        );
        assert_eq!(
            value("3,5", FieldType::Float, &style),
            Ok(Value::Float(3.5))
        );
        assert!(value("3.5", FieldType::Float, &style).is_err());
        assert_eq!(
            value("1\u{a0}234", FieldType::Int, &style),
            Ok(Value::Int(1234))
        );
        let russian = Style {
            truths: &["да".to_string()],
            falsehoods: &["нет".to_string()],
            ..Style::builtin()
        };
        assert_eq!(
            value("Да", FieldType::Bool, &russian),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            value("НЕТ", FieldType::Bool, &russian),
            Ok(Value::Bool(false))
        );
    }

    #[test]
    fn naive_times_by_setting() {
        let budapest: Tz = "Europe/Budapest".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(NaiveTimes::Funnel.zone(budapest, None), budapest);
        assert_eq!(NaiveTimes::Funnel.zone(budapest, Some(new_york)), new_york);
        assert_eq!(NaiveTimes::Utc.zone(budapest, Some(new_york)), Tz::UTC);
        let zone = NaiveTimes::parse("Asia/Jerusalem").unwrap();
        assert_eq!(zone.zone(budapest, Some(new_york)).name(), "Asia/Jerusalem");
        assert_eq!(NaiveTimes::parse("Mars/Base"), None);
    }

    #[test]
    fn messages_name_the_exports_formats() {
        let formats = hungarian();
        let style = formats.style("meeting_at", Some(Tz::UTC));
        let raw = Raw::Text("holnap".to_string());
        assert_eq!(
            not_a("meeting_at", &raw, FieldType::Timestamp, &style),
            "field `meeting_at`: `holnap` is not a timestamp (expected `%Y.%m.%d. %H:%M` (funnel.toml) or RFC 3339, read in the contact's or the funnel's timezone when it has no offset)"
        );
        assert_eq!(
            not_a("vip", &raw, FieldType::Bool, &style),
            "field `vip`: `holnap` is not a bool (expected igen/nem, true/false, yes/no, y/n or 1/0)"
        );
    }
}
