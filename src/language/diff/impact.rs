//! What a new version does to the contacts already in a funnel, position
//! by position. The rules (the README's "Changing a live funnel" table):
//! a contact stays on its step and stage when both still exist; a step not
//! yet done follows its new timing, while an open wait keeps the deadline
//! it promised; a contact never receives a step added before its position,
//! and does receive one added after it; and a contact whose step or stage
//! is gone, or whose wait now leads elsewhere, moves only where a
//! `migrate:` entry says, and is blocked without one.

use serde::Serialize;

use super::Versions;
use super::describe::{timing, wait_targets, window};
use crate::language::model::{Funnel, MigrationTarget};

/// Active contacts at one position of the old version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub stage: String,
    /// The step they are on; `None` once the stage's steps ran out.
    pub step: Option<String>,
    /// The step's action ran and its wait is open.
    pub waiting: bool,
    pub count: u64,
}

/// What the new version does to the contacts at one [`InFlight`] position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub fate: Fate,
    /// Steps the new version adds before their position: never received.
    pub skipped: Vec<String>,
    /// Steps the new version adds after their position: received in turn.
    pub upcoming: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "kebab-case")]
pub enum Fate {
    /// Their step and stage still exist and did not change for them.
    Stays,
    /// They stay, and the step's timing changed: a step not yet done uses
    /// the new timing; an open wait keeps the deadline it promised.
    Retimed,
    /// A `migrate:` entry moves them (`next` resolved against the old order).
    Migrated { to: Destination },
    /// A breaking edit with no entry for them: `funnel run` refuses it.
    Blocked { reason: String },
}

impl Fate {
    pub fn name(&self) -> &'static str {
        match self {
            Fate::Stays => "stays",
            Fate::Retimed => "retimed",
            Fate::Migrated { .. } => "migrated",
            Fate::Blocked { .. } => "blocked",
        }
    }
}

/// Where migrated contacts go in the new version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Destination {
    Step {
        stage: String,
        step: String,
    },
    /// The start of the stage, as if they had just entered it.
    Stage {
        stage: String,
    },
    /// The stage's steps ran out: its `exhausted` decides.
    Exhausted {
        stage: String,
    },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Step { stage, step } => write!(f, "{stage}/{step}"),
            Destination::Stage { stage } => write!(f, "the start of {stage}"),
            Destination::Exhausted { stage } => write!(f, "the exhausted of {stage}"),
        }
    }
}

/// The effect of `new` on each position of `in_flight` (counted under
/// `old`), in the same order.
pub fn impact(old: &Funnel, new: &Funnel, in_flight: &[InFlight]) -> Vec<Effect> {
    let versions = Versions::new(old, new);
    in_flight
        .iter()
        .map(|position| {
            let fate = versions.fate(position);
            let (skipped, upcoming) = versions.added_around(position, &fate);
            Effect {
                fate,
                skipped,
                upcoming,
            }
        })
        .collect()
}

impl Versions<'_> {
    fn fate(&self, p: &InFlight) -> Fate {
        let stage_kept = self.new.stage_id(&p.stage).is_some();
        let Some(step) = p.step.as_deref() else {
            if stage_kept {
                return Fate::Stays;
            }
            return self.stage_entry(p, format!("stage `{}` was removed", p.stage));
        };
        let broken = match (self.old_steps.get(step), self.new_steps.get(step)) {
            (_, None) => Some(format!("step `{step}` was removed")),
            (_, Some(&(s, _))) if self.new.stages[s].name != p.stage => Some(format!(
                "step `{step}` moved to stage `{}`",
                self.new.stages[s].name
            )),
            (Some(&(os, oi)), Some(&(s, i)))
                if p.waiting && wait_targets(self.old, os, oi) != wait_targets(self.new, s, i) =>
            {
                Some(format!("the wait of step `{step}` changed its targets"))
            }
            _ => None,
        };
        let Some(reason) = broken else {
            return self.kept(p, step);
        };
        match self.new.migration(step).map(|m| &m.to) {
            Some(MigrationTarget::Stay) => match self.new_steps.get(step) {
                Some(&(s, _)) if self.new.stages[s].name == p.stage => self.kept(p, step),
                Some(&(s, _)) => Fate::Migrated {
                    to: Destination::Step {
                        stage: self.new.stages[s].name.clone(),
                        step: step.to_string(),
                    },
                },
                None => Fate::Blocked {
                    reason: format!("{reason}; `stay` has no step to keep them on"),
                },
            },
            Some(target) => self.resolve(p, target, &reason),
            None if !stage_kept => self.stage_entry(p, reason),
            None => Fate::Blocked {
                reason: format!("{reason}, and `migrate:` has no entry for it"),
            },
        }
    }

    /// Contacts who keep their step: retimed when what is still ahead of
    /// them on it changed.
    fn kept(&self, p: &InFlight, step: &str) -> Fate {
        let (Some(&(os, oi)), Some(&(s, i))) = (self.old_steps.get(step), self.new_steps.get(step))
        else {
            return Fate::Stays;
        };
        let (old, new) = (&self.old.stages[os].steps[oi], &self.new.stages[s].steps[i]);
        let changed = if p.waiting {
            window(old) != window(new)
        } else {
            timing(old) != timing(new)
        };
        if changed { Fate::Retimed } else { Fate::Stays }
    }

    fn stage_entry(&self, p: &InFlight, reason: String) -> Fate {
        match self.new.migration(&p.stage).map(|m| &m.to) {
            Some(target) => self.resolve(p, target, &reason),
            None => Fate::Blocked {
                reason: format!("{reason}, and `migrate:` has no entry for it"),
            },
        }
    }

    fn resolve(&self, p: &InFlight, target: &MigrationTarget, reason: &str) -> Fate {
        let to = match target {
            MigrationTarget::Step(id) => match self.new_steps.get(id.as_str()) {
                Some(&(s, _)) => Destination::Step {
                    stage: self.new.stages[s].name.clone(),
                    step: id.clone(),
                },
                None => return blocked(reason, &format!("`{id}` is no step")),
            },
            MigrationTarget::Stage(stage) => {
                // A renamed stage: contacts on a step it still has keep it.
                let keeps = p.step.as_deref().and_then(|step| {
                    let &(s, _) = self.new_steps.get(step)?;
                    (self.new.stages[s].name == *stage).then(|| step.to_string())
                });
                match keeps {
                    Some(step) => Destination::Step {
                        stage: stage.clone(),
                        step,
                    },
                    None => Destination::Stage {
                        stage: stage.clone(),
                    },
                }
            }
            MigrationTarget::Next => match self.next(p) {
                Ok(to) => to,
                Err(why) => return blocked(reason, &why),
            },
            MigrationTarget::Stay => return blocked(reason, "`stay` names a stage"),
            MigrationTarget::Unresolved(name) => {
                return blocked(reason, &format!("`{name}` names nothing"));
            }
        };
        Fate::Migrated { to }
    }

    /// `next` against the old order: the first later step of the old stage
    /// that the new version still has there, else that stage's `exhausted`.
    fn next(&self, p: &InFlight) -> Result<Destination, String> {
        let step = p
            .step
            .as_deref()
            .ok_or("`next` needs a step, not a stage")?;
        let &(os, oi) = self
            .old_steps
            .get(step)
            .ok_or_else(|| format!("`{step}` is not a step of the old version"))?;
        let stage = &self.old.stages[os];
        let later = stage.steps[oi + 1..].iter().find(|later| {
            self.new_steps
                .get(later.id.as_str())
                .is_some_and(|&(s, _)| self.new.stages[s].name == stage.name)
        });
        match (later, self.new.stage_id(&stage.name)) {
            (Some(later), _) => Ok(Destination::Step {
                stage: stage.name.clone(),
                step: later.id.clone(),
            }),
            (None, Some(_)) => Ok(Destination::Exhausted {
                stage: stage.name.clone(),
            }),
            (None, None) => Err(format!(
                "`next` leads to the exhausted of `{}`, which is gone",
                stage.name
            )),
        }
    }

    /// Steps the new version adds in the stage the contacts end up in,
    /// split by their position there.
    fn added_around(&self, p: &InFlight, fate: &Fate) -> (Vec<String>, Vec<String>) {
        let (stage, step) = match fate {
            Fate::Stays | Fate::Retimed => (p.stage.as_str(), p.step.as_deref()),
            Fate::Migrated {
                to: Destination::Step { stage, step },
            } => (stage.as_str(), Some(step.as_str())),
            Fate::Migrated {
                to: Destination::Stage { stage },
            } => return (Vec::new(), self.added_in(stage)),
            Fate::Migrated {
                to: Destination::Exhausted { stage },
            } => return (self.added_in(stage), Vec::new()),
            Fate::Blocked { .. } => return (Vec::new(), Vec::new()),
        };
        let Some(s) = self.new.stage_id(stage) else {
            return (Vec::new(), Vec::new());
        };
        let steps = &self.new.stages[s].steps;
        let at = step
            .and_then(|id| steps.iter().position(|x| x.id == id))
            .unwrap_or(steps.len());
        let all = self.added_in(stage);
        let (before, after): (Vec<String>, Vec<String>) = all
            .into_iter()
            .partition(|id| steps.iter().position(|x| x.id == *id).unwrap_or(0) < at);
        (before, after)
    }

    /// The ids of the steps of new stage `stage` that the old version did not
    /// have under any name.
    fn added_in(&self, stage: &str) -> Vec<String> {
        let Some(s) = self.new.stage_id(stage) else {
            return Vec::new();
        };
        self.new.stages[s]
            .steps
            .iter()
            .filter(|x| !self.old_steps.contains_key(x.id.as_str()))
            .filter(|x| !self.is_rename_target(&x.id))
            .map(|x| x.id.clone())
            .collect()
    }
}

fn blocked(reason: &str, why: &str) -> Fate {
    Fate::Blocked {
        reason: format!("{reason}; its `migrate:` entry cannot apply: {why}"),
    }
}
