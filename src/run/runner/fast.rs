//! The tick's fast path: most contacts of a run have nothing due, and
//! walking them only re-confirms it. A contact is left unwalked in a
//! funnel when everything the walk reads is what the last walk of it
//! read, and that walk saw nothing due before this run's `now`
//! (`walk/due.rs` keeps the moment in the journey's `next_due`).
//!
//! What the walk reads: the row's declared fields (the sighting's
//! fingerprint), the contact's events (the feed's and the state's),
//! an unsubscribe heard by `funnel serve`, `set` fields and tags (from
//! any funnel, even earlier in this run), the funnel version, and the
//! clock. Only the clock differs between a skipped walk and the last one,
//! and `next_due` is no later than any moment it could matter at. Anything
//! else, or a journey without a known `next_due`, is walked in full.

use chrono::{DateTime, Utc};

use super::{Loaded, Runner};
use crate::run::feed::Event;
use crate::store::{Due, Journey, Sighting};

impl Runner<'_> {
    /// Whether walking `contact` in `loaded` now would change nothing and
    /// write nothing: its row, events and funnel are as the last walk saw
    /// them, and that walk left nothing due by `now`.
    pub(super) fn settled(
        &self,
        loaded: &Loaded,
        (contact, events): (&str, &[&Event]),
        sighting: &Sighting,
        stored: Option<&Journey>,
    ) -> bool {
        let Some(journey) = stored else {
            return false;
        };
        sighting.before.is_none()
            && sighting.seen_at < self.now
            && self.quiet(contact, events)
            && journey.version == loaded.version
            && due_after(journey.next_due, self.now)
    }

    /// Whether what the walk reads besides the row, the journey and the
    /// clock is as the last walk read it: checked before the state is
    /// asked ([`crate::store::settled`] asks it about the rest in one read).
    pub(super) fn quiet(&self, contact: &str, events: &[&Event]) -> bool {
        events.is_empty()
            && !self.unsubscribed.contains_key(contact)
            // `set` fields and tags are not in the fingerprint: while the
            // state has any, every condition may read them.
            && !self.overrides
            && !self.tags
    }
}

/// Whether nothing is due by `now`.
fn due_after(due: Due, now: DateTime<Utc>) -> bool {
    match due {
        Due::Unknown => false,
        Due::Never => true,
        Due::At(at) => at > now,
    }
}
