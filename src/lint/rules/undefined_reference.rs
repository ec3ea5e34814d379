//! `undefined-reference`: A name that points nowhere: a stage, step, staff member or variable that does not exist. Reported by the compiler (`compiler.rs`).

use super::{Check, Rule};
use crate::lint::diagnostic::Severity;

pub const RULE: Rule = Rule {
    id: "undefined-reference",
    severity: Severity::Error,
    check: Check::Compile,
    summary: "A name that points nowhere: a stage, step, staff member or variable that does not exist.",
    what: "Reports a `to`, `exhausted`, `yes`, `no`, `stage`, assignee, `escalate_to`, `notify.to` or supervisor naming something the funnel does not define, and identifiers in a condition other than `contact`, `tags` and `now`.",
    why: "The runner would have nowhere to send the contact, or nobody to give the task to: the contact is silently lost.",
    example: r#"goal: { when: "has(contact.quote_sent_at)", to: qouted }   # no stage `qouted`; did you mean `quoted`?"#,
};
