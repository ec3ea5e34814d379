//! `yaml-syntax`: The file is not valid YAML. Reported by the YAML reader (`parser.rs`).

use super::{Check, Rule};
use crate::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "yaml-syntax",
    severity: Severity::Error,
    check: Check::Parse,
    summary: "The file is not valid YAML.",
    what: "Reports text that YAML cannot read: a missing colon, bad indentation, an unclosed bracket or quote.",
    why: "Nothing else in the file can be checked until it parses; CI must stop before a half-read funnel reaches contacts.",
    example: r#"stages:
  requested
    steps: []     # `requested` needs a colon: `requested:`"#,
};
