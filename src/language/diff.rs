//! The structural diff of two compiled versions of one funnel, by stage
//! names and step ids: what an edit changes, which changes break contacts
//! already on their way, and which `migrate:` entry covers each breaking
//! one. [`impact`] goes one step further and says what happens to the
//! contacts at each position of the old version.
//!
//! Pure: no files, no git, no printing. `compare` gets the versions and
//! `diff/render` writes the result.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::language::model::{Funnel, MigrationTarget, Stage, Step};
use crate::language::source::Span;

pub(crate) mod describe;
mod impact;
pub mod render;

use describe::{
    action, describe_step, goal, place, steps_of, timing, wait_of, wait_targets, window,
};
pub use impact::{Destination, Effect, Fate, InFlight, impact};

/// What kind of edit a [`Change`] is. The names are the stable API of
/// `funnel diff --format json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    FunnelRenamed,
    StageAdded,
    StageRemoved,
    /// A removed stage whose `migrate:` entry names a stage new in this version.
    StageRenamed,
    GoalChanged,
    StepAdded,
    StepRemoved,
    /// A removed step whose `migrate:` entry names a step new in this version.
    StepRenamed,
    /// Reordered in its stage, or put in another stage.
    StepMoved,
    /// `after`, `at` or `on` changed.
    StepRetimed,
    /// A wait's `within` changed.
    WaitWindowChanged,
    /// A wait's event or condition, `yes` or `no` changed, or the step
    /// stopped or started waiting.
    WaitTargetsChanged,
    /// The step's action changed: channel, template, assignee, fields.
    ActionChanged,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::FunnelRenamed => "funnel-renamed",
            ChangeKind::StageAdded => "stage-added",
            ChangeKind::StageRemoved => "stage-removed",
            ChangeKind::StageRenamed => "stage-renamed",
            ChangeKind::GoalChanged => "goal-changed",
            ChangeKind::StepAdded => "step-added",
            ChangeKind::StepRemoved => "step-removed",
            ChangeKind::StepRenamed => "step-renamed",
            ChangeKind::StepMoved => "step-moved",
            ChangeKind::StepRetimed => "step-retimed",
            ChangeKind::WaitWindowChanged => "wait-window-changed",
            ChangeKind::WaitTargetsChanged => "wait-targets-changed",
            ChangeKind::ActionChanged => "action-changed",
        }
    }
}

/// One edit between two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// The stage it is in: the new version's, or the old one's for a removal.
    pub stage: Option<String>,
    /// The step, by id (the old id for a rename).
    pub step: Option<String>,
    /// What it was, in words (`after 3d`, `email quote-nudge`), when it was.
    pub old: Option<String>,
    /// What it is now, in words, when it still is.
    pub new: Option<String>,
    /// Contacts on the changed point cannot simply carry on: their step or
    /// stage is gone, or the wait they are in now leads elsewhere.
    pub breaking: bool,
    /// The `migrate:` target that covers a breaking change, as written.
    pub migration: Option<String>,
    /// Where it applies in the new file; for a removed step, its stage's
    /// span, and `None` when there is nothing left to point at.
    pub span: Option<Span>,
}

impl Change {
    fn new(kind: ChangeKind, stage: Option<&str>, step: Option<&str>) -> Self {
        Self {
            kind,
            stage: stage.map(str::to_string),
            step: step.map(str::to_string),
            old: None,
            new: None,
            breaking: false,
            migration: None,
            span: None,
        }
    }

    fn was(mut self, old: impl Into<String>) -> Self {
        self.old = Some(old.into());
        self
    }

    fn now(mut self, new: impl Into<String>) -> Self {
        self.new = Some(new.into());
        self
    }

    fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    fn breaking(mut self, migration: Option<String>) -> Self {
        self.breaking = true;
        self.migration = migration;
        self
    }

    /// A breaking change no `migrate:` entry covers: `funnel run` refuses it.
    pub fn unmigrated(&self) -> bool {
        self.breaking && self.migration.is_none()
    }
}

/// Every structural change from `old` to `new`, in the order of the new
/// file (changes with nothing left to point at come last).
pub fn diff(old: &Funnel, new: &Funnel) -> Vec<Change> {
    let versions = Versions::new(old, new);
    let mut changes = Vec::new();
    if old.name != new.name {
        // Journeys are kept under the funnel's name: the old ones are left behind.
        changes.push(
            Change::new(ChangeKind::FunnelRenamed, None, None)
                .was(&old.name)
                .now(&new.name)
                .at(Some(new.name_span))
                .breaking(None),
        );
    }
    versions.stages(&mut changes);
    versions.steps(&mut changes);
    changes.sort_by_key(|c| c.span.map_or(usize::MAX, |s| s.offset));
    changes
}

/// Both versions, indexed by name.
pub(crate) struct Versions<'a> {
    pub old: &'a Funnel,
    pub new: &'a Funnel,
    /// Step id -> (stage, index), per version.
    pub old_steps: HashMap<&'a str, (usize, usize)>,
    pub new_steps: HashMap<&'a str, (usize, usize)>,
    /// Old stage name -> the stage a rename entry gives it.
    renamed_stages: HashMap<&'a str, &'a str>,
    /// Old step id -> the step a rename entry gives it.
    renamed_steps: HashMap<&'a str, &'a str>,
}

fn index(funnel: &Funnel) -> HashMap<&str, (usize, usize)> {
    let mut steps = HashMap::new();
    for (s, stage) in funnel.stages.iter().enumerate() {
        for (i, step) in stage.steps.iter().enumerate() {
            steps.entry(step.id.as_str()).or_insert((s, i));
        }
    }
    steps
}

impl<'a> Versions<'a> {
    pub fn new(old: &'a Funnel, new: &'a Funnel) -> Self {
        let old_steps = index(old);
        let new_steps = index(new);
        let mut renamed_stages = HashMap::new();
        let mut renamed_steps = HashMap::new();
        for m in &new.migrate {
            let from = m.from.as_str();
            match &m.to {
                MigrationTarget::Stage(to)
                    if old.stage_id(from).is_some()
                        && new.stage_id(from).is_none()
                        && old.stage_id(to).is_none() =>
                {
                    renamed_stages.insert(from, to.as_str());
                }
                MigrationTarget::Step(to)
                    if old_steps.contains_key(from)
                        && !new_steps.contains_key(from)
                        && !old_steps.contains_key(to.as_str()) =>
                {
                    renamed_steps.insert(from, to.as_str());
                }
                _ => {}
            }
        }
        Self {
            old,
            new,
            old_steps,
            new_steps,
            renamed_stages,
            renamed_steps,
        }
    }

    /// The `migrate:` target for `id` that can move contacts, as written.
    pub fn migration(&self, id: &str, allow_stay: bool) -> Option<String> {
        let m = self.new.migration(id)?;
        match &m.to {
            MigrationTarget::Unresolved(_) => None,
            MigrationTarget::Stay if !allow_stay => None,
            target => Some(target.name().to_string()),
        }
    }

    fn new_stage(&self, name: &str) -> Option<&'a Stage> {
        self.new.stage_id(name).map(|s| &self.new.stages[s])
    }

    /// Whether a step of the new version is there only as the new name of
    /// an old one.
    fn is_rename_target(&self, id: &str) -> bool {
        self.renamed_steps.values().any(|to| *to == id)
    }

    fn stages(&self, changes: &mut Vec<Change>) {
        let renamed_to: HashSet<&str> = self.renamed_stages.values().copied().collect();
        for stage in &self.old.stages {
            let name = stage.name.as_str();
            if self.new.stage_id(name).is_some() {
                continue;
            }
            let migration = self.new.migration(name);
            let span = migration.map(|m| m.from_span);
            let change = match self.renamed_stages.get(name) {
                Some(to) => Change::new(ChangeKind::StageRenamed, Some(to), None)
                    .was(name)
                    .now(*to)
                    .at(self.new_stage(to).map(|s| s.span)),
                None => Change::new(ChangeKind::StageRemoved, Some(name), None)
                    .was(steps_of(stage))
                    .at(span),
            };
            changes.push(change.breaking(self.migration(name, false)));
        }
        for (s, stage) in self.new.stages.iter().enumerate() {
            let name = stage.name.as_str();
            let Some(old_id) = self.old.stage_id(name) else {
                if !renamed_to.contains(name) {
                    changes.push(
                        Change::new(ChangeKind::StageAdded, Some(name), None)
                            .now(steps_of(stage))
                            .at(Some(stage.span)),
                    );
                }
                continue;
            };
            let old_goal = goal(self.old, old_id);
            let new_goal = goal(self.new, s);
            if old_goal != new_goal {
                changes.push(
                    Change::new(ChangeKind::GoalChanged, Some(name), None)
                        .was(old_goal)
                        .now(new_goal)
                        .at(Some(stage.goal.as_ref().map_or(stage.span, |g| g.span))),
                );
            }
        }
    }

    fn steps(&self, changes: &mut Vec<Change>) {
        for (s, stage) in self.new.stages.iter().enumerate() {
            let moved = self.reordered(s);
            for (i, step) in stage.steps.iter().enumerate() {
                match self.old_steps.get(step.id.as_str()) {
                    Some(&(os, oi)) => self.compare_step((os, oi), (s, i), &moved, changes),
                    None if self.is_rename_target(&step.id) => {}
                    None => changes.push(self.added(s, i)),
                }
            }
        }
        for stage in &self.old.stages {
            // A removed stage's steps go with it: one change says so.
            let Some(new_stage) = self.new_stage(&stage.name).or_else(|| {
                let renamed = self.renamed_stages.get(stage.name.as_str())?;
                self.new_stage(renamed)
            }) else {
                continue;
            };
            for step in &stage.steps {
                let id = step.id.as_str();
                if self.new_steps.contains_key(id) {
                    continue;
                }
                let migration = self.migration(id, false);
                let change = match self.renamed_steps.get(id) {
                    Some(to) => {
                        let (ns, ni) = self.new_steps.get(to).copied().unwrap_or_default();
                        let at = self.new.stages[ns].steps[ni].span;
                        Change::new(ChangeKind::StepRenamed, Some(&new_stage.name), Some(id))
                            .was(id)
                            .now(*to)
                            .at(Some(at))
                    }
                    None => Change::new(ChangeKind::StepRemoved, Some(&new_stage.name), Some(id))
                        .was(describe_step(self.old, step))
                        .at(Some(new_stage.span)),
                };
                changes.push(change.breaking(migration));
            }
        }
    }

    fn added(&self, s: usize, i: usize) -> Change {
        let stage = &self.new.stages[s];
        let step = &stage.steps[i];
        let known = |other: &&Step| self.old_steps.contains_key(other.id.as_str());
        let place = match (
            stage.steps[..i].iter().rev().find(known),
            stage.steps[i + 1..].iter().find(known),
        ) {
            (Some(before), _) => format!("after `{}`", before.id),
            (None, Some(after)) => format!("before `{}`", after.id),
            (None, None) => "first in the stage".to_string(),
        };
        Change::new(ChangeKind::StepAdded, Some(&stage.name), Some(&step.id))
            .now(format!("{place}: {}", describe_step(self.new, step)))
            .at(Some(step.span))
    }

    /// The steps of new stage `s` whose order among the steps both versions
    /// have there changed: those off a longest common subsequence.
    fn reordered(&self, s: usize) -> HashSet<&'a str> {
        let stage = &self.new.stages[s];
        let old_name = self
            .renamed_stages
            .iter()
            .find(|(_, to)| **to == stage.name)
            .map_or(stage.name.as_str(), |(from, _)| *from);
        let Some(old_id) = self.old.stage_id(old_name) else {
            return HashSet::new();
        };
        let new_order: Vec<&str> = stage.steps.iter().map(|s| s.id.as_str()).collect();
        let old_order: Vec<&str> = self.old.stages[old_id]
            .steps
            .iter()
            .map(|s| s.id.as_str())
            .filter(|id| new_order.contains(id))
            .collect();
        let new_order: Vec<&str> = new_order
            .into_iter()
            .filter(|id| old_order.contains(id))
            .collect();
        let kept = lcs(&old_order, &new_order);
        new_order
            .into_iter()
            .filter(|id| !kept.contains(id))
            .collect()
    }

    /// The stage a step of old stage `name` is in now when it did not move.
    fn same_stage(&self, old_name: &str, new_name: &str) -> bool {
        old_name == new_name || self.renamed_stages.get(old_name) == Some(&new_name)
    }

    fn compare_step(
        &self,
        (os, oi): (usize, usize),
        (s, i): (usize, usize),
        moved: &HashSet<&str>,
        changes: &mut Vec<Change>,
    ) {
        let (old_stage, new_stage) = (&self.old.stages[os], &self.new.stages[s]);
        let (old, new) = (&old_stage.steps[oi], &new_stage.steps[i]);
        let id = Some(new.id.as_str());
        let change = |kind| Change::new(kind, Some(&new_stage.name), id);
        if !self.same_stage(&old_stage.name, &new_stage.name) {
            changes.push(
                change(ChangeKind::StepMoved)
                    .was(format!("in `{}`", old_stage.name))
                    .now(format!("in `{}`", new_stage.name))
                    .at(Some(new.span))
                    .breaking(self.migration(&new.id, true)),
            );
        } else if moved.contains(new.id.as_str()) {
            changes.push(
                change(ChangeKind::StepMoved)
                    .was(place(old_stage, oi))
                    .now(place(new_stage, i))
                    .at(Some(new.span)),
            );
        }
        let pairs = [
            (ChangeKind::StepRetimed, timing(old), timing(new), new.span),
            (
                ChangeKind::WaitWindowChanged,
                window(old),
                window(new),
                wait_of(new).map_or(new.span, |w| w.within_span),
            ),
            (
                ChangeKind::ActionChanged,
                action(old),
                action(new),
                new.span,
            ),
        ];
        for (kind, was, now, span) in pairs {
            if was != now {
                changes.push(change(kind).was(was).now(now).at(Some(span)));
            }
        }
        let (was, now) = (wait_targets(self.old, os, oi), wait_targets(self.new, s, i));
        if was != now {
            let span = wait_of(new).map_or(new.span, |w| w.span);
            let mut c = change(ChangeKind::WaitTargetsChanged)
                .was(was.clone().unwrap_or_else(|| "no wait".into()))
                .now(now.unwrap_or_else(|| "no wait".into()))
                .at(Some(span));
            if was.is_some() {
                // Only contacts in the old wait are affected.
                c = c.breaking(self.migration(&new.id, true));
            }
            changes.push(c);
        }
    }
}

/// Longest common subsequence of two orders of the same ids.
fn lcs<'a>(a: &[&'a str], b: &[&'a str]) -> HashSet<&'a str> {
    let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i][j] = if a[i] == b[j] {
                table[i + 1][j + 1] + 1
            } else {
                table[i + 1][j].max(table[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut kept) = (0, 0, HashSet::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            kept.insert(a[i]);
            i += 1;
            j += 1;
        } else if table[i + 1][j] >= table[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    kept
}
