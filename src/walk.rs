//! Walk: one contact in one funnel during one tick, moved through what is
//! due **in time order**. At every point the walk gathers the moments that
//! could move the contact next (global exits, `expire`, the stage's goal
//! and exits, the open wait's answer or deadline, the next step's due
//! time, the steps running out), applies the earliest, and starts again,
//! until nothing is due by the tick's `now`. Each move is recorded at the
//! moment it belongs to, so a journey is the same whether runs come every
//! five minutes or once a week; only a message that became too late by
//! the time a run saw it differs (skipped as stale, and recorded).
//!
//! Conditions over contact fields are true from the later of the moment
//! their stage or step started and the run that first saw the row with
//! its current values (`sightings` in the store); one that reads `now`
//! becomes true at the moment it does (`contact.due_at <= now` at
//! `due_at`). Actions and their rendering live in `act.rs`, timing in
//! `timing.rs`.

use std::cell::RefCell;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::Connection;
use serde_json::Value as Json;

use crate::condition::Condition;
use crate::feed::{Contact, Event, Value};
use crate::model::{Funnel, Outcome, Signal, StageId, Target, TriggerKind};
use crate::runner::{Loaded, Runner};
use crate::schedule::Reentry;
use crate::store::{self, Journey, Kind, StoreError, Transition};

/// How far one contact may move in one tick before the runner calls it a
/// loop; `check` rejects zero-delay loops, so hitting it is recorded.
const MAX_MOVES: usize = 1_000;

/// The earliest moment a time can take: before anything.
const BEGINNING: DateTime<Utc> = DateTime::<Utc>::MIN_UTC;

/// What could move the contact next, in the order moves at the same
/// moment are applied: an opt-out wins over everything at its moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    GlobalExit,
    Expire,
    Goal,
    StageExit,
    WaitYes,
    WaitNo,
    Step,
}

#[derive(Debug)]
enum Move {
    /// Out of the stage: a global exit, `expire`, the goal or a stage exit.
    Leave { to: Target, kind: Kind, why: String },
    /// A wait answered or run out.
    Wait { to: Target, kind: Kind, why: String },
    /// The step at `index` is due; `stale` when the send window opens only
    /// after the message's staleness limit.
    Step {
        stage: StageId,
        index: usize,
        stale: bool,
    },
    /// The stage's steps ran out.
    Exhausted(Target),
    /// A terminal stage's steps are done: the journey ends.
    Stop,
}

#[derive(Debug)]
struct Next {
    at: DateTime<Utc>,
    rank: Rank,
    what: Move,
    /// The event that causes the move (`name@time`), consumed by it.
    cause: Option<String>,
}

pub(crate) struct Walk<'r, 'a, 't, 'c, 'e> {
    pub(crate) runner: &'r mut Runner<'a>,
    pub(crate) loaded: &'a Loaded,
    pub(crate) tx: &'t Connection,
    pub(crate) contact: &'c Contact,
    /// The contact's events, by time.
    pub(crate) events: &'e [&'e Event],
    pub(crate) journey: Option<Journey>,
    /// The contact's CEL context, built on first use and dropped when a
    /// `set` or `tag` action changes what conditions see.
    pub(crate) cel: RefCell<Option<cel::Context<'static, 'static>>>,
    /// Since when the values conditions read are what they are now.
    pub(crate) changed: DateTime<Utc>,
    /// How many of the contact's `task.done` events are applied.
    pub(crate) done: usize,
}

impl Walk<'_, '_, '_, '_, '_> {
    pub(crate) fn funnel(&self) -> &Funnel {
        &self.loaded.funnel
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.runner.now
    }

    /// Walks the contact on from `self.journey`, as the state holds it,
    /// and writes the journey back when it changed.
    pub(crate) fn run(mut self) -> Result<(), StoreError> {
        let before = self.journey.clone();
        if self.carry_over()? {
            self.walk()?;
        }
        match &self.journey {
            Some(journey) if self.journey != before => store::save_journey(self.tx, journey),
            _ => Ok(()),
        }
    }

    /// Brings a journey written under another version of the funnel (or by
    /// an older funnel, with a step index) to this one: same ids, or moved
    /// by the funnel's `migrate:` block. False when it cannot be placed:
    /// the run refuses such edits before walking anyone, so only a state
    /// changed behind its back gets here, and the contact is left alone.
    fn carry_over(&mut self) -> Result<bool, StoreError> {
        let Some(journey) = self.journey.as_mut() else {
            return Ok(true);
        };
        // `#N`: a position written before ids were kept, read against the
        // funnel as it is (what the older runner did).
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
        if self.place().is_some() {
            if let Some(j) = self.journey.as_mut() {
                j.version = self.loaded.version.clone();
            }
            return Ok(true);
        }
        self.migrate()
    }

    /// Moves a contact whose step or stage this version no longer has where
    /// the funnel's `migrate:` block says, recorded as a `migrate` line at
    /// the moment this version first ran.
    fn migrate(&mut self) -> Result<bool, StoreError> {
        let Some(journey) = self.journey.clone() else {
            return Ok(true);
        };
        let Some((target, via)) =
            crate::migration::resolve(self.funnel(), &journey.stage, journey.step.as_deref(), None)
        else {
            self.runner.summary.blocked += 1;
            return Ok(false);
        };
        let at = self.loaded.first_run.max(journey.clock);
        let why = format!(
            "migrate: {via} (version {} -> {})",
            short(&journey.version),
            short(&self.loaded.version)
        );
        let from = (Some(journey.stage.clone()), journey.step.clone());
        if let Some(j) = self.journey.as_mut() {
            j.version = self.loaded.version.clone();
        }
        let (stage, index) = match target {
            Target::Step(s, i) => (s, Some(i)),
            Target::Stage(s) => (s, Some(0)),
            Target::Exhausted(s) => (s, None),
            Target::Unresolved => return Ok(false),
        };
        let stage_name = self.funnel().stages[stage].name.clone();
        let step = index.and_then(|i| self.step_id(stage, i));
        if let Some(j) = self.journey.as_mut() {
            if j.stage != stage_name {
                j.stage_since = at;
            }
            j.stage = stage_name.clone();
            j.step = step.clone();
            j.clock = at;
            j.waiting_since = None;
            j.deadline = None;
        }
        self.runner.summary.migrated += 1;
        self.history(Kind::Migrate, from, (Some(stage_name), step), at, why)?;
        Ok(true)
    }

    fn walk(&mut self) -> Result<(), StoreError> {
        for _ in 0..MAX_MOVES {
            if !self.journey.as_ref().is_some_and(|j| j.active) {
                if !self.enter()? {
                    return self.close_done_tasks(self.now());
                }
                continue;
            }
            let Some((stage, index)) = self.place() else {
                return Ok(());
            };
            let (next, deferred) = self.next(stage, index)?;
            let Some(next) = next else {
                if deferred {
                    self.runner.summary.deferred += 1;
                }
                return self.close_done_tasks(self.now());
            };
            self.apply(next)?;
        }
        // Only a loop `check` could not see gets here: say so, never
        // silently stop a contact.
        self.runner.summary.move_limit += 1;
        let funnel = self.funnel().name.clone();
        let now = self.now();
        self.runner.plan(
            &funnel,
            &self.contact.id,
            now,
            format_args!("stopped after {MAX_MOVES} moves in one run: a loop"),
        );
        Ok(())
    }

    /// The stage and step the journey is on in this version; the step is
    /// `None` once the stage's steps ran out.
    fn place(&self) -> Option<(StageId, Option<usize>)> {
        let journey = self.journey.as_ref()?;
        let stage = self.funnel().stage_id(&journey.stage)?;
        match &journey.step {
            None => Some((stage, None)),
            Some(id) => {
                let index = self.funnel().stages[stage]
                    .steps
                    .iter()
                    .position(|s| &s.id == id)?;
                Some((stage, Some(index)))
            }
        }
    }

    /// The earliest move due by `now`, and whether a message step is due
    /// but held by the send window or caps.
    fn next(
        &self,
        stage: StageId,
        index: Option<usize>,
    ) -> Result<(Option<Next>, bool), StoreError> {
        let Some(journey) = self.journey.as_ref() else {
            return Ok((None, false));
        };
        let now = self.now();
        // A moment before the journey's last move (an event that reached
        // the feed late) is applied at that move: history never goes back.
        let floor = journey
            .clock
            .max(journey.waiting_since.unwrap_or(BEGINNING));
        let mut candidates: Vec<Next> = Vec::new();
        let funnel = self.funnel();
        let s = &funnel.stages[stage];
        if !s.terminal {
            for exit in &funnel.exits {
                if let Some((at, why, cause)) = self.signal(&exit.signal, journey.entered_at, now) {
                    candidates.push(Next {
                        at: at.max(floor),
                        rank: Rank::GlobalExit,
                        what: Move::Leave {
                            to: exit.to,
                            kind: Kind::Exit,
                            why: format!("exit: {why}"),
                        },
                        cause,
                    });
                }
            }
            if let Some(expire) = &funnel.expire
                && let Some(at) = journey.entered_at.checked_add_signed(expire.after)
            {
                candidates.push(Next {
                    at: at.max(floor),
                    rank: Rank::Expire,
                    what: Move::Leave {
                        to: expire.to,
                        kind: Kind::Exit,
                        why: format!(
                            "expire: in the funnel for {}",
                            crate::duration::format(expire.after)
                        ),
                    },
                    cause: None,
                });
            }
        }
        let transitions = s.goal.iter().map(|g| (g, Rank::Goal, Kind::Goal, "goal"));
        let exits = s
            .exits
            .iter()
            .map(|e| (e, Rank::StageExit, Kind::Exit, "exit"));
        for (transition, rank, kind, label) in transitions.chain(exits) {
            if let Some((at, why, cause)) =
                self.signal(&transition.signal, journey.stage_since, now)
            {
                candidates.push(Next {
                    at: at.max(floor),
                    rank,
                    what: Move::Leave {
                        to: transition.to,
                        kind,
                        why: format!("{label}: {why}"),
                    },
                    cause,
                });
            }
        }
        let mut deferred = false;
        match index {
            Some(index) => {
                deferred = self.step_moves(journey, stage, index, &mut candidates)?;
            }
            None => candidates.push(Next {
                at: journey.clock,
                rank: Rank::Step,
                what: match s.exhausted {
                    Some((target, _)) if !s.terminal => Move::Exhausted(target),
                    _ => Move::Stop,
                },
                cause: None,
            }),
        }
        let next = candidates
            .into_iter()
            .filter(|c| c.at <= now)
            // `min_by_key` keeps the first of equals: the order offered.
            .min_by_key(|c| (c.at, c.rank));
        Ok((next, deferred))
    }

    /// The moves of the step at `index`: its wait's answer or deadline when
    /// one is open, else the moment it falls due. True when a message is
    /// due but the send window or caps hold it.
    fn step_moves(
        &self,
        journey: &Journey,
        stage: StageId,
        index: usize,
        candidates: &mut Vec<Next>,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let step = &self.funnel().stages[stage].steps[index];
        if let (Some(since), Outcome::Wait(wait)) = (journey.waiting_since, &step.outcome) {
            let deadline = journey
                .deadline
                .or_else(|| wait.within.and_then(|w| since.checked_add_signed(w)));
            let horizon = deadline.map_or(now, |d| d.min(now));
            if let Some(signal) = &wait.signal
                && let Some((at, _, cause)) = self.signal(signal, since, horizon)
            {
                candidates.push(Next {
                    at: at.max(since),
                    rank: Rank::WaitYes,
                    what: Move::Wait {
                        to: wait.yes,
                        kind: Kind::WaitYes,
                        why: format!("wait {}: yes", step.id),
                    },
                    cause,
                });
            }
            if let (Some(deadline), Some(no)) = (deadline, wait.no) {
                let window = deadline.signed_duration_since(since);
                candidates.push(Next {
                    at: deadline,
                    rank: Rank::WaitNo,
                    what: Move::Wait {
                        to: no,
                        kind: Kind::WaitNo,
                        why: format!(
                            "wait {}: no reaction within {}",
                            step.id,
                            crate::duration::format(window)
                        ),
                    },
                    cause: None,
                });
            }
            return Ok(false);
        }
        let Some(due) = self.due(step, journey.clock) else {
            return Ok(false);
        };
        let mut at = due;
        let mut stale = false;
        if let Some(action) = &step.action
            && !action.messages().is_empty()
        {
            let opens = self.opening(action, due)?;
            // A message the window holds past the step's own staleness
            // limit is skipped at its due time: "see you tomorrow" is not
            // sent on the morning of the appointment. The default limit
            // counts from the opening instead (a reminder due on Saturday
            // night goes out on Monday morning), like a late run.
            if step
                .stale_after
                .is_some_and(|limit| opens.signed_duration_since(due) > limit)
            {
                stale = true;
            } else {
                at = opens;
            }
        }
        candidates.push(Next {
            at,
            rank: Rank::Step,
            what: Move::Step {
                stage,
                index,
                stale,
            },
            cause: None,
        });
        Ok(due <= now && at > now)
    }

    fn apply(&mut self, next: Next) -> Result<(), StoreError> {
        self.close_done_tasks(next.at)?;
        let at = next.at;
        match next.what {
            Move::Leave { to, kind, why } => {
                let global = next.rank == Rank::GlobalExit;
                if global {
                    self.cancel_tasks(None, at, &why)?;
                }
                self.move_to(to, at, kind, why)?;
                if global {
                    // Opt-out ends everything at once: not even the exit
                    // stage's steps run.
                    self.runner.summary.exited += 1;
                    self.stop(at);
                }
            }
            Move::Wait { to, kind, why } => self.go(to, at, Some((kind, why)))?,
            Move::Step {
                stage,
                index,
                stale,
            } => self.step(stage, index, at, stale)?,
            Move::Exhausted(target) => {
                self.move_to(target, at, Kind::Exhausted, "exhausted".to_string())?
            }
            Move::Stop => self.stop(at),
        }
        if let (Some(cause), Some(j)) = (next.cause, self.journey.as_mut()) {
            j.cause = Some(cause);
        }
        Ok(())
    }

    /// Runs the step at `index` at `at`, then follows its outcome.
    fn step(
        &mut self,
        stage: StageId,
        index: usize,
        at: DateTime<Utc>,
        stale: bool,
    ) -> Result<(), StoreError> {
        let loaded = self.loaded;
        let step = &loaded.funnel.stages[stage].steps[index];
        let acted = match &step.action {
            Some(action) => self.act(stage, index, action, at, stale)?,
            None => crate::act::Acted::Done,
        };
        match &step.outcome {
            Outcome::Continue => self.go(Target::Step(stage, index + 1), at, None),
            Outcome::Wait(wait) if acted.reached_contact() => {
                let deadline = wait.within.and_then(|w| at.checked_add_signed(w));
                if let Some(j) = self.journey.as_mut() {
                    j.waiting_since = Some(at);
                    j.deadline = deadline;
                }
                Ok(())
            }
            Outcome::Wait(wait) => {
                // A message that never went out cannot be answered: its
                // wait does not start, and the stage's automation ends
                // (no "you did not answer" follow-up to a survey never sent).
                let why = format!(
                    "exhausted: step {} was not sent ({}), so its wait did not start",
                    step.id,
                    acted.name()
                );
                let s = &loaded.funnel.stages[stage];
                match (s.exhausted, wait.no) {
                    (Some((target, _)), _) if !s.terminal => {
                        self.move_to(target, at, Kind::Exhausted, why)
                    }
                    // A stage with no `exhausted` goes on as if nobody
                    // answered: its wait's negative branch, at once.
                    (_, Some(no)) => self.go(
                        no,
                        at,
                        Some((
                            Kind::WaitNo,
                            format!("wait {}: not started ({})", step.id, acted.name()),
                        )),
                    ),
                    _ => {
                        self.stop(at);
                        Ok(())
                    }
                }
            }
            Outcome::Branch(branch) => {
                let yes = self.truthy_at(&branch.when, at);
                let (target, kind, label) = if yes {
                    (branch.yes, Kind::BranchYes, "yes")
                } else {
                    (branch.no, Kind::BranchNo, "no")
                };
                self.go(
                    target,
                    at,
                    Some((kind, format!("branch {}: {label}", step.id))),
                )
            }
        }
    }

    /// Enters the contact if a trigger fired since it may (re-)enter: at the
    /// moment the trigger belongs to, never before this funnel version
    /// first ran, and not when a global exit fired by then.
    fn enter(&mut self) -> Result<bool, StoreError> {
        let previous = self.journey.clone();
        let allowed = match &previous {
            None => BEGINNING,
            Some(p) => {
                let Some(left) = p.left_at else {
                    return Ok(false);
                };
                match self.funnel().reentry {
                    Reentry::Never => return Ok(false),
                    Reentry::Always => left,
                    Reentry::After(gap) => match left.checked_add_signed(gap) {
                        Some(from) => from,
                        None => return Ok(false),
                    },
                }
            }
        };
        let lower = allowed.max(self.loaded.first_run);
        let mut best: Option<(DateTime<Utc>, Target, String, Option<String>)> = None;
        for trigger in &self.funnel().entries {
            let Some((at, why, cause)) = self.triggered(&trigger.kind, previous.as_ref(), allowed)
            else {
                continue;
            };
            let at = at.max(lower);
            // A journey takes time: one that ended where it began does not
            // start again at once (`reentry: always` with a condition that
            // stays true would loop).
            let fresh = previous.as_ref().is_none_or(|p| at > p.entered_at);
            if fresh && at <= self.now() && best.as_ref().is_none_or(|b| at < b.0) {
                best = Some((at, trigger.stage, why, cause));
            }
        }
        let Some((at, Target::Stage(stage), why, cause)) = best else {
            return Ok(false);
        };
        let since = previous.as_ref().map_or(BEGINNING, |p| p.entered_at);
        if self.funnel().exits.iter().any(|exit| match &exit.signal {
            Signal::Event(name) => self
                .events
                .iter()
                .any(|e| &e.name == name && e.at >= since && e.at <= at),
            // The row's values hold from the run that first saw them: an
            // opt-out a later run saw does not undo an earlier entry (the
            // walk applies it at its own moment).
            Signal::When(condition) => self.changed <= at && self.truthy_at(condition, at),
        }) {
            return Ok(false);
        }
        let entry = previous.map_or(1, |p| p.entry + 1);
        let name = self.funnel().stages[stage].name.clone();
        self.journey = Some(Journey {
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            entry,
            stage: name.clone(),
            step: self.step_id(stage, 0),
            clock: at,
            waiting_since: None,
            stage_since: at,
            active: true,
            entered_at: at,
            left_at: None,
            version: self.loaded.version.clone(),
            cause,
            deadline: None,
        });
        self.history(
            Kind::Enter,
            (None, None),
            (Some(name), None),
            at,
            format!("enter: {why}"),
        )?;
        self.runner.summary.entered += 1;
        Ok(true)
    }

    /// When a trigger fired for a contact who may enter from `allowed` on.
    fn triggered(
        &self,
        kind: &TriggerKind,
        previous: Option<&Journey>,
        allowed: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, String, Option<String>)> {
        let now = self.now();
        let left = previous.and_then(|p| p.left_at).unwrap_or(BEGINNING);
        match kind {
            TriggerKind::When(condition) => {
                let start = allowed.max(self.changed).max(self.loaded.first_run);
                let at = self.condition_from(condition, start, now)?;
                Some((at, condition.source.clone(), None))
            }
            TriggerKind::Event { name, filter } => {
                let event = self.events.iter().find(|e| {
                    &e.name == name
                        && e.at <= now
                        && e.at >= allowed
                        && previous.is_none_or(|p| e.at > p.entered_at)
                        && filter.as_ref().is_none_or(|f| self.truthy_at(f, e.at))
                })?;
                Some((event.at, format!("event {name}"), Some(cause_of(event))))
            }
            TriggerKind::On(condition) => {
                let at = self.timestamp_at(condition, now)?;
                (at <= now && at > left).then(|| (at, condition.source.clone(), None))
            }
            TriggerKind::Inactive { field, period, .. } => {
                let Some(Value::Timestamp(last)) = self.contact.fields.get(field) else {
                    return None;
                };
                let at = last.checked_add_signed(*period)?;
                (at <= now && at > left).then(|| {
                    let why = format!("no {field} for {}", crate::duration::format(*period));
                    (at, why, None)
                })
            }
        }
    }

    /// When a signal fired in `[since, horizon]`: the first event of its
    /// name there (not the one that caused the last move), or the moment
    /// its condition became true.
    fn signal(
        &self,
        signal: &Signal,
        since: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, String, Option<String>)> {
        match signal {
            Signal::Event(name) => {
                let consumed = self.journey.as_ref().and_then(|j| j.cause.as_deref());
                let event = self.events.iter().find(|e| {
                    &e.name == name
                        && e.at >= since
                        && e.at <= horizon
                        && consumed.is_none_or(|c| c != cause_of(e))
                })?;
                Some((event.at, format!("event {name}"), Some(cause_of(event))))
            }
            Signal::When(condition) => {
                let at = self.condition_from(condition, since.max(self.changed), horizon)?;
                Some((at, condition.source.clone(), None))
            }
        }
    }

    /// The first moment in `[start, horizon]` at which `condition` holds:
    /// `start` when it holds then; for a condition that reads `now`, the
    /// moment it turns true (found by halving, to the second).
    fn condition_from(
        &self,
        condition: &Condition,
        start: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if start > horizon {
            return None;
        }
        if self.truthy_at(condition, start) {
            return Some(start);
        }
        if !reads_now(&condition.source) || !self.truthy_at(condition, horizon) {
            return None;
        }
        // Whole seconds, as the state keeps times: `low` is false, `high`
        // true.
        let (mut low, mut high) = (0_i64, horizon.signed_duration_since(start).num_seconds());
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            let at = start.checked_add_signed(TimeDelta::seconds(middle))?;
            if self.truthy_at(condition, at) {
                high = middle;
            } else {
                low = middle;
            }
        }
        let high = start.checked_add_signed(TimeDelta::seconds(high))?;
        Some(high)
    }

    /// Applies the contact's `task.done` events up to `until`, each at its
    /// own moment, so a task created for a past moment in this run is
    /// closed by an event that came after it.
    fn close_done_tasks(&mut self, until: DateTime<Utc>) -> Result<(), StoreError> {
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
                store::complete_step_tasks_at(self.tx, owner, step, event.at)?;
            }
        }
        Ok(())
    }

    /// Cancels the open tasks of `stage` (every stage when `None`) as the
    /// contact leaves it at `at`.
    fn cancel_tasks(
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
            .filter(|step| step.action.as_ref().is_some_and(crate::act::creates_task))
            .map(|step| step.id.as_str())
            .collect();
        if steps.is_empty() {
            return Ok(());
        }
        let owner = (funnel.name.as_str(), self.contact.id.as_str());
        let reason = format!("cancelled: the contact left ({why})");
        store::cancel_step_tasks(self.tx, owner, &steps, at, &reason)?;
        Ok(())
    }

    /// Follows a target from a step: another step of the stage, a stage, or
    /// the end of the steps. `why` is recorded in history; plain progress to
    /// the next step is not.
    fn go(
        &mut self,
        target: Target,
        at: DateTime<Utc>,
        why: Option<(Kind, String)>,
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
                let (kind, why) = why.unwrap_or((Kind::Moved, "moved".to_string()));
                self.move_to(target, at, kind, why)
            }
            Target::Unresolved => Ok(()),
        }
    }

    fn move_to(
        &mut self,
        target: Target,
        at: DateTime<Utc>,
        kind: Kind,
        why: String,
    ) -> Result<(), StoreError> {
        let stage = match target {
            Target::Stage(s) | Target::Exhausted(s) | Target::Step(s, _) => s,
            Target::Unresolved => return Ok(()),
        };
        // A stage left by its goal, an exit or a step's outcome takes its
        // open tasks with it; one whose steps ran out leaves them to the
        // staff (a final call task is the stage's last word).
        if kind != Kind::Exhausted
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
    fn stop(&mut self, at: DateTime<Utc>) {
        if let Some(j) = self.journey.as_mut() {
            j.active = false;
            j.left_at = Some(at.max(j.clock));
        }
    }

    /// The contact's stage and step (when one is being worked on).
    fn position(&self) -> (Option<String>, Option<String>) {
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
        kind: Kind,
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
            at: store::time(at),
            kind,
            from_stage,
            from_step,
            to_stage,
            to_step,
            reason: reason.clone(),
        };
        store::record(
            self.tx,
            &mut self.runner.tally,
            &transition,
            &self.loaded.version,
        )?;
        let funnel = self.funnel().name.clone();
        self.runner.plan(&funnel, &self.contact.id, at, reason);
        Ok(())
    }
}

/// An event's identity for consumption: its name and moment.
fn cause_of(event: &Event) -> String {
    format!("{}@{}", event.name, store::time(event.at))
}

/// Whether a condition's text reads `now` (as a name, not inside a word or
/// after a dot).
pub(crate) fn reads_now(source: &str) -> bool {
    let bytes = source.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    source.match_indices("now").any(|(i, _)| {
        let before = i.checked_sub(1).and_then(|j| bytes.get(j)).copied();
        let after = bytes.get(i + 3).copied();
        before.is_none_or(|b| !word(b) && b != b'.') && after.is_none_or(|b| !word(b))
    })
}

/// The first eight hex digits of a version, as reports show it.
fn short(version: &str) -> &str {
    version.get(..8).unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::reads_now;

    #[test]
    fn conditions_that_read_now_are_told_apart() {
        assert!(reads_now("contact.due_at <= now"));
        assert!(reads_now("now - duration('1h') > contact.x"));
        assert!(!reads_now("contact.known_at > contact.x"));
        assert!(!reads_now("contact.now_ish"));
        assert!(!reads_now("contact.snow"));
    }
}
