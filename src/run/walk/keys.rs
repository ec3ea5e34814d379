//! The idempotency keys of a walk's actions: a step's action is queued
//! under `funnel/contact/entry/step`, and a later visit to the same step
//! under that key with its moment (`...@2026-05-04T11:00:00Z`), so a
//! repeated or restarted run still does everything once.

use chrono::{DateTime, Utc};

use super::Walk;
use crate::store::StoreError;

impl Walk<'_, '_, '_, '_, '_> {
    /// For a funnel the state held nothing of when the run began (see
    /// `Runner::survey`): a contact is walked in it once a run, so an
    /// earlier visit's action under a step's key can only be one this walk
    /// queued. The walk keeps those keys itself and looks there, not in
    /// the state (two lookups per action, 3% of a first run).
    pub(crate) fn fresh(mut self, fresh: bool) -> Self {
        if fresh {
            self.queued = Some(std::collections::HashMap::new());
        }
        self
    }

    /// The moment of the action or task already queued under `key`.
    pub(crate) fn key_moment(&self, key: &str) -> Result<Option<String>, StoreError> {
        match &self.queued {
            Some(queued) => Ok(queued.get(key).cloned()),
            None => crate::store::key_moment(self.tx, key),
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
