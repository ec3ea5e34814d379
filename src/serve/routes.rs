//! The routes of `funnel serve` that people reach: `/u/TOKEN` (unsubscribe),
//! `/c/TOKEN` (tracked click), `/o/TOKEN` (open pixel), `/healthz`.
//! Provider webhooks are in `hooks`; both are routed here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::json;

use super::writer::Record;
use super::{App, MAX_BODY, page};
use crate::links::{Link, Message};
use crate::store::{DeliveryReads, Scope, Store, StoredEvent, Suppression};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/c/{token}", get(click))
        .route("/o/{token}", get(open))
        .route("/webhooks/{provider}", post(super::hooks::provider))
        .route("/events", post(super::hooks::generic))
        .layer(middleware::from_fn_with_state(app.clone(), limit))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Turns away a client past its rate before anything is read or stored.
async fn limit(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let client = client(&app, peer.ip(), request.headers());
    if app.limiter.allow(client) {
        next.run(request).await
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "too many requests\n",
        )
            .into_response()
    }
}

/// The client's address: the connection's, or behind a trusted proxy the
/// last address the proxy added to `X-Forwarded-For`.
fn client(app: &App, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !app.serve.trust_proxy {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.writer.lookup(Store::any_suppression).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "state unavailable\n").into_response(),
    }
}

fn verify(app: &App, token: &str) -> Option<Link> {
    app.links.as_ref()?.verify(token)
}

async fn unsubscribe_page(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    match verify(&app, &token) {
        Some(Link::Unsubscribe { .. }) => page::confirm_unsubscribe(),
        _ => page::not_found(),
    }
}

/// `POST /u/TOKEN`: RFC 8058's one-click body, or the confirmation form
/// (which posts the same field). Suppresses the contact's marketing in
/// every funnel and records `unsubscribed`, committed before the answer.
async fn unsubscribe(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Link::Unsubscribe { contact, message }) = verify(&app, &token) else {
        return page::not_found();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let one_click = one_click(content_type, &body);
    if !one_click {
        return (
            StatusCode::BAD_REQUEST,
            "expected the body List-Unsubscribe=One-Click (RFC 8058)\n",
        )
            .into_response();
    }
    let now = Utc::now();
    let records = vec![
        Record::Suppress(Suppression {
            scope: Scope::Marketing,
            contact: Some(contact.clone()),
            address: None,
            at: now,
            reason: format!("unsubscribed from {} ({})", message.funnel, message.step),
        }),
        Record::Event {
            event: StoredEvent {
                contact: contact.clone(),
                name: "unsubscribed".to_string(),
                at: now,
                data: json!({ "funnel": message.funnel, "step": message.step, "key": message.key }),
            },
            // Once per contact: a second click changes nothing.
            dedupe: format!("unsubscribe:{contact}"),
            source: "unsubscribe",
            received_at: now,
        },
    ];
    match app.writer.store(records).await {
        Ok(_) => page::unsubscribed(),
        Err(_) => page::unavailable(),
    }
}

/// Whether a POST body is RFC 8058's `List-Unsubscribe=One-Click`: as
/// `multipart/form-data` (what the RFC asks senders of the POST to use) or
/// `application/x-www-form-urlencoded` (what most do).
fn one_click(content_type: &str, body: &[u8]) -> bool {
    const NAME: &str = "List-Unsubscribe";
    const VALUE: &str = "One-Click";
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'));
    match boundary {
        Some(boundary) if content_type.starts_with("multipart/form-data") => {
            let text = String::from_utf8_lossy(body);
            text.split(&format!("--{boundary}")).any(|part| {
                let Some((head, value)) = part.split_once("\r\n\r\n") else {
                    return false;
                };
                head.contains(&format!("name=\"{NAME}\"")) && value.trim_end() == VALUE
            })
        }
        _ => form_urlencoded::parse(body).any(|(k, v)| k == NAME && v == VALUE),
    }
}

/// User agents of link scanners and previewers, lower case.
const SCANNERS: [&str; 12] = [
    "bot",
    "spider",
    "crawler",
    "preview",
    "scanner",
    "barracuda",
    "proofpoint",
    "mimecast",
    "safelinks",
    "urldefense",
    "python-requests",
    "curl/",
];

/// `GET`/`HEAD /c/TOKEN`: records the click and redirects to the URL in
/// the token (only there). A HEAD, a scanner's user agent, or a hit within
/// `click-grace` of the message leaving is stored as `email.clicked.bot`,
/// which no wait counts.
async fn click(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some(Link::Click { url, message }) = verify(&app, &token) else {
        return page::not_found();
    };
    let now = Utc::now();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_lowercase();
    let key = message.key.clone();
    let sent = app.writer.lookup(move |s| s.sent_at(&key)).await;
    let bot = if method == Method::HEAD {
        Some("HEAD request")
    } else if agent.is_empty() || SCANNERS.iter().any(|s| agent.contains(s)) {
        Some("scanner user agent")
    } else if let Ok(Some(sent)) = sent
        && app.serve.click_grace > chrono::TimeDelta::zero()
        // Before the send was recorded counts too: a scanner can follow
        // the link while the outcome is being committed.
        && now.signed_duration_since(sent) < app.serve.click_grace
    {
        Some("within click-grace of delivery")
    } else {
        None
    };
    let (name, dedupe) = match bot {
        Some(_) => ("email.clicked.bot", format!("bot:{}:{url}", message.key)),
        None => ("email.clicked", format!("click:{}:{url}", message.key)),
    };
    let mut data =
        json!({ "funnel": message.funnel, "step": message.step, "key": message.key, "url": url });
    if let Some(why) = bot {
        data["bot"] = json!(why);
    }
    let record = event(&message, name, data, dedupe, "click");
    if app.writer.store(vec![record]).await.is_err() {
        return page::unavailable();
    }
    (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
}

/// A 1×1 transparent GIF.
const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// `GET /o/TOKEN`: the open pixel, when `[serve] open-pixel` is on.
async fn open(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let Some(Link::Open { message }) = verify(&app, &token).filter(|_| app.serve.open_pixel) else {
        return page::not_found();
    };
    let data = json!({ "funnel": message.funnel, "step": message.step, "key": message.key });
    let dedupe = format!("open:{}", message.key);
    let record = event(&message, "email.opened", data, dedupe, "open");
    if app.writer.store(vec![record]).await.is_err() {
        return page::unavailable();
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PIXEL.as_slice(),
    )
        .into_response()
}

fn event(
    message: &Message,
    name: &str,
    data: serde_json::Value,
    dedupe: String,
    source: &'static str,
) -> Record {
    let now = Utc::now();
    Record::Event {
        event: StoredEvent {
            contact: message.contact.clone(),
            name: name.to_string(),
            at: now,
            data,
        },
        dedupe,
        source,
        received_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::one_click;

    #[test]
    fn one_click_is_read_from_either_form_encoding() {
        assert!(one_click(
            "application/x-www-form-urlencoded",
            b"List-Unsubscribe=One-Click"
        ));
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(one_click(
            "multipart/form-data; boundary=XyZ",
            multipart.as_bytes()
        ));
        assert!(!one_click(
            "multipart/form-data; boundary=XyZ",
            multipart.replace("One-Click", "Two-Click").as_bytes()
        ));
        assert!(!one_click(
            "application/x-www-form-urlencoded",
            b"unsubscribe=yes"
        ));
        assert!(!one_click("text/plain", b""));
    }
}
