//! `literal-secret`: a password, token or key written into a funnel or
//! into funnel.toml instead of named as an environment variable.

use super::{Check, Project, Rule};
use crate::language::source::{SourceId, Span};
use crate::lint::diagnostic::{Diagnostic, Severity};
use crate::secret;

pub const RULE: Rule = Rule {
    id: "literal-secret",
    severity: Severity::Warning,
    check: Check::Project(check),
    summary: "A secret-looking value written literally in a funnel or funnel.toml.",
    what: "Looks in funnel files and funnel.toml for well-known credential shapes (Stripe, Slack, GitHub, AWS and SendGrid keys, private keys), and in funnel.toml for `password`, `secret`, `token`, `api-key` and `Authorization` values that do not reference an environment variable (`${NAME}`).",
    why: "Funnels and funnel.toml are committed to git and read by everyone who can read the repository; a secret there is leaked for good, and rotating it means finding every copy. Secrets belong in the environment of the machine that runs `funnel run`.",
    example: "# funnel.toml\n[channels.email]\npassword = \"hunter2\"          # warned\npassword = \"${SMTP_PASSWORD}\"  # fine: read from the environment when sending",
};

fn check(project: &Project) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let funnels = project.dirs.iter().flat_map(|(_, funnels)| funnels);
    for funnel in funnels {
        let text = &project.sources.get(funnel.source).text;
        found.extend(shapes(funnel.source, text));
    }
    if let Some(config) = project.config {
        let text = &project.sources.get(config).text;
        found.extend(shapes(config, text));
        found.extend(config_values(config, text));
    }
    found
}

/// Lines holding a well-known credential shape.
fn shapes(source: SourceId, text: &str) -> Vec<Diagnostic> {
    let mut offset = 0;
    let mut found = Vec::new();
    // One pass over the whole file first: nearly every file has no secret,
    // and eleven searches per line cost a quarter of a big file's check.
    if secret::looks_like_secret(text).is_none() {
        return found;
    }
    for line in text.split_inclusive('\n') {
        if let Some(what) = secret::looks_like_secret(line) {
            let start = line.len() - line.trim_start().len();
            found.push(
                Diagnostic::new(
                    &RULE,
                    source,
                    Span::new(offset + start, line.trim().len()),
                    format!("this looks like {what}, written in the file"),
                )
                .label("a literal secret")
                .help("revoke it, then read it from the environment: `${NAME}` in funnel.toml"),
            );
        }
        offset += line.len();
    }
    found
}

/// `key = "value"` pairs in funnel.toml whose key names a credential and
/// whose value names no environment variable.
fn config_values(source: SourceId, text: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = line.split(" #").next().unwrap_or(line);
        if !code.trim_start().starts_with('#') {
            for (key, start, value) in pairs(code) {
                if secret::is_secret_key(key) && !value.is_empty() && !secret::references_env(value)
                {
                    found.push(
                        Diagnostic::new(
                            &RULE,
                            source,
                            Span::new(offset + start, value.len() + 2),
                            format!("`{key}` is written literally in funnel.toml"),
                        )
                        .label("a literal secret")
                        .help(format!(
                            "name an environment variable instead: {key} = \"${{{}}}\"",
                            env_name(key)
                        )),
                    );
                }
            }
        }
        offset += line.len();
    }
    found
}

/// `KEY = "VALUE"` pairs on a line (also inside inline tables): each key,
/// the offset of the value's opening quote, and the value.
fn pairs(line: &str) -> Vec<(&str, usize, &str)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(eq) = line[rest..].find('=') {
        let at = rest + eq;
        let before = line[..at].trim_end();
        // After the last character that cannot be in a bare key; it may be
        // several bytes long (`"E-mail cím" = "email"` in [feed.columns]).
        let key_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '"')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let key = before[key_start..].trim_matches('"');
        let after = &line[at + 1..];
        let value_start = at + 1 + (after.len() - after.trim_start().len());
        if line[value_start..].starts_with('"')
            && let Some(end) = line[value_start + 1..].find('"')
        {
            found.push((
                key,
                value_start,
                &line[value_start + 1..value_start + 1 + end],
            ));
            rest = value_start + 1 + end + 1;
        } else {
            rest = at + 1;
        }
    }
    found
}

fn env_name(key: &str) -> String {
    key.to_ascii_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_non_ascii_letters_do_not_break_the_scan() {
        // Regression: a Hungarian column name panicked on a char boundary.
        let text = "[feed.columns]\n\"Azonosító\" = \"id\"\n\"E-mail cím\" = \"email\"\n";
        assert!(config_values(SourceId(0), text).is_empty());
        let line = "\"Azonosító\" = \"id\"";
        let found = pairs(line);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0, found[0].2), ("", "id"));
        assert_eq!(&line[found[0].1..], "\"id\"");
    }

    #[test]
    fn finds_literal_credentials_but_not_references() {
        let text = "[channels.email]\npassword = \"hunter2\"\nusername = \"me\"\n[channels.sms]\nheaders = { Authorization = \"Bearer abc123\", X = \"y\" }\nsecret = \"${CRM_SECRET}\"\n";
        let found = config_values(SourceId(0), text);
        let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`password` is written literally in funnel.toml",
                "`Authorization` is written literally in funnel.toml"
            ]
        );
        assert_eq!(
            &text[found[0].span.offset..][..found[0].span.len],
            "\"hunter2\""
        );
    }
}
