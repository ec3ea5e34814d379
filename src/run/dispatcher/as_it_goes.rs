//! Delivery as the run goes. When the outbox holds nothing waiting as a
//! run starts (every first run, and every run after a pass that delivered
//! everything), a message for the outbox file is queued already delivered,
//! and its line is appended when its batch ends, before the batch commits:
//! the rows and the file's new length commit together. A first run of a
//! million contacts otherwise wrote every outbox row twice, queued in the
//! walk and then read back, parsed and rewritten as delivered after it,
//! long after its pages left the cache.
//!
//! The pass after the walk checks a row against its contact's journey as
//! it is then; here the same checks run when the contact's walk in the
//! funnel ends, which is the same journey (each contact is walked once a
//! run). A row whose contact has since opted out, or whose contact or
//! address is suppressed, is put back in the queue, and the pass after the
//! walk suppresses it as before. A run adds no suppression, but `funnel
//! serve` may while it goes: whether there are any is looked at again
//! after each batch, so one heard during a batch holds from the next.
//!
//! Exactly once holds as for that pass: a run killed after appending and
//! before committing leaves lines past the committed length for rows the
//! state never kept. The next run cuts them off before it walks
//! ([`file::cut_back`]) and queues those rows again.
//!
//! Only with nothing waiting: a row left from before (a retry, a held row)
//! would otherwise reach the file after this run's rows, out of the order
//! in which they were queued.

use std::path::PathBuf;

use super::{Dispatcher, OptOuts, first_length, suppressed};
use crate::run::channel::{Channels, Route, file};
use crate::store::{self, DeliveryReads, OutboxRow, OutboxStatus, Pending, Store, StoreError, Tx};

/// A run's delivery of its own file rows, batch by batch.
pub struct AsItGoes {
    channels: Channels,
    opt_outs: OptOuts,
    outbox: PathBuf,
    /// Whether the state holds any suppression, as the batch's
    /// transaction sees it; looked up by the batch's first walked contact.
    suppressions: Option<bool>,
    /// Rows of the contact being walked, queued as delivered, with their
    /// payloads as stored.
    walking: Vec<(OutboxRow, String)>,
    /// Rows cleared to go out, appended when the batch ends.
    lines: Vec<(String, Vec<u8>)>,
    /// Rows delivered so far.
    pub delivered: usize,
    /// The file could not be written: the rest of the run queues as
    /// before, for the pass after the walk to try and report.
    stopped: bool,
}

impl Dispatcher<'_> {
    /// Delivery as the run goes, when the outbox starts with nothing
    /// waiting. Makes sure the outbox file's committed length is on disk
    /// before any batch appends, and cuts off what a killed run appended
    /// past it. A file that cannot be cut is left to the pass after the
    /// walk, which tries again and reports why.
    pub fn as_it_goes(self, store: &Store) -> Result<Option<AsItGoes>, StoreError> {
        if store.outbox_waiting()? {
            return Ok(None);
        }
        let key = self.outbox.display().to_string();
        match store.file_length(&key)? {
            Some(committed) => {
                if file::cut_back(self.outbox, committed).is_err() {
                    return Ok(None);
                }
            }
            None => {
                first_length(store, self.outbox, &key)?;
            }
        }
        Ok(Some(AsItGoes {
            channels: Channels::build(self.delivery, self.outbox),
            opt_outs: self.opt_outs,
            outbox: self.outbox.to_path_buf(),
            suppressions: None,
            walking: Vec::new(),
            lines: Vec::new(),
            delivered: 0,
            stopped: false,
        }))
    }
}

impl AsItGoes {
    /// Whether `row`, about to be queued, goes out as the run goes: a
    /// queued row for the outbox file.
    pub fn takes(&self, row: &OutboxRow) -> bool {
        !self.stopped
            && row.status == OutboxStatus::Queued
            && matches!(self.channels.route(row), Route::File(path) if path == self.outbox)
    }

    /// Notes a row [`takes`](Self::takes) accepted, queued as delivered
    /// with `payload` (as stored).
    pub fn queued(&mut self, row: OutboxRow, payload: String) {
        self.walking.push((row, payload));
    }

    /// The walk of a contact in a funnel ended in `journey` (stage and
    /// entry): its rows go out with the batch, or back in the queue when
    /// the contact opted out since or is suppressed.
    pub fn walked(&mut self, tx: &Tx<'_>, journey: Option<(&str, i64)>) -> Result<(), StoreError> {
        if self.walking.is_empty() {
            return Ok(());
        }
        let suppressions = match self.suppressions {
            Some(any) => any,
            None => *self.suppressions.insert(tx.any_suppression()?),
        };
        for (row, payload) in std::mem::take(&mut self.walking) {
            let pending = Pending {
                id: 0,
                row,
                attempts: 0,
                journey: journey.map(|(stage, entry)| (stage.to_string(), entry)),
            };
            if self.opt_outs.check(tx, &pending)?.is_some()
                || (suppressions && suppressed(tx, &pending)?.is_some())
            {
                store::unsend(tx, &pending.row.key)?;
            } else {
                let line = file::line(&pending.row, &payload);
                self.lines.push((pending.row.key, line));
            }
        }
        Ok(())
    }

    /// Appends the batch's lines and records the file's new length in
    /// `tx`: call it after the batch's contacts were walked, before `tx`
    /// commits.
    pub fn batch(&mut self, tx: &Tx<'_>) -> Result<(), StoreError> {
        self.suppressions = None;
        let lines = std::mem::take(&mut self.lines);
        if lines.is_empty() {
            return Ok(());
        }
        let key = self.outbox.display().to_string();
        // The length was recorded before the walk; a state edited since is
        // left to the pass after the walk, which records it itself. A file
        // that cannot be written (a directory, a full disk) stops the rest
        // of the run from delivering as it goes: the walk goes on, and the
        // rows wait in the queue for the pass after it, which tries them
        // and reports why, and cuts off what the append wrote.
        let appended = match tx.file_length(&key)? {
            Some(committed) => {
                let bytes: Vec<&[u8]> = lines.iter().map(|(_, line)| line.as_slice()).collect();
                let appended = file::append(&self.outbox, committed, &bytes).ok();
                self.stopped = appended.is_none();
                appended
            }
            None => None,
        };
        let Some(length) = appended else {
            for (key, _) in &lines {
                store::unsend(tx, key)?;
            }
            return Ok(());
        };
        store::set_file_length(tx, &key, length)?;
        self.delivered += lines.len();
        Ok(())
    }
}
