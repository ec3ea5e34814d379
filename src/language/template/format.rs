//! What the funnel helpers write: `time` and `date` in the contact's
//! timezone and calendar, `relative` counted from the moment the message
//! is for, `number` and `currency` in its locale, `urlencode` (which the
//! HTTP channel's forms and the unsubscribe fallback encode with too), and
//! the checks of their arguments written as literals. The table of
//! helpers, their arity and how handlebars calls them are `helpers`; the
//! locale's words and separators are `locale`.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate};
use serde_json::Value as Json;

use super::helpers::{Args, Literals, Settings};
use super::locale::{Currency, Unit};

/// The strftime items of the `index`th argument (literal or evaluated);
/// `date` refuses the fields a date has none of.
pub(super) fn format_of<'a>(
    literals: &Literals<'a>,
    index: usize,
    date_only: bool,
) -> Result<Option<&'a str>, String> {
    let Some(format) = literals.params.get(index).copied().flatten() else {
        return Ok(None);
    };
    let Some(format) = format.as_str() else {
        return Err(format!("the format {format} is not text"));
    };
    for item in StrftimeItems::new(format) {
        match item {
            Item::Error => {
                return Err(format!(
                    "\"{format}\" is not a strftime format (`%%` writes a `%`)"
                ));
            }
            Item::Numeric(numeric, _) if date_only && is_time_of_day(&numeric) => {
                return Err(format!(
                    "\"{format}\" asks for a time of day, which a date has not: use `time`"
                ));
            }
            Item::Fixed(chrono::format::Fixed::TimezoneName) if date_only => {
                return Err(format!(
                    "\"{format}\" asks for a timezone, which a date has not: use `time`"
                ));
            }
            _ => {}
        }
    }
    Ok(Some(format))
}

fn is_time_of_day(numeric: &chrono::format::Numeric) -> bool {
    use chrono::format::Numeric as N;
    matches!(
        numeric,
        N::Hour | N::Hour12 | N::Minute | N::Second | N::Nanosecond | N::Timestamp
    )
}

pub(super) fn decimals_of(value: Option<&Json>) -> Result<Option<usize>, String> {
    let Some(value) = value else { return Ok(None) };
    value
        .as_u64()
        .filter(|d| *d <= 10)
        .and_then(|d| usize::try_from(d).ok())
        .map(Some)
        .ok_or_else(|| format!("decimals={value} is not a whole number from 0 to 10"))
}

pub(super) fn currency_of(code: &Json) -> Result<Currency, String> {
    code.as_str()
        .and_then(Currency::parse)
        .ok_or_else(|| format!("{code} is not a currency code such as \"EUR\" or \"HUF\""))
}

/// Writes `items` without ever panicking: a format chrono cannot apply
/// (a date asked for an hour) is an error, not a `to_string` panic.
fn write(shown: impl std::fmt::Display) -> Result<String, String> {
    let mut out = String::new();
    write!(out, "{shown}").map_err(|_| "the format cannot be applied to this value".to_string())?;
    Ok(out)
}

pub(super) fn time(args: &Args, settings: &Settings) -> Result<String, String> {
    let literals = args.literals();
    let format = format_of(&literals, 1, false)?.unwrap_or("%Y-%m-%d %H:%M");
    let at = args.timestamp(0, settings.timezone)?;
    let calendar = settings.locale.calendar;
    write(
        at.format_localized_with_items(StrftimeItems::new_with_locale(format, calendar), calendar),
    )
}

pub(super) fn date(args: &Args, settings: &Settings) -> Result<String, String> {
    let literals = args.literals();
    let format = format_of(&literals, 1, true)?.unwrap_or("%Y-%m-%d");
    let value = args.value(0)?;
    let day = match value.as_str() {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .or_else(|| {
                DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.with_timezone(&settings.timezone).date_naive())
            }),
        None => None,
    };
    let day = day.ok_or_else(|| {
        format!(
            "{} is {value}, not a date such as \"2026-05-05\"",
            args.name(0)
        )
    })?;
    let calendar = settings.locale.calendar;
    write(
        day.format_localized_with_items(StrftimeItems::new_with_locale(format, calendar), calendar),
    )
}

/// Counted in calendar days in the contact's timezone ("tomorrow" is the
/// next date, even 9 hours away); within the same day, in hours, then
/// minutes.
pub(super) fn relative(args: &Args, settings: &Settings) -> Result<String, String> {
    let tz = settings.timezone;
    let then = args.timestamp(0, tz)?;
    let now = settings.at.with_timezone(&tz);
    let days = then
        .date_naive()
        .signed_duration_since(now.date_naive())
        .num_days();
    let (amount, unit) = if days != 0 {
        (days, Unit::Day)
    } else {
        let minutes = then.signed_duration_since(now).num_minutes();
        if minutes.abs() >= 60 {
            (minutes / 60, Unit::Hour)
        } else {
            (minutes, Unit::Minute)
        }
    };
    Ok(settings.locale.relative(amount, unit))
}

pub(super) fn number(args: &Args, settings: &Settings) -> Result<String, String> {
    let value = args.number(0)?;
    let decimals = decimals_of(args.literals().hash_literal("decimals"))?;
    let decimals = decimals.unwrap_or(if value.fract() == 0.0 { 0 } else { 2 });
    Ok(settings.locale.number(value, decimals))
}

pub(super) fn currency(args: &Args, settings: &Settings) -> Result<String, String> {
    let amount = args.number(0)?;
    let currency = currency_of(args.value(1)?)?;
    let decimals = decimals_of(args.literals().hash_literal("decimals"))?;
    let decimals = decimals.unwrap_or(currency.decimals);
    Ok(settings.locale.money(amount, &currency, decimals))
}

/// Percent-encoding for form values (RFC 3986 unreserved kept).
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use handlebars::{Handlebars, RenderErrorReason};
    use serde_json::{Value as Json, json};

    use super::urlencode;
    use crate::language::template::helpers::{SETTINGS, Settings, register};
    use crate::language::template::locale::Locale;

    fn render(template: &str, locale: &str, data: Json) -> Result<String, String> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        register(&mut registry);
        let settings = Settings {
            timezone: "Europe/Budapest".parse().unwrap(),
            locale: Locale::parse(locale).unwrap(),
            at: "2026-05-04T09:00:00Z".parse().unwrap(),
        };
        let mut data = json!({ "contact": data });
        data[SETTINGS] = settings.to_json();
        registry
            .render_template(template, &data)
            .map_err(|e| match e.reason() {
                RenderErrorReason::NestedError(e) => e.to_string(),
                other => other.to_string(),
            })
    }

    #[test]
    fn time_is_local_and_localized() {
        let meeting = json!({ "at": "2026-05-05T08:00:00Z" });
        let show = |locale| render("{{time contact.at \"%A %H:%M\"}}", locale, meeting.clone());
        assert_eq!(show("hu").unwrap(), "kedd 10:00");
        assert_eq!(show("en").unwrap(), "Tuesday 10:00");
        assert_eq!(show("de").unwrap(), "Dienstag 10:00");
        assert_eq!(show("ru").unwrap(), "Вторник 10:00");
        assert_eq!(show("he").unwrap(), "שלישי 10:00");
        assert_eq!(
            render("{{time contact.at}}", "en", meeting.clone()).unwrap(),
            "2026-05-05 10:00"
        );
    }

    #[test]
    fn date_reads_dates_and_the_local_day_of_timestamps() {
        let contact = json!({ "birthday": "1990-03-01", "late": "2026-05-04T22:30:00Z" });
        let show = |t| render(t, "hu", contact.clone());
        assert_eq!(
            show("{{date contact.birthday \"%B %-d.\"}}").unwrap(),
            "március 1."
        );
        // 22:30 UTC is already the 5th in Budapest.
        assert_eq!(show("{{date contact.late}}").unwrap(), "2026-05-05");
        assert!(
            show("{{date contact.birthday \"%H\"}}")
                .unwrap_err()
                .contains("use `time`")
        );
    }

    #[test]
    fn relative_counts_from_the_moment_rendered_for() {
        let at = |t: &str| json!({ "at": t });
        let show = |t, locale| render("{{relative contact.at}}", locale, at(t)).unwrap();
        assert_eq!(show("2026-05-06T08:00:00Z", "en"), "in 2 days");
        assert_eq!(show("2026-05-05T06:00:00Z", "en"), "tomorrow");
        assert_eq!(show("2026-05-04T12:00:00Z", "en"), "in 3 hours");
        assert_eq!(show("2026-05-04T08:30:00Z", "en"), "30 minutes ago");
        assert_eq!(show("2026-05-06T08:00:00Z", "hu"), "2 nap múlva");
    }

    #[test]
    fn numbers_money_and_urls() {
        let contact = json!({ "score": 1234.5, "text": "12.5", "email": "a+b@x.hu" });
        let show = |t, locale| render(t, locale, contact.clone()).unwrap();
        assert_eq!(
            show("{{number contact.score decimals=2}}", "en"),
            "1,234.50"
        );
        assert_eq!(show("{{number contact.score}}", "de"), "1.234,50");
        assert_eq!(show("{{number contact.text decimals=0}}", "en"), "13");
        assert_eq!(
            show("{{currency contact.score \"EUR\"}}", "en"),
            "€1,234.50"
        );
        assert_eq!(
            show("{{currency contact.score \"HUF\"}}", "hu"),
            "1\u{A0}235\u{A0}Ft"
        );
        assert_eq!(show("{{urlencode contact.email}}", "en"), "a%2Bb%40x.hu");
    }

    #[test]
    fn bad_arguments_are_plain_errors_not_panics() {
        let contact = json!({ "at": "next tuesday", "n": "many", "d": "2026-05-05", "t": "2026-05-05T08:00:00Z" });
        let fails = |t: &str| render(t, "en", contact.clone()).unwrap_err();
        assert!(
            fails("{{time contact.at}}")
                .contains("`contact.at` is \"next tuesday\", not a timestamp")
        );
        assert!(fails("{{time contact.t \"%Q\"}}").contains("not a strftime format"));
        assert!(fails("{{time contact.d}}").contains("not a timestamp"));
        assert!(fails("{{number contact.n}}").contains("not a number"));
        assert!(fails("{{currency contact.t \"EURO\"}}").contains("not a number"));
        assert!(fails("{{currency 5 \"EURO\"}}").contains("not a currency code"));
        assert!(fails("{{number 5 decimals=99}}").contains("from 0 to 10"));
        assert!(fails("{{number 5 places=2}}").contains("takes no `places=`"));
        assert!(fails("{{relative}}").contains("takes one value, not 0"));
        assert!(fails("{{date contact.t \"%Z\"}}").contains("timezone"));
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(
            urlencode("Hi Ann, 50% off & more"),
            "Hi%20Ann%2C%2050%25%20off%20%26%20more"
        );
    }
}
