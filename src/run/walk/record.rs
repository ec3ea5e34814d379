//! Moves and their records: carrying a journey across an edit, following
//! a target, leaving a stage (its open tasks cancelled), ending a journey,
//! closing tasks at their `task.done` moment, and the history line every
//! move writes.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::Walk;
use crate::language::model::{StageId, Target};
use crate::run::migration::{Carry, short};
use crate::store::{self, HistoryKind, StoreError, Transition};

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// Brings a journey written under another version of the funnel (or by
    /// an older funnel, with a step index) to this one: same ids, or moved
    /// by the funnel's `migrate:` block. False when it cannot be placed:
    /// the run refuses such edits before walking anyone, so only a state
    /// changed behind its back gets here, and the contact is left alone.
    pub(super) fn carry_over(&mut self) -> Result<bool, StoreError> {
        let Some(journey) = self.journey.as_mut() else {
            return Ok(true);
        };
        if journey.active && journey.version != self.loaded.version {
            let key = (
                journey.version.clone(),
                journey.stage.clone(),
                journey.step.clone(),
                journey.waiting_since.is_some(),
            );
            match self.loaded.carries.get(&key).cloned() {
                Some(Carry::Move { to, via }) => return self.migrate(to, &via),
                Some(Carry::Stay { step }) => {
                    journey.step = step;
                    journey.version = self.loaded.version.clone();
                    return Ok(true);
                }
                None => {}
            }
        }
        // `#N`: a position written before ids were kept by the version the
        // funnel still is (or one the plan could not see), read against it.
        if let Some(index) = journey.step.as_deref().and_then(|s| s.strip_prefix('#')) {
            let stage = self.loaded.funnel.stage_id(&journey.stage);
            journey.step = match (stage, index.parse::<usize>()) {
                (Some(s), Ok(i)) => self.loaded.funnel.stages[s]
                    .steps
                    .get(i)
                    .map(|step| step.id.clone()),
                _ => None,
            };
        }
        if !journey.active || journey.version == self.loaded.version {
            return Ok(true);
        }
        // A place the plan did not see (the state changed behind the run's
        // back): kept if its ids still exist, else left alone.
        if self.place().is_none() {
            self.runner.summary.blocked += 1;
            return Ok(false);
        }
        if let Some(j) = self.journey.as_mut() {
            j.version = self.loaded.version.clone();
        }
        Ok(true)
    }

    /// Moves a contact whose place this version no longer has where the
    /// funnel's `migrate:` block says, recorded as a `migrate` line (with
    /// both versions) at the moment this version first ran.
    pub(super) fn migrate(&mut self, target: Target, via: &str) -> Result<bool, StoreError> {
        let Some(journey) = self.journey.clone() else {
            return Ok(true);
        };
        let at = self.loaded.first_run.max(journey.clock);
        let why = format!(
            "migrate: {via} (version {} -> {})",
            short(&journey.version),
            short(&self.loaded.version)
        );
        let from = (Some(journey.stage.clone()), journey.step.clone());
        let (stage, index, restart) = match target {
            Target::Step(s, i) => (s, Some(i), false),
            Target::Stage(s) => (s, Some(0), true),
            Target::Exhausted(s) => (s, None, false),
            Target::Unresolved => return Ok(false),
        };
        let stage_name = self.funnel().stages[stage].name.clone();
        let step = index.and_then(|i| self.step_id(stage, i));
        if let Some(j) = self.journey.as_mut() {
            if restart || j.stage != stage_name {
                j.stage_since = at;
            }
            j.version = self.loaded.version.clone();
            j.stage = stage_name.clone();
            j.step = step.clone();
            j.clock = at;
            j.waiting_since = None;
            j.deadline = None;
        }
        self.runner.summary.migrated += 1;
        // Into another stage it is a stage move (the report counts a visit
        // ended by `migrate` and one begun); within the stage, a step's.
        let shown = if from.0.as_deref() == Some(stage_name.as_str()) {
            step
        } else {
            None
        };
        self.history(
            HistoryKind::Migrate,
            from,
            (Some(stage_name), shown),
            at,
            why,
        )?;
        Ok(true)
    }

    /// Applies the contact's `task.done` events up to `until`, each at its
    /// own moment, so a task created for a past moment in this run is
    /// closed by an event that came after it.
    pub(super) fn close_done_tasks(&mut self, until: DateTime<Utc>) -> Result<(), StoreError> {
        let owner = (self.loaded.funnel.name.as_str(), self.contact.id.as_str());
        while let Some(event) = self.events.get(self.done) {
            if event.at > until {
                break;
            }
            self.done += 1;
            if event.name != "task.done" {
                continue;
            }
            if let Some(step) = event.data.get("step").and_then(Json::as_str) {
                let (owner, step, at) = (owned(owner), step.to_string(), event.at);
                self.runner.write(self.tx, move |tx, _| {
                    store::complete_step_tasks_at(tx, (&owner.0, &owner.1), &step, at).map(drop)
                })?;
            }
        }
        Ok(())
    }

    /// Cancels the open tasks of `stage` (every stage when `None`) as the
    /// contact leaves it at `at`.
    pub(super) fn cancel_tasks(
        &mut self,
        stage: Option<StageId>,
        at: DateTime<Utc>,
        why: &str,
    ) -> Result<(), StoreError> {
        let funnel = &self.loaded.funnel;
        let stages = match stage {
            Some(s) => std::slice::from_ref(&funnel.stages[s]),
            None => &funnel.stages[..],
        };
        let steps: Vec<&str> = stages
            .iter()
            .flat_map(|s| &s.steps)
            .filter(|step| {
                step.action
                    .as_ref()
                    .is_some_and(crate::run::act::creates_task)
            })
            .map(|step| step.id.as_str())
            .collect();
        if steps.is_empty() {
            return Ok(());
        }
        let owner = owned((funnel.name.as_str(), self.contact.id.as_str()));
        let steps: Vec<String> = steps.into_iter().map(str::to_string).collect();
        let reason = format!("cancelled: the contact left ({why})");
        self.runner.write(self.tx, move |tx, _| {
            let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
            store::cancel_step_tasks(tx, (&owner.0, &owner.1), &steps, at, &reason).map(drop)
        })
    }

    /// Follows a target from a step: another step of the stage, a stage, or
    /// the end of the steps. `why` is recorded in history; plain progress to
    /// the next step is not.
    pub(super) fn go(
        &mut self,
        target: Target,
        at: DateTime<Utc>,
        why: Option<(HistoryKind, String)>,
    ) -> Result<(), StoreError> {
        match target {
            Target::Step(s, index) => {
                let from = self.position();
                let step = self.step_id(s, index);
                if let Some(j) = self.journey.as_mut() {
                    j.step = step.clone();
                    j.clock = at;
                    j.waiting_since = None;
                    j.deadline = None;
                }
                if let Some((kind, why)) = why {
                    let to = (from.0.clone(), step);
                    self.history(kind, from, to, at, why)?;
                }
                Ok(())
            }
            Target::Exhausted(s) => {
                let count = self.funnel().stages[s].steps.len();
                self.go(Target::Step(s, count), at, why)
            }
            Target::Stage(_) => {
                let (kind, why) = why.unwrap_or((HistoryKind::Moved, "moved".to_string()));
                self.move_to(target, at, kind, why)
            }
            Target::Unresolved => Ok(()),
        }
    }

    pub(super) fn move_to(
        &mut self,
        target: Target,
        at: DateTime<Utc>,
        kind: HistoryKind,
        why: String,
    ) -> Result<(), StoreError> {
        let stage = match target {
            Target::Stage(s) | Target::Exhausted(s) | Target::Step(s, _) => s,
            Target::Unresolved => return Ok(()),
        };
        // A stage left by its goal, an exit or a step's outcome takes its
        // open tasks with it; one whose steps ran out leaves them to the
        // staff (a final call task is the stage's last word).
        if kind != HistoryKind::Exhausted
            && let Some((left, _)) = self.place()
        {
            self.cancel_tasks(Some(left), at, &why)?;
        }
        let name = self.funnel().stages[stage].name.clone();
        let first = self.step_id(stage, 0);
        let from = self.position();
        if let Some(j) = self.journey.as_mut() {
            j.stage = name.clone();
            j.step = first;
            j.clock = at;
            j.stage_since = at;
            j.waiting_since = None;
            j.deadline = None;
        }
        self.runner.summary.moved += 1;
        self.history(kind, from, (Some(name), None), at, why)
    }

    /// The journey ends (a terminal stage whose steps are done, or a global
    /// exit).
    pub(super) fn stop(&mut self, at: DateTime<Utc>) {
        if let Some(j) = self.journey.as_mut() {
            j.active = false;
            j.left_at = Some(at.max(j.clock));
        }
    }

    /// The contact's stage and step (when one is being worked on).
    pub(super) fn position(&self) -> (Option<String>, Option<String>) {
        let Some(journey) = &self.journey else {
            return (None, None);
        };
        (Some(journey.stage.clone()), journey.step.clone())
    }

    pub(crate) fn step_id(&self, s: StageId, index: usize) -> Option<String> {
        self.funnel().stages[s]
            .steps
            .get(index)
            .map(|step| step.id.clone())
    }

    pub(crate) fn history(
        &mut self,
        kind: HistoryKind,
        (from_stage, from_step): (Option<String>, Option<String>),
        (to_stage, to_step): (Option<String>, Option<String>),
        at: DateTime<Utc>,
        reason: String,
    ) -> Result<(), StoreError> {
        let entry = self.journey.as_ref().map_or(0, |j| j.entry);
        let transition = Transition {
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            entry,
            at,
            kind,
            from_stage,
            from_step,
            to_stage,
            to_step,
            reason: reason.clone(),
        };
        let version = self.loaded.version.clone();
        self.runner.write(self.tx, move |tx, ledger| {
            store::record(tx, &mut ledger.tally, &transition, &version)
        })?;
        let funnel = self.funnel().name.clone();
        self.runner.plan(&funnel, &self.contact.id, at, reason);
        Ok(())
    }
}

/// A funnel and contact, owned by a write that may wait (`runner/later.rs`).
fn owned((funnel, contact): (&str, &str)) -> (String, String) {
    (funnel.to_string(), contact.to_string())
}
