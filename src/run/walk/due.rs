//! What a walk saw coming after its horizon: the earliest moment at which
//! anything it looked at could move the contact, kept with the row's
//! sighting (`next_due`) so that the next run can tell, without walking,
//! that a contact whose row, events and funnel are unchanged has nothing
//! due (`runner/fast.rs`).
//!
//! The moment is a lower bound: every candidate move the walk computed
//! past its horizon is noted, even one a later move made moot, so a run
//! may walk a contact that turns out to have nothing due (harmless: a
//! journey does not depend on when runs look) but never skips one that
//! has. Whatever the walk cannot date from the values it has (a
//! condition over `now` that is false at the horizon, a message the send
//! window or caps hold, a journey it could not place) makes it unsure,
//! and an unsure journey is walked in full every run, as before.

use chrono::{DateTime, Utc};

use super::Walk;
use crate::store::Due;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ahead {
    soonest: Option<DateTime<Utc>>,
    unsure: bool,
}

impl Ahead {
    /// The row's `next_due`: unknown when unsure, never when nothing
    /// lay ahead.
    pub(crate) fn due(self) -> Due {
        match (self.unsure, self.soonest) {
            (true, _) => Due::Unknown,
            (false, None) => Due::Never,
            (false, Some(at)) => Due::At(at),
        }
    }
}

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// Notes a moment at which something could move the contact, when it
    /// is past the walk's horizon (what is not was looked at).
    pub(super) fn later(&self, at: DateTime<Utc>) {
        if at <= self.now() {
            return;
        }
        let mut ahead = self.ahead.get();
        ahead.soonest = Some(ahead.soonest.map_or(at, |s| s.min(at)));
        self.ahead.set(ahead);
    }

    /// Notes that the walk cannot tell when the contact moves next.
    pub(super) fn unsure(&self) {
        let mut ahead = self.ahead.get();
        ahead.unsure = true;
        self.ahead.set(ahead);
    }
}
