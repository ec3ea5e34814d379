//! What `set` and `tag` actions keep about a contact beside the feed: the
//! `contact_fields` and `tags` tables.

use rusqlite::params;

use super::{StoreResult, Tx};

/// Values set by `set` actions, which override the feed's.
pub fn overrides(tx: &Tx<'_>, contact: &str) -> StoreResult<Vec<(String, serde_json::Value)>> {
    let tx = tx.connection();
    let mut statement =
        tx.prepare_cached("SELECT field, value FROM contact_fields WHERE contact = ?1")?;
    let rows = statement.query_map(params![contact], |r| {
        let value: String = r.get(1)?;
        Ok((
            r.get(0)?,
            serde_json::from_str(&value).unwrap_or(serde_json::Value::Null),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_field(
    tx: &Tx<'_>,
    contact: &str,
    field: &str,
    value: &serde_json::Value,
) -> StoreResult<()> {
    let tx = tx.connection();
    tx.prepare_cached(
        "INSERT INTO contact_fields (contact, field, value) VALUES (?1, ?2, ?3) \
         ON CONFLICT (contact, field) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![contact, field, value.to_string()])?;
    Ok(())
}

pub fn tags_of(tx: &Tx<'_>, contact: &str) -> StoreResult<Vec<String>> {
    let tx = tx.connection();
    let mut statement =
        tx.prepare_cached("SELECT tag FROM tags WHERE contact = ?1 ORDER BY tag")?;
    let rows = statement.query_map(params![contact], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether any contact has `set` fields, and whether any has tags.
pub fn side_tables_used(tx: &Tx<'_>) -> StoreResult<(bool, bool)> {
    let tx = tx.connection();
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM contact_fields), EXISTS (SELECT 1 FROM tags)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

pub fn add_tag(tx: &Tx<'_>, contact: &str, tag: &str) -> StoreResult<()> {
    let tx = tx.connection();
    tx.prepare_cached("INSERT INTO tags (contact, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
        .execute(params![contact, tag])?;
    Ok(())
}
