//! How a batch of walked contacts is written: [`end_batch`] ends every
//! run's batches. The writer thread of a run that writes on the other core
//! (see `runner/later.rs`) receives the walk's writes a batch at a time,
//! over a channel a couple of batches deep, and applies each batch as the
//! walk would have: its writes in order in one transaction, then the
//! batch's counters and file rows, then the commit. A crash loses whole
//! batches, as before; a batch the walk did not finish is never sent.
//!
//! A failed write stops the writer, which drops its end of the channel:
//! the walk's next hand-over fails, the walk stops, and the run reports
//! the writer's error.

use std::sync::mpsc::{Receiver, SyncSender};

use super::{TickError, close};
use crate::run::runner::{Ledger, Runner, Write};
use crate::store::{Store, Tx};

/// Batches waiting for the writer: enough to keep it busy while the walk
/// makes the next one, few enough that memory stays flat.
const DEPTH: usize = 2;

/// The walk's end of the channel to the writer.
pub(super) struct Writer {
    batches: SyncSender<Vec<Write>>,
}

/// Opens the writer's connection and its channel; the receiving end goes
/// to [`write`] on its own thread with `store` and the runner's ledger.
pub(super) fn open(store: &Store) -> Result<(Writer, Store, Receiver<Vec<Write>>), TickError> {
    let beside = store.beside()?;
    let (batches, receiver) = std::sync::mpsc::sync_channel(DEPTH);
    Ok((Writer { batches }, beside, receiver))
}

impl Writer {
    /// Hands the batch the walk queued to the writer. False when the
    /// writer has stopped (its error comes with [`write`]'s result).
    pub(super) fn hand_over(&self, runner: &mut Runner<'_>) -> bool {
        self.batches.send(runner.writes()).is_ok()
    }
}

/// Applies batches until the walk closes the channel; gives the ledger
/// back, for the rest of the run to write at once into.
pub(super) fn write(
    mut store: Store,
    mut ledger: Ledger,
    batches: Receiver<Vec<Write>>,
) -> Result<Ledger, TickError> {
    for writes in batches {
        let tx = store.transaction()?;
        for write in writes {
            write(&tx, &mut ledger)?;
        }
        end_batch(tx, &mut ledger, false)?;
    }
    Ok(ledger)
}

/// Ends a batch of walked contacts: their counters written, their file
/// rows delivered (see `dispatcher/as_it_goes.rs`), then committed.
pub(super) fn end_batch(tx: Tx<'_>, ledger: &mut Ledger, dry_run: bool) -> Result<(), TickError> {
    ledger.tally.flush(&tx)?;
    if let Some(delivering) = &mut ledger.delivering {
        delivering.batch(&tx)?;
    }
    close(tx, dry_run)
}
