//! The walk's writes, now or later. Every write a walk makes goes through
//! [`Runner::write`]: at once into the batch's transaction, or, in a run
//! that writes on the other core, queued for the writer thread
//! (`tick/writer.rs`), which applies each batch's writes in the order the
//! walk made them, in one transaction, while the walk goes on.
//!
//! Only a first run writes later ([`Runner::may_write_later`]): every
//! funnel new to the state, the outbox empty, no `set` or `tag` action and
//! no contact created by events. Such a walk reads nothing it wrote:
//! keys and splits it keeps itself (`Walk::fresh`), the caps read the
//! contact's messages from [`Runner::capped`], and no sighting, journey,
//! field or tag is looked up. What a write tells the walk back (whether
//! a row was added) the walk knows from its own keys, and the writer
//! checks that the state agrees. Half of a first run's time is SQLite's;
//! with the walk on one core and SQLite on the other, they overlap.

use super::Runner;
use crate::run::dispatcher::AsItGoes;
use crate::store::{StoreError, Tally, Tx};

/// What the store's writes feed beside the transaction: the report's
/// counters of the batch, and the delivery of the run's own file rows.
/// It goes with the writes: to the writer thread while it writes.
#[derive(Default)]
pub struct Ledger {
    pub(crate) tally: Tally,
    pub delivering: Option<AsItGoes>,
}

/// One write of a walk, applied later in the batch's transaction.
pub type Write = Box<dyn FnOnce(&Tx<'_>, &mut Ledger) -> Result<(), StoreError> + Send>;

impl Runner<'_> {
    /// Whether this run's writes may wait for another thread: see the
    /// module's comment. Known after [`Runner::survey`].
    pub fn may_write_later(&self) -> bool {
        !self.planning
            && self.capped.is_some()
            && !self.overrides
            && !self.tags
            && self.new.len() == self.funnels.len()
            && self.new.iter().all(|new| *new)
            && self.funnels.iter().all(|l| !sets_or_tags(&l.funnel))
    }

    /// From now on the walk's writes wait for [`Runner::writes`]; the
    /// ledger they feed is handed to whoever applies them.
    pub fn write_later(&mut self) -> Ledger {
        self.later = Some(Vec::new());
        std::mem::take(&mut self.ledger)
    }

    /// The writes queued since the last call, in the order they were made.
    pub fn writes(&mut self) -> Vec<Write> {
        self.later.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Back to writing at once, into `ledger` (returned by the writer).
    pub fn write_now(&mut self, ledger: Ledger) {
        self.later = None;
        self.ledger = ledger;
    }

    /// Writes into `tx` at once, or queues the write for later.
    pub(crate) fn write(
        &mut self,
        tx: Option<&Tx<'_>>,
        write: impl FnOnce(&Tx<'_>, &mut Ledger) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        match (&mut self.later, tx) {
            (Some(later), _) => {
                later.push(Box::new(write));
                Ok(())
            }
            (None, Some(tx)) => write(tx, &mut self.ledger),
            (None, None) => Err(StoreError::Deferred {
                what: "a write with no transaction",
            }),
        }
    }

    /// A write that tells whether it added a row (an idempotency key not
    /// seen before). Later, the walk's own answer (`known`) stands in for
    /// it, and the writer stops the run if the state disagrees.
    pub(crate) fn add(
        &mut self,
        tx: Option<&Tx<'_>>,
        known: Option<bool>,
        write: impl FnOnce(&Tx<'_>, &mut Ledger) -> Result<bool, StoreError> + Send + 'static,
    ) -> Result<bool, StoreError> {
        match (&mut self.later, tx, known) {
            (Some(later), _, Some(known)) => {
                later.push(Box::new(move |tx, ledger| {
                    if write(tx, ledger)? == known {
                        Ok(())
                    } else {
                        Err(StoreError::Deferred {
                            what: "an idempotency key the walk did not know of",
                        })
                    }
                }));
                Ok(known)
            }
            (None, Some(tx), _) => write(tx, &mut self.ledger),
            _ => Err(StoreError::Deferred {
                what: "a row added without the walk knowing its key",
            }),
        }
    }
}

/// Reads the state for a walk: only a walk that writes at once has a
/// transaction to read; one that writes later must not need to.
pub(crate) fn reading<'a, 't>(
    tx: Option<&'a Tx<'t>>,
    what: &'static str,
) -> Result<&'a Tx<'t>, StoreError> {
    tx.ok_or(StoreError::Deferred { what })
}

/// Whether the funnel has an action that changes what conditions read
/// (`set`, `tag`), in a step or a split's variant.
fn sets_or_tags(funnel: &crate::language::model::Funnel) -> bool {
    use crate::language::model::Action;
    (funnel.stages.iter())
        .flat_map(|s| &s.steps)
        .filter_map(|step| step.action.as_ref())
        .any(|action| action.any(&|a| matches!(a, Action::Set(_) | Action::Tag(_))))
}
