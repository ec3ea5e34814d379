//! The provider endpoints of `funnel serve`: `POST /webhooks/PROVIDER` and
//! `POST /events`. `crate::serve::webhook` checks each request and reads its
//! signals; this module finds each signal's contact, turns it into events
//! and suppressions, and answers only after the writer committed them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::App;
use super::writer::{Outcome, Record};
use crate::serve::webhook::{self, Inbound, Provider, Signal, Suppress};
use crate::store::{Scope, StoredEvent, Suppression};

pub async fn provider(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match Provider::from_path(&format!("/webhooks/{name}")) {
        Some(provider) if provider != Provider::Generic => {
            hear(&app, provider, &uri, &headers, &body).await
        }
        _ => (StatusCode::NOT_FOUND, "no such provider\n").into_response(),
    }
}

pub async fn generic(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hear(&app, Provider::Generic, &uri, &headers, &body).await
}

async fn hear(
    app: &App,
    provider: Provider,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let public_url = public_url(app, uri, &headers);
    let inbound = Inbound {
        public_url: &public_url,
        headers: &headers,
        body,
        received_at: Utc::now(),
    };
    let accepted = match webhook::receive(provider, &inbound, &app.secrets) {
        Ok(accepted) => accepted,
        Err(rejection) => {
            let status =
                StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, format!("{rejection}\n")).into_response();
        }
    };
    let mut records = Vec::new();
    if let Some(key) = accepted.replay_key {
        records.push(Record::Nonce(key));
    }
    let mut unmatched = 0;
    for signal in accepted.signals {
        let contact = match &signal.contact {
            Some(contact) => Some(contact.clone()),
            None => contact_of(app, &signal).await.or_else(|| stranger(&signal)),
        };
        unmatched += usize::from(contact.is_none());
        records.extend(self::records(
            provider,
            &signal,
            contact,
            inbound.received_at,
        ));
    }
    let events = records
        .iter()
        .filter(|r| matches!(r, Record::Event { .. }))
        .count();
    match app.writer.store(records).await {
        Ok(Outcome::Stored(new)) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json!({ "stored": new, "duplicates": events - new, "unmatched": unmatched })
                .to_string(),
        )
            .into_response(),
        Ok(Outcome::Replayed) => (
            StatusCode::UNAUTHORIZED,
            "this signature was used before (replay)\n",
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "5")],
            "the state is busy; try again\n",
        )
            .into_response(),
    }
}

/// The URL the provider called, as it signed it: the configured public
/// base (behind a proxy) with the request's path and query, else the Host
/// the request named.
fn public_url(app: &App, uri: &Uri, headers: &[(String, String)]) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match &app.serve.base_url {
        Some(base) => format!("{base}{path}"),
        None => {
            let host = headers
                .iter()
                .find(|(k, _)| k == "host")
                .map_or("localhost", |(_, v)| v.as_str());
            format!("http://{host}{path}")
        }
    }
}

/// The contact a signal without our id is about: the one last written to
/// at its address.
async fn contact_of(app: &App, signal: &Signal) -> Option<String> {
    let address = signal.address.clone()?;
    let channel = if signal.name.starts_with("sms.") {
        "sms"
    } else {
        "email"
    };
    app.writer
        .lookup(move |s| s.contact_at(channel, &address))
        .await
        .ok()
        .flatten()
}

/// A text from a number no contact has: its event is kept under the
/// number, so that a funnel whose entry creates contacts from
/// `sms.replied` (a keyword texted after a talk) can take it in. Nothing
/// else reads it: an event for a contact nobody has is ignored.
fn stranger(signal: &Signal) -> Option<String> {
    if !signal.name.starts_with("sms.") {
        return None;
    }
    signal.address.clone()
}

/// What the state keeps of one signal: its event (when its contact is
/// known) and the suppressions it asks for.
fn records(
    provider: Provider,
    signal: &Signal,
    contact: Option<String>,
    received_at: chrono::DateTime<Utc>,
) -> Vec<Record> {
    let mut records = Vec::new();
    let reason = format!("{} from {}", signal.name, provider.name());
    if let Some(suppress) = signal.suppress {
        let scope = match suppress {
            Suppress::Email => Scope::Email,
            Suppress::Sms => Scope::Sms,
        };
        records.push(Record::Suppress(Suppression {
            scope,
            contact: contact.clone(),
            address: signal.address.clone(),
            at: signal.at,
            reason: reason.clone(),
        }));
    }
    // An unsubscribe through the provider's own link is an unsubscribe.
    if signal.name == "email.unsubscribed"
        && let Some(contact) = &contact
    {
        records.push(Record::Suppress(Suppression {
            scope: Scope::Marketing,
            contact: Some(contact.clone()),
            address: None,
            at: signal.at,
            reason,
        }));
    }
    if let Some(contact) = contact {
        let mut data = signal.data.clone();
        if let Some(map) = data.as_object_mut() {
            if let Some(id) = &signal.provider_message_id {
                map.insert("provider_message_id".into(), json!(id));
            }
            // Where it came from, for `create:` (`event.data.from`).
            if let Some(address) = &signal.address {
                map.entry("from").or_insert_with(|| json!(address));
            }
        }
        records.push(Record::Event {
            event: StoredEvent {
                contact,
                name: signal.name.clone(),
                at: signal.at,
                data,
            },
            dedupe: signal.dedupe.clone(),
            source: provider.name(),
            received_at,
        });
    }
    records
}
