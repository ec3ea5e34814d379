//! Provider webhooks end to end through `webhook::receive`: a signed
//! example is accepted and read into the expected signals; a tampered,
//! stale, oversized or malformed copy is refused with its status.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use funnel::serve::webhook::{
    self, Accepted, Inbound, MAX_BODY, Provider, Rejection, Secret, Secrets, Signal, Suppress,
};
use serde_json::json;

const NOW: i64 = 1_700_000_000;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

/// A request as the server would hand it over.
struct Request {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    received_at: DateTime<Utc>,
}

impl Request {
    fn new(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Request {
            url: format!("https://funnel.example.com{path}"),
            headers: Vec::new(),
            body: body.into(),
            received_at: at(NOW),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_lowercase(), value.to_string()));
        self
    }

    fn send(&self, provider: Provider, secrets: &Secrets) -> Result<Accepted, Rejection> {
        let inbound = Inbound {
            public_url: &self.url,
            headers: &self.headers,
            body: &self.body,
            received_at: self.received_at,
        };
        webhook::receive(provider, &inbound, secrets)
    }

    fn signals(&self, provider: Provider, secrets: &Secrets) -> Vec<Signal> {
        self.send(provider, secrets).unwrap().signals
    }
}

fn names(signals: &[Signal]) -> Vec<&str> {
    signals.iter().map(|s| s.name.as_str()).collect()
}

fn malformed(result: Result<Accepted, Rejection>) -> String {
    match result {
        Err(Rejection::Malformed(why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn too_large(path: &str) -> Request {
    Request::new(path, vec![b' '; MAX_BODY + 1])
}

#[path = "webhooks/events.rs"]
mod events;
#[path = "webhooks/mailgun.rs"]
mod mailgun;
#[path = "webhooks/postmark.rs"]
mod postmark;
#[path = "webhooks/sendgrid.rs"]
mod sendgrid;
#[path = "webhooks/twilio.rs"]
mod twilio;
