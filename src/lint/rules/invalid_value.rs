//! `invalid-value`: A value of the right type but not a meaningful one. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "invalid-value",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "A value of the right type but not a meaningful one.",
    what: "Reports an unknown field type, an invalid funnel or field name, a timezone that is not an IANA name, a time of day that is not HH:MM, a send window that closes before it opens, a cap that is not `N per PERIOD`, and an unknown re-entry policy.",
    why: "These values steer when and to whom messages go; a wrong one would be guessed at, and guessing is how people get messaged at 3 a.m.",
    example: r#"timezone: Europe/Budapes          # did you mean `Europe/Budapest`?
send_window: { hours: "18:00-09:00" }   # closes before it opens"#,
};
