//! `invalid-type`: A value of the wrong shape: a list where a mapping belongs, a word where a number belongs, or a required key missing. Reported by the YAML reader (`parser.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "invalid-type",
    severity: Severity::Error,
    check: Check::Parse,
    summary: "A value of the wrong shape: a list where a mapping belongs, a word where a number belongs, or a required key missing.",
    what: "Reports a value whose YAML type does not fit the key (e.g. `weight: half`), an unknown choice (`kind: cal`), or a missing required key such as a step's `id`.",
    why: "The funnel cannot be compiled from a value it cannot read; the help names the expected shape.",
    example: r#"steps:
  - email: { template: thanks }   # missing `id:`
  - id: call
    task: { kind: cal, assignee: sales }   # did you mean `call`?"#,
};
