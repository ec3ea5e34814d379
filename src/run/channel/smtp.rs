//! Email over SMTP with lettre: STARTTLS, implicit TLS, or plain for a
//! relay on localhost; optional AUTH; connections pooled and reused for
//! the whole delivery pass.
//!
//! Each message has a `Message-ID` made from its outbox key, the same on
//! every retry, so a receiving system can drop a duplicate, and an
//! `X-Funnel-Key` header with the key itself. Marketing messages (not
//! `transactional`) carry `List-Unsubscribe` when the channel has an
//! `unsubscribe` URL template. An HTML part goes out beside the text when
//! the row has one.
//!
//! SMTP 5xx (a rejected recipient) fails for good; 4xx, timeouts and
//! connection errors are retried. A timeout says so in words.

use std::collections::BTreeMap;
use std::time::Duration;

use handlebars::Handlebars;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::{Channel, Failure};
use crate::config::{SmtpSpec, Tls};
use crate::secret::{self, Redactor};
use crate::store::{OutboxRow, Payload};

pub struct Smtp {
    transport: SmtpTransport,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// Staff names to addresses, for `notify`.
    staff: BTreeMap<String, String>,
    unsubscribe: Option<Handlebars<'static>>,
    redactor: Redactor,
}

impl Smtp {
    pub fn build(
        spec: &SmtpSpec,
        staff: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut redactor = Redactor::default();
        let mut expand = |text: &str| {
            secret::expand(text).map(|(text, used)| {
                redactor.add(used);
                text
            })
        };
        let host = expand(&spec.host)?;
        let mut builder = match spec.tls {
            Tls::None => SmtpTransport::builder_dangerous(host.as_str()),
            Tls::Starttls => SmtpTransport::starttls_relay(&host).map_err(|e| e.to_string())?,
            Tls::Tls => SmtpTransport::relay(&host).map_err(|e| e.to_string())?,
        };
        if let Some(port) = spec.port {
            builder = builder.port(port);
        }
        if spec.tls == Tls::None {
            builder = builder.tls(LettreTls::None);
        } else if spec.port.is_some() {
            // `relay` set the parameters for its own port; keep the mode.
            let parameters = TlsParameters::new(host.clone()).map_err(|e| e.to_string())?;
            builder = builder.tls(match spec.tls {
                Tls::Tls => LettreTls::Wrapper(parameters),
                _ => LettreTls::Required(parameters),
            });
        }
        if let Some(username) = &spec.username {
            let username = expand(username)?;
            let password = spec.password.as_deref().map(&mut expand).transpose()?;
            builder = builder.credentials(Credentials::new(username, password.unwrap_or_default()));
        }
        let transport = builder.timeout(Some(timeout)).build();
        let mailbox = |text: &str, what: &str| {
            text.parse::<Mailbox>()
                .map_err(|e| format!("{what} `{text}` is not an address: {e}"))
        };
        let unsubscribe = match &spec.unsubscribe {
            Some(template) => {
                let mut registry = Handlebars::new();
                registry.register_escape_fn(handlebars::no_escape);
                registry
                    .register_template_string("unsubscribe", template)
                    .map_err(|e| format!("unsubscribe template: {}", e.reason()))?;
                Some(registry)
            }
            None => None,
        };
        Ok(Smtp {
            transport,
            from: mailbox(&spec.from, "from")?,
            reply_to: spec
                .reply_to
                .as_deref()
                .map(|r| mailbox(r, "reply-to"))
                .transpose()?,
            staff: staff.clone(),
            unsubscribe,
            redactor,
        })
    }

    /// The recipient: the contact's address, or a staff member's for `notify`.
    fn recipient(&self, row: &OutboxRow) -> Result<Mailbox, Failure> {
        let to = row.payload.to().unwrap_or("");
        let address = if row.channel == "notify" && !to.contains('@') {
            self.staff.get(to).map(String::as_str).ok_or_else(|| {
                Failure::Permanent(format!(
                    "no address for staff `{to}`; add `{to} = \"...\"` under [staff] in funnel.toml"
                ))
            })?
        } else {
            to
        };
        if address.is_empty() {
            return Err(Failure::Permanent(
                "the contact has no email address".to_string(),
            ));
        }
        address
            .parse::<Mailbox>()
            .map_err(|e| Failure::Permanent(format!("`{address}` is not an address: {e}")))
    }

    fn message(&self, row: &OutboxRow) -> Result<Message, Failure> {
        // What of the payload goes in the mail: a message's parts, a
        // notice's body; anything else has no address (`recipient` says so).
        let (subject, body, html, signed) = match &row.payload {
            Payload::Message(m) => (
                m.subject.as_deref(),
                m.body.as_str(),
                m.html.as_deref(),
                m.unsubscribe.as_deref(),
            ),
            Payload::Notice(n) => (None, n.body.as_str(), None, None),
            _ => (None, "", None, None),
        };
        let subject = subject.map(str::to_string).unwrap_or_else(|| {
            if row.channel == "notify" {
                format!("[funnel] {}: {}", row.funnel, row.step)
            } else {
                String::new()
            }
        });
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(self.recipient(row)?)
            .subject(subject)
            .message_id(Some(message_id(&row.key, &self.from)))
            .raw_header(raw("X-Funnel-Key", row.key.clone()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let transactional = row.payload.transactional().unwrap_or(true);
        // Providers echo these in their webhooks, so what they tell
        // `funnel serve` (a bounce, a complaint) finds its contact.
        let ids = serde_json::json!({ "contact": row.contact, "funnel_key": row.key });
        builder = builder
            .raw_header(raw("X-PM-Metadata-contact", row.contact.clone()))
            .raw_header(raw("X-Mailgun-Variables", ids.to_string()))
            .raw_header(raw(
                "X-SMTPAPI",
                serde_json::json!({ "unique_args": ids }).to_string(),
            ));
        if let (Some(url), false) = (signed, transactional) {
            // `funnel serve`'s signed one-click link (RFC 8058).
            builder = builder
                .raw_header(raw("List-Unsubscribe", format!("<{url}>")))
                .raw_header(raw(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        } else if let (Some(template), false) = (&self.unsubscribe, transactional) {
            let data =
                serde_json::json!({ "contact": row.contact, "funnel": row.funnel, "key": row.key });
            let url = template
                .render("unsubscribe", &data)
                .map_err(|e| Failure::Permanent(format!("unsubscribe template: {}", e.reason())))?;
            builder = builder
                .raw_header(raw("List-Unsubscribe", format!("<{url}>")))
                .raw_header(raw(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        let body = body.to_string();
        let built = match html {
            Some(html) => {
                builder.multipart(MultiPart::alternative_plain_html(body, html.to_string()))
            }
            None => builder.header(ContentType::TEXT_PLAIN).body(body),
        };
        built.map_err(|e| Failure::Permanent(format!("cannot build the message: {e}")))
    }
}

/// What went wrong, in words: a socket read that hit the timeout is "timed
/// out", not lettre's "network error: Resource temporarily unavailable (os
/// error 11)" (a blocking socket's timeout surfaces as `WouldBlock`).
fn smtp_reason(error: &lettre::transport::smtp::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut timed_out = error.is_timeout();
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            timed_out |= matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            );
        }
        cause = current.source();
    }
    if timed_out {
        "SMTP: timed out".to_string()
    } else {
        format!("SMTP: {error}")
    }
}

fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// `<hash-of-key@sender-domain>`: stable across retries of one row.
fn message_id(key: &str, from: &Mailbox) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let domain = from.email.domain();
    format!("<funnel.{hash:016x}.{}@{domain}>", key.len())
}

impl Channel for Smtp {
    fn send(&self, row: &OutboxRow) -> Result<(), Failure> {
        self.attempt(row).map_err(|f| f.scrubbed(&self.redactor))
    }
}

impl Smtp {
    /// One message; its failure not yet scrubbed.
    fn attempt(&self, row: &OutboxRow) -> Result<(), Failure> {
        let message = self.message(row)?;
        match self.transport.send(&message) {
            Ok(_) => Ok(()),
            Err(e) => {
                let reason = smtp_reason(&e);
                if e.is_permanent() {
                    Err(Failure::Permanent(reason))
                } else {
                    Err(Failure::Retry {
                        after: None,
                        reason,
                    })
                }
            }
        }
    }
}
