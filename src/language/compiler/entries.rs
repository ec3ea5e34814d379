//! How contacts come in and move on: the `enter:` triggers (`when`,
//! `event`, `on`, `inactive`) and the transitions that goals and exits are
//! made of. What an event may be read for, and `create:`, are `events`;
//! whether every stage can be reached is the linter's.

use super::Compiler;
use crate::language::condition::Scope;
use crate::language::document::{Document, Spanned, Text, TransitionDoc, TriggerDoc};
use crate::language::model::{Signal, StageId, Target, Transition, Trigger, TriggerKind};
use crate::language::source::Span;
use crate::lint::rules;

impl Compiler<'_> {
    pub(super) fn entries(&mut self, doc: &Document) -> Vec<Trigger> {
        if doc.enter.is_empty() {
            self.report(
                &rules::invalid_entry::RULE,
                doc.funnel.span,
                format!("funnel `{}` has no entry trigger", doc.funnel.value),
                "add `enter:` with a `when`, `event`, `on` or `inactive` trigger and a stage",
            );
        }
        doc.enter.iter().filter_map(|t| self.trigger(t)).collect()
    }

    fn trigger(&mut self, trigger: &Spanned<TriggerDoc>) -> Option<Trigger> {
        let doc = &trigger.value;
        let kinds: Vec<&str> = [
            ("event", doc.event.is_some()),
            ("on", doc.on.is_some()),
            ("inactive", doc.inactive.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let stage = self.stage_target(&doc.stage);
        if let Target::Stage(id) = stage
            && self.terminal(id)
        {
            self.report(
                &rules::invalid_entry::RULE,
                doc.stage.span,
                format!(
                    "contacts would enter the terminal stage `{}`",
                    doc.stage.value
                ),
                "enter a stage that has automation; terminal stages end a journey",
            );
        }
        if let Some(create) = &doc.create
            && doc.event.is_none()
        {
            self.report(
                &rules::invalid_entry::RULE,
                create.span,
                "`create` belongs to an `event` entry",
                "only an event can make a contact: e.g. `{ event: sms.replied, create: { phone: event.data.from }, stage: welcome }`",
            );
        }
        if doc.for_.is_some() != doc.inactive.is_some() {
            self.report(
                &rules::invalid_entry::RULE,
                trigger.span,
                "`inactive` and `for` go together",
                "e.g. `{ inactive: contact.last_order_at, for: 60d, stage: survey }`",
            );
            return None;
        }
        let kind = match (kinds.as_slice(), &doc.when) {
            ([], Some(when)) => TriggerKind::When(self.condition(when)),
            (["event"], filter) => TriggerKind::Event {
                name: doc.event.as_ref()?.value.clone(),
                filter: filter.as_ref().map(|w| self.condition_in(w, Scope::Event)),
                create: doc.create.as_ref().map(|c| self.create(c)),
            },
            (["on"], None) => TriggerKind::On(self.condition(doc.on.as_ref()?)),
            (["inactive"], None) => {
                let field = doc.inactive.as_ref()?;
                let period = self.duration(doc.for_.as_ref()?)?;
                let name = field
                    .value
                    .strip_prefix("contact.")
                    .unwrap_or(&field.value)
                    .to_string();
                self.reads.push((name.clone(), field.span));
                TriggerKind::Inactive {
                    field: name,
                    span: field.span,
                    period,
                }
            }
            _ => {
                self.report(
                    &rules::invalid_entry::RULE,
                    trigger.span,
                    "an entry trigger needs exactly one of `when`, `event`, `on` or `inactive`",
                    "`when` may also filter an `event` trigger; split the others into separate triggers",
                );
                return None;
            }
        };
        Some(Trigger {
            kind,
            stage,
            span: trigger.span,
        })
    }

    fn terminal(&self, stage: StageId) -> bool {
        self.terminal.get(stage).copied().unwrap_or(false)
    }

    fn signal(
        &mut self,
        when: &Option<Text>,
        event: &Option<Text>,
        span: Span,
        what: &str,
    ) -> Option<Signal> {
        match (when, event) {
            (Some(when), None) => Some(Signal::When(self.condition(when))),
            (when, Some(event)) => Some(self.event_signal(event, when.as_ref())),
            _ => {
                self.report(
                    &rules::conflicting_keys::RULE,
                    span,
                    format!("{what} needs `when` or `event`"),
                    "e.g. `{ when: \"contact.paid\", to: customer }` or `{ event: order.placed, to: customer }`",
                );
                None
            }
        }
    }

    pub(super) fn transition(&mut self, transition: &Spanned<TransitionDoc>) -> Transition {
        let doc = &transition.value;
        let signal = self
            .signal(&doc.when, &doc.event, transition.span, "a transition")
            .unwrap_or_else(|| Signal::Event {
                name: String::new(),
                filter: None,
            });
        Transition {
            signal,
            to: self.stage_target(&doc.to),
            span: transition.span,
        }
    }
}
