//! The helpers funnel adds to handlebars' own: `time`, `date`, `relative`,
//! `urlencode`, `number` and `currency`. One table ([`HELPERS`]) is both
//! what the runner registers and what `funnel check` accepts, so a helper
//! that checks is a helper that renders. Each formats in the contact's
//! timezone and locale and relative to the moment the message is for, which
//! the runner passes in the render data under [`SETTINGS`].
//!
//! A bad argument is an error in plain words, never a panic: the runner
//! records it on the action like any other template error. What each
//! helper writes is `format`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::{Value as Json, json};

use super::format::{
    currency, currency_of, date, decimals_of, format_of, number, relative, time, urlencode,
};
use super::locale::Locale;

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
        render: |args, _| Ok(urlencode(&args.text(0))),
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
/// `{{track "URL"}}`. The language knows how it is called (`check_call`,
/// `usage`); rendering it signs a link, which is `funnel serve`'s (its
/// `links` module registers it and tests that every name here renders).
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
    pub(super) fn value(&self, index: usize) -> Result<&Json, String> {
        match self.params.get(index) {
            Some((Json::Null, path)) => {
                Err(format!("`{}` has no value", path.unwrap_or("the value")))
            }
            Some((value, _)) => Ok(value),
            None => Err("a value is missing".to_string()),
        }
    }

    pub(super) fn name(&self, index: usize) -> String {
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

    pub(super) fn literals(&self) -> Literals<'_> {
        Literals {
            params: self.params.iter().map(|(v, _)| Some(*v)).collect(),
            hash: self.hash.iter().map(|(k, v)| (*k, Some(*v))).collect(),
        }
    }

    pub(super) fn number(&self, index: usize) -> Result<f64, String> {
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
    pub(super) fn timestamp(&self, index: usize, tz: Tz) -> Result<DateTime<Tz>, String> {
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
    pub(super) fn hash_literal(&self, key: &str) -> Option<&Json> {
        self.hash
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| *v)
    }
}
