//! The store's reads as methods of [`Store`], for the modules outside it:
//! the listings, `status`, `report`'s definitions, `compare`, `funnel
//! serve`'s lookups and the migration planner. They call these instead of
//! handing a connection to the functions beside each table, so the
//! connection never leaves the store.

use chrono::{DateTime, Utc};

use super::*;

/// The reads a delivery pass makes, on the state between transactions
/// ([`Store`]) or inside a run's own ([`Tx`]), where it delivers a batch's
/// file rows before the batch commits.
pub trait DeliveryReads: sealed::Connected {
    fn entered_by_exit(&self, journey: (&str, &str), visit: (&str, i64)) -> StoreResult<bool> {
        entered_by_exit(self.connected(), journey, visit)
    }

    fn suppressed(
        &self,
        message: (&str, bool),
        contact: &str,
        address: Option<&str>,
    ) -> StoreResult<Option<String>> {
        suppressed(self.connected(), message, contact, address)
    }

    fn any_suppression(&self) -> StoreResult<bool> {
        any_suppression(self.connected())
    }

    fn file_length(&self, path: &str) -> StoreResult<Option<u64>> {
        file_length(self.connected(), path)
    }
}

/// Keeps the connection inside the store: a module outside it can use
/// [`DeliveryReads`] but cannot name this trait to reach the connection.
mod sealed {
    pub trait Connected {
        fn connected(&self) -> &rusqlite::Connection;
    }
}

impl sealed::Connected for Store {
    fn connected(&self) -> &rusqlite::Connection {
        &self.connection
    }
}

impl sealed::Connected for Tx<'_> {
    fn connected(&self) -> &rusqlite::Connection {
        self.connection()
    }
}

impl DeliveryReads for Store {}
impl DeliveryReads for Tx<'_> {}

impl Store {
    /// Whether any outbox row waits to go out.
    pub fn outbox_waiting(&self) -> StoreResult<bool> {
        outbox_waiting(&self.connection)
    }

    pub fn due_outbox(
        &self,
        now: DateTime<Utc>,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<Pending>> {
        due_outbox(&self.connection, now, after, limit)
    }

    pub fn journeys(
        &self,
        funnel: Option<&str>,
        stage: Option<&str>,
    ) -> StoreResult<Vec<JourneyRow>> {
        journeys(&self.connection, funnel, stage)
    }

    pub fn actions(
        &self,
        status: Option<OutboxStatus>,
        funnel: Option<&str>,
    ) -> StoreResult<Vec<ActionRow>> {
        actions(&self.connection, status, funnel)
    }

    pub fn task_rows(
        &self,
        overdue_at: Option<DateTime<Utc>>,
        assignee: Option<&str>,
    ) -> StoreResult<Vec<TaskRow>> {
        task_rows(&self.connection, overdue_at, assignee)
    }

    pub fn task_by_id(&self, id: i64) -> StoreResult<Option<TaskRow>> {
        task_by_id(&self.connection, id)
    }

    pub fn tasks(
        &self,
        overdue_at: Option<DateTime<Utc>>,
        assignee: Option<&str>,
    ) -> StoreResult<Vec<Task>> {
        tasks(&self.connection, overdue_at, assignee)
    }

    pub fn history(&self, contact: &str) -> StoreResult<Vec<Transition>> {
        history(&self.connection, contact)
    }

    pub fn positions(&self) -> StoreResult<Vec<Position>> {
        positions(&self.connection)
    }

    pub fn outbox_counts(&self) -> StoreResult<Vec<(OutboxStatus, i64)>> {
        outbox_counts(&self.connection)
    }

    pub fn failed(&self, limit: usize) -> StoreResult<Vec<Failed>> {
        failed(&self.connection, limit)
    }

    pub fn dead_letters(&self) -> StoreResult<Vec<DeadLetter>> {
        dead_letters(&self.connection)
    }

    pub fn list_events(
        &self,
        contact: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<ListedEvent>> {
        list_events(&self.connection, contact, since)
    }

    pub fn list_suppressions(&self, contact: Option<&str>) -> StoreResult<Vec<ListedSuppression>> {
        list_suppressions(&self.connection, contact)
    }

    pub fn contact_at(&self, channel: &str, address: &str) -> StoreResult<Option<String>> {
        contact_at(&self.connection, channel, address)
    }

    pub fn sent_at(&self, key: &str) -> StoreResult<Option<DateTime<Utc>>> {
        sent_at(&self.connection, key)
    }

    pub fn latest_sources(&self) -> StoreResult<Vec<(String, String)>> {
        latest_sources(&self.connection)
    }

    pub fn version_source(&self, funnel: &str, version: &str) -> StoreResult<Option<String>> {
        version_source(&self.connection, funnel, version)
    }

    pub fn version_origin(
        &self,
        funnel: &str,
        version: &str,
    ) -> StoreResult<Option<(String, Option<String>)>> {
        version_origin(&self.connection, funnel, version)
    }

    pub fn in_flight(&self, funnel: &str) -> StoreResult<Vec<InFlight>> {
        in_flight(&self.connection, funnel)
    }

    pub fn renamed_from(&self, funnel: &str, path: &str) -> StoreResult<Option<(String, u64)>> {
        renamed_from(&self.connection, funnel, path)
    }

    /// Records an outbox file's committed length at once (outside any
    /// transaction: the first length must be on disk before the append).
    pub fn set_file_length(&self, path: &str, length: u64) -> StoreResult<()> {
        write_file_length(&self.connection, path, length)
    }

    /// Gives the space pruning freed back to the file system.
    pub fn vacuum(&self) -> StoreResult<()> {
        Ok(self.connection.execute_batch("VACUUM")?)
    }

    /// The events recorded in the state (by `funnel task done`, by `funnel
    /// serve`) up to `until`, in time order.
    pub fn events_until(&self, until: DateTime<Utc>) -> StoreResult<Vec<StoredEvent>> {
        events_until(&self.connection, until)
    }

    /// How far the state's signals go: the latest event and suppression
    /// recorded (neither is ever changed or deleted, so a run that notes
    /// these knows whether any was recorded since).
    pub fn signals_mark(&self) -> StoreResult<(i64, i64)> {
        Ok(self.connection.query_row(
            "SELECT (SELECT coalesce(max(id), 0) FROM events), \
             (SELECT coalesce(max(id), 0) FROM suppressions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// Whether an event or an unsubscribe of a contact is dated after
    /// `after` and by `until`: recorded before a run but come due since.
    pub fn signals_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<bool> {
        Ok(self.connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM events WHERE at > ?1 AND at <= ?2) \
             OR EXISTS (SELECT 1 FROM suppressions WHERE channel = ?3 AND contact != '' \
             AND at > ?1 AND at <= ?2)",
            rusqlite::params![time(after), time(until), Scope::Marketing],
            |r| r.get(0),
        )?)
    }

    /// When a run first saw this version of `funnel`, if one did.
    pub fn first_run(&self, funnel: &str, version: &str) -> StoreResult<Option<DateTime<Utc>>> {
        first_run(&self.connection, funnel, version)
    }
}
