//! `duplicate-key`: The same key appears twice in one mapping. Reported by the YAML reader (`parser.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "duplicate-key",
    severity: Severity::Error,
    check: Check::Parse,
    summary: "The same key appears twice in one mapping.",
    what: "Reports a mapping that repeats a key, such as two stages with the same name or two `goal:` keys in a stage.",
    why: "YAML readers disagree on which copy wins; whichever it is, half of what was written is thrown away.",
    example: r#"stages:
  lost: { terminal: true }
  lost: { terminal: true }   # the second `lost`"#,
};
