//! What a step or an A/B variant does: one action of `email`, `sms`,
//! `messenger`, `webhook`, `task`, `set`, `tag`, `notify` or `split`, with
//! the templates it names recorded for the linter. Whether those templates
//! exist and render is the linter's.

use indexmap::IndexMap;

use super::Compiler;
use crate::language::document::{
    MessageDoc, NotifyDoc, Spanned, StepDoc, TaskDoc, Text, VariantDoc, WebhookDoc,
};
use crate::language::model::{Action, Channel, Task, Variant};
use crate::language::source::Span;
use crate::lint::rules;

/// The action keys of a step or an A/B variant, seen the same way.
pub(super) struct ActionKeys<'a> {
    email: Option<&'a Spanned<MessageDoc>>,
    sms: Option<&'a Spanned<MessageDoc>>,
    messenger: Option<&'a Spanned<MessageDoc>>,
    webhook: Option<&'a Spanned<WebhookDoc>>,
    task: Option<&'a Spanned<TaskDoc>>,
    set: Option<&'a Spanned<IndexMap<Text, Text>>>,
    tag: Option<&'a Text>,
    notify: Option<&'a Spanned<NotifyDoc>>,
    split: Option<&'a Spanned<Vec<VariantDoc>>>,
}

impl<'a> ActionKeys<'a> {
    pub(super) fn of_step(step: &'a StepDoc) -> Self {
        Self {
            email: step.email.as_ref(),
            sms: step.sms.as_ref(),
            messenger: step.messenger.as_ref(),
            webhook: step.webhook.as_ref(),
            task: step.task.as_ref(),
            set: step.set.as_ref(),
            tag: step.tag.as_ref(),
            notify: step.notify.as_ref(),
            split: step.split.as_ref(),
        }
    }

    fn of_variant(variant: &'a VariantDoc) -> Self {
        Self {
            email: variant.email.as_ref(),
            sms: variant.sms.as_ref(),
            messenger: variant.messenger.as_ref(),
            webhook: variant.webhook.as_ref(),
            task: variant.task.as_ref(),
            set: variant.set.as_ref(),
            tag: variant.tag.as_ref(),
            notify: variant.notify.as_ref(),
            split: None,
        }
    }

    /// Names and spans of the keys that are present.
    fn present(&self) -> Vec<(&'static str, Span)> {
        [
            ("email", self.email.map(|x| x.span)),
            ("sms", self.sms.map(|x| x.span)),
            ("messenger", self.messenger.map(|x| x.span)),
            ("webhook", self.webhook.map(|x| x.span)),
            ("task", self.task.map(|x| x.span)),
            ("set", self.set.map(|x| x.span)),
            ("tag", self.tag.map(|x| x.span)),
            ("notify", self.notify.map(|x| x.span)),
            ("split", self.split.map(|x| x.span)),
        ]
        .into_iter()
        .filter_map(|(name, span)| span.map(|s| (name, s)))
        .collect()
    }
}

impl<'a> Compiler<'a> {
    pub(super) fn action(&mut self, keys: &ActionKeys<'a>, owner: &Text) -> Option<Action> {
        let present = keys.present();
        if present.len() > 1 {
            let names: Vec<&str> = present.iter().map(|(n, _)| *n).collect();
            self.report(
                &rules::conflicting_keys::RULE,
                present[1].1,
                format!(
                    "`{}` has {} actions: {}",
                    owner.value,
                    names.len(),
                    names.join(", ")
                ),
                "one action per step; put the others in steps of their own",
            );
        }
        let message = |channel, doc: &Spanned<MessageDoc>, this: &mut Self| {
            this.templates
                .push((doc.value.template.value.clone(), doc.value.template.span));
            Action::Message {
                channel,
                template: doc.value.template.value.clone(),
                transactional: doc.value.transactional,
            }
        };
        if let Some(doc) = keys.email {
            return Some(message(Channel::Email, doc, self));
        }
        if let Some(doc) = keys.sms {
            return Some(message(Channel::Sms, doc, self));
        }
        if let Some(doc) = keys.messenger {
            return Some(message(Channel::Messenger, doc, self));
        }
        if let Some(doc) = keys.webhook {
            let template = doc.value.template.as_ref().map(|t| self.template(t));
            return Some(Action::Webhook {
                endpoint: doc.value.endpoint.value.clone(),
                template,
            });
        }
        if let Some(doc) = keys.task {
            return Some(Action::Task(self.task(&doc.value)));
        }
        if let Some(doc) = keys.set {
            let assignments = doc
                .value
                .iter()
                .map(|(field, value)| {
                    self.reads.push((field.value.clone(), field.span));
                    (field.value.clone(), self.condition(value))
                })
                .collect();
            return Some(Action::Set(assignments));
        }
        if let Some(tag) = keys.tag {
            return Some(Action::Tag(tag.value.clone()));
        }
        if let Some(doc) = keys.notify {
            let to = self.staff_name(&doc.value.to);
            let template = self.template(&doc.value.template);
            return Some(Action::Notify { to, template });
        }
        keys.split.map(|split| Action::Split(self.split(split)))
    }

    fn template(&mut self, name: &Text) -> String {
        self.templates.push((name.value.clone(), name.span));
        name.value.clone()
    }

    fn task(&mut self, doc: &TaskDoc) -> Task {
        Task {
            kind: doc.kind.value,
            assignee: self.staff_name(&doc.assignee),
            due: doc.due.as_ref().and_then(|t| self.duration(t)),
            escalate_to: doc.escalate_to.as_ref().map(|t| {
                self.staff_name(t);
                t.value.clone()
            }),
            template: doc.template.as_ref().map(|t| self.template(t)),
        }
    }

    fn split(&mut self, split: &'a Spanned<Vec<VariantDoc>>) -> Vec<Variant> {
        let mut seen: Vec<&str> = Vec::new();
        let mut variants = Vec::new();
        for doc in &split.value {
            if seen.contains(&doc.variant.as_str()) {
                self.report(
                    &rules::duplicate_id::RULE,
                    doc.variant.span,
                    format!(
                        "variant `{}` is named twice in this split",
                        doc.variant.value
                    ),
                    "reports compare variants by name; give each its own",
                );
            }
            seen.push(doc.variant.as_str());
            let action = self.action(&ActionKeys::of_variant(doc), &doc.variant);
            variants.push(Variant {
                name: doc.variant.value.clone(),
                weight: doc.weight.value,
                span: doc.variant.span,
                action,
            });
        }
        variants
    }
}
