//! `conflicting-keys`: Keys that cannot go together, or a choice that needs exactly one key. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "conflicting-keys",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "Keys that cannot go together, or a choice that needs exactly one key.",
    what: "Reports a step with more than one action, a step with both `wait` and `branch`, `on` together with `after`, `goal` together with `goals`, a message step due at an `at` outside its send window's hours or on working days the window never opens, a wait or transition without exactly one of its signal keys, and a terminal stage with `goal`, `goals` or `exhausted`.",
    why: "Each step has one action and one outcome so that its result is unambiguous and measurable (see the variability principle).",
    example: r#"- id: thanks
  email: { template: thanks }
  sms: { template: thanks-sms }   # two actions: make two steps"#,
};
