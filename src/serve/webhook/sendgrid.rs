//! SendGrid's Signed Event Webhook: a JSON array of events, signed with
//! ECDSA P-256 over SHA-256 of the `X-Twilio-Email-Event-Webhook-Timestamp`
//! value followed by the raw body; the DER signature comes base64 in
//! `X-Twilio-Email-Event-Webhook-Signature`. The verification key is the
//! one SendGrid shows under Mail Settings (base64 DER, or PEM).
//!
//! Each event is deduplicated on `sg_event_id`. Custom arguments arrive as
//! top-level keys, so ours is `contact`. `sg_message_id` is the
//! `X-Message-Id` SendGrid returned on sending plus a `.filter…` (or
//! `.recvd-…`) routing suffix, which is cut off.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Value as Json, json};

use super::{
    Accepted, Inbound, Rejection, Signal, Suppress, check_fresh, check_size, contact_id, details,
    json_body, text,
};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// SendGrid's verification key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key as SendGrid shows it: base64 of the DER public key, with or
    /// without PEM's `-----BEGIN PUBLIC KEY-----` lines.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let base64: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("-----"))
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = STANDARD
            .decode(base64)
            .map_err(|_| "not base64 (expected the key SendGrid shows)".to_string())?;
        VerifyingKey::from_public_key_der(&der)
            .map(PublicKey)
            .map_err(|_| "not an ECDSA P-256 public key".to_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(P-256)")
    }
}

/// Checks the signature and its timestamp, then reads the batch.
pub fn receive(inbound: &Inbound, key: &PublicKey) -> Result<Accepted, Rejection> {
    check_size(inbound)?;
    verify(inbound, key)?;
    Ok(Accepted {
        signals: parse(inbound)?,
        replay_key: None,
    })
}

pub fn verify(inbound: &Inbound, key: &PublicKey) -> Result<(), Rejection> {
    let unauthorized = |why: &str| Rejection::Unauthorized(why.to_string());
    let (Some(signature), Some(timestamp)) = (
        inbound.header(SIGNATURE_HEADER),
        inbound.header(TIMESTAMP_HEADER),
    ) else {
        return Err(unauthorized("missing the SendGrid signature headers"));
    };
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| unauthorized("the signature timestamp is not a number"))?;
    let der = STANDARD
        .decode(signature)
        .map_err(|_| unauthorized("the signature is not base64"))?;
    let signature =
        Signature::from_der(&der).map_err(|_| unauthorized("the signature is not ECDSA DER"))?;
    // Either form of `s` is SendGrid's; replays are caught by `sg_event_id`.
    let signature = signature.normalize_s().unwrap_or(signature);
    let mut signed = Vec::with_capacity(timestamp.len() + inbound.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(inbound.body);
    key.0
        .verify(&signed, &signature)
        .map_err(|_| unauthorized("the signature does not match"))?;
    check_fresh(seconds, inbound)
}

/// Every event of the batch we use, in order.
pub fn parse(inbound: &Inbound) -> Result<Vec<Signal>, Rejection> {
    let Json::Array(events) = json_body(inbound)? else {
        return Err(Rejection::Malformed(
            "expected a JSON array of events".to_string(),
        ));
    };
    let mut signals = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let at_event = |why: String| Rejection::Malformed(format!("event {}: {why}", index + 1));
        if !event.is_object() {
            return Err(at_event("not a JSON object".to_string()));
        }
        let kind = text(event, "event").ok_or_else(|| at_event("missing `event`".to_string()))?;
        let Some((name, data, suppress)) = meaning(event, &kind) else {
            continue;
        };
        let id =
            text(event, "sg_event_id").ok_or_else(|| at_event("missing `sg_event_id`".into()))?;
        let at = event
            .get("timestamp")
            .and_then(Json::as_i64)
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .unwrap_or(inbound.received_at);
        signals.push(Signal {
            name: name.to_string(),
            contact: contact_id(Some(event), "contact").map_err(at_event)?,
            provider_message_id: text(event, "sg_message_id").map(|id| message_id(&id)),
            address: text(event, "email"),
            dedupe: format!("sendgrid:{id}"),
            at,
            data,
            suppress,
        });
    }
    Ok(signals)
}

/// The `X-Message-Id` part of an `sg_message_id`.
fn message_id(sg_message_id: &str) -> String {
    let cut = [".filter", ".recvd-"]
        .iter()
        .filter_map(|suffix| sg_message_id.find(suffix))
        .min()
        .unwrap_or(sg_message_id.len());
    sg_message_id[..cut].to_string()
}

/// The event name, details and suppression of a SendGrid event we use.
fn meaning(event: &Json, kind: &str) -> Option<(&'static str, Json, Option<Suppress>)> {
    let field = |key: &str| event.get(key).cloned();
    Some(match kind {
        "delivered" => (
            "email.delivered",
            details(&[("response", field("response"))]),
            None,
        ),
        // `type` is `bounce` for a permanent failure, `blocked` for one the
        // receiver may accept later.
        "bounce" => {
            let hard = text(event, "type").as_deref() == Some("bounce");
            let data = details(&[
                ("bounce_type", field("type")),
                ("reason", field("reason")),
                ("status", field("status")),
            ]);
            ("email.bounced", data, hard.then_some(Suppress::Email))
        }
        // Never sent (an address SendGrid already suppresses, or invalid):
        // for the funnel it did not arrive.
        "dropped" => {
            let data = details(&[
                ("bounce_type", Some(json!("dropped"))),
                ("reason", field("reason")),
            ]);
            ("email.bounced", data, None)
        }
        "spamreport" => ("email.complained", json!({}), Some(Suppress::Email)),
        "unsubscribe" | "group_unsubscribe" => (
            "email.unsubscribed",
            details(&[("group", field("asm_group_id"))]),
            Some(Suppress::Email),
        ),
        "open" => {
            let data = details(&[
                ("user_agent", field("useragent")),
                ("machine_open", field("sg_machine_open")),
            ]);
            ("email.opened", data, None)
        }
        "click" => {
            let data = details(&[("url", field("url")), ("user_agent", field("useragent"))]);
            ("email.clicked", data, None)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_loses_its_routing_suffix() {
        // The suffix form is from SendGrid's Event Webhook reference.
        assert_eq!(
            message_id("14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"),
            "14c5d75ce93.dfd.64b469"
        );
        assert_eq!(
            message_id("W86EgYT6SQKk0lRflfLRsA.recvd-5f8d-1"),
            "W86EgYT6SQKk0lRflfLRsA"
        );
        assert_eq!(message_id("plain"), "plain");
    }

    #[test]
    fn keys_parse_from_base64_der_or_pem() {
        // The public key of sendgrid-nodejs's eventwebhook.spec.js.
        let der = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &der[..64],
            &der[64..]
        );
        assert_eq!(PublicKey::parse(der), PublicKey::parse(&pem));
        assert!(PublicKey::parse(der).is_ok());
        assert_eq!(
            PublicKey::parse("not a key").err().as_deref(),
            Some("not base64 (expected the key SendGrid shows)")
        );
        assert_eq!(
            PublicKey::parse("aGVsbG8=").err().as_deref(),
            Some("not an ECDSA P-256 public key")
        );
    }
}
