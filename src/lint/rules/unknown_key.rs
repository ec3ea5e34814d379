//! `unknown-key`: A key the funnel language does not have, usually a typo. Reported by the YAML reader (`parser.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "unknown-key",
    severity: Severity::Error,
    check: Check::Parse,
    summary: "A key the funnel language does not have, usually a typo.",
    what: "Reports a mapping key that is not part of the language at that place, and suggests the closest known key.",
    why: "A misspelt key (`exausted:` for `exhausted:`) would otherwise be ignored silently and the funnel would behave differently from what it says.",
    example: r#"stages:
  quoted:
    exausted: lost     # did you mean `exhausted`?"#,
};
