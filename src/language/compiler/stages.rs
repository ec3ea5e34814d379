//! Stages and their steps: a stage's goals, exits and `exhausted`, and
//! each step's outcome, a `wait` or a `branch`, whose targets default to
//! the next step. What a step does is `actions`; when it falls due is
//! `timing`.

use super::Compiler;
use super::actions::ActionKeys;
use crate::language::document::{BranchDoc, Spanned, StageDoc, StepDoc, Text, WaitDoc};
use crate::language::model::{
    Branch, Outcome, Signal, Stage, StageId, Step, Target, Transition, Wait,
};
use crate::lint::rules;

impl<'a> Compiler<'a> {
    pub(super) fn stage(&mut self, id: StageId, name: &Text, doc: &'a StageDoc) -> Stage {
        let terminal = doc.terminal.as_ref().is_some_and(|t| t.value);
        if terminal {
            for (key, span) in [
                ("goal", doc.goal.as_ref().map(|g| g.span)),
                ("goals", doc.goals.first().map(|g| g.span)),
                ("exhausted", doc.exhausted.as_ref().map(|e| e.span)),
            ] {
                if let Some(span) = span {
                    self.report(
                        &rules::conflicting_keys::RULE,
                        span,
                        format!("terminal stage `{}` has a `{key}`", name.value),
                        "a terminal stage ends the journey; remove `terminal: true` or the key",
                    );
                }
            }
        }
        if let (Some(_), Some(second)) = (&doc.goal, doc.goals.first()) {
            self.report(
                &rules::conflicting_keys::RULE,
                second.span,
                format!("stage `{}` has both `goal` and `goals`", name.value),
                "put the goal first in `goals:` and drop `goal:`",
            );
        }
        let mut goals: Vec<Transition> = doc
            .goal
            .iter()
            .chain(&doc.goals)
            .map(|g| self.transition(g))
            .collect();
        let more_goals = goals.split_off(goals.len().min(1));
        let count = doc.steps.len();
        Stage {
            name: name.value.clone(),
            span: name.span,
            description: doc.description.clone(),
            terminal,
            goal: goals.pop(),
            more_goals,
            exits: doc.exit.iter().map(|t| self.transition(t)).collect(),
            steps: doc
                .steps
                .iter()
                .enumerate()
                .map(|(index, step)| self.step(id, index, count, step))
                .collect(),
            exhausted: doc
                .exhausted
                .as_ref()
                .map(|e| (self.stage_target(e), e.span)),
        }
    }

    fn step(&mut self, stage: StageId, index: usize, count: usize, doc: &'a StepDoc) -> Step {
        let timing = self.step_timing(doc);
        let outcome = match (&doc.wait, &doc.branch) {
            (Some(wait), None) => Outcome::Wait(self.wait(wait, stage, index, count)),
            (None, Some(branch)) => Outcome::Branch(self.branch(branch, stage, index, count)),
            (None, None) => Outcome::Continue,
            (Some(wait), Some(_)) => {
                self.report(
                    &rules::conflicting_keys::RULE,
                    wait.span,
                    format!("step `{}` has both `wait` and `branch`", doc.id.value),
                    "a step has one outcome: split it into two steps",
                );
                Outcome::Continue
            }
        };
        Step {
            id: doc.id.value.clone(),
            span: doc.id.span,
            after: timing.after,
            after_working_days: timing.after_working_days,
            at: timing.at,
            on: doc.on.as_ref().map(|t| self.condition(t)),
            stale_after: doc.stale_after.as_ref().and_then(|t| self.duration(t)),
            anytime: doc.anytime.as_ref().is_some_and(|a| a.value),
            action: self.action(&ActionKeys::of_step(doc), &doc.id),
            outcome,
        }
    }

    fn wait(
        &mut self,
        wait: &Spanned<WaitDoc>,
        stage: StageId,
        index: usize,
        count: usize,
    ) -> Wait {
        let doc = &wait.value;
        if let (Some(when), None) = (&doc.when, &doc.event) {
            self.report(
                &rules::conflicting_keys::RULE,
                when.span,
                "a wait's `when` decides on its `event`, and this wait has none",
                "wait for a condition with `until: \"...\"`, or add the `event` the `when` is about",
            );
        }
        let signal = match (&doc.event, &doc.until) {
            (Some(event), None) => Some(self.event_signal(event, doc.when.as_ref())),
            (None, Some(until)) => Some(Signal::When(self.condition(until))),
            _ => {
                self.report(
                    &rules::conflicting_keys::RULE,
                    wait.span,
                    "a wait needs exactly one of `event` or `until`",
                    "e.g. `wait: { event: email.opened, within: 2d, yes: next, no: reminder }`",
                );
                None
            }
        };
        Wait {
            signal,
            within: doc.within.as_ref().and_then(|t| self.duration(t)),
            within_span: doc.within.as_ref().map_or(wait.span, |t| t.span),
            yes: match &doc.yes {
                Some(text) => self.step_target(text, stage, index, count),
                None if index + 1 < count => Target::Step(stage, index + 1),
                None => Target::Exhausted(stage),
            },
            no: doc
                .no
                .as_ref()
                .map(|text| self.step_target(text, stage, index, count)),
            span: wait.span,
        }
    }

    fn branch(
        &mut self,
        branch: &Spanned<BranchDoc>,
        stage: StageId,
        index: usize,
        count: usize,
    ) -> Branch {
        let doc = &branch.value;
        Branch {
            when: self.condition(&doc.when),
            yes: self.step_target(&doc.yes, stage, index, count),
            no: self.step_target(&doc.no, stage, index, count),
            span: branch.span,
        }
    }
}
