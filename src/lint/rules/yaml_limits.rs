//! `yaml-limits`: The file trips a safety limit: too many aliases, anchors, events or nesting levels. Reported by the YAML reader (`parser.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "yaml-limits",
    severity: Severity::Error,
    check: Check::Parse,
    summary: "The file trips a safety limit: too many aliases, anchors, events or nesting levels.",
    what: r#"Stops reading a file that uses YAML aliases to expand into a huge document (the "billion laughs" attack), nests deeper than 64 levels or has more than 2,000,000 parse events."#,
    why: "Such input would make `check` and the runner hang or run out of memory. Real funnels are far below every limit.",
    example: r#"a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]   # ... 10^n nodes"#,
};
