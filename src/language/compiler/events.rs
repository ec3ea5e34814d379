//! What the compiler does with the event that fired a move: where a
//! condition may read `event` (a `when` beside `event:`), and the
//! `create:` block of an entry, which makes a contact from an event for an
//! id the contacts feed does not have.

use indexmap::IndexMap;

use super::Compiler;
use crate::language::condition::{Condition, EVENT, Scope};
use crate::language::document::{Spanned, Text};
use crate::language::model::{Create, Field, Signal, Trigger, TriggerKind};
use crate::lint::diagnostic::suggest;
use crate::lint::rules;

impl Compiler<'_> {
    /// A condition written where `scope` says what it may read.
    pub(super) fn condition_in(&mut self, text: &Text, scope: Scope) -> Condition {
        // Funnels repeat conditions (the same opt-out, the same goal in many
        // stages): each distinct text is parsed once.
        if !self.parsed.contains_key(text.as_str()) {
            self.parsed.insert(
                text.value.clone(),
                crate::language::condition::Parsed::new(&text.value),
            );
        }
        let parsed = &self.parsed[text.as_str()];
        match Condition::place(parsed, &text.value, text.span, self.text) {
            Ok(condition) => {
                for name in &condition.unknown_variables {
                    self.report(
                        &rules::undefined_reference::RULE,
                        text.span,
                        format!("`{name}` is not something a condition can read"),
                        format!(
                            "{} {} {}.",
                            suggest(name, scope.names().iter().copied()),
                            if scope == Scope::Contact {
                                "Conditions read"
                            } else {
                                "Here it reads"
                            },
                            scope.names().join(", ")
                        ),
                    );
                }
                for name in condition.variables.iter().filter(|v| !scope.allows(v)) {
                    let (message, help) = out_of_scope(name, scope);
                    self.report(&rules::undefined_reference::RULE, text.span, message, help);
                }
                if scope != Scope::Create {
                    self.reads.extend(condition.fields.iter().cloned());
                }
                condition
            }
            Err(error) => {
                self.report(
                    &rules::invalid_condition::RULE,
                    error.span,
                    format!("`{}` is not a valid CEL expression: {}", text.value, error.message),
                    "see https://cel.dev for the syntax; e.g. contact.score >= 9 && has(contact.paid_at)",
                );
                Condition::invalid(&text.value, text.span)
            }
        }
    }

    /// `event: NAME`, with the `when` that decides on the event, if any.
    pub(super) fn event_signal(&mut self, event: &Text, when: Option<&Text>) -> Signal {
        Signal::Event {
            name: event.value.clone(),
            filter: when.map(|w| self.condition_in(w, Scope::Event)),
        }
    }

    /// An entry's `create:`: each field of the new contact from the event.
    pub(super) fn create(&mut self, create: &Spanned<IndexMap<Text, Text>>) -> Create {
        let mut fields = Vec::new();
        for (field, expression) in &create.value {
            if field.value == "id" {
                self.report(
                    &rules::invalid_entry::RULE,
                    field.span,
                    "a created contact's id is the event's contact",
                    "remove `id`: the event's `contact` is the new contact's id (`contact.id` in conditions and templates)",
                );
                continue;
            }
            // A field it sets is a field the funnel uses: `unknown-field`
            // reports one `contact:` does not declare.
            self.reads.push((field.value.clone(), field.span));
            fields.push((
                field.value.clone(),
                self.condition_in(expression, Scope::Create),
            ));
        }
        Create {
            fields,
            span: create.span,
        }
    }

    /// A created contact has only what `create:` gives it: every required
    /// field must be there.
    pub(super) fn check_created(
        &mut self,
        declared: &IndexMap<String, Field>,
        entries: &[Trigger],
    ) {
        for trigger in entries {
            let TriggerKind::Event {
                create: Some(create),
                ..
            } = &trigger.kind
            else {
                continue;
            };
            let missing: Vec<&str> = declared
                .iter()
                .filter(|(name, field)| {
                    !field.optional && !create.fields.iter().any(|(given, _)| given == *name)
                })
                .map(|(name, _)| name.as_str())
                .collect();
            if let Some(first) = missing.first() {
                self.report(
                    &rules::invalid_entry::RULE,
                    create.span,
                    format!(
                        "`create` does not give the required field{} {}",
                        if missing.len() > 1 { "s" } else { "" },
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!(
                        "a created contact has only what the event gives: add `{first}: <CEL over event>` (e.g. `event.data.{first}`, or a constant such as `false`), or make it optional (`{first}: TYPE?`)"
                    ),
                );
            }
        }
    }
}

/// The message and hint for a variable read where it is not at hand.
fn out_of_scope(name: &str, scope: Scope) -> (String, String) {
    if name == EVENT {
        return (
            "`event` is read only in a `when` beside `event:`".to_string(),
            "an entry, goal, exit or wait on an event may decide on it, e.g. `{ event: survey.answered, when: \"event.data.score >= 9\", to: promoters }`; elsewhere no event is at hand".to_string(),
        );
    }
    (
        format!("`create` makes the contact from the event: it cannot read `{name}`"),
        format!(
            "read the event (`event.data.from`, `event.contact`, `event.at`) or `now`; here it reads {}",
            scope.names().join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::compile_str;

    /// Conditions are parsed once per distinct text, but each use keeps
    /// its own location.
    #[test]
    fn a_repeated_condition_is_placed_at_each_use() {
        let (funnel, diagnostics) = compile_str(
            "funnel: t\ncontact: { paid: bool }\nenter: [{ when: 'true', stage: a }]\nstages:\n  a:\n    goal: { when: \"contact.paid\", to: b }\n  b:\n    goal: { when: \"contact.paid\", to: c }\n  c: { terminal: true }\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let spans: Vec<usize> = funnel.reads.iter().map(|(_, span)| span.offset).collect();
        assert_eq!(spans.len(), 2);
        assert_ne!(spans[0], spans[1]);
    }
}
