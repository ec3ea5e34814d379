//! Contacts an event created (an entry's `create:`): their values as the
//! event gave them and since when, kept per funnel like a feed row's, so
//! later runs walk them although no feed row has them. Once a feed row
//! does, the contact is the feed's (`adopted_at`) and this record only
//! says where it came from.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{StoreResult, Tx, stored_time, time};

/// A contact an event created in one funnel.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub funnel: String,
    pub contact: String,
    /// The declared fields the event gave, a JSON object as sightings
    /// keep a row's.
    pub fields: String,
    /// The creating event's moment: the contact exists from then.
    pub at: DateTime<Utc>,
    /// The creating event's name.
    pub event: String,
}

/// Records a created contact once; false when the funnel already has one
/// by that id (created before, perhaps adopted by the feed since).
pub fn add_created(tx: &Tx<'_>, created: &Created) -> StoreResult<bool> {
    let tx = tx.connection();
    let added = tx
        .prepare_cached(
            "INSERT INTO created_contacts (funnel, contact, fields, created_at, event) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            created.funnel,
            created.contact,
            created.fields,
            time(created.at),
            created.event
        ])?;
    Ok(added > 0)
}

/// Whether `funnel` ever created `contact`, adopted or not.
pub fn was_created(tx: &Tx<'_>, (funnel, contact): (&str, &str)) -> StoreResult<bool> {
    let tx = tx.connection();
    Ok(tx
        .prepare_cached("SELECT 1 FROM created_contacts WHERE funnel = ?1 AND contact = ?2")?
        .query_row(params![funnel, contact], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The created contacts no feed row has taken over yet, by contact.
pub fn created_contacts(tx: &Tx<'_>) -> StoreResult<Vec<Created>> {
    let connection = tx.connection();
    let mut statement = connection.prepare_cached(
        "SELECT funnel, contact, fields, created_at, event FROM created_contacts \
         WHERE adopted_at IS NULL ORDER BY contact, funnel",
    )?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut created = Vec::new();
    for row in rows {
        let (funnel, contact, fields, at, event) = row?;
        created.push(Created {
            funnel,
            contact,
            fields,
            at: stored_time(&at)?,
            event,
        });
    }
    Ok(created)
}

/// A feed row for a created contact appeared: from `now` it is the feed's.
pub fn adopt_created(
    tx: &Tx<'_>,
    (funnel, contact): (&str, &str),
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let tx = tx.connection();
    tx.prepare_cached(
        "UPDATE created_contacts SET adopted_at = ?1 WHERE funnel = ?2 AND contact = ?3 AND adopted_at IS NULL",
    )?
    .execute(params![time(now), funnel, contact])?;
    Ok(())
}
