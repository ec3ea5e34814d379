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
//! `due_at`). Entry and signals live in `walk/entry.rs`, moves and their
//! history lines in `walk/record.rs`, actions in `act.rs`, timing in
//! `walk/timing.rs`.

use std::cell::{Cell, RefCell};

mod due;
mod entry;
mod keys;
mod record;
mod timing;

use chrono::{DateTime, Utc};

use crate::language::model::{Funnel, Outcome, StageId, Target};
use crate::run::feed::{Contact, Event};
use crate::run::runner::{Loaded, Runner};
use crate::store::{self, HistoryKind, Journey, StoreError, Tx};

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
    Leave {
        to: Target,
        kind: HistoryKind,
        why: String,
    },
    /// A wait answered or run out.
    Wait {
        to: Target,
        kind: HistoryKind,
        why: String,
    },
    /// The step at `index` is due; `stale` when the send window opens only
    /// after the message's staleness limit; `since` when it could have gone
    /// out (staleness counts from then).
    Step {
        stage: StageId,
        index: usize,
        stale: bool,
        since: DateTime<Utc>,
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

pub(crate) struct Walk<'r, 'a, 't, 's, 'c, 'e> {
    pub(crate) runner: &'r mut Runner<'a>,
    pub(crate) loaded: &'a Loaded,
    /// The batch's transaction; `None` when the run writes later, on the
    /// other core (`runner/later.rs`): such a walk reads nothing.
    pub(crate) tx: Option<&'t Tx<'s>>,
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
    /// The walk's horizon (see [`Walk::now`]).
    pub(crate) until: DateTime<Utc>,
    /// Whether this walk ends the contact's run.
    pub(crate) last: bool,
    /// What the walk saw could move the contact after its horizon, kept
    /// in the journey for the runner's fast path (see `walk/due.rs`).
    pub(crate) ahead: Cell<due::Ahead>,
    /// In a funnel the state held nothing of when the run began: the keys
    /// of the actions and tasks this walk queued, with their moments (see
    /// [`Walk::fresh`]).
    pub(crate) queued: Option<std::collections::HashMap<String, String>>,
    /// In such a funnel, the splits this walk recorded: entry and step.
    pub(crate) splits: Option<std::collections::HashSet<(i64, String)>>,
}

impl<'r, 'a, 't, 's, 'c, 'e> Walk<'r, 'a, 't, 's, 'c, 'e> {
    pub(crate) fn funnel(&self) -> &Funnel {
        &self.loaded.funnel
    }

    /// How far this walk goes: the run's `now`, or just before it for the
    /// walk under a row's old values.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.until
    }

    /// A walk of `contact` (with its events) from `journey` up to `until`,
    /// with the row's values as they are since `seen`; `last` for the
    /// walk that ends the run (the one that counts what waits).
    pub(crate) fn new(
        runner: &'r mut Runner<'a>,
        (loaded, tx): (&'a Loaded, Option<&'t Tx<'s>>),
        (contact, events): (&'c Contact, &'e [&'e Event]),
        journey: Option<Journey>,
        (seen, until): (DateTime<Utc>, DateTime<Utc>),
        last: bool,
    ) -> Self {
        Walk {
            runner,
            loaded,
            tx,
            contact,
            events,
            journey,
            cel: RefCell::new(None),
            changed: seen,
            done: 0,
            until,
            last,
            ahead: Cell::new(due::Ahead::default()),
            queued: None,
            splits: None,
        }
    }

    /// Walks the contact on from its journey as the state holds it; gives
    /// the journey as it ends up, for the runner to write when it changed,
    /// and when the contact could next move (known for a contact who did
    /// not enter too, and kept with the row's sighting).
    pub(crate) fn run(mut self) -> Result<(Option<Journey>, crate::store::Due), StoreError> {
        if self.carry_over()? {
            self.walk()?;
        } else {
            self.unsure();
        }
        let due = self.ahead.get().due();
        if self.last {
            // The run's horizon covers everyone it would walk again.
            self.runner.horizon = self.runner.horizon.sooner(due);
        }
        Ok((self.journey, due))
    }
    fn walk(&mut self) -> Result<(), StoreError> {
        for _ in 0..MAX_MOVES {
            // Every pass notes what it sees coming (`walk/due.rs`), even a
            // moment a later move makes moot: the bound is only too early.
            if !self.journey.as_ref().is_some_and(|j| j.active) {
                if !self.enter()? {
                    return self.close_done_tasks(self.now());
                }
                continue;
            }
            let Some((stage, index)) = self.place() else {
                self.unsure();
                return Ok(());
            };
            let (next, deferred) = self.next(stage, index)?;
            let Some(next) = next else {
                if deferred {
                    // Held by the send window or caps, which read the
                    // outbox other steps and funnels write: walk it again.
                    self.unsure();
                }
                if deferred && self.last {
                    self.runner.summary.deferred += 1;
                }
                return self.close_done_tasks(self.now());
            };
            self.apply(next)?;
        }
        // Only a loop `check` could not see gets here: say so, never
        // silently stop a contact.
        self.unsure();
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
                            kind: HistoryKind::Exit,
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
                        kind: HistoryKind::Exit,
                        why: format!(
                            "expire: in the funnel for {}",
                            crate::language::duration::format(expire.after)
                        ),
                    },
                    cause: None,
                });
            }
        }
        let transitions = (s.goal.iter().chain(&s.more_goals))
            .map(|g| (g, Rank::Goal, HistoryKind::Goal, "goal"));
        let exits = s
            .exits
            .iter()
            .map(|e| (e, Rank::StageExit, HistoryKind::Exit, "exit"));
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
        for candidate in &candidates {
            self.later(candidate.at);
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
                        kind: HistoryKind::WaitYes,
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
                        kind: HistoryKind::WaitNo,
                        why: format!(
                            "wait {}: no reaction within {}",
                            step.id,
                            crate::language::duration::format(window)
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
        if due > now {
            // Not due in this walk: the window and caps (which read the
            // outbox) only matter once it is.
            self.later(due);
            return Ok(false);
        }
        let mut at = due;
        let mut stale = false;
        if let Some(action) = &step.action
            && !action.messages().is_empty()
        {
            let opens = if step.anytime {
                self.cap_opening(action, due)?
            } else {
                self.opening(action, due)?
            };
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
        let deferred = due <= now && at > now;
        // A moment before the journey's clock (an `on` date that had passed
        // when the contact arrived) is applied at the clock, so history
        // never goes back; staleness still counts from the moment itself.
        candidates.push(Next {
            at: at.max(journey.clock),
            rank: Rank::Step,
            what: Move::Step {
                stage,
                index,
                stale,
                since: at,
            },
            cause: None,
        });
        Ok(deferred)
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
                since,
            } => self.step(stage, index, (at, since), stale)?,
            Move::Exhausted(target) => {
                self.move_to(target, at, HistoryKind::Exhausted, "exhausted".to_string())?
            }
            Move::Stop => self.stop(at),
        }
        if let (Some(cause), Some(j)) = (next.cause, self.journey.as_mut()) {
            // Events consumed at the same moment add up (two moves on two
            // events of the same second must not ping-pong); a later
            // moment starts afresh, as `since` keeps older events out.
            let moment = cause.rsplit('@').next().unwrap_or_default().to_string();
            j.cause = match j.cause.take() {
                Some(old) if old.lines().all(|c| c.ends_with(&format!("@{moment}"))) => {
                    Some(format!("{old}\n{cause}"))
                }
                _ => Some(cause),
            };
        }
        Ok(())
    }

    /// Runs the step at `index` at `at`, then follows its outcome.
    fn step(
        &mut self,
        stage: StageId,
        index: usize,
        (at, since): (DateTime<Utc>, DateTime<Utc>),
        stale: bool,
    ) -> Result<(), StoreError> {
        let loaded = self.loaded;
        let step = &loaded.funnel.stages[stage].steps[index];
        let acted = match &step.action {
            Some(action) => {
                let limit = step
                    .stale_after
                    .unwrap_or_else(|| crate::run::act::default_stale_after(action));
                // Late by the run's clock (not the walk's horizon): what a
                // run that came late sees.
                let late = self.runner.now.signed_duration_since(since) > limit;
                self.act(stage, index, action, at, stale || late)?
            }
            None => crate::run::act::Acted::Done,
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
                        self.move_to(target, at, HistoryKind::Exhausted, why)
                    }
                    // A stage with no `exhausted` goes on as if nobody
                    // answered: its wait's negative branch, at once.
                    (_, Some(no)) => self.go(
                        no,
                        at,
                        Some((
                            HistoryKind::WaitNo,
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
                    (branch.yes, HistoryKind::BranchYes, "yes")
                } else {
                    (branch.no, HistoryKind::BranchNo, "no")
                };
                self.go(
                    target,
                    at,
                    Some((kind, format!("branch {}: {label}", step.id))),
                )
            }
        }
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
