//! HTTP channels: signed JSON webhooks, and SMS or messenger providers
//! whose request is configured with templates (`body` or `form`, and
//! `headers`), so a Twilio-style form post or a JSON API needs no code.
//!
//! Every request carries `Idempotency-Key` (the outbox key, the same on
//! every retry) and, with a `secret`, a Stripe-style signature:
//! `Funnel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//! The body of a given row is the same on every attempt; only `t` changes.
//!
//! 2xx is delivered; 408, 429 (honouring `Retry-After`), 5xx, timeouts
//! and connection errors are retried; any other status fails for good.
//! Errors never show the URL (it may hold a key) and are scrubbed of
//! every secret the channel was built with, in every form a reply may
//! echo (see `crate::secret`), on their way out of `send`.

use std::time::Duration;

use handlebars::{Handlebars, handlebars_helper};
use hmac::{Hmac, Mac};
use indexmap::IndexMap;
use reqwest::blocking::Client;
use serde_json::{Value as Json, json};
use sha2::Sha256;

use super::{Channel, Failure, template_data};
use crate::config::HttpSpec;
use crate::language::template::urlencode;
use crate::secret::{self, Redactor};
use crate::store::OutboxRow;

pub const SIGNATURE_HEADER: &str = "Funnel-Signature";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// How the request body is made.
enum Body {
    /// The JSON envelope of a webhook.
    Envelope,
    Template {
        content_type: String,
    },
    Form(Vec<String>),
}

pub struct Http {
    client: Client,
    method: reqwest::Method,
    url: String,
    /// Header names; their value templates are registered as `header:N`.
    headers: Vec<String>,
    body: Body,
    secret: Option<Vec<u8>>,
    basic_auth: Option<(String, Option<String>)>,
    templates: Handlebars<'static>,
    redactor: Redactor,
}

handlebars_helper!(json_helper: |value: Json| serde_json::to_string(&value).unwrap_or_default());
handlebars_helper!(urlencode_helper: |value: Json| {
    let text = match &value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    };
    urlencode(&text)
});

impl Http {
    pub fn build(spec: &HttpSpec, timeout: Duration) -> Result<Self, String> {
        let mut redactor = Redactor::default();
        let mut expand = |text: &str| {
            secret::expand(text).map(|(text, used)| {
                redactor.add(used);
                text
            })
        };
        let url = expand(&spec.url)?;
        let secret = spec
            .secret
            .as_deref()
            .map(&mut expand)
            .transpose()?
            .map(String::into_bytes);
        let basic_auth = match &spec.username {
            Some(username) => Some((
                expand(username)?,
                spec.password.as_deref().map(&mut expand).transpose()?,
            )),
            None => None,
        };
        let method = reqwest::Method::from_bytes(spec.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", spec.method))?;
        let mut templates = Handlebars::new();
        templates.register_escape_fn(handlebars::no_escape);
        templates.register_helper("json", Box::new(json_helper));
        templates.register_helper("urlencode", Box::new(urlencode_helper));
        let mut register = |name: String, text: &str| {
            templates
                .register_template_string(&name, text)
                .map_err(|e| format!("template `{name}`: {}", e.reason()))
        };
        let mut headers = Vec::new();
        for (index, (name, value)) in spec.headers.iter().enumerate() {
            register(format!("header:{index}"), &expand(value)?)?;
            headers.push(name.clone());
        }
        let body = match (&spec.body, &spec.form) {
            (Some(text), _) => {
                register("body".to_string(), &expand(text)?)?;
                Body::Template {
                    content_type: spec
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "application/json".to_string()),
                }
            }
            (None, Some(form)) => Body::Form(form_fields(form, &mut expand, &mut register)?),
            (None, None) => Body::Envelope,
        };
        let client = Client::builder()
            .timeout(timeout)
            .user_agent(concat!("funnel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        if let Some((username, password)) = &basic_auth {
            redactor.add_basic_auth(username, password.as_deref());
        }
        Ok(Http {
            client,
            method,
            url,
            headers,
            body,
            secret,
            basic_auth,
            templates,
            redactor,
        })
    }

    fn render(&self, name: &str, data: &Json) -> Result<String, Failure> {
        self.templates
            .render(name, data)
            .map_err(|e| Failure::Permanent(format!("template {name}: {}", e.reason())))
    }

    /// The request body and its content type: deterministic for a row.
    fn body(&self, row: &OutboxRow) -> Result<(Vec<u8>, String), Failure> {
        match &self.body {
            Body::Envelope => Ok((
                envelope(row).to_string().into_bytes(),
                "application/json".to_string(),
            )),
            Body::Template { content_type } => Ok((
                self.render("body", &template_data(row))?.into_bytes(),
                content_type.clone(),
            )),
            Body::Form(names) => {
                let data = template_data(row);
                let mut pairs = Vec::new();
                for (index, name) in names.iter().enumerate() {
                    let value = self.render(&format!("form:{index}"), &data)?;
                    pairs.push(format!("{}={}", urlencode(name), urlencode(&value)));
                }
                Ok((
                    pairs.join("&").into_bytes(),
                    "application/x-www-form-urlencoded".to_string(),
                ))
            }
        }
    }
}

fn form_fields(
    form: &IndexMap<String, String>,
    expand: &mut impl FnMut(&str) -> Result<String, String>,
    register: &mut impl FnMut(String, &str) -> Result<(), String>,
) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for (index, (name, value)) in form.iter().enumerate() {
        register(format!("form:{index}"), &expand(value)?)?;
        names.push(name.clone());
    }
    Ok(names)
}

impl Channel for Http {
    fn send(&self, row: &OutboxRow) -> Result<(), Failure> {
        self.attempt(row).map_err(|f| f.scrubbed(&self.redactor))
    }
}

impl Http {
    /// One request; its failure not yet scrubbed.
    fn attempt(&self, row: &OutboxRow) -> Result<(), Failure> {
        let (body, content_type) = self.body(row)?;
        let data = template_data(row);
        let mut request = self
            .client
            .request(self.method.clone(), &self.url)
            .header(IDEMPOTENCY_HEADER, &row.key)
            .header(reqwest::header::CONTENT_TYPE, content_type);
        for (index, name) in self.headers.iter().enumerate() {
            request = request.header(name, self.render(&format!("header:{index}"), &data)?);
        }
        if let Some((username, password)) = &self.basic_auth {
            request = request.basic_auth(username, password.as_ref());
        }
        if let Some(secret) = &self.secret {
            let timestamp = chrono::Utc::now().timestamp();
            request = request.header(SIGNATURE_HEADER, signature(secret, timestamp, &body));
        }
        let response = request
            .body(body)
            .send()
            .map_err(|e| self.transport_failure(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        // Scrubbed whole, then cut: a cut secret would no longer match.
        let text: String = self
            .redactor
            .scrub(&response.text().unwrap_or_default())
            .chars()
            .take(200)
            .collect();
        let reason = format!("HTTP {status}: {}", text.trim());
        let reason = reason.trim_end_matches([':', ' ']).to_string();
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            Err(Failure::Retry {
                after: retry_after,
                reason,
            })
        } else {
            Err(Failure::Permanent(reason))
        }
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else if error.is_builder() {
            return Failure::Permanent(format!("bad request: {}", innermost(error)));
        } else {
            "request failed"
        };
        Failure::Retry {
            after: None,
            reason: format!("{what}: {}", innermost(error)),
        }
    }
}

/// The root cause of an error, without reqwest's URL-bearing outer text.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The JSON a webhook receives: who, where in which funnel, and the
/// rendered template's fields (parsed when the template renders JSON).
pub fn envelope(row: &OutboxRow) -> Json {
    let payload = &row.payload.to_json();
    let mut contact = serde_json::Map::new();
    contact.insert("id".to_string(), json!(row.contact));
    if let Some(Json::Object(fields)) = payload.get("contact") {
        for (name, value) in fields {
            contact.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    let mut out = serde_json::Map::new();
    out.insert("id".to_string(), json!(row.key));
    out.insert("action".to_string(), json!(row.channel));
    out.insert("funnel".to_string(), json!(row.funnel));
    out.insert(
        "stage".to_string(),
        payload.get("stage").cloned().unwrap_or(Json::Null),
    );
    out.insert("step".to_string(), json!(row.step));
    out.insert("contact".to_string(), Json::Object(contact));
    if let Json::Object(fields) = payload {
        for (name, value) in fields {
            match name.as_str() {
                "contact" | "stage" | "endpoint" => {}
                "body" if row.channel == "webhook" => {
                    let parsed = value
                        .as_str()
                        .and_then(|text| serde_json::from_str::<Json>(text).ok());
                    out.insert(
                        "fields".to_string(),
                        parsed.unwrap_or_else(|| value.clone()),
                    );
                }
                _ => {
                    out.insert(name.clone(), value.clone());
                }
            }
        }
    }
    out.insert("due_at".to_string(), json!(crate::store::time(row.due_at)));
    Json::Object(out)
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// The hex HMAC-SHA256 a receiver recomputes to verify a request.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_documented_recipe() {
        // python3 -c 'import hmac, hashlib; print(hmac.new(b"whsec", b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(b"whsec", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
