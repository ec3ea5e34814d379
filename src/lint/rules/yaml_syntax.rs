//! `yaml-syntax`: The file is not valid YAML. Reported by the YAML reader (`parser.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "yaml-syntax",
    severity: Severity::Error,
    check: Check::Parse,
    summary: "The file is not valid YAML.",
    what: "Reports text that YAML cannot read: an unclosed bracket or quote, a tab used for indentation, a key without its colon at the top level. (A missing colon deeper down often reads as valid YAML of the wrong shape: that is `invalid-type`.)",
    why: "Nothing else in the file can be checked until it parses; CI must stop before a half-read funnel reaches contacts.",
    example: r#"goal: { when: "has(contact.paid_at)", to: won     # the `{` is never closed"#,
};
