//! Signed links into `funnel serve`: one-click unsubscribe, tracked clicks
//! and the optional open pixel. Made by the run (the templates' helpers)
//! and checked by `serve`, so it sits below both.
//!
//! A token is `<payload>.<mac>`, both base64url without padding: the
//! payload is a small JSON array naming what the link does and for whom,
//! the MAC the first 16 bytes of HMAC-SHA256 over the payload with the
//! link secret (`FUNNEL_LINK_SECRET`). Nothing is stored per link: the
//! server trusts what the MAC covers and nothing else, so a token cannot be
//! forged, and a click goes only to the URL signed into it (no open
//! redirect). Verification compares in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

/// The environment variable holding the link-signing secret.
pub const SECRET_ENV: &str = "FUNNEL_LINK_SECRET";

/// A secret shorter than this is refused: the links are only as strong as
/// it is.
const MIN_SECRET: usize = 16;

/// Bytes of the MAC kept in a token: 128 bits, short enough for a URL.
const MAC_BYTES: usize = 16;

/// What a link does, and for which message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Leave every marketing message of every funnel (RFC 8058).
    Unsubscribe { contact: String, message: Message },
    /// A click on `url` in the message.
    Click { url: String, message: Message },
    /// The open pixel of the message.
    Open { message: Message },
}

/// The message a link was sent in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub funnel: String,
    pub contact: String,
    pub step: String,
    /// The outbox key: the message's idempotency key.
    pub key: String,
}

impl Link {
    pub fn message(&self) -> &Message {
        match self {
            Link::Unsubscribe { message, .. }
            | Link::Click { message, .. }
            | Link::Open { message } => message,
        }
    }

    fn payload(&self) -> Json {
        let m = self.message();
        match self {
            Link::Unsubscribe { .. } => json!(["u", m.funnel, m.contact, m.step, m.key]),
            Link::Click { url, .. } => json!(["c", m.funnel, m.contact, m.step, m.key, url]),
            Link::Open { .. } => json!(["o", m.funnel, m.contact, m.step, m.key]),
        }
    }

    fn from_payload(json: &Json) -> Option<Link> {
        let items = json.as_array()?;
        let text = |i: usize| items.get(i).and_then(Json::as_str).map(str::to_string);
        let message = Message {
            funnel: text(1)?,
            contact: text(2)?,
            step: text(3)?,
            key: text(4)?,
        };
        match (text(0)?.as_str(), items.len()) {
            ("u", 5) => Some(Link::Unsubscribe {
                contact: message.contact.clone(),
                message,
            }),
            ("c", 6) => Some(Link::Click {
                url: text(5)?,
                message,
            }),
            ("o", 5) => Some(Link::Open { message }),
            _ => None,
        }
    }

    /// The path prefix the server routes this kind of link under.
    fn route(&self) -> &'static str {
        match self {
            Link::Unsubscribe { .. } => "u",
            Link::Click { .. } => "c",
            Link::Open { .. } => "o",
        }
    }
}

/// Makes and checks links: the public base URL and the secret.
#[derive(Clone)]
pub struct Links {
    base: String,
    secret: Vec<u8>,
    /// Whether messages carry the open pixel (`[serve] open-pixel`).
    pixel: bool,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("Links").field("base", &self.base).finish()
    }
}

impl Links {
    /// `base` is the public URL the server is reached at (behind a proxy,
    /// the proxy's); `secret` the value of [`SECRET_ENV`].
    pub fn new(base: &str, secret: &str) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!(
                "[serve] base-url `{base}` must start with https:// (or http:// for a test on loopback)"
            ));
        }
        if secret.len() < MIN_SECRET {
            return Err(format!(
                "{SECRET_ENV} must be at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(Self {
            base: base.to_string(),
            secret: secret.as_bytes().to_vec(),
            pixel: false,
        })
    }

    /// Reads the secret from the environment.
    pub fn from_env(base: &str) -> Result<Self, String> {
        match std::env::var(SECRET_ENV) {
            Ok(secret) => Self::new(base, &secret),
            Err(_) => Err(format!(
                "[serve] base-url is set but {SECRET_ENV} is not: links cannot be signed without it"
            )),
        }
    }

    /// With or without the open pixel in messages.
    pub fn with_pixel(mut self, on: bool) -> Self {
        self.pixel = on;
        self
    }

    pub fn open_pixel(&self) -> bool {
        self.pixel
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The public URL of `link`.
    pub fn url(&self, link: &Link) -> String {
        format!("{}/{}/{}", self.base, link.route(), self.token(link))
    }

    pub fn token(&self, link: &Link) -> String {
        let payload = URL_SAFE_NO_PAD.encode(link.payload().to_string());
        let mac = URL_SAFE_NO_PAD.encode(self.mac(payload.as_bytes()));
        format!("{payload}.{mac}")
    }

    /// The link a token stands for, when its MAC is right.
    pub fn verify(&self, token: &str) -> Option<Link> {
        let (payload, mac) = token.split_once('.')?;
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        check.update(payload.as_bytes());
        // Constant time: `verify_truncated_left` compares without
        // short-circuiting on the first differing byte.
        if given.len() != MAC_BYTES || check.verify_truncated_left(&given).is_err() {
            return None;
        }
        let json: Json = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        Link::from_payload(&json)
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length; this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return Vec::new();
        };
        mac.update(payload);
        mac.finalize().into_bytes()[..MAC_BYTES].to_vec()
    }

    /// The `_link` object a message's template data carries for `track`.
    pub fn template_data(message: &Message) -> Json {
        json!({ "funnel": message.funnel, "contact": message.contact, "step": message.step, "key": message.key })
    }
}

/// Registers `{{track "https://…"}}` on `registry`: the message's tracked
/// redirect to that URL. The message comes from the data's `_link` object,
/// which the runner fills for every message. Without links configured the
/// helper fails with what to configure: a link must not silently go out
/// untracked when the funnel waits for its click.
pub fn register(registry: &mut handlebars::Handlebars<'static>, links: Option<&Links>) {
    registry.register_helper("track", Box::new(Track(links.cloned())));
}

/// Where `{{unsubscribe_url}}` points without `funnel serve` links.
pub enum Fallback {
    /// The email channel's own `unsubscribe` URL template (the same URL
    /// its `List-Unsubscribe` header carries).
    Channel(Box<handlebars::Handlebars<'static>>),
    /// No channels: messages go to the outbox file for a look, and the
    /// link says what to configure.
    Preview,
}

impl Fallback {
    /// From the email channel's `unsubscribe` template.
    pub fn channel(template: &str) -> Result<Self, String> {
        let mut registry = handlebars::Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        registry
            .register_template_string("unsubscribe", template)
            .map_err(|e| format!("[channels.email] unsubscribe: {}", e.reason()))?;
        Ok(Fallback::Channel(Box::new(registry)))
    }

    /// The link for one message; `None` when the template fails.
    pub fn url(&self, message: &Message) -> Option<String> {
        match self {
            Fallback::Channel(registry) => registry
                .render(
                    "unsubscribe",
                    &json!({ "contact": message.contact, "funnel": message.funnel, "key": message.key }),
                )
                .ok(),
            Fallback::Preview => Some(format!(
                "https://unsubscribe.invalid/{}?set-serve-base-url-for-real-links",
                crate::language::template::urlencode(&message.contact)
            )),
        }
    }
}

struct Track(Option<Links>);

impl handlebars::HelperDef for Track {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg handlebars::Handlebars<'reg>,
        ctx: &'rc handlebars::Context,
        _: &mut handlebars::RenderContext<'reg, 'rc>,
        out: &mut dyn handlebars::Output,
    ) -> handlebars::HelperResult {
        let fail = |why: &str| handlebars::RenderErrorReason::Other(format!("track: {why}"));
        let Some(links) = &self.0 else {
            return Err(fail(&format!(
                "tracked links need `[serve] base-url` in funnel.toml and {SECRET_ENV} in the environment"
            ))
            .into());
        };
        let url = h.param(0).and_then(|p| p.value().as_str()).ok_or_else(|| {
            fail("give the link's URL, e.g. {{track \"https://example.com/offer\"}}")
        })?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(fail(&format!("`{url}` is not an http(s) URL")).into());
        }
        let link = ctx.data().get("_link");
        let text = |name: &str| {
            link.and_then(|l| l.get(name))
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        let message = match (text("funnel"), text("contact"), text("step"), text("key")) {
            (Some(funnel), Some(contact), Some(step), Some(key)) => Message {
                funnel,
                contact,
                step,
                key,
            },
            _ => return Err(fail("only a message's template can track links").into()),
        };
        out.write(&links.url(&Link::Click {
            url: url.to_string(),
            message,
        }))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            funnel: "quote".into(),
            contact: "c/1".into(),
            step: "offer".into(),
            key: "quote/c/1/1/offer".into(),
        }
    }

    #[test]
    fn a_token_round_trips_and_a_changed_byte_is_refused() {
        let links = Links::new("https://f.example.com/", "0123456789abcdef0123").unwrap();
        let link = Link::Click {
            url: "https://shop.example.com/?a=1&b=2".into(),
            message: message(),
        };
        let url = links.url(&link);
        assert!(url.starts_with("https://f.example.com/c/"), "{url}");
        let token = links.token(&link);
        assert_eq!(links.verify(&token), Some(link));
        // Every single-character change of the token is refused.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != token {
                assert_eq!(links.verify(&tampered), None, "accepted {tampered}");
            }
        }
        let other = Links::new("https://f.example.com", "another-secret-of-length").unwrap();
        assert_eq!(other.verify(&token), None);
    }

    #[test]
    fn short_secrets_and_odd_bases_are_refused() {
        assert!(Links::new("https://x", "short").is_err());
        assert!(Links::new("ftp://x", "0123456789abcdef").is_err());
        assert!(
            format!("{:?}", Links::new("https://x", "0123456789abcdef").unwrap())
                .contains("https://x")
        );
        assert!(
            !format!("{:?}", Links::new("https://x", "0123456789abcdef").unwrap()).contains("0123")
        );
    }

    /// Every helper name `funnel check` accepts is one a message renders:
    /// the language's own, and `track`, which only this module registers.
    #[test]
    fn every_known_name_is_registered() {
        use crate::language::template::helpers::{self, known};
        use handlebars::{Handlebars, RenderErrorReason};

        let mut registry = Handlebars::new();
        helpers::register(&mut registry);
        register(&mut registry, None);
        registry.set_strict_mode(true);
        for name in known() {
            let result = registry.render_template(&format!("{{{{{name}}}}}"), &json!({}));
            // A helper called without arguments may complain about them,
            // but is found; an unknown name is a missing variable.
            if let Err(e) = result {
                assert!(
                    !matches!(
                        e.reason(),
                        RenderErrorReason::MissingVariable(_)
                            | RenderErrorReason::HelperNotFound(_)
                    ),
                    "{name}: {e}"
                );
            }
        }
    }
}
