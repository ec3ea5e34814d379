//! `unknown-migration-target`: a `migrate:` entry that sends contacts
//! nowhere. The compiler resolves targets by name and leaves unknown ones
//! unresolved; this rule reports them with the close names, and the `stay`
//! entries whose key is no step to stay on.

use super::{Check, Context, Rule};
use crate::language::model::{Funnel, Migration, MigrationTarget};
use crate::lint::diagnostic::{Diagnostic, Severity, suggest};

pub const RULE: Rule = Rule {
    id: "unknown-migration-target",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "A `migrate:` entry names no step or stage of this funnel, or keeps contacts on a step that is gone.",
    what: "Reports a `migrate:` target that is not a step id or stage name of this funnel, nor `next` or `stay`, and a `stay` whose key is not a step of this funnel.",
    why: "`funnel run` moves the contacts of a removed step or stage where its entry says; an entry that points nowhere leaves them stuck, and the edit stays unmigrated.",
    example: "migrate:\n  await-answer: folow-up-call   # no step `folow-up-call`; did you mean `follow-up-call`?\n  old-quote: stay               # `stay` needs a step that still exists",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let funnel = cx.funnel;
    funnel
        .migrate
        .iter()
        .filter_map(|migration| match &migration.to {
            MigrationTarget::Unresolved(name) => Some(unknown(funnel, migration, name)),
            MigrationTarget::Stay if funnel.step_position(&migration.from).is_none() => {
                Some(nothing_to_stay_on(funnel, migration))
            }
            _ => None,
        })
        .collect()
}

fn unknown(funnel: &Funnel, migration: &Migration, name: &str) -> Diagnostic {
    let known = ["next", "stay"].into_iter().chain(names(funnel));
    Diagnostic::new(
        &RULE,
        funnel.source,
        migration.to_span,
        format!("`{name}` is not a step or stage of this funnel"),
    )
    .help(format!(
        "{} A target is a step id, a stage name, `next` or `stay`.",
        suggest(name, known)
    ))
}

fn nothing_to_stay_on(funnel: &Funnel, migration: &Migration) -> Diagnostic {
    let from = &migration.from;
    let message = if funnel.stage_id(from).is_some() {
        format!("`stay` keeps contacts on a step, and `{from}` is a stage")
    } else {
        format!("`stay` keeps contacts on step `{from}`, but this funnel has no step `{from}`")
    };
    Diagnostic::new(&RULE, funnel.source, migration.to_span, message)
        .help("name where its contacts go instead: a step id, a stage name or `next`")
}

/// Every step id and stage name, in file order.
fn names(funnel: &Funnel) -> impl Iterator<Item = &str> {
    funnel.stages.iter().flat_map(|stage| {
        std::iter::once(stage.name.as_str()).chain(stage.steps.iter().map(|s| s.id.as_str()))
    })
}
