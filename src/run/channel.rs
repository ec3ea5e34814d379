//! Channels: where a queued action goes. The dispatcher routes each outbox
//! row to one ([`Channels::route`]); a network channel sends one message
//! and says whether it went, may be retried, or never will
//! ([`Failure`]). The JSON Lines file is special: it is written a batch at
//! a time, inside the dispatcher's transaction (see `file.rs`).
//!
//! Channels are built from `[channels.NAME]` when a delivery pass starts,
//! which is when `${NAME}` secrets are read from the environment. A channel
//! that cannot be built (a variable not set, a bad address) holds its rows
//! in the queue, untouched, and says why.

pub mod file;
pub mod http;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use crate::config::{ChannelSpec, Delivery};
use crate::secret::Redactor;
use crate::store::OutboxRow;

/// Why a send did not go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again: a timeout, a refused connection, 429, 5xx, an
    /// SMTP 4xx. `after` is the server's `Retry-After`, if it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Will fail the same way every time: a 4xx, a rejected recipient, a
    /// message without an address.
    Permanent(String),
}

impl Failure {
    /// The same failure with its text passed through `redactor`: each
    /// channel's `send` ends with this, so no error path can skip it.
    pub fn scrubbed(self, redactor: &Redactor) -> Self {
        match self {
            Failure::Retry { after, reason } => Failure::Retry {
                after,
                reason: redactor.scrub(&reason),
            },
            Failure::Permanent(reason) => Failure::Permanent(redactor.scrub(&reason)),
        }
    }
}

/// A network channel: SMTP or HTTP.
pub trait Channel: Send + Sync {
    /// Sends one row; must give up within the configured timeout. A
    /// failure's text is stored and shown: it must have been through
    /// [`Failure::scrubbed`].
    fn send(&self, row: &OutboxRow) -> Result<(), Failure>;
}

/// Where one row goes.
pub enum Route<'c> {
    File(&'c Path),
    Send {
        /// Index into [`Channels::senders`], for rate limits.
        index: usize,
        channel: &'c dyn Channel,
    },
    /// Left queued, not attempted: the channel is missing or broken.
    Held(String),
}

enum Built {
    File(PathBuf),
    Send(usize),
    Broken(String),
}

/// Every configured channel, ready to send.
pub struct Channels {
    default_file: PathBuf,
    built: IndexMap<String, Built>,
    pub senders: Vec<Box<dyn Channel>>,
    /// Messages per second of each sender, if limited.
    pub rates: Vec<Option<f64>>,
}

impl Channels {
    /// Builds every `[channels.NAME]`; `default_file` is the `--outbox` path.
    pub fn build(delivery: &Delivery, default_file: &Path) -> Self {
        let mut channels = Channels {
            default_file: default_file.to_path_buf(),
            built: IndexMap::new(),
            senders: Vec::new(),
            rates: Vec::new(),
        };
        let timeout = delivery
            .settings
            .timeout
            .to_std()
            .unwrap_or(Duration::from_secs(10));
        for (name, spec) in &delivery.channels {
            let sender: Result<Box<dyn Channel>, String> = match spec {
                ChannelSpec::File { path } => {
                    let path = path.clone().unwrap_or_else(|| default_file.to_path_buf());
                    channels.built.insert(name.clone(), Built::File(path));
                    continue;
                }
                ChannelSpec::Smtp(smtp) => smtp::Smtp::build(smtp, &delivery.staff, timeout)
                    .map(|c| Box::new(c) as Box<dyn Channel>),
                ChannelSpec::Http(http) => {
                    http::Http::build(http, timeout).map(|c| Box::new(c) as Box<dyn Channel>)
                }
            };
            let built = match sender {
                Ok(sender) => {
                    channels.senders.push(sender);
                    channels.rates.push(spec.rate());
                    Built::Send(channels.senders.len() - 1)
                }
                Err(reason) => Built::Broken(format!("channel `{name}`: {reason}")),
            };
            channels.built.insert(name.clone(), built);
        }
        channels
    }

    /// The channel a row goes to: its action's channel by name (a webhook
    /// by its `endpoint`); `notify` falls back to `email`; `set` and `tag`
    /// records, and everything when no channel is configured, go to the file.
    pub fn route(&self, row: &OutboxRow) -> Route<'_> {
        if self.built.is_empty() {
            return Route::File(&self.default_file);
        }
        let name = match row.channel.as_str() {
            "webhook" => row.payload.endpoint().unwrap_or("webhook"),
            "set" | "tag" => return Route::File(&self.default_file),
            other => other,
        };
        let built = match (self.built.get(name), name) {
            (Some(built), _) => built,
            (None, "notify") => match self.built.get("email") {
                Some(built) => built,
                None => return Route::File(&self.default_file),
            },
            (None, _) => {
                return Route::Held(format!(
                    "no channel `{name}` in funnel.toml; add [channels.{name}] (`funnel check` reports this)"
                ));
            }
        };
        match built {
            Built::File(path) => Route::File(path),
            Built::Send(index) => Route::Send {
                index: *index,
                channel: self.senders[*index].as_ref(),
            },
            Built::Broken(reason) => Route::Held(reason.clone()),
        }
    }
}

/// The data a channel's templates see: the row, flattened.
pub fn template_data(row: &OutboxRow) -> serde_json::Value {
    let payload = &row.payload.to_json();
    let field = |name: &str| {
        payload
            .get(name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "key": row.key,
        "funnel": row.funnel,
        "contact": row.contact,
        "step": row.step,
        "channel": row.channel,
        "stage": field("stage"),
        "to": field("to"),
        "subject": field("subject"),
        "body": field("body"),
        "html": field("html"),
        "fields": field("contact"),
        "payload": payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Message, Payload};

    #[test]
    fn provider_templates_see_the_subject_text_and_html_of_an_email() {
        let message = Message {
            to: Some("ann@example.com".into()),
            subject: Some("Hi".into()),
            body: "Tom & Jerry".into(),
            template: "hi".into(),
            transactional: false,
            unsubscribe: None,
            html: Some("<p>Tom &amp; Jerry</p>".into()),
        };
        let mut email = OutboxRow {
            key: "f/c/1/s".into(),
            funnel: "f".into(),
            contact: "c".into(),
            step: "s".into(),
            channel: "email".into(),
            payload: Payload::Message(message.clone()),
            due_at: crate::store::stored_time("2026-01-01T00:00:00Z").unwrap(),
            status: crate::store::OutboxStatus::Queued,
        };
        let data = template_data(&email);
        assert_eq!(data["to"], "ann@example.com");
        assert_eq!(data["subject"], "Hi");
        assert_eq!(data["body"], "Tom & Jerry");
        assert_eq!(data["html"], "<p>Tom &amp; Jerry</p>");
        email.payload = Payload::Message(Message {
            html: None,
            ..message
        });
        assert_eq!(template_data(&email)["html"], serde_json::Value::Null);
    }
}
