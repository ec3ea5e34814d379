//! The tick's fast path: most contacts of a run have nothing due, and
//! walking them only re-confirms it. A contact is left unwalked in a
//! funnel when everything the walk reads is what the last walk of it
//! read, and that walk saw nothing due before this run's `now`
//! (`walk/due.rs` finds the moment; the row's sighting keeps it, with the
//! funnel version the walk ran under). A contact
//! who has not entered is left the same way.
//!
//! What the walk reads: the row's declared fields (the sighting's
//! fingerprint), the contact's events (the feed's and the state's),
//! an unsubscribe heard by `funnel serve`, `set` fields and tags (from
//! any funnel, even earlier in this run), the funnel version, and the
//! clock. Only the clock differs between a skipped walk and the last one,
//! and `next_due` is no later than any moment it could matter at. Anything
//! else, or a row without a known `next_due`, is walked in full.
//!
//! The runner also keeps the earliest `next_due` of everyone it walked or
//! left ([`Runner::horizon`]): a run whose feeds and funnels are those of
//! the last and whose `now` is before that moment reads no contact at all
//! (`tick/unchanged.rs`).

use super::Runner;
use crate::run::feed::Event;

impl Runner<'_> {
    /// Whether what the walk reads besides the row, the journey and the
    /// clock is as the last walk read it: checked before the state is
    /// asked ([`crate::store::settled`] asks it about the rest, the row's
    /// fingerprint, the version and `next_due`, in one read).
    pub(super) fn quiet(&self, contact: &str, events: &[&Event]) -> bool {
        events.is_empty()
            && !self.unsubscribed.contains_key(contact)
            // `set` fields and tags are not in the fingerprint: while the
            // state has any, every condition may read them.
            && !self.overrides
            && !self.tags
    }
}
