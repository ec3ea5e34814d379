//! The values conditions and templates read: a typed contact [`Value`],
//! a [`Contact`] as one funnel sees it, and an [`Event`] a contact did.
//! They are the language's because its `condition`s evaluate over them;
//! reading them from a feed (CSV, JSON) and typing them by a funnel's
//! declared fields is `run::feed`'s, which re-exports them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value as Json;

/// A typed contact value.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
}

/// A contact typed for one funnel: only the declared fields (plus "id" as
/// String), missing optional ones Null.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: String,
    pub line: usize,
    pub fields: BTreeMap<String, Value>,
}

/// Something a contact did, from the events feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub line: usize,
    pub contact: String,
    pub name: String,
    pub at: DateTime<Utc>,
    pub data: Json,
}
