//! Entry: when a contact enters (or re-enters) a funnel, and when a
//! signal (an event, or a condition over fields) fired: the moments the
//! walk orders its moves by.

use chrono::{DateTime, TimeDelta, Utc};

use super::{BEGINNING, Walk, cause_of, reads_now};
use crate::language::condition::Condition;
use crate::language::model::{Signal, Target, TriggerKind};
use crate::language::schedule::Reentry;
use crate::run::feed::Value;
use crate::store::{HistoryKind, Journey, StoreError};

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// Enters the contact if a trigger fired since it may (re-)enter: at the
    /// moment the trigger belongs to, never before this funnel version
    /// first ran, and not when a global exit fired by then.
    pub(super) fn enter(&mut self) -> Result<bool, StoreError> {
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
            self.later(at);
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
            Signal::Event { name, filter } => self.events.iter().any(|e| {
                &e.name == name
                    && e.at >= since
                    && e.at <= at
                    && filter.as_ref().is_none_or(|f| self.truthy_on(f, e))
            }),
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
            HistoryKind::Enter,
            (None, None),
            (Some(name), None),
            at,
            format!("enter: {why}"),
        )?;
        self.runner.summary.entered += 1;
        Ok(true)
    }

    /// When a trigger fired for a contact who may enter from `allowed` on.
    pub(super) fn triggered(
        &self,
        kind: &TriggerKind,
        previous: Option<&Journey>,
        allowed: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, String, Option<String>)> {
        let now = self.now();
        let left = previous.and_then(|p| p.left_at).unwrap_or(BEGINNING);
        match kind {
            TriggerKind::When(condition) => {
                // Like a segment: a contact who left enters again when the
                // condition turns true anew, i.e. once the row changed
                // after they left (or time makes it true, for one that
                // reads `now`); the row that was there all along does not
                // start the same journey over and over.
                if previous.is_some() && self.changed <= left && !reads_now(&condition.source) {
                    return None;
                }
                let start = allowed.max(self.changed).max(self.loaded.first_run);
                let at = self.condition_from(condition, start, now)?;
                Some((at, condition.source.clone(), None))
            }
            TriggerKind::Event { name, filter, .. } => {
                let event = self.events.iter().find(|e| {
                    &e.name == name
                        && e.at <= now
                        && e.at >= allowed
                        && previous.is_none_or(|p| e.at > p.entered_at)
                        && filter.as_ref().is_none_or(|f| self.truthy_on(f, e))
                })?;
                Some((event.at, format!("event {name}"), Some(cause_of(event))))
            }
            TriggerKind::On(condition) => {
                if reads_now(&condition.source) {
                    // Its moment moves with the clock it is read at.
                    self.unsure();
                }
                let at = self.timestamp_at(condition, now)?;
                self.later(at);
                (at <= now && at > left).then(|| (at, condition.source.clone(), None))
            }
            TriggerKind::Inactive { field, period, .. } => {
                let Some(Value::Timestamp(last)) = self.contact.fields.get(field) else {
                    return None;
                };
                let at = last.checked_add_signed(*period)?;
                self.later(at);
                (at <= now && at > left).then(|| {
                    let why = format!(
                        "no {field} for {}",
                        crate::language::duration::format(*period)
                    );
                    (at, why, None)
                })
            }
        }
    }

    /// When a signal fired in `[since, horizon]`: the first event of its
    /// name there (not the one that caused the last move), or the moment
    /// its condition became true.
    pub(super) fn signal(
        &self,
        signal: &Signal,
        since: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, String, Option<String>)> {
        match signal {
            Signal::Event { name, filter } => {
                let consumed = self.journey.as_ref().and_then(|j| j.cause.as_deref());
                let event = self.events.iter().find(|e| {
                    &e.name == name
                        && e.at >= since
                        && e.at <= horizon
                        && consumed.is_none_or(|c| !c.lines().any(|c| c == cause_of(e)))
                        && filter.as_ref().is_none_or(|f| self.truthy_on(f, e))
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
    pub(super) fn condition_from(
        &self,
        condition: &Condition,
        start: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if start > horizon {
            // Not looked at yet: it may hold from `start`.
            self.later(start);
            return None;
        }
        if self.truthy_at(condition, start) {
            return Some(start);
        }
        if !reads_now(&condition.source) {
            // Over the same values it is false at any moment.
            return None;
        }
        if !self.truthy_at(condition, horizon) {
            // It may turn true at a moment no walk can foresee.
            self.unsure();
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
}
