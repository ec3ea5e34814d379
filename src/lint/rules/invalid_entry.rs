//! `invalid-entry`: Contacts cannot enter the funnel properly. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "invalid-entry",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "Contacts cannot enter the funnel properly.",
    what: "Reports a funnel with no `enter` trigger, a trigger with none or several of `when`/`event`/`on`/`inactive`, `inactive` without `for`, and a trigger into a terminal stage.",
    why: "A funnel nobody can enter does nothing; an ambiguous trigger makes it unclear who enters and when.",
    example: r#"enter:
  - { inactive: contact.last_order_at, stage: survey }   # needs `for: 60d`"#,
};
