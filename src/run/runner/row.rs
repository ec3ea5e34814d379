//! What the state keeps of a contact's row in a funnel: a fingerprint of
//! its values, to notice a change without writing them out, and the
//! values themselves (a JSON object) when they change, so that a later
//! run can play out what the old values made due.

use std::collections::BTreeMap;

use super::UNSUBSCRIBED;
use crate::run::feed::Contact;

/// Stored fields (a JSON object) with `unsubscribed` set, as
/// [`stored_fields`] writes them: also for a row an earlier build
/// stored with its empty fields and its id.
pub(super) fn overlaid(stored: &str) -> Option<String> {
    let mut fields: BTreeMap<String, serde_json::Value> = serde_json::from_str(stored).ok()?;
    fields.retain(|name, value| !value.is_null() && name != ID);
    fields.insert(UNSUBSCRIBED.to_string(), serde_json::Value::Bool(true));
    serde_json::to_string(&fields).ok()
}

/// The row's declared fields as the state keeps them, written only when
/// they changed: a JSON object of the fields that have a value. An empty
/// field is left out, and so is the id (the sighting's key): reading back
/// takes a missing field as empty (`feed::from_stored`). Kept, the names
/// of empty fields made the sightings a quarter of a first run's state.
pub(super) fn stored_fields(contact: &Contact) -> String {
    let present: BTreeMap<&str, &crate::run::feed::Value> = (contact.fields.iter())
        .filter(|(name, value)| !matches!(value, crate::run::feed::Value::Null) && *name != ID)
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    serde_json::to_string(&present).unwrap_or_default()
}

/// The field every typed contact has, its id.
const ID: &str = "id";

/// A hash (FNV-1a) of the row's declared fields, to notice when they
/// change without writing them out: every run computes it for every row.
pub(super) fn fingerprint(contact: &Contact) -> u64 {
    use crate::run::feed::Value;
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    for (name, value) in &contact.fields {
        eat(name.as_bytes());
        match value {
            Value::Null => eat(&[0]),
            Value::Bool(b) => eat(&[1, u8::from(*b)]),
            Value::Int(i) => {
                eat(&[2]);
                eat(&i.to_le_bytes());
            }
            Value::Float(f) => {
                eat(&[3]);
                eat(&f.to_bits().to_le_bytes());
            }
            Value::String(text) => {
                eat(&[4]);
                eat(text.as_bytes());
            }
            Value::Timestamp(t) => {
                eat(&[5]);
                eat(&t.timestamp().to_le_bytes());
                eat(&t.timestamp_subsec_nanos().to_le_bytes());
            }
            Value::Date(d) => {
                eat(&[6]);
                eat(&d.to_string().into_bytes());
            }
        }
        eat(&[0x1e]);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::feed::Value;

    #[test]
    fn stored_fields_leave_out_empty_fields_and_the_id() {
        let fields = [
            ("id", Value::String("c1".into())),
            ("email", Value::String("ann@example.com".into())),
            ("plan", Value::Null),
            (UNSUBSCRIBED, Value::Bool(false)),
        ];
        let mut contact = Contact {
            id: "c1".into(),
            line: 2,
            fields: fields.map(|(n, v)| (n.to_string(), v)).into(),
        };
        let stored = stored_fields(&contact);
        assert_eq!(
            stored,
            r#"{"email":"ann@example.com","unsubscribed":false}"#
        );
        // An unsubscribe overlaid on the stored row, in the form this
        // writes and in the form earlier builds kept (empty fields and
        // the id included), is the row with the unsubscribe, as stored.
        contact
            .fields
            .insert(UNSUBSCRIBED.to_string(), Value::Bool(true));
        let with = stored_fields(&contact);
        let earlier = r#"{"email":"ann@example.com","id":"c1","plan":null,"unsubscribed":false}"#;
        assert_eq!(overlaid(&stored).as_deref(), Some(with.as_str()));
        assert_eq!(overlaid(earlier).as_deref(), Some(with.as_str()));
    }
}
