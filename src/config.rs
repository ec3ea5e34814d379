//! The project config, `funnel.toml` at the repository root: rule severities,
//! check settings, delivery (`[delivery]`, `[channels.NAME]`, `[staff]`)
//! and how the operator's export is written (`[feed]`, in `config/feed.rs`).
//! Found by walking up from the current directory, or named with `--config`.
//! Secrets never live here: a channel names an environment variable
//! (`password = "${SMTP_PASSWORD}"`) and the dispatcher reads it when it
//! sends. This file only reads and validates; it opens no connection.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::lint::diagnostic::{Severity, suggest};
use crate::lint::rules;

pub mod export;
mod feed;
mod located;
mod serve;
mod state;
pub mod threshold;

pub use feed::FeedSettings;
pub use located::Located;
pub use serve::Serve;
pub use state::{StateSettings, retention};

pub const FILE_NAME: &str = "funnel.toml";

#[derive(Debug, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    /// Severity overrides by rule id.
    pub rules: HashMap<String, Severity>,
    pub max_warnings: Option<usize>,
    pub delivery: Delivery,
    /// `[feed]`: the export's encoding, formats, columns and bad-row limit.
    pub feed: FeedSettings,
    /// The config file's text, kept so `check` can point into it.
    pub text: Option<String>,
    /// `[serve]`: `funnel serve` and the links runs put in messages.
    pub serve: Serve,
    /// `[state]`: retention.
    pub state: StateSettings,
}

/// Where queued actions go and how hard the dispatcher tries.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub settings: Settings,
    /// `[channels.NAME]`: `email`, `sms`, `messenger` and `notify` serve
    /// those actions; any other name is a webhook `endpoint`. Empty means
    /// the embedded default: everything goes to the JSON Lines file.
    pub channels: IndexMap<String, ChannelSpec>,
    /// `[staff]`: email addresses of the staff names funnels notify.
    pub staff: BTreeMap<String, String>,
}

/// The action names that are channels rather than webhook endpoints.
pub const MESSAGE_CHANNELS: [&str; 4] = ["email", "sms", "messenger", "notify"];

/// `[delivery]`: retries, timeouts and bounds of one delivery pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Attempts before a row is dead-lettered.
    pub max_attempts: u32,
    /// Sends in flight at once, over all channels.
    pub concurrency: usize,
    /// Limit on every SMTP or HTTP call.
    pub timeout: TimeDelta,
    /// A pass starts no new send after this long, so a slow provider
    /// cannot hold up the run; what is left goes out next run.
    pub budget: TimeDelta,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: TimeDelta,
    pub max_backoff: TimeDelta,
    /// Rows read and committed together.
    pub batch: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_attempts: 8,
            concurrency: 4,
            timeout: TimeDelta::seconds(10),
            budget: TimeDelta::seconds(60),
            backoff: TimeDelta::minutes(1),
            max_backoff: TimeDelta::hours(6),
            batch: 1000,
        }
    }
}

/// One `[channels.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChannelSpec {
    /// The JSON Lines outbox; `path` defaults to `--outbox`.
    File {
        path: Option<PathBuf>,
    },
    Smtp(SmtpSpec),
    /// An HTTP endpoint: a signed JSON webhook unless `body` or `form`
    /// says how the provider wants it.
    Http(HttpSpec),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SmtpSpec {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub reply_to: Option<String>,
    /// A template for the `List-Unsubscribe` URL of marketing email, over
    /// `contact`, `funnel` and `key`.
    pub unsubscribe: Option<String>,
    /// Messages per second.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: for a relay on localhost only.
    None,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpSpec {
    pub url: String,
    #[serde(default = "post")]
    pub method: String,
    /// Header templates; values may name environment variables.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A body template, sent with `content-type`.
    pub body: Option<String>,
    /// Form fields (templates), sent url-encoded; the Twilio style.
    pub form: Option<IndexMap<String, String>>,
    pub content_type: Option<String>,
    /// HMAC-SHA256 signing key for the `Funnel-Signature` header.
    pub secret: Option<String>,
    /// HTTP Basic authentication (Twilio: account SID and auth token).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Messages per second.
    pub rate: Option<f64>,
}

fn post() -> String {
    "POST".to_string()
}

impl ChannelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSpec::File { .. } => "file",
            ChannelSpec::Smtp(_) => "smtp",
            ChannelSpec::Http(_) => "http",
        }
    }

    pub fn rate(&self) -> Option<f64> {
        match self {
            ChannelSpec::File { .. } => None,
            ChannelSpec::Smtp(s) => s.rate,
            ChannelSpec::Http(h) => h.rate,
        }
    }
}

impl Delivery {
    /// Whether `name` can be delivered: configured, or no channels at all
    /// (then everything goes to the file).
    pub fn has(&self, name: &str) -> bool {
        self.channels.is_empty() || self.channels.contains_key(name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    check: CheckSection,
    #[serde(default)]
    rules: HashMap<String, String>,
    #[serde(default)]
    delivery: DeliverySection,
    #[serde(default)]
    channels: IndexMap<String, ChannelSpec>,
    #[serde(default)]
    staff: BTreeMap<String, String>,
    #[serde(default)]
    feed: feed::FeedSection,
    #[serde(default)]
    serve: serve::ServeSection,
    #[serde(default)]
    state: state::StateSection,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DeliverySection {
    max_attempts: Option<u32>,
    concurrency: Option<usize>,
    timeout: Option<String>,
    budget: Option<String>,
    backoff: Option<String>,
    max_backoff: Option<String>,
    batch: Option<usize>,
}

impl DeliverySection {
    fn settings(self) -> std::result::Result<Settings, String> {
        let defaults = Settings::default();
        let duration = |key: &str, value: Option<String>, default: TimeDelta| match value {
            None => Ok(default),
            Some(text) => match crate::language::duration::parse(&text) {
                Ok(d) if d > TimeDelta::zero() => Ok(d),
                Ok(_) => Err(format!("[delivery] {key} must be longer than 0s")),
                Err(e) => Err(format!("[delivery] {key} = \"{text}\": {e}")),
            },
        };
        let positive = |key: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(format!("[delivery] {key} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(Settings {
            max_attempts: positive(
                "max-attempts",
                self.max_attempts.map(|n| n as usize),
                defaults.max_attempts as usize,
            )? as u32,
            concurrency: positive("concurrency", self.concurrency, defaults.concurrency)?,
            timeout: duration("timeout", self.timeout, defaults.timeout)?,
            budget: duration("budget", self.budget, defaults.budget)?,
            backoff: duration("backoff", self.backoff, defaults.backoff)?,
            max_backoff: duration("max-backoff", self.max_backoff, defaults.max_backoff)?,
            batch: positive("batch", self.batch, defaults.batch)?,
        })
    }
}

/// Checks what serde cannot: which kinds fit which names, rates, methods.
fn validate_channels(channels: &IndexMap<String, ChannelSpec>) -> std::result::Result<(), String> {
    for (name, spec) in channels {
        if matches!(spec, ChannelSpec::Smtp(_)) && !matches!(name.as_str(), "email" | "notify") {
            return Err(format!(
                "[channels.{name}]: kind `smtp` serves only `email` and `notify`; use kind `http` for sms, messenger and webhook endpoints"
            ));
        }
        if let Some(rate) = spec.rate()
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!(
                "[channels.{name}]: rate must be a positive number of messages per second"
            ));
        }
        if let ChannelSpec::Http(http) = spec {
            if http.body.is_some() && http.form.is_some() {
                return Err(format!(
                    "[channels.{name}]: give `body` or `form`, not both"
                ));
            }
            if reqwest::Method::from_bytes(http.method.as_bytes()).is_err() {
                return Err(format!(
                    "[channels.{name}]: `{}` is not an HTTP method",
                    http.method
                ));
            }
        }
    }
    Ok(())
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CheckSection {
    max_warnings: Option<usize>,
}

impl Config {
    /// `explicit` if given, else the nearest `funnel.toml` from `start` up;
    /// no file at all means the defaults.
    pub fn discover(explicit: Option<&Path>, start: &Path) -> Result<Self> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => start
                .ancestors()
                .map(|d| d.join(FILE_NAME))
                .find(|p| p.is_file()),
        };
        match path {
            Some(path) => Self::load(&path),
            None => Ok(Self::default()),
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::input::read_text(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(text)
            .map_err(|e| Error::ConfigAt(Box::new(Located::toml(path, text, &e))))?;
        let mut rules_by_id = HashMap::new();
        for (id, level) in file.rules {
            let Some(rule) = rules::find(&id) else {
                return Err(bad(format!(
                    "unknown rule `{id}` in [rules]: {}",
                    suggest(&id, rules::RULES.iter().map(|r| r.id))
                )));
            };
            let severity = match level.as_str() {
                "off" => Severity::Off,
                "warn" | "warning" => Severity::Warning,
                "error" => Severity::Error,
                other => {
                    return Err(bad(format!(
                        "rule `{id}`: `{other}` is not a severity; use off, warn or error"
                    )));
                }
            };
            if !rule.configurable() && severity != Severity::Error {
                return Err(bad(format!(
                    "rule `{id}` reports unreadable YAML and cannot be turned down"
                )));
            }
            rules_by_id.insert(id, severity);
        }
        validate_channels(&file.channels).map_err(bad)?;
        let feed = file.feed.settings(path, text).map_err(Error::ConfigAt)?;
        Ok(Config {
            path: Some(path.to_path_buf()),
            rules: rules_by_id,
            max_warnings: file.check.max_warnings,
            delivery: Delivery {
                settings: file.delivery.settings().map_err(bad)?,
                channels: file.channels,
                staff: file.staff,
            },
            feed,
            text: Some(text.to_string()),
            serve: file.serve.settings().map_err(bad)?,
            state: file.state.settings().map_err(bad)?,
        })
    }

    pub fn severity(&self, rule: &str, default: Severity) -> Severity {
        self.rules.get(rule).copied().unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_severities_and_max_warnings() {
        let config = Config::parse(
            Path::new("funnel.toml"),
            "[check]\nmax-warnings = 3\n[rules]\nunused-template = \"off\"\nno-opt-out = \"error\"\n",
        )
        .unwrap();
        assert_eq!(config.max_warnings, Some(3));
        assert_eq!(
            config.severity("unused-template", Severity::Warning),
            Severity::Off
        );
        assert_eq!(
            config.severity("no-opt-out", Severity::Warning),
            Severity::Error
        );
        assert_eq!(
            config.severity("dead-end", Severity::Error),
            Severity::Error
        );
    }

    #[test]
    fn unknown_rules_and_levels_are_errors() {
        let err =
            Config::parse(Path::new("funnel.toml"), "[rules]\ndead-ends = \"off\"\n").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `dead-end`?"),
            "{err}"
        );
        let err =
            Config::parse(Path::new("funnel.toml"), "[rules]\ndead-end = \"loud\"\n").unwrap_err();
        assert!(err.to_string().contains("not a severity"), "{err}");
        let err = Config::parse(Path::new("funnel.toml"), "[rules]\nyaml-syntax = \"off\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("cannot be turned down"), "{err}");
    }
}
