//! Provider webhooks: what `funnel serve` hears from Postmark, SendGrid,
//! Mailgun and Twilio, and from anyone posting our own signed events to
//! `/events`. Each provider module checks that a request is genuine and
//! turns its payload into [`Signal`]s: funnel events with what the caller
//! needs to map them back (our contact id, the provider's message id, the
//! address) and whether the address must be suppressed.
//!
//! This module owns no HTTP server, no store and no environment: the
//! server hands over an [`Inbound`] request and the [`Secrets`] it loaded
//! (see [`Secrets::load`] and the variable names in `docs/providers.md`),
//! and gets back an [`Accepted`] or a [`Rejection`] that knows its status.
//! Recording the signals, deduplicating on [`Signal::dedupe`] and
//! remembering [`Accepted::replay_key`] are the caller's.
//!
//! The body size is checked before anything else, signatures are compared
//! in constant time, and no [`Rejection`] message holds a secret or more
//! of the body than the name of a field.

pub mod generic;
pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod twilio;

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value as Json};
use subtle::ConstantTimeEq;

/// The largest body any endpoint reads; a bigger one is [`Rejection::TooLarge`].
/// SendGrid batches events, but a batch stays well under this.
pub const MAX_BODY: usize = 1024 * 1024;

/// How far a signed timestamp may be from the time the request arrived,
/// either way, before the request is [`Rejection::Stale`].
pub const TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// One HTTP request as the server received it.
#[derive(Clone, Copy, Debug)]
pub struct Inbound<'a> {
    /// The exact public URL the provider called, query included (behind a
    /// proxy: the configured base URL + path + query). Twilio signs it.
    pub public_url: &'a str,
    /// Header names and values; names are matched case-insensitively.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// When the request arrived; timestamps are judged against it.
    pub received_at: DateTime<Utc>,
}

impl Inbound<'_> {
    /// The first value of header `name`, trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
    }
}

/// Something a provider told us about a contact or an address.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The funnel event name: `email.delivered`, `email.bounced`,
    /// `email.complained`, `email.unsubscribed`, `email.opened`,
    /// `email.clicked`, `sms.replied`, `sms.stop`, `sms.start`,
    /// `sms.delivered`, `sms.failed`; any name for `/events`.
    pub name: String,
    /// Our contact id, when the payload carries it (metadata, custom
    /// arguments, user variables; always for `/events`).
    pub contact: Option<String>,
    /// The provider's id of the message, to find our outbox row.
    pub provider_message_id: Option<String>,
    /// The email address or phone number the event is about.
    pub address: Option<String>,
    /// Unique per event and stable across the provider's retries:
    /// `<provider>:<event id>`. The caller records each key once.
    pub dedupe: String,
    /// When it happened per the provider, else when the request arrived.
    pub at: DateTime<Utc>,
    /// Details: bounce type and reason, clicked URL, user agent, SMS text.
    pub data: Json,
    /// Whether the address must never be contacted on that channel again.
    pub suppress: Option<Suppress>,
}

/// The channel an address is suppressed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppress {
    /// A hard bounce, a spam complaint or an unsubscribe.
    Email,
    /// An SMS opt-out keyword such as STOP.
    Sms,
}

impl Suppress {
    pub fn name(self) -> &'static str {
        match self {
            Suppress::Email => "email",
            Suppress::Sms => "sms",
        }
    }

    pub fn parse(text: &str) -> Option<Suppress> {
        match text {
            "email" => Some(Suppress::Email),
            "sms" => Some(Suppress::Sms),
            _ => None,
        }
    }
}

/// What a genuine request said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accepted {
    /// In payload order; empty when every event was one we do not use.
    pub signals: Vec<Signal>,
    /// Mailgun's signature token (`mailgun:<token>`): the caller must
    /// store it for at least twice [`TOLERANCE`] and reject a request
    /// whose key it has seen, or a captured request could be replayed
    /// within the tolerance.
    pub replay_key: Option<String>,
}

/// Why a request was refused. Messages are short, name what was wrong, and
/// never hold a secret or the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Missing or wrong credentials or signature (401).
    Unauthorized(String),
    /// The signed timestamp is further than [`TOLERANCE`] from now (401).
    Stale,
    /// The body cannot be read as the provider's payload (400).
    Malformed(String),
    /// The body is over [`MAX_BODY`] (413).
    TooLarge,
    /// The provider's secret is not set, so its endpoint is off (404).
    NotConfigured,
}

impl Rejection {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Unauthorized(_) | Rejection::Stale => 401,
            Rejection::Malformed(_) => 400,
            Rejection::TooLarge => 413,
            Rejection::NotConfigured => 404,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Unauthorized(why) => write!(f, "unauthorized: {why}"),
            Rejection::Stale => write!(
                f,
                "stale: the signed timestamp is more than {} minutes from now",
                TOLERANCE.num_minutes()
            ),
            Rejection::Malformed(why) => write!(f, "malformed: {why}"),
            Rejection::TooLarge => write!(f, "body larger than {MAX_BODY} bytes"),
            Rejection::NotConfigured => write!(f, "this provider is not configured"),
        }
    }
}

impl std::error::Error for Rejection {}

/// A shared secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Secret(value.into())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Every provider's secret; `None` turns its endpoint off.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub postmark: Option<postmark::Credentials>,
    pub sendgrid: Option<sendgrid::PublicKey>,
    pub mailgun: Option<Secret>,
    pub twilio: Option<Secret>,
    pub events: Option<Secret>,
}

pub const ENV_POSTMARK_USER: &str = "FUNNEL_POSTMARK_USER";
pub const ENV_POSTMARK_PASSWORD: &str = "FUNNEL_POSTMARK_PASSWORD";
pub const ENV_SENDGRID_PUBLIC_KEY: &str = "FUNNEL_SENDGRID_PUBLIC_KEY";
pub const ENV_MAILGUN_SIGNING_KEY: &str = "FUNNEL_MAILGUN_SIGNING_KEY";
pub const ENV_TWILIO_AUTH_TOKEN: &str = "FUNNEL_TWILIO_AUTH_TOKEN";
pub const ENV_EVENTS_SECRET: &str = "FUNNEL_EVENTS_SECRET";

impl Secrets {
    /// Reads the secrets through `lookup` (the server passes
    /// `|name| std::env::var(name).ok()`); an empty value counts as unset.
    /// A SendGrid key that does not parse, or a Postmark user without a
    /// password (or the reverse), is an error naming the variable.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Secrets, String> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let postmark = match (get(ENV_POSTMARK_USER), get(ENV_POSTMARK_PASSWORD)) {
            (Some(user), Some(password)) => Some(postmark::Credentials::new(user, password)),
            (None, None) => None,
            (Some(_), None) => return Err(format!("{ENV_POSTMARK_PASSWORD} is not set")),
            (None, Some(_)) => return Err(format!("{ENV_POSTMARK_USER} is not set")),
        };
        let sendgrid = get(ENV_SENDGRID_PUBLIC_KEY)
            .map(|key| sendgrid::PublicKey::parse(&key))
            .transpose()
            .map_err(|why| format!("{ENV_SENDGRID_PUBLIC_KEY}: {why}"))?;
        Ok(Secrets {
            postmark,
            sendgrid,
            mailgun: get(ENV_MAILGUN_SIGNING_KEY).map(Secret::new),
            twilio: get(ENV_TWILIO_AUTH_TOKEN).map(Secret::new),
            events: get(ENV_EVENTS_SECRET).map(Secret::new),
        })
    }
}

/// Who is calling: one endpoint each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Postmark,
    SendGrid,
    Mailgun,
    Twilio,
    /// Our own signed events, `POST /events`.
    Generic,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Postmark,
        Provider::SendGrid,
        Provider::Mailgun,
        Provider::Twilio,
        Provider::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::Postmark => "postmark",
            Provider::SendGrid => "sendgrid",
            Provider::Mailgun => "mailgun",
            Provider::Twilio => "twilio",
            Provider::Generic => "generic",
        }
    }

    /// The URL path the provider is configured to call.
    pub fn path(self) -> &'static str {
        match self {
            Provider::Postmark => "/webhooks/postmark",
            Provider::SendGrid => "/webhooks/sendgrid",
            Provider::Mailgun => "/webhooks/mailgun",
            Provider::Twilio => "/webhooks/twilio",
            Provider::Generic => "/events",
        }
    }

    /// The provider whose endpoint is `path` (without the query).
    pub fn from_path(path: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.path() == path)
    }
}

/// Checks and reads a request to `provider`'s endpoint.
pub fn receive(
    provider: Provider,
    inbound: &Inbound,
    secrets: &Secrets,
) -> Result<Accepted, Rejection> {
    check_size(inbound)?;
    let missing = || Rejection::NotConfigured;
    match provider {
        Provider::Postmark => {
            postmark::receive(inbound, secrets.postmark.as_ref().ok_or_else(missing)?)
        }
        Provider::SendGrid => {
            sendgrid::receive(inbound, secrets.sendgrid.as_ref().ok_or_else(missing)?)
        }
        Provider::Mailgun => {
            mailgun::receive(inbound, secrets.mailgun.as_ref().ok_or_else(missing)?)
        }
        Provider::Twilio => twilio::receive(inbound, secrets.twilio.as_ref().ok_or_else(missing)?),
        Provider::Generic => {
            generic::receive(inbound, secrets.events.as_ref().ok_or_else(missing)?)
        }
    }
}

/// The first check of every endpoint.
pub(crate) fn check_size(inbound: &Inbound) -> Result<(), Rejection> {
    if inbound.body.len() > MAX_BODY {
        return Err(Rejection::TooLarge);
    }
    Ok(())
}

/// A signed Unix timestamp, refused when out of range or too far from
/// when the request arrived.
pub(crate) fn check_fresh(seconds: i64, inbound: &Inbound) -> Result<(), Rejection> {
    let at = DateTime::from_timestamp(seconds, 0).ok_or(Rejection::Stale)?;
    if (inbound.received_at - at).abs() > TOLERANCE {
        return Err(Rejection::Stale);
    }
    Ok(())
}

/// Whether two byte strings are equal, in time that does not depend on
/// where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The body as JSON, or why not (serde's reason, without the position).
pub(crate) fn json_body(inbound: &Inbound) -> Result<Json, Rejection> {
    serde_json::from_slice(inbound.body).map_err(|e| {
        let text = e.to_string();
        let reason = text.split(" at line ").next().unwrap_or_default();
        Rejection::Malformed(format!("body is not valid JSON: {reason}"))
    })
}

/// A string field, or an integer as its decimal text; blank is `None`.
pub(crate) fn text(object: &Json, key: &str) -> Option<String> {
    match object.get(key)? {
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Json::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Our contact id from a provider's metadata, refused like a feed's id
/// when it holds a control character (ids end up in mail headers).
pub(crate) fn contact_id(object: Option<&Json>, key: &str) -> Result<Option<String>, String> {
    let Some(id) = object.and_then(|o| text(o, key)) else {
        return Ok(None);
    };
    if crate::run::feed::has_control(&id) {
        return Err(format!("`{key}` contains a control character"));
    }
    Ok(Some(id))
}

/// An RFC 3339 time field, if present and readable.
pub(crate) fn rfc3339(object: &Json, key: &str) -> Option<DateTime<Utc>> {
    let text = object.get(key)?.as_str()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// A JSON object of the given fields, leaving out the absent ones.
pub(crate) fn details(fields: &[(&str, Option<Json>)]) -> Json {
    let map: Map<String, Json> = fields
        .iter()
        .filter_map(|(key, value)| Some(((*key).to_string(), value.clone()?)))
        .filter(|(_, value)| !value.is_null())
        .collect();
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(body: &[u8]) -> Inbound<'_> {
        Inbound {
            public_url: "https://example.com/",
            headers: &[],
            body,
            received_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn timestamps_within_five_minutes_either_way_are_fresh() {
        let request = inbound(b"");
        assert_eq!(check_fresh(1_700_000_000 - 300, &request), Ok(()));
        assert_eq!(check_fresh(1_700_000_000 + 300, &request), Ok(()));
        assert_eq!(
            check_fresh(1_700_000_000 - 301, &request),
            Err(Rejection::Stale)
        );
        assert_eq!(
            check_fresh(1_700_000_000 + 301, &request),
            Err(Rejection::Stale)
        );
        assert_eq!(check_fresh(i64::MAX, &request), Err(Rejection::Stale));
        assert_eq!(check_fresh(i64::MIN, &request), Err(Rejection::Stale));
    }

    #[test]
    fn an_unset_secret_turns_the_endpoint_off() {
        let secrets = Secrets::default();
        for provider in Provider::ALL {
            assert_eq!(Provider::from_path(provider.path()), Some(provider));
            let refused = receive(provider, &inbound(b"{}"), &secrets);
            assert_eq!(refused, Err(Rejection::NotConfigured), "{provider:?}");
        }
    }

    #[test]
    fn secrets_load_by_name_and_never_debug_print() {
        let env = |name: &str| match name {
            ENV_TWILIO_AUTH_TOKEN => Some("tok-123".to_string()),
            ENV_POSTMARK_USER => Some("hook".to_string()),
            ENV_POSTMARK_PASSWORD => Some("  ".to_string()),
            _ => None,
        };
        assert_eq!(
            Secrets::load(env).err().as_deref(),
            Some("FUNNEL_POSTMARK_PASSWORD is not set")
        );
        let secrets =
            Secrets::load(|name| (name == ENV_TWILIO_AUTH_TOKEN).then(|| "tok-123".to_string()))
                .unwrap_or_default();
        assert_eq!(secrets.twilio, Some(Secret::new("tok-123")));
        assert!(!format!("{secrets:?}").contains("tok-123"));
    }
}
