//! `invalid-condition`: A condition or expression that is not valid CEL. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "invalid-condition",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "A condition or expression that is not valid CEL.",
    what: "Parses every `when`, `until`, `on`, branch condition and `set` value as CEL and reports syntax errors at their column.",
    why: "A condition that cannot be evaluated would fail for every contact at run time; better to fail the pull request.",
    example: r#"when: "contact.score >= "     # the comparison has no right-hand side"#,
};
