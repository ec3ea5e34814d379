//! `[serve]`: where `funnel serve` listens, the public URL its links use,
//! and how it tells people from machines. Secrets are never here: the link
//! secret and the providers' keys come from environment variables.

use chrono::TimeDelta;
use serde::Deserialize;

/// The settings of `funnel serve` and of the links runs put in messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Serve {
    /// `host:port` to listen on.
    pub listen: String,
    /// The public URL the server is reached at (a reverse proxy's). Links
    /// (`{{unsubscribe_url}}`, `{{track}}`) are made only when it is set.
    pub base_url: Option<String>,
    /// A click this soon after the message went out is a mail scanner's.
    pub click_grace: TimeDelta,
    /// Whether `{{open_pixel}}` records `email.opened` (a weak signal).
    pub open_pixel: bool,
    /// Requests per second one client address may make (a burst of ten
    /// times as many is let through).
    pub rate_limit: u32,
    /// Take the client address from `X-Forwarded-For` (behind a proxy).
    pub trust_proxy: bool,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: "127.0.0.1:8425".to_string(),
            base_url: None,
            click_grace: TimeDelta::seconds(10),
            open_pixel: false,
            rate_limit: 200,
            trust_proxy: false,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct ServeSection {
    listen: Option<String>,
    base_url: Option<String>,
    click_grace: Option<String>,
    open_pixel: Option<bool>,
    rate_limit: Option<u32>,
    trust_proxy: Option<bool>,
}

impl ServeSection {
    pub(super) fn settings(self) -> Result<Serve, String> {
        let defaults = Serve::default();
        let click_grace = match self.click_grace {
            None => defaults.click_grace,
            Some(text) => crate::language::duration::parse(&text)
                .map_err(|e| format!("[serve] click-grace = \"{text}\": {e}"))?,
        };
        if let Some(base) = &self.base_url
            && !(base.starts_with("https://") || base.starts_with("http://"))
        {
            return Err(format!(
                "[serve] base-url = \"{base}\": give the full public URL, e.g. \"https://example.com/funnel\""
            ));
        }
        if self.rate_limit == Some(0) {
            return Err("[serve] rate-limit must be at least 1 request per second".to_string());
        }
        Ok(Serve {
            listen: self.listen.unwrap_or(defaults.listen),
            base_url: self.base_url.map(|b| b.trim_end_matches('/').to_string()),
            click_grace,
            open_pixel: self.open_pixel.unwrap_or(defaults.open_pixel),
            rate_limit: self.rate_limit.unwrap_or(defaults.rate_limit),
            trust_proxy: self.trust_proxy.unwrap_or(defaults.trust_proxy),
        })
    }
}
