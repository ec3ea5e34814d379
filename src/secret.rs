//! Secrets: `${NAME}` references to environment variables, expanded only
//! when a channel is built for sending, and the heuristics that spot a
//! literal secret written into a config or funnel file. Secret values are
//! never formatted into an error; [`Redactor`] scrubs them from provider
//! replies before those reach a log, `status` or `history`.
//!
//! A provider may echo the request back in its error reply, so a secret
//! shows up in more than its raw form: as the `Authorization: Basic`
//! value (base64 of `user:password`), percent-encoded from a form or URL,
//! or in a header line whose value the channel rendered from a template.
//! The redactor knows all three; every channel passes each failure through
//! [`Redactor::scrub`] once, where it leaves the channel.

/// Replaces every `${NAME}` in `text` with the variable's value, and returns
/// the values used (to redact later). A variable that is not set is an
/// error naming it, never showing any value.
pub fn expand(text: &str) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(text.len());
    let mut values = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without a closing `}`".to_string());
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{name}}}` is not an environment variable name"));
        }
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => {
                out.push_str(&value);
                values.push(value);
            }
            _ => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, values))
}

/// Whether `text` takes its secret from the environment (`${NAME}`, maybe
/// with literal text around it, like `Bearer ${TOKEN}`).
pub fn references_env(text: &str) -> bool {
    text.contains("${")
}

/// Key names whose values are credentials.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api-key",
        "api_key",
        "apikey",
        "authorization",
        "auth",
    ]
    .iter()
    .any(|k| key.contains(k))
}

/// Well-known credential shapes: provider key prefixes and private keys.
/// Returns what it looks like, for the warning.
pub fn looks_like_secret(text: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("sk_live_", "a Stripe secret key"),
        ("rk_live_", "a Stripe restricted key"),
        ("whsec_", "a webhook signing secret"),
        ("xoxb-", "a Slack bot token"),
        ("xoxp-", "a Slack user token"),
        ("ghp_", "a GitHub token"),
        ("github_pat_", "a GitHub token"),
        ("glpat-", "a GitLab token"),
        ("AKIA", "an AWS access key id"),
        ("SG.", "a SendGrid API key"),
        ("-----BEGIN", "a private key"),
    ];
    for (prefix, what) in PREFIXES {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at;
            let preceded = text[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            let tail: String = text[start + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .collect();
            if preceded && (tail.len() >= 12 || *prefix == "-----BEGIN") {
                return Some(what);
            }
            from = start + prefix.len();
        }
    }
    None
}

/// Header names whose values are credentials, wherever they appear in a
/// reply: `Name: value` lines, or `"Name": "value"` in echoed JSON.
const AUTH_HEADERS: &[&str] = &[
    "proxy-authorization",
    "authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "cookie",
];

/// Replaces known secret values in provider replies and error texts.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// Secret values, each also in its percent-encoded forms.
    pub fn add(&mut self, values: impl IntoIterator<Item = String>) {
        for value in values {
            let encoded = percent_encode(&value);
            let lower = encoded.to_ascii_lowercase();
            for form in [value, encoded, lower] {
                if form.len() >= 4 && !self.values.contains(&form) {
                    self.values.push(form);
                }
            }
        }
        // Longest first, so no shorter value cuts a longer one in half.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// HTTP Basic credentials: their `Authorization` form is base64 of
    /// `user:password`, a secret even when neither half is on its own.
    pub fn add_basic_auth(&mut self, username: &str, password: Option<&str>) {
        let pair = format!("{username}:{}", password.unwrap_or(""));
        self.add([base64(pair.as_bytes())]);
    }

    /// `text` with every known secret and every credential header's value
    /// replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let known = self
            .values
            .iter()
            .fold(text.to_string(), |t, v| t.replace(v.as_str(), "***"));
        scrub_auth_headers(&known)
    }
}

/// Replaces the value after each credential header name (`Authorization:
/// Basic ...`, `"x-api-key": "..."`) up to the end of its line or its
/// closing quote.
fn scrub_auth_headers(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < text.len() {
        let Some((start, name)) = AUTH_HEADERS
            .iter()
            .filter_map(|name| lower[at..].find(name).map(|i| (at + i, name.len())))
            .min()
        else {
            break;
        };
        let after_name = start + name;
        at = after_name;
        let bounded = lower[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-');
        let Some(value) = value_span(text, after_name).filter(|_| bounded) else {
            continue;
        };
        out.push_str(&text[copied..value.0]);
        out.push_str("***");
        copied = value.1;
        at = value.1.max(at);
    }
    out.push_str(&text[copied..]);
    out
}

/// Where the value after a header name lies: past an optional closing
/// quote, a `:` or `=`, blanks and an opening quote; to that quote or the
/// end of the line. `None` if no separator follows the name.
fn value_span(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() && matches!(bytes[i], b'"' | b'\'' | b' ' | b'\t') {
        i += 1;
    }
    if i >= bytes.len() || !matches!(bytes[i], b':' | b'=') {
        return None;
    }
    i += 1;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    let quote = bytes.get(i).copied().filter(|b| matches!(b, b'"' | b'\''));
    if quote.is_some() {
        i += 1;
    }
    let end = (i..bytes.len())
        .find(|&j| match quote {
            Some(q) => bytes[j] == q || bytes[j] == b'\n',
            None => matches!(bytes[j], b'\r' | b'\n'),
        })
        .unwrap_or(bytes.len());
    Some((i, end))
}

/// Percent-encoding of everything but RFC 3986's unreserved characters,
/// as form bodies and URLs carry a value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Standard base64 with padding, as HTTP Basic auth sends credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_are_named_and_values_never_shown() {
        let err = expand("Bearer ${FUNNEL_TEST_SURELY_UNSET}").unwrap_err();
        assert_eq!(
            err,
            "environment variable FUNNEL_TEST_SURELY_UNSET is not set"
        );
        let (text, used) = expand("no references").unwrap();
        assert_eq!(text, "no references");
        assert!(used.is_empty());
        assert!(expand("${bad name}").is_err());
    }

    #[test]
    fn spots_provider_keys_but_not_ordinary_words() {
        assert_eq!(
            looks_like_secret("key: sk_live_51HxQ2eKd9aBcDeFgH"),
            Some("a Stripe secret key")
        );
        assert_eq!(
            looks_like_secret("AKIAIOSFODNN7EXAMPLE"),
            Some("an AWS access key id")
        );
        assert_eq!(looks_like_secret("ask_live_now"), None);
        assert_eq!(looks_like_secret("TASKIA"), None);
    }

    #[test]
    fn base64_matches_http_basic_auth() {
        // python3 -c 'import base64; print(base64.b64encode(b"AC123:tok-5f2e9a77c1"))'
        assert_eq!(
            base64(b"AC123:tok-5f2e9a77c1"),
            "QUMxMjM6dG9rLTVmMmU5YTc3YzE="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    /// A provider echoing the request leaked `Authorization: Basic ...`
    /// into `status` and `retry --list`.
    #[test]
    fn echoed_credentials_are_scrubbed_in_every_form() {
        let mut r = Redactor::default();
        r.add(["p@ss word!".to_string()]);
        r.add_basic_auth("user", Some("p@ss word!"));
        let reply = "HTTP 400: got Authorization: Basic dXNlcjpwQHNzIHdvcmQh\r\n\
                     x-api-key: k-123\nbody=p%40ss%20word%21 {\"Proxy-Authorization\": \"Bearer z\", \"a\": 1}";
        let scrubbed = r.scrub(reply);
        assert_eq!(
            scrubbed,
            "HTTP 400: got Authorization: ***\r\nx-api-key: ***\nbody=*** {\"Proxy-Authorization\": \"***\", \"a\": 1}"
        );
        // Words that merely contain a header name are left alone.
        assert_eq!(r.scrub("unauthorization: fine"), "unauthorization: fine");
        assert_eq!(r.scrub("Authorization required"), "Authorization required");
    }

    #[test]
    fn redacts_known_values() {
        let mut r = Redactor::default();
        r.add(["hunter22".to_string(), "x".to_string()]);
        assert_eq!(r.scrub("auth hunter22 failed x"), "auth *** failed x");
    }
}
