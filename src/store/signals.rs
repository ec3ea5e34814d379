//! What `funnel serve` hears, as the state keeps it: suppressions (an
//! unsubscribe, a STOP, a hard bounce, a complaint), the address each
//! contact was last written at (to find the contact of a reply), and the
//! listing behind `funnel events`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::values::stored;
use super::{
    Message, OutboxRow, Payload, StoreError, StoreResult, Tx, optional_time_column, stored_time,
    time, time_column,
};

stored! {
    /// What a suppression stops: the `channel` column of `suppressions`.
    pub enum Scope in "suppressions.channel" {
        /// Every marketing message to the contact, on every channel, in
        /// every funnel (an unsubscribe); transactional messages still go.
        Marketing = "marketing",
        /// Every email to the address (a hard bounce, a complaint).
        Email = "email",
        /// Every SMS to the number or the contact (STOP: carriers require it).
        Sms = "sms",
    }
}

/// One suppression: a contact, an address, or both.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppression {
    pub scope: Scope,
    pub contact: Option<String>,
    pub address: Option<String>,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// Records a suppression once; the first one of a kind keeps its moment.
pub fn suppress(tx: &Tx<'_>, s: &Suppression) -> StoreResult<bool> {
    let tx = tx.connection();
    let added = tx
        .prepare_cached(
            "INSERT INTO suppressions (channel, contact, address, at, reason) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (channel, contact, address) DO NOTHING",
        )?
        .execute(params![
            s.scope,
            s.contact.as_deref().unwrap_or(""),
            s.address.as_deref().map(normal_address).unwrap_or_default(),
            time(s.at),
            s.reason
        ])?;
    Ok(added > 0)
}

/// Whether the state holds any suppression: while none, the dispatcher
/// skips the lookup per message.
pub(super) fn any_suppression(connection: &Connection) -> StoreResult<bool> {
    Ok(connection
        .prepare_cached("SELECT 1 FROM suppressions LIMIT 1")?
        .query_row([], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Why a message must not go out, when a suppression stops it: by its
/// contact or its address, on its channel.
pub(super) fn suppressed(
    connection: &Connection,
    (channel, transactional): (&str, bool),
    contact: &str,
    address: Option<&str>,
) -> StoreResult<Option<String>> {
    let address = address.map(normal_address).unwrap_or_default();
    let mut statement = connection.prepare_cached(
        "SELECT channel, reason, at FROM suppressions WHERE (contact = ?1 AND contact != '') OR (address = ?2 AND address != '') ORDER BY at",
    )?;
    // The scope is kept as read: one this funnel does not know is no
    // reason to fail the pass, but it is not let through either (below).
    let rows = statement.query_map(params![contact, address], |r| {
        Ok((
            r.get::<_, Scope>(0),
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (scope, reason, at) = row?;
        let stops = match scope.map_err(StoreError::from) {
            Ok(Scope::Marketing) => !transactional,
            Ok(Scope::Email) => channel == "email",
            Ok(Scope::Sms) => channel == "sms",
            // A scope this funnel does not know (the file was edited, or
            // a newer funnel wrote it): hold the message back rather than
            // guess it may go.
            Err(StoreError::UnknownValue { .. }) => true,
            Err(error) => return Err(error),
        };
        if stops {
            return Ok(Some(format!("not sent: suppressed since {at} ({reason})")));
        }
    }
    Ok(None)
}

/// Who unsubscribed from marketing by `now`, and when (the first time).
pub fn unsubscribed_by(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
    let connection = tx.connection();
    let mut statement = connection.prepare_cached(
        "SELECT contact, MIN(at) FROM suppressions WHERE channel = ?2 AND contact != '' AND at <= ?1 GROUP BY contact",
    )?;
    let rows = statement.query_map(params![time(now), Scope::Marketing], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut unsubscribed = std::collections::HashMap::new();
    for row in rows {
        let (contact, at) = row?;
        unsubscribed.insert(contact, stored_time(&at)?);
    }
    Ok(unsubscribed)
}

/// Remembers which contact a message's address belongs to.
pub(super) fn remember_address(
    tx: &super::Tx<'_>,
    row: &OutboxRow,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let Payload::Message(Message {
        to: Some(address), ..
    }) = &row.payload
    else {
        return Ok(());
    };
    tx.execute(
        "INSERT INTO addresses (channel, address, contact, at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (channel, address) DO UPDATE SET contact = excluded.contact, at = excluded.at",
        params![row.channel, normal_address(address), row.contact, time(at)],
    )?;
    Ok(())
}

/// The contact last written to at `address` on `channel`.
pub(super) fn contact_at(
    connection: &Connection,
    channel: &str,
    address: &str,
) -> StoreResult<Option<String>> {
    Ok(connection
        .prepare_cached("SELECT contact FROM addresses WHERE channel = ?1 AND address = ?2")?
        .query_row(params![channel, normal_address(address)], |r| r.get(0))
        .optional()?)
}

/// Addresses compare without case and surrounding space, phone numbers
/// without spaces, dashes and brackets.
fn normal_address(address: &str) -> String {
    let trimmed = address.trim();
    if trimmed.contains('@') {
        trimmed.to_lowercase()
    } else {
        trimmed
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect()
    }
}

/// One event in the state, as `funnel events` lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ListedEvent {
    pub contact: String,
    pub name: String,
    #[serde(with = "super::stamp")]
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
    pub source: String,
    #[serde(with = "super::stamp::optional")]
    pub received_at: Option<DateTime<Utc>>,
}

/// Events in the state, oldest first, of one contact and/or since a time.
pub(super) fn list_events(
    connection: &Connection,
    contact: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> StoreResult<Vec<ListedEvent>> {
    let mut statement = connection.prepare_cached(
        "SELECT contact, name, at, data, source, received_at FROM events \
         WHERE (?1 IS NULL OR contact = ?1) AND (?2 IS NULL OR at >= ?2) ORDER BY at, id",
    )?;
    let rows = statement.query_map(params![contact, since.map(time)], |r| {
        let data: String = r.get(3)?;
        Ok(ListedEvent {
            contact: r.get(0)?,
            name: r.get(1)?,
            at: time_column(r, 2)?,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            source: r.get(4)?,
            received_at: optional_time_column(r, 5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An event heard by `serve`, with where it came from and when it came.
pub struct Heard<'a> {
    pub event: &'a super::StoredEvent,
    pub dedupe: &'a str,
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
}

/// Records a heard event once (by its dedupe key). Returns whether new.
pub fn hear(tx: &Tx<'_>, heard: &Heard<'_>) -> StoreResult<bool> {
    let tx = tx.connection();
    let e = heard.event;
    let added = tx
        .prepare_cached(
            "INSERT INTO events (contact, name, at, data, dedupe, source, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (dedupe) DO NOTHING",
        )?
        .execute(params![
            e.contact,
            e.name,
            time(e.at),
            e.data.to_string(),
            heard.dedupe,
            heard.source,
            time(heard.received_at)
        ])?;
    Ok(added > 0)
}

/// When the message with outbox key `key` left, by the wall clock.
pub(super) fn sent_at(connection: &Connection, key: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let at: Option<Option<String>> = connection
        .prepare_cached("SELECT sent_at FROM outbox WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?;
    at.flatten().as_deref().map(stored_time).transpose()
}

/// Records a one-time signature token; false when it was seen before.
/// Tokens older than `forget` are dropped first: past the providers'
/// timestamp tolerance a replay is refused as stale anyway.
pub fn first_use(
    tx: &Tx<'_>,
    key: &str,
    at: DateTime<Utc>,
    forget: DateTime<Utc>,
) -> StoreResult<bool> {
    let tx = tx.connection();
    tx.prepare_cached("DELETE FROM replays WHERE at < ?1")?
        .execute(params![time(forget)])?;
    let added = tx
        .prepare_cached(
            "INSERT INTO replays (key, at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![key, time(at)])?;
    Ok(added > 0)
}

/// One suppression, as `funnel suppressions` lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ListedSuppression {
    pub scope: Scope,
    pub contact: String,
    pub address: String,
    #[serde(with = "super::stamp")]
    pub since: DateTime<Utc>,
    pub reason: String,
}

/// Every suppression (of one contact), oldest first.
pub(super) fn list_suppressions(
    connection: &Connection,
    contact: Option<&str>,
) -> StoreResult<Vec<ListedSuppression>> {
    let mut statement = connection.prepare_cached(
        "SELECT channel, contact, address, at, reason FROM suppressions \
         WHERE ?1 IS NULL OR contact = ?1 ORDER BY at, id",
    )?;
    let rows = statement.query_map(params![contact], |r| {
        Ok(ListedSuppression {
            scope: r.get(0)?,
            contact: r.get(1)?,
            address: r.get(2)?,
            since: time_column(r, 3)?,
            reason: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    /// A suppression whose scope this funnel does not know holds every
    /// message to its contact back, transactional ones too: the pass goes
    /// on, and nothing is guessed safe to send.
    #[test]
    fn an_unknown_scope_holds_the_message_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let connection = store.connection();
        connection
            .execute_batch(
                "INSERT INTO suppressions (channel, contact, address, at, reason) \
                 VALUES ('pigeon', 'c', '', '2026-01-01T00:00:00Z', 'by hand')",
            )
            .unwrap();
        let held = suppressed(connection, ("email", true), "c", None).unwrap();
        assert_eq!(
            held.as_deref(),
            Some("not sent: suppressed since 2026-01-01T00:00:00Z (by hand)")
        );
        assert_eq!(
            suppressed(connection, ("email", true), "d", None).unwrap(),
            None
        );
        let listed = list_suppressions(connection, None);
        assert!(
            matches!(&listed, Err(StoreError::UnknownValue { column: "suppressions.channel", text }) if text == "pigeon"),
            "{listed:?}"
        );
    }
}
