//! `duplicate-id`: Two steps share an id, a step is named like a stage, or a split names a variant twice. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "duplicate-id",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "Two steps share an id, a step is named like a stage, or a split names a variant twice.",
    what: "Reports step ids used twice in a funnel, step ids equal to a stage name, and repeated variant names in one split.",
    why: "Targets, history and reports find steps by id; two things with one name make every jump and every figure ambiguous.",
    example: r#"steps:
  - id: reminder
    email: { template: a }
  - id: reminder          # used twice
    sms: { template: b }"#,
};
