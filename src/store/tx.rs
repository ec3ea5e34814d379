//! [`Tx`]: a write transaction on the state, as the modules outside the
//! store hold it. They pass it to the store's functions and commit or roll
//! it back; they cannot run SQL on it, so every write goes through a
//! function that knows its table. The connection inside is the store's
//! alone ([`Tx::connection`]).

use std::cell::RefCell;

use rusqlite::{Connection, Params, Statement, Transaction, TransactionBehavior};

use super::StoreResult;

/// A write transaction from [`Store::transaction`](super::Store::transaction).
/// Dropped without [`commit`](Tx::commit), it rolls back.
pub struct Tx<'s> {
    // Declared before `inner`: statements are finalized before the
    // transaction ends, whichever way it ends.
    held: RefCell<Vec<(usize, Statement<'s>)>>,
    connection: &'s Connection,
    inner: Transaction<'s>,
}

impl<'s> Tx<'s> {
    /// Begins an immediate transaction on `connection`; the store takes
    /// it by `&mut` (`Store::transaction`), so it is the only one.
    pub(super) fn begin(connection: &'s Connection) -> StoreResult<Self> {
        let inner = Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
        Ok(Tx {
            held: RefCell::new(Vec::new()),
            connection,
            inner,
        })
    }

    pub fn commit(self) -> StoreResult<()> {
        let Tx { held, inner, .. } = self;
        drop(held);
        Ok(inner.commit()?)
    }

    pub fn rollback(self) -> StoreResult<()> {
        let Tx { held, inner, .. } = self;
        drop(held);
        Ok(inner.rollback()?)
    }

    /// The connection the transaction runs on, for the store's functions.
    /// Not `pub`: a module outside the store with it could write rows no
    /// store function writes.
    pub(super) fn connection(&self) -> &Connection {
        &self.inner
    }

    /// Runs `sql`, prepared once in this transaction and held until it
    /// ends: for the writes made for every contact walked (a journey, its
    /// sighting, history, outbox rows). The connection's own statement
    /// cache hashes the SQL text twice per use and clears the bindings:
    /// inserting a first run's rows of a million contacts took 13.5 s
    /// through it and 11.9 s with held statements (`examples/insert-floor.rs`,
    /// alternating). Statements are told apart by where their text lives,
    /// which is why it is `'static`.
    pub(super) fn execute(&self, sql: &'static str, params: impl Params) -> StoreResult<usize> {
        let key = sql.as_ptr() as usize;
        let mut held = self.held.borrow_mut();
        let index = match held.iter().position(|(at, _)| *at == key) {
            Some(index) => index,
            None => {
                held.push((key, self.connection.prepare(sql)?));
                held.len() - 1
            }
        };
        Ok(held[index].1.execute(params)?)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use crate::store::Store;

    const ADD: &str = "INSERT INTO replays (key, at) VALUES (?1, ?2)";
    const DROP: &str = "DELETE FROM replays WHERE key = ?1";

    fn keys(store: &Store) -> Vec<String> {
        let connection = store.connection();
        let mut statement = connection
            .prepare("SELECT key FROM replays ORDER BY key")
            .unwrap();
        let rows = statement.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn held_statements_run_with_each_call_s_values_and_end_with_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();

        let tx = store.transaction().unwrap();
        assert_eq!(tx.execute(ADD, params!["a", "t"]).unwrap(), 1);
        assert_eq!(tx.execute(ADD, params!["b", "t"]).unwrap(), 1);
        assert_eq!(tx.execute(DROP, params!["a"]).unwrap(), 1);
        assert_eq!(tx.execute(ADD, params!["c", "t"]).unwrap(), 1);
        // Two statements held, each used again with its own values.
        assert_eq!(tx.held.borrow().len(), 2);
        // A failed run of a held statement leaves it ready for the next.
        assert!(tx.execute(ADD, params!["b", "t"]).is_err());
        assert_eq!(tx.execute(ADD, params!["d", "t"]).unwrap(), 1);
        tx.commit().unwrap();
        assert_eq!(keys(&store), ["b", "c", "d"]);

        // The next transaction prepares its own; a rollback keeps nothing.
        let tx = store.transaction().unwrap();
        assert_eq!(tx.execute(ADD, params!["e", "t"]).unwrap(), 1);
        tx.rollback().unwrap();
        let tx = store.transaction().unwrap();
        assert_eq!(tx.execute(ADD, params!["f", "t"]).unwrap(), 1);
        drop(tx);
        assert_eq!(keys(&store), ["b", "c", "d"]);
    }
}
