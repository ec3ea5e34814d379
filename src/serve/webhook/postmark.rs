//! Postmark: one JSON record per request, authenticated with the HTTP
//! Basic credentials set on the webhook (Postmark signs nothing, so the
//! body's integrity rests on TLS). `RecordType` says what happened;
//! `MessageID` is Postmark's message id and `Metadata.contact` our contact
//! id when we sent it. Records we do not use (`Inbound`, a resubscribe)
//! are accepted and give no signal, so Postmark does not retry them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value as Json, json};
use std::fmt;
use subtle::ConstantTimeEq;

use super::{
    Accepted, Inbound, Rejection, Secret, Signal, Suppress, check_size, contact_id, details,
    json_body, rfc3339, text,
};

/// The user and password Postmark sends as HTTP Basic auth.
#[derive(Clone)]
pub struct Credentials {
    user: Secret,
    password: Secret,
}

impl Credentials {
    pub fn new(user: impl Into<Vec<u8>>, password: impl Into<Vec<u8>>) -> Self {
        Credentials {
            user: Secret::new(user),
            password: Secret::new(password),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(..)")
    }
}

/// Checks the credentials, then reads the record.
pub fn receive(inbound: &Inbound, credentials: &Credentials) -> Result<Accepted, Rejection> {
    check_size(inbound)?;
    verify(inbound, credentials)?;
    Ok(Accepted {
        signals: parse(inbound)?,
        replay_key: None,
    })
}

/// The `Authorization: Basic` header against `credentials`. Both halves
/// are compared in full whatever the first one gave.
pub fn verify(inbound: &Inbound, credentials: &Credentials) -> Result<(), Rejection> {
    let unauthorized = |why: &str| Rejection::Unauthorized(why.to_string());
    let header = inbound
        .header("authorization")
        .ok_or_else(|| unauthorized("missing Basic credentials"))?;
    let encoded = match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => rest.trim(),
        _ => return Err(unauthorized("the Authorization header is not Basic")),
    };
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| unauthorized("the Basic credentials are not base64"))?;
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .unwrap_or(decoded.len());
    let (user, password) = (
        &decoded[..colon],
        decoded.get(colon + 1..).unwrap_or_default(),
    );
    let user_ok = user.ct_eq(credentials.user.bytes());
    let password_ok = password.ct_eq(credentials.password.bytes());
    if bool::from(user_ok & password_ok) {
        Ok(())
    } else {
        Err(unauthorized("wrong user or password"))
    }
}

/// The record's signal, if it is one we use.
pub fn parse(inbound: &Inbound) -> Result<Vec<Signal>, Rejection> {
    let record = json_body(inbound)?;
    if !record.is_object() {
        return Err(Rejection::Malformed("expected a JSON object".to_string()));
    }
    let kind = text(&record, "RecordType")
        .ok_or_else(|| Rejection::Malformed("missing `RecordType`".to_string()))?;
    let message_id = text(&record, "MessageID");
    let Some(event) = event(&record, &kind) else {
        return Ok(Vec::new());
    };
    let at = rfc3339(&record, event.time_key).unwrap_or(inbound.received_at);
    let address = text(&record, event.address_key);
    // Bounces and complaints have their own id; the others are unique by
    // message, recipient and time (Postmark posts a retry unchanged).
    let dedupe = match text(&record, "ID") {
        Some(id) if event.has_id => format!("postmark:{kind}:{id}"),
        _ => format!(
            "postmark:{kind}:{}:{}:{}",
            message_id.as_deref().unwrap_or_default(),
            address.as_deref().unwrap_or_default(),
            record
                .get(event.time_key)
                .and_then(Json::as_str)
                .unwrap_or_default()
        ),
    };
    Ok(vec![Signal {
        name: event.name.to_string(),
        contact: contact_id(record.get("Metadata"), "contact").map_err(Rejection::Malformed)?,
        provider_message_id: message_id,
        address,
        dedupe,
        at,
        data: event.data,
        suppress: event.suppress,
    }])
}

/// How one record type reads.
struct Event {
    name: &'static str,
    /// Whether the record's `ID` identifies the event (bounces do).
    has_id: bool,
    time_key: &'static str,
    address_key: &'static str,
    data: Json,
    suppress: Option<Suppress>,
}

fn event(record: &Json, kind: &str) -> Option<Event> {
    let field = |key: &str| record.get(key).cloned();
    let engagement = |name, data| Event {
        name,
        has_id: false,
        time_key: "ReceivedAt",
        address_key: "Recipient",
        data,
        suppress: None,
    };
    Some(match kind {
        "Delivery" => Event {
            name: "email.delivered",
            has_id: false,
            time_key: "DeliveredAt",
            address_key: "Recipient",
            data: details(&[("details", field("Details"))]),
            suppress: None,
        },
        "Bounce" => {
            let hard = text(record, "Type").as_deref() == Some("HardBounce");
            Event {
                name: "email.bounced",
                has_id: true,
                time_key: "BouncedAt",
                address_key: "Email",
                data: details(&[
                    ("bounce_type", field("Type")),
                    ("reason", field("Description")),
                    ("details", field("Details")),
                ]),
                suppress: hard.then_some(Suppress::Email),
            }
        }
        "SpamComplaint" => Event {
            name: "email.complained",
            has_id: true,
            time_key: "BouncedAt",
            address_key: "Email",
            data: json!({}),
            suppress: Some(Suppress::Email),
        },
        "Open" => engagement(
            "email.opened",
            details(&[
                ("user_agent", field("UserAgent")),
                ("first_open", field("FirstOpen")),
            ]),
        ),
        "Click" => engagement(
            "email.clicked",
            details(&[
                ("url", field("OriginalLink")),
                ("user_agent", field("UserAgent")),
            ]),
        ),
        // A recipient who unsubscribed through Postmark; a resubscribe
        // (`SuppressSending: false`) is for the operator to undo by hand.
        "SubscriptionChange" if record.get("SuppressSending") == Some(&Json::Bool(true)) => Event {
            name: "email.unsubscribed",
            has_id: false,
            time_key: "ChangedAt",
            address_key: "Recipient",
            data: details(&[("reason", field("SuppressionReason"))]),
            suppress: Some(Suppress::Email),
        },
        _ => return None,
    })
}
