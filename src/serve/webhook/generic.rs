//! `POST /events`: events from anyone holding our events secret, signed
//! the way funnel's own outgoing webhooks are (`channel::http`):
//! `Funnel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//! (several `v1=` may be given, for a secret being rotated).
//!
//! The body is one JSON object or an array of them, each an event as the
//! events feed of `funnel run` writes it: `contact`, `event`, optional
//! `at` (default: when the request arrived) and `data`, plus an optional
//! `id` to deduplicate on. `name` is accepted for `event`. The items are
//! read by the events feed's own reader, so what the feed refuses (an id
//! with a control character, a blank name, a bad time) is refused here.
//! One bad item refuses the whole request, naming the item.

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use super::{Accepted, Inbound, Rejection, Secret, Signal, check_fresh, check_size, json_body};
use crate::run::channel::http;
use crate::run::feed::{self, FeedOptions, Format};

pub use crate::run::channel::http::SIGNATURE_HEADER;

/// Checks the signature and its timestamp, then reads the events.
pub fn receive(inbound: &Inbound, secret: &Secret) -> Result<Accepted, Rejection> {
    check_size(inbound)?;
    verify(inbound, secret)?;
    Ok(Accepted {
        signals: parse(inbound)?,
        replay_key: None,
    })
}

pub fn verify(inbound: &Inbound, secret: &Secret) -> Result<(), Rejection> {
    let unauthorized = |why: &str| Rejection::Unauthorized(why.to_string());
    let header = inbound
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| unauthorized("missing Funnel-Signature"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", v1)) => signatures.push(v1.to_ascii_lowercase()),
            _ => {}
        }
    }
    let seconds: i64 = timestamp
        .ok_or_else(|| unauthorized("Funnel-Signature has no `t=`"))?
        .parse()
        .map_err(|_| unauthorized("Funnel-Signature's `t=` is not a number"))?;
    let expected = http::sign(secret.bytes(), seconds, inbound.body);
    // Every candidate is compared, so the time does not tell which matched.
    let matched = signatures.iter().fold(false, |any, given| {
        super::same(expected.as_bytes(), given.as_bytes()) | any
    });
    if !matched {
        return Err(unauthorized("the signature does not match"));
    }
    check_fresh(seconds, inbound)
}

/// The events of the body, in order.
pub fn parse(inbound: &Inbound) -> Result<Vec<Signal>, Rejection> {
    let items = match json_body(inbound)? {
        Json::Array(items) => items,
        object @ Json::Object(_) => vec![object],
        _ => {
            return Err(Rejection::Malformed(
                "expected a JSON object or an array of objects".to_string(),
            ));
        }
    };
    // Each item becomes one line of an events feed (JSON escapes every
    // newline inside a string), so line N is item N.
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let at_item = |why: &str| Rejection::Malformed(format!("item {}: {why}", index + 1));
        let Json::Object(mut item) = item else {
            return Err(at_item("not a JSON object"));
        };
        keys.push(dedupe(&item).map_err(|why| at_item(&why))?);
        rename_name(&mut item).map_err(|why| at_item(&why))?;
        if !item.contains_key("at") || item.get("at") == Some(&Json::Null) {
            item.insert("at".into(), Json::from(inbound.received_at.to_rfc3339()));
        }
        item.remove("id");
        lines.push(Json::Object(item).to_string());
    }
    let options = FeedOptions {
        format: Some(Format::JsonLines),
        ..FeedOptions::default()
    };
    let (events, problems) = feed::read_events(lines.join("\n").as_bytes(), &options)
        .map_err(|e| Rejection::Malformed(e.to_string()))?;
    if let Some(problem) = problems.first() {
        let message = problem.message.replace("`event`", "`event` (or `name`)");
        return Err(Rejection::Malformed(format!(
            "item {}: {message}",
            problem.line
        )));
    }
    Ok(events
        .into_iter()
        .zip(keys)
        .map(|(event, dedupe)| Signal {
            name: event.name,
            contact: Some(event.contact),
            provider_message_id: None,
            address: None,
            dedupe,
            at: event.at,
            data: event.data,
            suppress: None,
        })
        .collect())
}

/// `generic:<id>`, or without an id `generic:sha256:<hash of the item>`,
/// which a sender's retry of the same body repeats.
fn dedupe(item: &Map<String, Json>) -> Result<String, String> {
    match item.get("id") {
        None | Some(Json::Null) => {
            let text = Json::Object(item.clone()).to_string();
            Ok(format!(
                "generic:sha256:{}",
                super::lower_hex(&Sha256::digest(text))
            ))
        }
        Some(Json::String(id)) if !id.trim().is_empty() && !feed::has_control(id) => {
            Ok(format!("generic:{}", id.trim()))
        }
        Some(Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(format!("generic:{n}")),
        Some(Json::String(id)) if feed::has_control(id) => {
            Err("`id` contains a control character".to_string())
        }
        Some(_) => Err("`id` must be a non-empty string or an integer".to_string()),
    }
}

/// `name` is another spelling of the feed's `event`; both may be given
/// only when they agree.
fn rename_name(item: &mut Map<String, Json>) -> Result<(), String> {
    let Some(name) = item.remove("name") else {
        return Ok(());
    };
    match item.get("event") {
        None | Some(Json::Null) => {
            item.insert("event".to_string(), name);
            Ok(())
        }
        Some(event) if *event == name => Ok(()),
        Some(_) => Err("`event` and `name` differ".to_string()),
    }
}
