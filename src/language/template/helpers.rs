//! The helpers funnel adds to handlebars' own: `time`, `date`, `relative`,
//! `urlencode`, `number` and `currency`. One table ([`HELPERS`]) is both
//! what the runner registers and what `funnel check` accepts, so a helper
//! that checks is a helper that renders. Each formats in the contact's
//! timezone and locale and relative to the moment the message is for, which
//! the runner passes in the render data under [`SETTINGS`].
//!
//! A bad argument is an error in plain words, never a panic: the runner
//! records it on the action like any other template error.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::{Value as Json, json};

use super::locale::{Currency, Locale, Unit};

/// The key of the render data that holds [`Settings`]. A template cannot
/// read it: `@` names are handlebars' own variables, not paths.
pub const SETTINGS: &str = "@render";

/// handlebars' built-in helpers (registered by `Handlebars::new`).
pub const BUILTIN: [&str; 17] = [
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len",
];

/// What the helpers format with, for one contact at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub timezone: Tz,
    pub locale: Locale,
    /// The moment the message is rendered for: `relative` counts from it.
    pub at: DateTime<Utc>,
}

impl Settings {
    pub fn to_json(&self) -> Json {
        json!({
            "timezone": self.timezone.name(),
            "locale": self.locale.to_string(),
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }

    /// The settings the runner put in the render data; UTC, English and
    /// the wall clock when a caller left them out.
    fn of(ctx: &Context) -> Self {
        let settings = ctx.data().get(SETTINGS);
        let text = |key: &str| settings.and_then(|s| s.get(key)).and_then(Json::as_str);
        Settings {
            timezone: text("timezone")
                .and_then(|t| t.parse().ok())
                .unwrap_or(Tz::UTC),
            locale: text("locale").and_then(Locale::parse).unwrap_or_default(),
            at: text("at")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
        }
    }
}

/// One helper: its arguments and how it turns them into text.
pub struct Spec {
    pub name: &'static str,
    /// How it is called, for error messages and docs.
    pub usage: &'static str,
    min: usize,
    max: usize,
    hash: &'static [&'static str],
    render: fn(&Args, &Settings) -> Result<String, String>,
    /// What is wrong with the arguments written as literals, if anything:
    /// checked by `funnel check` before any contact is rendered.
    check: fn(&Literals) -> Result<(), String>,
}

/// The evaluated arguments of one call.
pub struct Args<'a> {
    params: Vec<(&'a Json, Option<&'a str>)>,
    hash: Vec<(&'a str, &'a Json)>,
}

/// The arguments of one call as written: `Some` for a literal.
pub struct Literals<'a> {
    pub params: Vec<Option<&'a Json>>,
    pub hash: Vec<(&'a str, Option<&'a Json>)>,
}

pub static HELPERS: [Spec; 6] = [
    Spec {
        name: "time",
        usage: "{{time contact.meeting_at \"%A %H:%M\"}}",
        min: 1,
        max: 2,
        hash: &[],
        render: time,
        check: |l| format_of(l, 1, false).map(|_| ()),
    },
    Spec {
        name: "date",
        usage: "{{date contact.birthday \"%-d %B\"}}",
        min: 1,
        max: 2,
        hash: &[],
        render: date,
        check: |l| format_of(l, 1, true).map(|_| ()),
    },
    Spec {
        name: "relative",
        usage: "{{relative contact.meeting_at}}",
        min: 1,
        max: 1,
        hash: &[],
        render: relative,
        check: |_| Ok(()),
    },
    Spec {
        name: "urlencode",
        usage: "{{urlencode contact.email}}",
        min: 1,
        max: 1,
        hash: &[],
        render: |args, _| Ok(crate::run::channel::http::urlencode(&args.text(0))),
        check: |_| Ok(()),
    },
    Spec {
        name: "number",
        usage: "{{number contact.score decimals=2}}",
        min: 1,
        max: 1,
        hash: &["decimals"],
        render: number,
        check: |l| decimals_of(l.hash_literal("decimals")).map(|_| ()),
    },
    Spec {
        name: "currency",
        usage: "{{currency contact.amount \"EUR\"}}",
        min: 2,
        max: 2,
        hash: &["decimals"],
        render: currency,
        check: |l| {
            if let Some(code) = l.params.get(1).copied().flatten() {
                currency_of(code)?;
            }
            decimals_of(l.hash_literal("decimals")).map(|_| ())
        },
    },
];

/// Registers every helper of [`HELPERS`] with `registry`.
pub fn register(registry: &mut Handlebars<'_>) {
    for spec in &HELPERS {
        registry.register_helper(spec.name, Box::new(spec));
    }
}

/// Helpers registered with the signing key they need, outside [`HELPERS`]:
/// `{{track "URL"}}` (see `crate::serve::links`).
pub const LINKS: [&str; 1] = ["track"];

/// Every helper name a template may call.
pub fn known() -> impl Iterator<Item = &'static str> {
    BUILTIN
        .into_iter()
        .chain(LINKS)
        .chain(HELPERS.iter().map(|spec| spec.name))
}

/// What is wrong with a call of the funnel helper `name` as written, if it
/// is one of ours and something is.
pub fn check_call(name: &str, literals: &Literals) -> Option<String> {
    if name == "track" {
        return check_track(literals).err();
    }
    let spec = HELPERS.iter().find(|spec| spec.name == name)?;
    spec.arity(literals.params.len())
        .and_then(|()| {
            match literals
                .hash
                .iter()
                .find(|(key, _)| !spec.hash.contains(key))
            {
                Some((key, _)) => Err(format!("`{name}` takes no `{key}=`")),
                None => Ok(()),
            }
        })
        .and_then(|()| (spec.check)(literals))
        .err()
}

/// `{{track "URL"}}`: one URL, which must be http(s) when written out
/// (the link redirects only there).
fn check_track(literals: &Literals) -> Result<(), String> {
    if literals.params.len() != 1 || !literals.hash.is_empty() {
        return Err(format!(
            "`track` takes one URL, not {} values",
            literals.params.len() + literals.hash.len()
        ));
    }
    match literals.params[0].map(|url| url.as_str()) {
        Some(Some(url)) if url.starts_with("https://") || url.starts_with("http://") => Ok(()),
        Some(_) => Err("`track` takes an http:// or https:// URL".to_string()),
        // A value read at render time is checked then.
        None => Ok(()),
    }
}

/// How the funnel helper `name` is called, for hints.
pub fn usage(name: &str) -> Option<&'static str> {
    if name == "track" {
        return Some("{{track \"https://example.com/offer\"}}");
    }
    HELPERS
        .iter()
        .find(|spec| spec.name == name)
        .map(|spec| spec.usage)
}

impl Spec {
    fn arity(&self, given: usize) -> Result<(), String> {
        if (self.min..=self.max).contains(&given) {
            return Ok(());
        }
        let wanted = match (self.min, self.max) {
            (1, 1) => "one value".to_string(),
            (min, max) if min == max => format!("{min} values"),
            (min, max) => format!("{min} to {max} values"),
        };
        Err(format!("`{}` takes {wanted}, not {given}", self.name))
    }
}

impl HelperDef for &'static Spec {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args = Args {
            params: h
                .params()
                .iter()
                .map(|p| (p.value(), p.relative_path().map(String::as_str)))
                .collect(),
            hash: h.hash().iter().map(|(k, v)| (*k, v.value())).collect(),
        };
        let literals = Literals {
            params: args.params.iter().map(|_| None).collect(),
            hash: args.hash.iter().map(|(k, _)| (*k, None)).collect(),
        };
        let result = check_call(self.name, &literals)
            .map_or_else(|| (self.render)(&args, &Settings::of(ctx)), Err);
        match result {
            Ok(text) => Ok(ScopedJson::Derived(Json::String(text))),
            Err(why) => Err(RenderErrorReason::NestedError(Box::new(HelperError(why))).into()),
        }
    }
}

/// A helper's complaint about its arguments, in plain words.
#[derive(Debug)]
pub struct HelperError(pub String);

impl std::fmt::Display for HelperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HelperError {}

impl Args<'_> {
    /// The `index`th value, or the error that names what is missing.
    fn value(&self, index: usize) -> Result<&Json, String> {
        match self.params.get(index) {
            Some((Json::Null, path)) => {
                Err(format!("`{}` has no value", path.unwrap_or("the value")))
            }
            Some((value, _)) => Ok(value),
            None => Err("a value is missing".to_string()),
        }
    }

    fn name(&self, index: usize) -> String {
        match self.params.get(index) {
            Some((_, Some(path))) => format!("`{path}`"),
            Some((value, None)) => format!("`{value}`"),
            None => "the value".to_string(),
        }
    }

    fn text(&self, index: usize) -> String {
        match self.params.get(index) {
            Some((Json::String(text), _)) => text.clone(),
            Some((Json::Null, _)) | None => String::new(),
            Some((other, _)) => other.to_string(),
        }
    }

    fn literals(&self) -> Literals<'_> {
        Literals {
            params: self.params.iter().map(|(v, _)| Some(*v)).collect(),
            hash: self.hash.iter().map(|(k, v)| (*k, Some(*v))).collect(),
        }
    }

    fn number(&self, index: usize) -> Result<f64, String> {
        let value = self.value(index)?;
        let number = match value {
            Json::Number(n) => n.as_f64(),
            Json::String(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        number
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("{} is {value}, not a number", self.name(index)))
    }

    /// A timestamp (RFC 3339 text, as contact timestamps are), in `tz`.
    fn timestamp(&self, index: usize, tz: Tz) -> Result<DateTime<Tz>, String> {
        let value = self.value(index)?;
        value
            .as_str()
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|t| t.with_timezone(&tz))
            .ok_or_else(|| {
                format!(
                    "{} is {value}, not a timestamp such as \"2026-05-05T10:00:00Z\"",
                    self.name(index)
                )
            })
    }
}

impl Literals<'_> {
    fn hash_literal(&self, key: &str) -> Option<&Json> {
        self.hash
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| *v)
    }
}

/// The strftime items of the `index`th argument (literal or evaluated);
/// `date` refuses the fields a date has none of.
fn format_of<'a>(
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

fn decimals_of(value: Option<&Json>) -> Result<Option<usize>, String> {
    let Some(value) = value else { return Ok(None) };
    value
        .as_u64()
        .filter(|d| *d <= 10)
        .and_then(|d| usize::try_from(d).ok())
        .map(Some)
        .ok_or_else(|| format!("decimals={value} is not a whole number from 0 to 10"))
}

fn currency_of(code: &Json) -> Result<Currency, String> {
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

fn time(args: &Args, settings: &Settings) -> Result<String, String> {
    let literals = args.literals();
    let format = format_of(&literals, 1, false)?.unwrap_or("%Y-%m-%d %H:%M");
    let at = args.timestamp(0, settings.timezone)?;
    let calendar = settings.locale.calendar;
    write(
        at.format_localized_with_items(StrftimeItems::new_with_locale(format, calendar), calendar),
    )
}

fn date(args: &Args, settings: &Settings) -> Result<String, String> {
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
fn relative(args: &Args, settings: &Settings) -> Result<String, String> {
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

fn number(args: &Args, settings: &Settings) -> Result<String, String> {
    let value = args.number(0)?;
    let decimals = decimals_of(args.literals().hash_literal("decimals"))?;
    let decimals = decimals.unwrap_or(if value.fract() == 0.0 { 0 } else { 2 });
    Ok(settings.locale.number(value, decimals))
}

fn currency(args: &Args, settings: &Settings) -> Result<String, String> {
    let amount = args.number(0)?;
    let currency = currency_of(args.value(1)?)?;
    let decimals = decimals_of(args.literals().hash_literal("decimals"))?;
    let decimals = decimals.unwrap_or(currency.decimals);
    Ok(settings.locale.money(amount, &currency, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_known_name_is_registered() {
        let mut registry = Handlebars::new();
        register(&mut registry);
        crate::serve::links::register(&mut registry, None);
        registry.set_strict_mode(true);
        for name in known() {
            let result = registry.render_template(&format!("{{{{{name}}}}}"), &json!({}));
            // A helper called without arguments may complain about them,
            // but is found; an unknown name is a missing variable.
            if let Err(e) = result {
                assert!(
                    !matches!(
                        e.reason(),
                        RenderErrorReason::MissingVariable(_)
                            | RenderErrorReason::HelperNotFound(_)
                    ),
                    "{name}: {e}"
                );
            }
        }
    }
}
