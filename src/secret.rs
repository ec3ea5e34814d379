//! Secrets: `${NAME}` references to environment variables, expanded only
//! when a channel is built for sending, and the heuristics that spot a
//! literal secret written into a config or funnel file. Secret values are
//! never formatted into an error; [`Redactor`] scrubs them from provider
//! replies before those reach a log, `status` or `history`.

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

/// Replaces known secret values in provider replies and error texts.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    pub fn add(&mut self, values: impl IntoIterator<Item = String>) {
        self.values
            .extend(values.into_iter().filter(|v| v.len() >= 4));
    }

    pub fn scrub(&self, text: &str) -> String {
        self.values
            .iter()
            .fold(text.to_string(), |t, v| t.replace(v.as_str(), "***"))
    }
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
    fn redacts_known_values() {
        let mut r = Redactor::default();
        r.add(["hunter22".to_string(), "x".to_string()]);
        assert_eq!(r.scrub("auth hunter22 failed x"), "auth *** failed x");
    }
}
