//! Mailgun: a JSON body `{"signature": {timestamp, token, signature},
//! "event-data": {...}}` where `signature` is the hex HMAC-SHA256 of
//! `timestamp` followed by `token`, keyed with the webhook signing key.
//! The signature covers only those two, not the event, so a captured
//! request replays with any event inside: the caller must remember
//! [`Accepted::replay_key`] (the token) and refuse it a second time.
//!
//! `event-data.id` deduplicates, `message.headers.message-id` is Mailgun's
//! message id (angle brackets trimmed, as the send API returns them) and
//! `user-variables.contact` our contact id.

use chrono::DateTime;
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use super::{
    Accepted, Inbound, Rejection, Secret, Signal, Suppress, check_fresh, check_size, contact_id,
    details, json_body, lower_hex, same, text,
};

/// Checks the signature and its timestamp, then reads the event.
pub fn receive(inbound: &Inbound, signing_key: &Secret) -> Result<Accepted, Rejection> {
    check_size(inbound)?;
    let body = json_body(inbound)?;
    let token = verify(&body, inbound, signing_key)?;
    Ok(Accepted {
        signals: parse(&body, inbound)?,
        replay_key: Some(format!("mailgun:{token}")),
    })
}

/// The signature object against the key; gives the token.
pub fn verify(body: &Json, inbound: &Inbound, signing_key: &Secret) -> Result<String, Rejection> {
    let signature = body.get("signature");
    let field = |key: &str| signature.and_then(|s| text(s, key));
    let (Some(timestamp), Some(token), Some(given)) =
        (field("timestamp"), field("token"), field("signature"))
    else {
        return Err(Rejection::Unauthorized(
            "missing `signature` with `timestamp`, `token` and `signature`".to_string(),
        ));
    };
    let expected = sign(signing_key.bytes(), &timestamp, &token);
    if !same(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
        return Err(Rejection::Unauthorized(
            "the signature does not match".to_string(),
        ));
    }
    let seconds = timestamp
        .parse()
        .map_err(|_| Rejection::Unauthorized("the timestamp is not a number".to_string()))?;
    check_fresh(seconds, inbound)?;
    Ok(token)
}

/// Hex HMAC-SHA256 of `timestamp` + `token`.
pub fn sign(key: &[u8], timestamp: &str, token: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    lower_hex(&mac.finalize().into_bytes())
}

/// The event's signal, if it is one we use.
pub fn parse(body: &Json, inbound: &Inbound) -> Result<Vec<Signal>, Rejection> {
    let malformed = |why: &str| Rejection::Malformed(why.to_string());
    let event = body
        .get("event-data")
        .filter(|e| e.is_object())
        .ok_or_else(|| malformed("missing `event-data` object"))?;
    let kind = text(event, "event").ok_or_else(|| malformed("missing `event-data.event`"))?;
    let Some((name, data, suppress)) = meaning(event, &kind) else {
        return Ok(Vec::new());
    };
    let id = text(event, "id").ok_or_else(|| malformed("missing `event-data.id`"))?;
    let at = event
        .get("timestamp")
        .and_then(Json::as_f64)
        .and_then(|seconds| {
            let millis = (seconds * 1000.0).round();
            // Out of i64 range is out of chrono's range too.
            let in_range = (-9.0e15..9.0e15).contains(&millis);
            in_range.then(|| DateTime::from_timestamp_millis(millis as i64))?
        })
        .unwrap_or(inbound.received_at);
    let message_id = event
        .pointer("/message/headers/message-id")
        .and_then(Json::as_str)
        .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>'))
        .filter(|id| !id.is_empty())
        .map(str::to_string);
    Ok(vec![Signal {
        name: name.to_string(),
        contact: contact_id(event.get("user-variables"), "contact")
            .map_err(Rejection::Malformed)?,
        provider_message_id: message_id,
        address: text(event, "recipient"),
        dedupe: format!("mailgun:{id}"),
        at,
        data,
        suppress,
    }])
}

fn meaning(event: &Json, kind: &str) -> Option<(&'static str, Json, Option<Suppress>)> {
    let field = |key: &str| event.get(key).cloned();
    let status = |key: &str| event.pointer(&format!("/delivery-status/{key}")).cloned();
    let user_agent = || event.pointer("/client-info/user-agent").cloned();
    Some(match kind {
        "delivered" => ("email.delivered", json!({}), None),
        // `severity` is `permanent` (a hard bounce) or `temporary`.
        "failed" => {
            let permanent = text(event, "severity").as_deref() == Some("permanent");
            let data = details(&[
                ("bounce_type", field("severity")),
                ("reason", field("reason")),
                ("status", status("code")),
                ("details", status("description")),
            ]);
            ("email.bounced", data, permanent.then_some(Suppress::Email))
        }
        "complained" => ("email.complained", json!({}), Some(Suppress::Email)),
        "unsubscribed" => ("email.unsubscribed", json!({}), Some(Suppress::Email)),
        "opened" => (
            "email.opened",
            details(&[("user_agent", user_agent())]),
            None,
        ),
        "clicked" => (
            "email.clicked",
            details(&[("url", field("url")), ("user_agent", user_agent())]),
            None,
        ),
        _ => return None,
    })
}
