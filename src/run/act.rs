//! Actions: what a due step does. Messages, webhooks and notifications
//! are rendered (strict handlebars) and queued in the outbox under a
//! stable idempotency key; tasks go to the staff's list; `set` and `tag`
//! change what conditions see. Also the contact's CEL context, evaluated
//! at the moment a decision belongs to (`now` is that moment).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value as Json, json};

use crate::language::condition::Condition;
use crate::language::model::{Action, Channel, StageId};
use crate::language::template::helpers::{SETTINGS, Settings};
use crate::language::template::locale::Locale;
use crate::run::feed::Value;
use crate::run::runner::{choose, split_subject};
use crate::run::walk::Walk;
mod task;

use crate::store::{
    self, AddTag, FailedAction, HistoryKind, Message, Notice, OutboxRow, OutboxStatus, Payload,
    SetFields, StoreError, Webhook,
};

/// How long an action may be late before it is skipped as stale, when the
/// step does not say: a message is news for a day, a task for a week.
pub fn default_stale_after(action: &Action) -> TimeDelta {
    match action {
        Action::Task(_) | Action::Set(_) | Action::Tag(_) => TimeDelta::days(7),
        _ => TimeDelta::days(1),
    }
}

/// Whether an action (or one of its split variants) creates a staff task.
pub fn creates_task(action: &Action) -> bool {
    action.any(&|a| matches!(a, Action::Task(_)))
}

/// What became of a step's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acted {
    /// Queued for delivery (or a task created).
    Queued,
    /// A message that became too late: recorded, not sent.
    Stale,
    /// A message that could not be made (no address, a template failed).
    Failed,
    /// An action that sends nothing to the contact (`set`, `tag`, a split
    /// variant without an action), or one already done by an earlier run.
    Done,
}

impl Acted {
    pub fn name(self) -> &'static str {
        match self {
            Acted::Queued => "queued",
            Acted::Stale => "skipped as stale",
            Acted::Failed => "failed",
            Acted::Done => "done",
        }
    }

    /// Whether the contact can react to it: a wait starts only then.
    pub fn reached_contact(self) -> bool {
        matches!(self, Acted::Queued | Acted::Done)
    }
}

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// Does `action` of the step at `index` at the moment `due`; `stale`
    /// when it is too late to go out (the walk decides: see `Walk::step`).
    pub(crate) fn act(
        &mut self,
        s: StageId,
        index: usize,
        action: &Action,
        due: DateTime<Utc>,
        stale: bool,
    ) -> Result<Acted, StoreError> {
        let loaded = self.loaded;
        let step = &loaded.funnel.stages[s].steps[index];
        let Some(entry) = self.journey.as_ref().map(|j| j.entry) else {
            return Ok(Acted::Done);
        };
        let key = format!(
            "{}/{}/{}/{}",
            self.funnel().name,
            self.contact.id,
            entry,
            step.id
        );
        // A step the journey comes back to (a repeat purchase sends an
        // advocate back to care) acts again: its later visits carry their
        // moment in the key, which stays the same for the same visit, so a
        // repeated or restarted run still does everything once.
        let key = match self.key_moment(&key)? {
            Some(first) if first != store::time(due) => format!("{key}@{}", store::time(due)),
            _ => key,
        };
        let action = match action {
            Action::Split(variants) => {
                let sticky = format!("{}/{}/{}", self.funnel().name, self.contact.id, step.id);
                let Some(variant) = choose(&sticky, variants) else {
                    return Ok(Acted::Done);
                };
                // Recorded once per entry, even when the variant does
                // nothing, so `report` can count every arm.
                let stage = self.loaded.funnel.stages[s].name.clone();
                if !self.split_recorded(entry, &step.id)? {
                    self.history(
                        HistoryKind::Split,
                        (Some(stage.clone()), Some(step.id.clone())),
                        (Some(stage), Some(variant.name.clone())),
                        due,
                        format!("split {}: variant {}", step.id, variant.name),
                    )?;
                }
                let Some(action) = &variant.action else {
                    return Ok(Acted::Done);
                };
                action
            }
            other => other,
        };
        let stage_name = &loaded.funnel.stages[s].name;
        let mut data = self.template_data(stage_name, &step.id, due);
        // Only a message to the contact has links to sign.
        let links = match action {
            Action::Message { .. } => self.linked(&mut data, &key, &step.id),
            _ => None,
        };
        let (channel, payload) = match action {
            Action::Message {
                channel,
                template,
                transactional,
            } => {
                let field = match channel {
                    Channel::Email => "email",
                    Channel::Sms | Channel::Messenger => "phone",
                };
                let to = self.field_text(field);
                let html = match channel {
                    Channel::Email => self.render_html(template, &data).transpose(),
                    Channel::Sms | Channel::Messenger => Ok(None),
                };
                // A message with nowhere to go fails when it is queued,
                // with the reason: it is never "delivered" to no one.
                let address = to.clone().filter(|a| !a.trim().is_empty()).ok_or_else(|| {
                    format!(
                        "no {} address: the contact's `{field}` field is empty",
                        channel.name()
                    )
                });
                let rendered = address
                    .and_then(|_| self.render(template, &data))
                    .and_then(|text| Ok((text, html?)));
                let payload = rendered.map(|(text, html)| {
                    let (subject, body) = split_subject(&text);
                    Payload::Message(Message {
                        to,
                        subject,
                        body,
                        template: template.clone(),
                        transactional: *transactional,
                        // The List-Unsubscribe header goes with every
                        // marketing email, whatever its template shows.
                        unsubscribe: links.clone().filter(|_| !transactional),
                        html,
                    })
                });
                (channel.name(), payload)
            }
            Action::Webhook { endpoint, template } => {
                let body = template.as_ref().map(|t| self.render(t, &data)).transpose();
                let contact = match &data["contact"] {
                    Json::Object(fields) => fields.clone(),
                    _ => serde_json::Map::new(),
                };
                let call = |body| {
                    Payload::Webhook(Webhook {
                        endpoint: endpoint.clone(),
                        funnel: self.funnel().name.clone(),
                        stage: stage_name.clone(),
                        step: step.id.clone(),
                        contact,
                        body,
                    })
                };
                ("webhook", body.map(call))
            }
            Action::Notify { to, template } => {
                let to = self.assignee(to);
                (
                    "notify",
                    self.render(template, &data).map(|body| {
                        Payload::Notice(Notice {
                            to,
                            body,
                            escalation: None,
                        })
                    }),
                )
            }
            Action::Task(task) => {
                let made = (key, step.id.as_str(), due);
                return self.task(task, made, &data);
            }
            Action::Set(assignments) => {
                let mut set = serde_json::Map::new();
                for (field, expression) in assignments {
                    if let Some(value) = self.evaluate_at(expression, due) {
                        let contact = self.contact.id.clone();
                        let (name, set_to) = (field.clone(), value.clone());
                        self.runner.write(self.tx, move |tx, _| {
                            store::set_field(tx, &contact, &name, &set_to)
                        })?;
                        self.runner.overrides = true;
                        self.cel.replace(None);
                        self.changed = self.changed.max(due);
                        set.insert(field.clone(), value);
                    }
                }
                ("set", Ok(Payload::Set(SetFields { fields: set })))
            }
            Action::Tag(tag) => {
                let (contact, tagged) = (self.contact.id.clone(), tag.clone());
                self.runner
                    .write(self.tx, move |tx, _| store::add_tag(tx, &contact, &tagged))?;
                self.runner.tags = true;
                self.cel.replace(None);
                self.changed = self.changed.max(due);
                let tag = tag.clone();
                ("tag", Ok(Payload::Tag(AddTag { tag })))
            }
            Action::Split(_) => return Ok(Acted::Done),
        };
        let reaches = matches!(action, Action::Message { .. });
        let (status, payload, acted) = match payload {
            Ok(payload) if stale => (OutboxStatus::Stale, payload, Acted::Stale),
            Ok(payload) => (OutboxStatus::Queued, payload, Acted::Queued),
            Err(error) => (
                OutboxStatus::Failed,
                Payload::Failed(FailedAction { error }),
                Acted::Failed,
            ),
        };
        // Only a message reaches the contact; a webhook or notification
        // that failed does not stop the contact's wait.
        let acted = if reaches { acted } else { Acted::Done };
        let mut row = OutboxRow {
            key,
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            step: step.id.clone(),
            channel: channel.to_string(),
            payload,
            due_at: due,
            status,
        };
        let (version, now) = (self.loaded.version.clone(), self.now());
        let (key, counts) = (row.key.clone(), store::counts_against_caps(&row));
        // Made here, on the walk's core, once for the outbox and the file.
        let payload = row.payload.text();
        let known = self.known_new(&row.key);
        let added = self.runner.add(self.tx, known, move |tx, ledger| {
            // A row for the outbox file, when the run delivers as it goes,
            // is queued as delivered and its line appended with the batch.
            let sending = (ledger.delivering.as_ref()).is_some_and(|d| d.takes(&row));
            if sending {
                row.status = OutboxStatus::Delivered;
            }
            let queued = (&row, payload.as_str());
            let added = store::enqueue(tx, &mut ledger.tally, queued, Some(&version), now)?;
            if let Some(delivering) = ledger.delivering.as_mut().filter(|_| added && sending) {
                delivering.queued(row, payload);
            }
            Ok(added)
        })?;
        if added {
            self.queued_under(&key, due);
            if let Some(capped) = self.runner.capped.as_mut()
                && counts
            {
                capped.push((channel.to_string(), due));
            }
            match status {
                OutboxStatus::Stale => self.runner.summary.stale += 1,
                OutboxStatus::Failed => self.runner.summary.failed += 1,
                _ => self.runner.summary.queued += 1,
            }
            let (funnel, contact) = (&self.loaded.funnel.name, &self.contact.id);
            let what = format_args!("{channel} {} ({})", step.id, status.name());
            self.runner.plan(funnel, contact, due, what);
        }
        Ok(acted)
    }

    fn field_text(&self, field: &str) -> Option<String> {
        match self.contact.fields.get(field)? {
            Value::String(text) => Some(text.clone()),
            _ => None,
        }
    }

    /// What templates see: the contact, where it is, and (for the helpers
    /// only) the timezone, locale and moment `at` to format for.
    fn template_data(&self, stage: &str, step: &str, at: DateTime<Utc>) -> Json {
        let contact: serde_json::Map<String, Json> = self
            .contact
            .fields
            .iter()
            .filter(|(_, v)| **v != Value::Null)
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Json::Null)))
            .collect();
        // A declared `locale` field the contact has a known value in wins.
        let locale = self
            .field_text("locale")
            .and_then(|tag| Locale::parse(&tag))
            .unwrap_or(self.funnel().locale);
        let settings = Settings {
            timezone: self.timezone(),
            locale,
            at,
        };
        json!({ "contact": contact, "funnel": self.funnel().name, "stage": stage, "step": step, SETTINGS: settings.to_json() })
    }

    /// Adds what templates need for signed links to `data`: `_link` (for
    /// `{{track}}`), `unsubscribe_url` and, when on, `open_pixel_url`.
    /// Gives the unsubscribe URL, when links are configured.
    fn linked(&self, data: &mut Json, key: &str, step: &str) -> Option<String> {
        use crate::links::{Link, Links, Message};
        let message = Message {
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            step: step.to_string(),
            key: key.to_string(),
        };
        let Some(links) = self.loaded.links.as_ref() else {
            let fallback = self.loaded.unsubscribe.as_ref()?;
            if let Some(url) = fallback.url(&message) {
                data["unsubscribe_url"] = Json::String(url);
            }
            return None;
        };
        let unsubscribe = links.url(&Link::Unsubscribe {
            contact: message.contact.clone(),
            message: message.clone(),
        });
        data["_link"] = Links::template_data(&message);
        data["unsubscribe_url"] = Json::String(unsubscribe.clone());
        if links.open_pixel() {
            data["open_pixel_url"] = Json::String(links.url(&Link::Open { message }));
        }
        Some(unsubscribe)
    }

    fn render(&self, template: &str, data: &Json) -> Result<String, String> {
        self.loaded
            .templates
            .render(template, data)
            .map_err(|e| plain_error(template, &e))
    }

    /// The HTML body of the email `template`, when it has one.
    fn render_html(&self, template: &str, data: &Json) -> Option<Result<String, String>> {
        let html = &self.loaded.html;
        html.has_template(template).then(|| {
            html.render(template, data)
                .map_err(|e| plain_error(&format!("{template}.html"), &e))
        })
    }

    fn cel_context(&self) -> cel::Context<'static, 'static> {
        let mut fields = cel_fields(&self.contact.fields);
        // A run that writes later has neither (`Runner::may_write_later`).
        if self.runner.overrides
            && let Some(tx) = self.tx
            && let Ok(overrides) = store::overrides(tx, &self.contact.id)
        {
            for (name, value) in overrides {
                if let Ok(value) = cel::to_value(value) {
                    fields.insert(name, value);
                }
            }
        }
        let tags = if self.runner.tags
            && let Some(tx) = self.tx
        {
            store::tags_of(tx, &self.contact.id).unwrap_or_default()
        } else {
            Vec::new()
        };
        let tags: Vec<cel::Value> = tags
            .into_iter()
            .map(|t| cel::Value::String(t.into()))
            .collect();
        let mut context = cel::Context::with_env(self.runner.cel.clone());
        context.add_variable_from_value("contact", fields);
        context.add_variable_from_value("tags", cel::Value::List(tags.into()));
        context
    }

    /// Evaluates `condition` as it stood at the moment `at`: `now` reads
    /// that moment, not the run's clock.
    fn execute(&self, condition: &Condition, at: DateTime<Utc>) -> Option<cel::Value> {
        self.execute_on(condition, at, None)
    }

    /// [`Self::execute`], with `event` set for a condition that decides on
    /// the event that fired it (`check` lets only those read it, so the
    /// last one set never leaks into another).
    fn execute_on(
        &self,
        condition: &Condition,
        at: DateTime<Utc>,
        event: Option<&crate::run::feed::Event>,
    ) -> Option<cel::Value> {
        let program = condition.program.as_ref()?;
        let mut cached = self.cel.borrow_mut();
        let context = cached.get_or_insert_with(|| self.cel_context());
        context.add_variable_from_value("now", cel::Value::Timestamp(at.fixed_offset()));
        if let Some(event) = event {
            context.add_variable_from_value(
                crate::language::condition::EVENT,
                crate::language::condition::event_value(event),
            );
        }
        program.execute(context).ok()
    }

    /// Whether a `when` beside `event:` holds for `event`, at its moment.
    pub(crate) fn truthy_on(&self, condition: &Condition, event: &crate::run::feed::Event) -> bool {
        matches!(
            self.execute_on(condition, event.at, Some(event)),
            Some(cel::Value::Bool(true))
        )
    }

    /// Whether a condition held at `at`; one that cannot be evaluated (a
    /// field not set) is false.
    pub(crate) fn truthy_at(&self, condition: &Condition, at: DateTime<Utc>) -> bool {
        matches!(self.execute(condition, at), Some(cel::Value::Bool(true)))
    }

    pub(crate) fn timestamp_at(
        &self,
        condition: &Condition,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self.execute(condition, at)? {
            cel::Value::Timestamp(t) => Some(t.with_timezone(&Utc)),
            _ => None,
        }
    }

    fn evaluate_at(&self, condition: &Condition, at: DateTime<Utc>) -> Option<Json> {
        match self.execute(condition, at)? {
            cel::Value::Bool(b) => Some(json!(b)),
            cel::Value::Int(i) => Some(json!(i)),
            cel::Value::UInt(u) => Some(json!(u)),
            cel::Value::Float(f) => Some(json!(f)),
            cel::Value::String(s) => Some(json!(s.as_str())),
            cel::Value::Timestamp(t) => Some(json!(store::time(t.with_timezone(&Utc)))),
            cel::Value::Null => Some(Json::Null),
            _ => None,
        }
    }
}

/// A contact's typed fields as CEL reads them; unset ones are left out, so
/// `has(contact.x)` is false.
pub(crate) fn cel_fields(
    typed: &std::collections::BTreeMap<String, Value>,
) -> HashMap<String, cel::Value> {
    let mut fields: HashMap<String, cel::Value> = HashMap::new();
    for (name, value) in typed {
        let value = match value {
            Value::Null => continue,
            Value::Bool(b) => cel::Value::Bool(*b),
            Value::Int(i) => cel::Value::Int(*i),
            Value::Float(f) => cel::Value::Float(*f),
            Value::String(s) => cel::Value::String(s.clone().into()),
            Value::Timestamp(t) => cel::Value::Timestamp(t.fixed_offset()),
            Value::Date(d) => match d.and_hms_opt(0, 0, 0) {
                Some(midnight) => cel::Value::Timestamp(midnight.and_utc().fixed_offset()),
                None => continue,
            },
        };
        fields.insert(name.clone(), value);
    }
    fields
}

/// A template failure in words a marketer reads: which field was missing,
/// not the engine's message.
fn plain_error(template: &str, error: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason as Reason;
    match error.reason() {
        Reason::MissingVariable(Some(path)) => format!(
            "template {template}: the contact has no value for `{path}`; guard it with {{{{#if {path}}}}} or make sure the feed fills it"
        ),
        Reason::NestedError(why) => format!("template {template}: {why}"),
        Reason::TemplateNotFound(name) => {
            format!("template {template}: no template named `{name}`")
        }
        other => format!("template {template}: {other}"),
    }
}
