//! [`Tx`]: a write transaction on the state, as the modules outside the
//! store hold it. They pass it to the store's functions and commit or roll
//! it back; they cannot run SQL on it, so every write goes through a
//! function that knows its table. The connection inside is the store's
//! alone ([`Tx::connection`]).

use rusqlite::{Connection, Transaction};

use super::StoreResult;

/// A write transaction from [`Store::transaction`](super::Store::transaction).
/// Dropped without [`commit`](Tx::commit), it rolls back.
pub struct Tx<'s> {
    inner: Transaction<'s>,
}

impl<'s> Tx<'s> {
    pub(super) fn new(inner: Transaction<'s>) -> Self {
        Tx { inner }
    }

    pub fn commit(self) -> StoreResult<()> {
        Ok(self.inner.commit()?)
    }

    pub fn rollback(self) -> StoreResult<()> {
        Ok(self.inner.rollback()?)
    }

    /// The connection the transaction runs on, for the store's functions.
    /// Not `pub`: a module outside the store with it could write rows no
    /// store function writes.
    pub(super) fn connection(&self) -> &Connection {
        &self.inner
    }
}
