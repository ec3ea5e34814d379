//! `invalid-duration`: A duration that cannot be read, or is longer than 100 years. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "invalid-duration",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "A duration that cannot be read, or is longer than 100 years.",
    what: "Reports `after`, `within`, `due`, `for`, `stale_after` and `expire.after` values that are not a number with a unit (s, m, h, d, w), and those longer than 100 years (36525d).",
    why: "A delay the runner cannot read would fire at the wrong time or never; one past 100 years is a typo, and added to a date it would run past the calendar.",
    example: "after: 3 days       # write 3d\nwithin: 15000000w   # at most 100 years: 5217w",
};
