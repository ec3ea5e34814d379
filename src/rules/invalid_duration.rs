//! `invalid-duration`: A duration that cannot be read. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "invalid-duration",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "A duration that cannot be read.",
    what: "Reports `after`, `within`, `due`, `for`, `stale_after` and `expire.after` values that are not a number with a unit (s, m, h, d, w).",
    why: "A delay the runner cannot read would fire at the wrong time or never.",
    example: "after: 3 days     # write 3d",
};
