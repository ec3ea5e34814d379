//! The idempotency keys of a walk's actions: a step's action is queued
//! under `funnel/contact/entry/step`, and a later visit to the same step
//! under that key with its moment (`...@2026-05-04T11:00:00Z`), so a
//! repeated or restarted run still does everything once. Also whether a
//! split's variant was recorded for an entry. A walk in a funnel new to
//! the state answers both from what it did itself (see [`Walk::fresh`]).

use chrono::{DateTime, Utc};

use super::Walk;
use crate::run::runner::reading;
use crate::store::StoreError;

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// For a funnel the state held nothing of when the run began (see
    /// `Runner::survey`): a contact is walked in it once a run, so an
    /// earlier visit's action under a step's key can only be one this walk
    /// queued. The walk keeps those keys itself and looks there, not in
    /// the state (two lookups per action, 3% of a first run); the same
    /// for the splits it recorded. A first run that writes on the other
    /// core (`runner/later.rs`) relies on it: it has no state to look in.
    pub(crate) fn fresh(mut self, fresh: bool) -> Self {
        if fresh {
            self.queued = Some(std::collections::HashMap::new());
            self.splits = Some(std::collections::HashSet::new());
        }
        self
    }

    /// The moment of the action or task already queued under `key`.
    pub(crate) fn key_moment(&self, key: &str) -> Result<Option<String>, StoreError> {
        match &self.queued {
            Some(queued) => Ok(queued.get(key).cloned()),
            None => crate::store::key_moment(reading(self.tx, "a key looked up")?, key),
        }
    }

    /// Whether the key was queued before: known to a fresh walk from its
    /// own keys (and then the store's answer is not needed).
    pub(crate) fn known_new(&self, key: &str) -> Option<bool> {
        self.queued.as_ref().map(|queued| !queued.contains_key(key))
    }

    /// Whether the variant of the split `step` was already recorded for
    /// this entry (a loop back to the step must not count it twice).
    pub(crate) fn split_recorded(&mut self, entry: i64, step: &str) -> Result<bool, StoreError> {
        let owner = (self.loaded.funnel.name.as_str(), self.contact.id.as_str());
        match &mut self.splits {
            Some(splits) => Ok(!splits.insert((entry, step.to_string()))),
            None => crate::store::split_recorded(
                reading(self.tx, "a split looked up")?,
                owner,
                entry,
                step,
            ),
        }
    }

    /// Notes an action or task queued under `key` at `at`.
    pub(crate) fn queued_under(&mut self, key: &str, at: DateTime<Utc>) {
        if let Some(queued) = &mut self.queued {
            queued
                .entry(key.to_string())
                .or_insert_with(|| crate::store::time(at));
        }
    }
}
