//! Resolving the names a funnel refers to: the stage a `to`, `exhausted`
//! or entry names, the step or stage a wait or branch jumps to, and the
//! staff member (or `contact.FIELD`) a task or notification goes to. Each
//! unknown name is reported with the close ones. Which names exist is
//! decided once, up front (`Compiler::index`).

use super::Compiler;
use crate::language::document::Text;
use crate::language::model::{Assignee, StageId, Target};
use crate::lint::diagnostic::suggest;
use crate::lint::rules;

impl<'a> Compiler<'a> {
    fn stage_names(&self) -> Vec<&'a str> {
        let mut names: Vec<(&str, StageId)> = self.stages.iter().map(|(n, id)| (*n, *id)).collect();
        names.sort_by_key(|(_, id)| *id);
        names.into_iter().map(|(n, _)| n).collect()
    }

    /// A target that must be a stage: `to`, `exhausted`, `enter.stage`.
    pub(super) fn stage_target(&mut self, text: &Text) -> Target {
        if let Some(&id) = self.stages.get(text.as_str()) {
            return Target::Stage(id);
        }
        let help = if self.steps.contains_key(text.as_str()) {
            format!("`{}` is a step; name a stage here", text.value)
        } else {
            format!(
                "{} (stages: {})",
                suggest(&text.value, self.stage_names()),
                self.stage_names().join(", ")
            )
        };
        self.report(
            &rules::undefined_reference::RULE,
            text.span,
            format!("no stage named `{}`", text.value),
            help,
        );
        Target::Unresolved
    }

    /// A wait or branch target: `next`, a step of this stage, or a stage.
    pub(super) fn step_target(
        &mut self,
        text: &Text,
        stage: StageId,
        index: usize,
        count: usize,
    ) -> Target {
        let name = text.as_str();
        if name == "next" {
            return if index + 1 < count {
                Target::Step(stage, index + 1)
            } else {
                Target::Exhausted(stage)
            };
        }
        match (self.stages.get(name), self.steps.get(name)) {
            (Some(&id), _) => Target::Stage(id),
            (None, Some(&(s, i))) if s == stage => Target::Step(s, i),
            (None, Some(_)) => {
                self.report(
                    &rules::undefined_reference::RULE,
                    text.span,
                    format!("step `{name}` belongs to another stage"),
                    "a wait or branch can jump to a step of its own stage, or to a stage",
                );
                Target::Unresolved
            }
            (None, None) => {
                let known: Vec<&str> = std::iter::once("next")
                    .chain(self.stage_names())
                    .chain(
                        self.steps
                            .iter()
                            .filter(|(_, (s, _))| *s == stage)
                            .map(|(n, _)| *n),
                    )
                    .collect();
                self.report(
                    &rules::undefined_reference::RULE,
                    text.span,
                    format!("no step or stage named `{name}`"),
                    suggest(name, known),
                );
                Target::Unresolved
            }
        }
    }

    /// A staff name (assignee, escalation, notification).
    pub(super) fn staff_name(&mut self, text: &Text) -> Assignee {
        if let Some(field) = text.value.strip_prefix("contact.") {
            self.reads.push((field.to_string(), text.span));
            return Assignee::Field(field.to_string());
        }
        if !self.staff.contains(&text.as_str()) {
            let help = match suggest(&text.value, self.staff.iter().copied()) {
                _ if self.staff.is_empty() => {
                    "no staff are declared: declare people under `staff:`, or use contact.FIELD"
                        .to_string()
                }
                hint if hint.starts_with("did you mean") => format!(
                    "{hint} (known staff: {}); declare people under `staff:`, or use contact.FIELD",
                    self.staff.join(", ")
                ),
                _ => format!(
                    "known staff: {}; declare people under `staff:`, or use contact.FIELD",
                    self.staff.join(", ")
                ),
            };
            self.report(
                &rules::undefined_reference::RULE,
                text.span,
                format!("no staff member named `{}`", text.value),
                help,
            );
        }
        Assignee::Staff(text.value.clone())
    }
}
