//! `stale-migration`: a `migrate:` entry whose old id is still in the
//! funnel. Entries only move contacts off ids the version removed; one
//! whose key still exists either moves no one or outlived its purpose.

use super::{Check, Context, Rule};
use crate::language::model::MigrationTarget;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "stale-migration",
    severity: Severity::Warning,
    check: Check::Funnel(check),
    summary: "A `migrate:` entry's old id is still a step or stage of this funnel.",
    what: "Reports a `migrate:` key that names a step or stage the funnel still has, unless its target is `stay` (the explicit decision to keep contacts on a changed wait).",
    why: "A migration is for an id the new version removed or renamed. One whose id still exists was left over from an earlier edit, or names the wrong id: either way it misleads whoever reads the funnel next, and a stale key that is later removed again would move contacts nobody meant to move.",
    example: "stages:\n  quoted:\n    steps:\n      - id: follow-up-call\n        ...\nmigrate:\n  follow-up-call: quote-nudge   # `follow-up-call` is still a step",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    funnel
        .migrate
        .iter()
        .filter(|m| m.to != MigrationTarget::Stay)
        .filter_map(|m| {
            let what = if funnel.stage_id(&m.from).is_some() {
                "stage"
            } else if funnel.step_position(&m.from).is_some() {
                "step"
            } else {
                return None;
            };
            let diagnostic = Diagnostic::new(
                &RULE,
                funnel.source,
                m.from_span,
                format!("`{}` is still a {what} of this funnel", m.from),
            )
            .help("remove the entry once every state has run this version; `stay` keeps contacts on a step whose wait changed");
            Some(diagnostic)
        })
        .collect()
}
