//! What a queued action carries: the `payload` column of the outbox, one
//! shape per kind of action. The runner makes it, the dispatcher and the
//! channels read it by field, not by key. It is stored as JSON, and the
//! JSON is the same, byte for byte, as the `json!` objects earlier funnels
//! wrote (keys in the same order, absent and null where they were), so
//! older states read back and their rows go out unchanged.
//!
//! Which shape a row's payload has is said by the row, not by the JSON:
//! its channel, and its status for a row that failed to render (it keeps
//! the error instead). A pruned row's payload is [`PRUNED`]. A payload
//! that does not parse as its row's shape is an error
//! ([`StoreError::BadPayload`]), never an empty default.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::{OutboxStatus, PRUNED, StoreError, StoreResult};

/// The payload of an outbox row.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// An email, SMS or Messenger message to the contact.
    Message(Message),
    /// A call to one of the funnel's webhooks.
    Webhook(Webhook),
    /// A notification to staff (`notify`, or an overdue task's escalation).
    Notice(Notice),
    /// The fields a `set` step changed.
    Set(SetFields),
    /// The tag a `tag` step added.
    Tag(AddTag),
    /// A row that failed when it was queued (no address, a template that
    /// did not render): why.
    Failed(FailedAction),
    /// A row whose payload was dropped by `funnel prune`.
    Pruned(PrunedPayload),
}

/// A message to the contact, rendered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The contact's address (email) or number (SMS, Messenger).
    pub to: Option<String>,
    /// From the template's `subject:` header; SMS templates have none.
    pub subject: Option<String>,
    pub body: String,
    pub template: String,
    /// Sent even to contacts who unsubscribed from marketing, and not
    /// counted by frequency caps.
    pub transactional: bool,
    /// The signed one-click unsubscribe link of a marketing email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<String>,
    /// The HTML body, when the template has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// A webhook call: where, from where in which funnel, about whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// The `[channels.NAME]` it goes to.
    pub endpoint: String,
    pub funnel: String,
    pub stage: String,
    pub step: String,
    /// The contact's fields, as the templates saw them.
    pub contact: Map<String, Json>,
    /// The rendered template, when the step has one.
    pub body: Option<String>,
}

/// A notification to a staff member (or an address).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub to: String,
    pub body: String,
    /// Set for an overdue task's escalation.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

/// The task an escalation is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    pub task: i64,
    pub brief: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetFields {
    pub fields: Map<String, Json>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddTag {
    pub tag: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedAction {
    pub error: String,
}

/// Serialized as [`PRUNED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrunedPayload {
    pub pruned: bool,
}

/// The channels whose actions are messages to the contact.
pub const MESSAGE_CHANNELS: [&str; 3] = ["email", "sms", "messenger"];

impl Payload {
    /// The payload stored as `text` in a row of `channel` and `status`.
    pub fn parse(channel: &str, status: OutboxStatus, text: &str) -> StoreResult<Payload> {
        let bad = |error: serde_json::Error| StoreError::BadPayload {
            channel: channel.to_string(),
            reason: error.to_string(),
        };
        if text == PRUNED {
            return Ok(Payload::Pruned(PrunedPayload { pruned: true }));
        }
        if status == OutboxStatus::Failed {
            return serde_json::from_str(text).map(Payload::Failed).map_err(bad);
        }
        let parsed = match channel {
            c if MESSAGE_CHANNELS.contains(&c) => serde_json::from_str(text).map(Payload::Message),
            "webhook" => serde_json::from_str(text).map(Payload::Webhook),
            "notify" => serde_json::from_str(text).map(Payload::Notice),
            "set" => serde_json::from_str(text).map(Payload::Set),
            "tag" => serde_json::from_str(text).map(Payload::Tag),
            other => {
                return Err(StoreError::UnknownValue {
                    column: "outbox.channel",
                    text: other.to_string(),
                });
            }
        };
        parsed.map_err(bad)
    }

    /// The JSON stored for the payload.
    pub fn text(&self) -> String {
        // Structs of strings, booleans and JSON maps always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The payload as a JSON object, for what shows it whole: the
    /// webhook envelope and the channels' templates.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Whom it goes to: a message's address, a notice's staff member.
    pub fn to(&self) -> Option<&str> {
        match self {
            Payload::Message(m) => m.to.as_deref(),
            Payload::Notice(n) => Some(&n.to),
            _ => None,
        }
    }

    /// Whether a message is transactional; `None` for what is no message.
    pub fn transactional(&self) -> Option<bool> {
        match self {
            Payload::Message(m) => Some(m.transactional),
            _ => None,
        }
    }

    /// The channel a webhook call goes to.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Payload::Webhook(w) => Some(&w.endpoint),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads as funnel wrote them with `json!` before they were typed:
    /// each reads back as its shape and is written again byte for byte.
    #[test]
    fn payloads_of_earlier_states_read_back_and_write_the_same_text() {
        let rows = [
            (
                "email",
                OutboxStatus::Delivered,
                r#"{"to":"ann@example.com","subject":"Hi","body":"Hello Ann","template":"welcome","transactional":false,"unsubscribe":"https://x.test/u/abc","html":"<p>Hello</p>"}"#,
            ),
            (
                "email",
                OutboxStatus::Queued,
                r#"{"to":"ann@example.com","subject":"Receipt","body":"Paid","template":"receipt","transactional":true}"#,
            ),
            (
                "sms",
                OutboxStatus::Queued,
                r#"{"to":"+36 1 234 5678","subject":null,"body":"See you","template":"remind","transactional":false}"#,
            ),
            (
                "webhook",
                OutboxStatus::Queued,
                r#"{"endpoint":"crm","funnel":"f","stage":"lead","step":"push","contact":{"name":"Ann","score":3},"body":null}"#,
            ),
            (
                "notify",
                OutboxStatus::Queued,
                r#"{"to":"bob","body":"Call Ann"}"#,
            ),
            (
                "notify",
                OutboxStatus::Queued,
                r#"{"to":"boss","body":"Overdue: call task","task":7,"brief":null}"#,
            ),
            ("set", OutboxStatus::Queued, r#"{"fields":{"score":4}}"#),
            ("tag", OutboxStatus::Queued, r#"{"tag":"vip"}"#),
            (
                "email",
                OutboxStatus::Failed,
                r#"{"error":"no email address: the contact's `email` field is empty"}"#,
            ),
            ("sms", OutboxStatus::Delivered, PRUNED),
        ];
        for (channel, status, text) in rows {
            let payload = Payload::parse(channel, status, text).unwrap();
            assert_eq!(payload.text(), text, "{channel}");
        }
    }

    /// A payload that is not its row's shape is an error, never a default.
    #[test]
    fn a_payload_that_does_not_parse_is_an_error() {
        for (channel, text) in [("email", "{}"), ("webhook", "not json"), ("tag", "[]")] {
            let parsed = Payload::parse(channel, OutboxStatus::Queued, text);
            assert!(
                matches!(&parsed, Err(StoreError::BadPayload { channel: c, .. }) if c == channel),
                "{parsed:?}"
            );
        }
        let unknown = Payload::parse("pigeon", OutboxStatus::Queued, "{}");
        assert!(matches!(
            unknown,
            Err(StoreError::UnknownValue {
                column: "outbox.channel",
                ..
            })
        ));
    }
}
