//! Contacts events create. An entry with `create:` lets an event for an id
//! the contacts feed does not have (a keyword texted from an unknown
//! number) make the contact: its fields are the `create:` expressions over
//! the event, it exists from the event's moment (the state keeps its
//! values, dated then, in `created_contacts` and `sightings`), and it is
//! walked on every later run like a feed row until a feed row for its id
//! appears, which then takes over as a change of values. Deciding which
//! event creates whom is here; when the contact enters is the walk's, as
//! for anyone.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{Loaded, Runner, fingerprint, stored_fields};
use crate::language::condition::{Condition, EVENT};
use crate::language::model::{Create, Funnel, TriggerKind};
use crate::run::feed::{self, Contact, Event, Problem, Raw};
use crate::store::{self, Created, StoreError, Tx};

/// Whether any entry of `funnel` creates contacts.
pub fn creates(funnel: &Funnel) -> bool {
    funnel.entries.iter().any(|t| {
        matches!(
            &t.kind,
            TriggerKind::Event {
                create: Some(_),
                ..
            }
        )
    })
}

/// What one event makes of a `create:` entry.
enum Made {
    /// The contact, typed by the funnel's fields.
    Contact(Contact),
    /// The entry's `when` does not hold for the event: nothing.
    No,
    /// The `when` holds but the values do not make a contact (a required
    /// field missing, a phone that is not one): nothing, and why.
    Refused(Problem),
}

impl Runner<'_> {
    /// Walks `id`, whom no feed row of this run has, in every funnel that
    /// creates contacts: as created before (`stored`), or created now by
    /// the first of its events a `create:` entry accepts. Each funnel sees
    /// the events from the contact's creation on: what happened to an
    /// unknown id before is not its history. True when any funnel walked
    /// it.
    pub fn created(
        &mut self,
        tx: &Tx<'_>,
        id: &str,
        stored: &[&Created],
        events: &[&Event],
    ) -> Result<bool, StoreError> {
        let mut walked = false;
        for loaded in self.funnels {
            if !creates(&loaded.funnel) {
                continue;
            }
            let name = loaded.funnel.name.as_str();
            let contact = match stored.iter().find(|c| c.funnel == name) {
                Some(c) => from_created(id, c, loaded).map(|contact| (contact, c.at)),
                // Created once and adopted by a feed row since: the feed's,
                // even in a run whose feed lacks the row.
                None if store::was_created(tx, (name, id))? => None,
                None => self.create(tx, loaded, id, events)?,
            };
            let Some((contact, since)) = contact else {
                continue;
            };
            let own: Vec<&Event> = events.iter().filter(|e| e.at >= since).copied().collect();
            let typed = BTreeMap::from([(name.to_string(), contact)]);
            self.journeys(Some(tx), &typed, &own)?;
            walked = true;
        }
        self.summary.contacts += usize::from(walked);
        Ok(walked)
    }

    /// Creates `id` in `loaded` from the earliest of its events (by
    /// `now`) that a `create:` entry accepts, with its values dated at
    /// the event's moment; gives the contact and that moment.
    fn create(
        &mut self,
        tx: &Tx<'_>,
        loaded: &Loaded,
        id: &str,
        events: &[&Event],
    ) -> Result<Option<(Contact, DateTime<Utc>)>, StoreError> {
        for event in events.iter().filter(|e| e.at <= self.now) {
            for trigger in &loaded.funnel.entries {
                let TriggerKind::Event {
                    name,
                    filter,
                    create: Some(create),
                } = &trigger.kind
                else {
                    continue;
                };
                if *name != event.name {
                    continue;
                }
                let contact = match self.made(loaded, id, (create, filter.as_ref()), event) {
                    Made::Contact(contact) => contact,
                    Made::No => continue,
                    Made::Refused(problem) => {
                        self.refused.push(problem);
                        continue;
                    }
                };
                self.keep(tx, loaded, &contact, event)?;
                return Ok(Some((contact, event.at)));
            }
        }
        Ok(None)
    }

    /// Records the created contact: once, with its values seen from the
    /// event's moment, so the walk dates what they make true from then.
    fn keep(
        &mut self,
        tx: &Tx<'_>,
        loaded: &Loaded,
        contact: &Contact,
        event: &Event,
    ) -> Result<(), StoreError> {
        let funnel = loaded.funnel.name.as_str();
        let created = Created {
            funnel: funnel.to_string(),
            contact: contact.id.clone(),
            fields: stored_fields(contact),
            at: event.at,
            event: event.name.clone(),
        };
        if !store::add_created(tx, &created)? {
            return Ok(());
        }
        // Dated at the event; the walk that follows keeps its verdict.
        let owner = (funnel, contact.id.as_str());
        let seen = store::sighting(tx, owner, fingerprint(contact), event.at)?;
        let fields = if seen.is_new() {
            stored_fields(contact)
        } else {
            String::new()
        };
        store::settle(
            tx,
            owner,
            &seen,
            &fields,
            (&loaded.version, store::Due::Unknown),
        )?;
        self.summary.created += 1;
        self.plan(
            funnel,
            &contact.id,
            event.at,
            format_args!("create the contact from event {}", event.name),
        );
        Ok(())
    }

    /// The contact `create` makes of `event`, if its `when` holds.
    fn made(
        &self,
        loaded: &Loaded,
        id: &str,
        (create, filter): (&Create, Option<&Condition>),
        event: &Event,
    ) -> Made {
        let mut context = cel::Context::with_env(self.cel.clone());
        context.add_variable_from_value(EVENT, crate::language::condition::event_value(event));
        context.add_variable_from_value("now", cel::Value::Timestamp(event.at.fixed_offset()));
        // A field whose expression fails (`event.data.name` the event does
        // not carry) or gives null is left empty, as an empty cell.
        let mut values: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for (field, expression) in &create.fields {
            let value = expression
                .program
                .as_ref()
                .and_then(|p| p.execute(&context).ok())
                .and_then(json_of);
            if let Some(value) = value.filter(|v| !v.is_null()) {
                values.insert(field.clone(), value);
            }
        }
        if let Some(filter) = filter {
            // The entry's `when` reads the contact it would make.
            let contact: HashMap<String, cel::Value> = values
                .iter()
                .map(|(k, v)| (k.clone(), crate::language::condition::json_value(v)))
                .collect();
            context.add_variable_from_value("contact", contact);
            context.add_variable_from_value("tags", cel::Value::List(Vec::new().into()));
            let holds = filter
                .program
                .as_ref()
                .and_then(|p| p.execute(&context).ok());
            if holds != Some(cel::Value::Bool(true)) {
                return Made::No;
            }
        }
        let row = feed::Row {
            line: event.line,
            id: id.to_string(),
            values: values.into_iter().map(|(k, v)| (k, Raw::Json(v))).collect(),
        };
        let formats = feed::Formats::default();
        match feed::typed_in(
            &row,
            &loaded.funnel.fields,
            loaded.funnel.timezone,
            &formats,
        ) {
            Ok(contact) => Made::Contact(contact),
            Err(problem) => Made::Refused(Problem {
                message: format!(
                    "event `{}` does not create contact `{id}` in funnel `{}`: {}",
                    event.name, loaded.funnel.name, problem.message
                ),
                ..problem
            }),
        }
    }
}

/// A contact created before, from the values the state kept; `None` when
/// they no longer type (a field changed its type since).
fn from_created(id: &str, created: &Created, loaded: &Loaded) -> Option<Contact> {
    let stub = Contact {
        id: id.to_string(),
        line: 0,
        fields: BTreeMap::new(),
    };
    feed::from_stored(&stub, &created.fields, &loaded.funnel.fields)
}

/// A CEL result as a feed would write it; a list or map is no field value.
fn json_of(value: cel::Value) -> Option<serde_json::Value> {
    use serde_json::json;
    Some(match value {
        cel::Value::Null => serde_json::Value::Null,
        cel::Value::Bool(b) => json!(b),
        cel::Value::Int(i) => json!(i),
        cel::Value::UInt(u) => json!(u),
        cel::Value::Float(f) => json!(f),
        cel::Value::String(s) => json!(s.as_str()),
        cel::Value::Timestamp(t) => json!(store::time(t.with_timezone(&Utc))),
        _ => return None,
    })
}
