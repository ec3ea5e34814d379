//! Runner: one tick of `funnel run` at a given `now`. For every contact of
//! the feed and every funnel, a [`Walk`] moves the contact through what is
//! due in time order (see `walk.rs`), each action queued in the outbox
//! with a stable idempotency key; then overdue tasks are escalated. A
//! contact's changes and the outbox rows they create commit in one
//! transaction, so a crash loses or doubles nothing: the next run picks up
//! where the last commit left off. Every write goes through
//! [`Runner::write`]: at once, or in a first run queued for a writer
//! thread that commits the same batches on the other core
//! (`runner/later.rs`).
//!
//! Deterministic: the same state, feeds and `now` give the same result, and
//! a second run at the same `now` changes nothing. Missed runs catch up:
//! every move is dated by the moment it belongs to, not by the run.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use handlebars::Handlebars;

use crate::language::model::Funnel;
use crate::language::template::{self, Part};
use crate::run::feed::{Contact, Event};
use crate::run::walk::Walk;
use crate::store::{self, Escalation, Notice, OutboxRow, OutboxStatus, Payload, StoreError, Tx};

mod create;
mod fast;
mod later;
mod row;

use row::{fingerprint, overlaid, stored_fields};

pub use create::creates;
pub(crate) use later::reading;
pub use later::{Ledger, Write};

/// A funnel ready to run: compiled, with its templates and version.
pub struct Loaded {
    pub funnel: Funnel,
    /// A hash of the funnel file, recorded in history.
    pub version: String,
    /// The funnel file.
    pub path: PathBuf,
    /// Text templates: unescaped, since emails and texts are not web pages.
    pub templates: Handlebars<'static>,
    /// The HTML bodies of emails (`NAME.html.hbs`), registered as `NAME`
    /// and HTML-escaping every value they insert.
    pub html: Handlebars<'static>,
    /// When this version first ran against the state: no contact enters
    /// it earlier (set by the tick; the beginning of time until then).
    pub first_run: DateTime<Utc>,
    /// The funnel file's text, kept in the state with the version.
    pub source: String,
    /// What the run does with contacts at each place of an older version
    /// (planned by `migration::plan` before anyone is walked).
    pub carries:
        std::collections::HashMap<crate::run::migration::Place, crate::run::migration::Carry>,
    /// Signed links into `funnel serve`, when `[serve] base-url` is set.
    pub links: Option<crate::links::Links>,
    /// `{{unsubscribe_url}}` without signed links.
    pub unsubscribe: Option<Arc<crate::links::Fallback>>,
}

impl Loaded {
    /// Registers every template file of `dir`, strict, each part in its own
    /// registry.
    pub fn new(funnel: Funnel, source_text: &str, dir: &Path) -> Result<Self, String> {
        let mut templates = Handlebars::new();
        templates.set_strict_mode(true);
        templates.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        template::helpers::register(&mut templates);
        template::helpers::register(&mut html);
        // A missing or unreadable directory leaves the registries empty:
        // `check` has already reported it, and each action then fails alone.
        for (name, part, path) in template::files(dir).unwrap_or_default() {
            let text =
                crate::input::read_text(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let registry = match part {
                Part::Text => &mut templates,
                Part::Html => &mut html,
            };
            registry
                .register_template_string(&name, text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(Self {
            funnel,
            version: version(source_text),
            path: PathBuf::new(),
            templates,
            html,
            first_run: DateTime::<Utc>::MIN_UTC,
            source: source_text.to_string(),
            carries: std::collections::HashMap::new(),
            links: None,
            unsubscribe: None,
        }
        .linked(None))
    }

    /// Gives the templates signed links (`{{track}}`, `{{unsubscribe_url}}`).
    pub fn linked(mut self, links: Option<crate::links::Links>) -> Self {
        crate::links::register(&mut self.templates, links.as_ref());
        crate::links::register(&mut self.html, links.as_ref());
        self.links = links;
        self
    }
}

/// The field an unsubscribe heard by `funnel serve` sets.
const UNSUBSCRIBED: &str = "unsubscribed";

/// CEL's standard library and its strings extension (`lowerAscii()`,
/// `trim()`, `split()`...), which keyword matching needs.
fn cel_env() -> cel::Env {
    let mut env = cel::Env::stdlib();
    // Declaring the extension on a fresh standard library cannot clash;
    // were it to, conditions would only lack its functions (and be false).
    let _ = cel::extensions::strings(&mut env);
    env
}

/// FNV-1a of the funnel text: stable across runs and platforms.
pub(crate) fn version(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// What one tick did, for the summary line and `--dry-run`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub contacts: usize,
    pub entered: usize,
    pub moved: usize,
    pub exited: usize,
    pub queued: usize,
    pub stale: usize,
    pub deferred: usize,
    pub failed: usize,
    pub tasks: usize,
    pub escalated: usize,
    /// Contacts carried across an edit by the funnel's `migrate:` block.
    pub migrated: usize,
    /// Contacts left where they were: their step or stage is gone and no
    /// migration says where they go.
    pub blocked: usize,
    /// Contacts stopped by the per-run move limit (a loop).
    pub move_limit: usize,
    /// Events-feed lines whose contact is not in the contacts feed.
    pub events_for_unknown_contacts: usize,
    /// Contacts an event created (an entry's `create:`), per funnel.
    pub created: usize,
}

/// One line of the plan: what happened to whom, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Planned {
    pub funnel: String,
    pub contact: String,
    pub at: String,
    pub what: String,
}

pub struct Runner<'a> {
    pub funnels: &'a [Loaded],
    pub now: DateTime<Utc>,
    pub summary: Summary,
    pub plan: Vec<Planned>,
    /// CEL's standard library, built once: building it is most of the cost
    /// of a fresh context.
    pub(crate) cel: Arc<cel::Env>,
    planning: bool,
    /// Whether any contact has `set` fields or tags in the state; while
    /// none has, conditions skip the two queries per contact that read them.
    pub(crate) overrides: bool,
    pub(crate) tags: bool,
    /// Who unsubscribed through `funnel serve` by `now`, and when: read
    /// once per run (few contacts unsubscribe; every contact is looked up).
    pub(crate) unsubscribed: HashMap<String, DateTime<Utc>>,
    /// The report counters of the batch being walked ([`Runner::flush`]
    /// writes them before the batch commits), and the delivery of the
    /// run's own file rows as it goes (see `dispatcher/as_it_goes.rs`).
    pub ledger: Ledger,
    /// In a run that writes on the other core: the writes of the batch
    /// being walked, not yet handed to the writer (see `runner/later.rs`).
    later: Option<Vec<Write>>,
    /// Events-feed lines an entry's `create:` accepted but whose values
    /// made no contact, and why.
    pub refused: Vec<crate::run::feed::Problem>,
    /// The earliest moment at which anyone this run walked or left could
    /// next move (see `runner/fast.rs`).
    pub horizon: store::Due,
    /// By funnel (as in `funnels`): the state held nothing of it when the
    /// run began, so no contact's sighting or journey is looked up.
    new: Vec<bool>,
    /// When the outbox was empty as the run began: the messages queued for
    /// the contact being walked (every funnel), that count against caps,
    /// by channel and moment. Each contact is walked once a run, so these
    /// are all the state could hold of them, and the caps read them here
    /// (see `walk/timing.rs`).
    pub(crate) capped: Option<Vec<(String, DateTime<Utc>)>>,
}

/// Events of one contact, by time.
pub type Events<'e> = Vec<&'e Event>;

impl<'a> Runner<'a> {
    /// `planning` keeps the plan of what happens and why (`--dry-run`).
    pub fn new(funnels: &'a [Loaded], now: DateTime<Utc>, planning: bool) -> Self {
        Self {
            funnels,
            now,
            summary: Summary::default(),
            plan: Vec::new(),
            cel: Arc::new(cel_env()),
            planning,
            overrides: true,
            tags: true,
            unsubscribed: HashMap::new(),
            ledger: Ledger::default(),
            later: None,
            refused: Vec::new(),
            horizon: store::Due::Never,
            new: Vec::new(),
            capped: None,
        }
    }

    /// Looks once whether the state holds `set` fields and tags at all.
    pub fn survey(&mut self, tx: &Tx<'_>) -> Result<(), StoreError> {
        (self.overrides, self.tags) = store::side_tables_used(tx)?;
        self.unsubscribed = store::unsubscribed_by(tx, self.now)?;
        self.new = Vec::with_capacity(self.funnels.len());
        for loaded in self.funnels {
            let new =
                !create::creates(&loaded.funnel) && store::funnel_is_new(tx, &loaded.funnel.name)?;
            self.new.push(new);
        }
        self.capped = store::outbox_is_empty(tx)?.then(Vec::new);
        Ok(())
    }

    /// Writes what the contacts walked in `tx` add to the report's
    /// counters; call it before `tx` commits.
    pub fn flush(&mut self, tx: &Tx<'_>) -> Result<(), StoreError> {
        self.ledger.tally.flush(tx)
    }

    /// Runs one contact through every funnel inside `tx`; whether it was
    /// walked in any (the fast path left it in all the others).
    pub fn contact(
        &mut self,
        tx: Option<&Tx<'_>>,
        contact: &BTreeMap<String, Contact>,
        events: &[&Event],
    ) -> Result<bool, StoreError> {
        self.summary.contacts += 1;
        self.journeys(tx, contact, events)
    }

    /// Walks the contact in each funnel `contact` has it typed for.
    fn journeys(
        &mut self,
        tx: Option<&Tx<'_>>,
        contact: &BTreeMap<String, Contact>,
        events: &[&Event],
    ) -> Result<bool, StoreError> {
        let mut walked = false;
        if let Some(capped) = &mut self.capped {
            capped.clear();
        }
        for (index, loaded) in self.funnels.iter().enumerate() {
            let Some(typed) = contact.get(&loaded.funnel.name) else {
                continue;
            };
            let new = self.new.get(index).copied().unwrap_or(false);
            let owner = (loaded.funnel.name.as_str(), typed.id.as_str());
            let unsubscribed = self.unsubscribed(loaded, typed);
            let typed = unsubscribed.as_ref().map_or(typed, |(c, _)| c);
            let print = fingerprint(typed);
            if !new
                && self.quiet(&typed.id, events)
                && let Some(due) = store::settled(
                    reading(tx, "a sighting looked up")?,
                    owner,
                    (print, &loaded.version),
                    self.now,
                )?
            {
                self.horizon = self.horizon.sooner(due);
                continue;
            }
            walked = true;
            let mut sighting = if new {
                store::Sighting::first(print, self.now)
            } else {
                store::sighting(reading(tx, "a sighting read")?, owner, print, self.now)?
            };
            // An unsubscribe heard by `funnel serve` changed the row at its
            // own moment, not when this run looked: when it is the only
            // change, the new values hold from then.
            if let (Some((_, at)), Some((old, seen))) = (&unsubscribed, &sighting.before)
                && at >= seen
                && *at < self.now
                && overlaid(old).as_deref() == Some(stored_fields(typed).as_str())
            {
                sighting.seen_at = *at;
            }
            let stored = if new {
                None
            } else {
                store::journey(
                    reading(tx, "a journey read")?,
                    &loaded.funnel.name,
                    &typed.id,
                )?
            };
            let mut journey = stored.clone();
            // The row changed since the last run saw it: its old values held
            // until now, so what they made due before now happens first,
            // under them, whenever this run came.
            let before = sighting.before.as_ref().and_then(|(fields, seen)| {
                Some((
                    crate::run::feed::from_stored(typed, fields, &loaded.funnel.fields)?,
                    *seen,
                ))
            });
            if let Some((old, seen)) = &before
                && let Some(until) = sighting
                    .seen_at
                    .checked_sub_signed(chrono::TimeDelta::seconds(1))
            {
                (journey, _) = Walk::new(
                    self,
                    (loaded, tx),
                    (old, events),
                    journey,
                    (*seen, until),
                    false,
                )
                .run()?;
            }
            let now = self.now;
            let (journey, due) = Walk::new(
                self,
                (loaded, tx),
                (typed, events),
                journey,
                (sighting.seen_at, now),
                true,
            )
            .fresh(new)
            .run()?;
            // Writing later, the delivery went to the writer with the ledger.
            if self.later.is_some() || self.ledger.delivering.is_some() {
                let ended = journey.as_ref().map(|j| (j.stage.clone(), j.entry));
                self.write(tx, move |tx, ledger| match &mut ledger.delivering {
                    Some(delivering) => {
                        delivering.walked(tx, ended.as_ref().map(|(s, e)| (s.as_str(), *e)))
                    }
                    None => Ok(()),
                })?;
            }
            if let Some(journey) = journey.filter(|j| Some(j) != stored.as_ref()) {
                self.write(tx, move |tx, _| store::save_journey(tx, &journey))?;
            }
            // The row's values are stored only with a new fingerprint.
            let fields = if sighting.is_new() {
                stored_fields(typed)
            } else {
                String::new()
            };
            let owner = (owner.0.to_string(), owner.1.to_string());
            let version = loaded.version.clone();
            self.write(tx, move |tx, _| {
                let owner = (owner.0.as_str(), owner.1.as_str());
                store::settle(tx, owner, &sighting, &fields, (&version, due))
            })?;
        }
        Ok(walked)
    }

    /// The contact as the funnel sees it after an unsubscribe heard by
    /// `funnel serve`: `unsubscribed` true whatever the feed says, and
    /// since when. `None` when the funnel declares no such field or the
    /// contact has not unsubscribed (by this run's `now`).
    fn unsubscribed(&self, loaded: &Loaded, typed: &Contact) -> Option<(Contact, DateTime<Utc>)> {
        let at = *self.unsubscribed.get(&typed.id)?;
        if !loaded.funnel.fields.contains_key(UNSUBSCRIBED)
            || typed.fields.get(UNSUBSCRIBED) == Some(&crate::run::feed::Value::Bool(true))
        {
            return None;
        }
        let mut contact = typed.clone();
        contact.fields.insert(
            UNSUBSCRIBED.to_string(),
            crate::run::feed::Value::Bool(true),
        );
        Some((contact, at))
    }

    /// Escalates overdue tasks once each, to `escalate_to`, the
    /// assignee's supervisor or the funnel's head (see [`Funnel::head`]).
    /// A task with nobody above its assignee is noted as such and left
    /// unescalated: escalated always means someone was told.
    pub fn escalate(&mut self, tx: &Tx<'_>) -> Result<(), StoreError> {
        for task in store::overdue_unescalated(tx, self.now)? {
            // Dated when the task became overdue, whichever run saw it.
            // (Every task the store calls overdue has a due time.)
            let Some(overdue) = task.due_at else {
                continue;
            };
            let due = store::time(overdue);
            let Some(to) = self.escalation_target(&task) else {
                let note = format!(
                    "overdue with nobody to escalate to: no escalate_to, `{}` has no supervisor and the funnel names no one else",
                    task.assignee
                );
                store::note_task(tx, task.id, &note)?;
                continue;
            };
            let title = task.title().map(|t| format!(": {t}")).unwrap_or_default();
            let row = OutboxRow {
                key: format!("{}/escalation", task.key),
                funnel: task.funnel.clone(),
                contact: task.contact.clone(),
                step: task.step.clone(),
                channel: "notify".to_string(),
                payload: Payload::Notice(Notice {
                    to: to.clone(),
                    body: format!(
                        "Overdue: {} task for contact {} (step {}, assigned to {}, due {due}){title}",
                        task.kind.name(),
                        task.contact,
                        task.step,
                        task.assignee
                    ),
                    escalation: Some(Escalation {
                        task: task.id,
                        brief: task.brief.clone(),
                    }),
                }),
                due_at: overdue,
                status: OutboxStatus::Queued,
            };
            let payload = row.payload.text();
            if store::enqueue(tx, &mut self.ledger.tally, (&row, &payload), None, self.now)? {
                self.summary.escalated += 1;
                self.plan(
                    &task.funnel,
                    &task.contact,
                    overdue,
                    format_args!("escalate overdue task {} to {to}", task.id),
                );
            }
            store::mark_escalated(tx, task.id, overdue)?;
        }
        Ok(())
    }

    /// Who hears about an overdue task: its `escalate_to`, else its
    /// assignee's supervisor, else the funnel's head unless that is the
    /// assignee (telling someone their own task is late is no escalation).
    fn escalation_target(&self, task: &store::Task) -> Option<String> {
        if let Some(to) = &task.escalate_to {
            return Some(to.clone());
        }
        let funnel = &self
            .funnels
            .iter()
            .find(|l| l.funnel.name == task.funnel)?
            .funnel;
        let supervisor = funnel
            .staff
            .get(&task.assignee)
            .and_then(|s| s.supervisor.clone());
        let head = funnel
            .head()
            .filter(|h| *h != task.assignee)
            .map(str::to_string);
        supervisor.or(head)
    }

    /// Notes a line of the plan; only a dry run keeps one, so a real run of
    /// millions does not hold a line per action.
    pub(crate) fn plan(
        &mut self,
        funnel: &str,
        contact: &str,
        at: DateTime<Utc>,
        what: impl Display,
    ) {
        if !self.planning {
            return;
        }
        self.plan.push(Planned {
            funnel: funnel.to_string(),
            contact: contact.to_string(),
            at: store::time(at),
            what: what.to_string(),
        });
    }
}

/// The variant a contact gets, for good: a stable hash of funnel, contact
/// and step (not the entry, so a contact who comes back, or is imported
/// into a fresh state, gets the same variant again) against the cumulative
/// weights. The funnel name keeps two funnels' splits with the same step id
/// independent of each other.
pub(crate) fn choose<'v>(
    key: &str,
    variants: &'v [crate::language::model::Variant],
) -> Option<&'v crate::language::model::Variant> {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut point = version(key)
        .get(..8)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
        % total;
    variants.iter().find(|v| {
        let hit = point < u64::from(v.weight);
        point = point.saturating_sub(u64::from(v.weight));
        hit
    })
}

/// An email template opens with `subject: ...` and a `---` line.
pub(crate) fn split_subject(text: &str) -> (Option<String>, String) {
    if let Some(rest) = text.strip_prefix("subject:")
        && let Some((subject, body)) = rest.split_once("\n---\n")
    {
        return (Some(subject.trim().to_string()), body.to_string());
    }
    (None, text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_split_from_bodies() {
        assert_eq!(
            split_subject("subject: Hi\n---\nBody\n"),
            (Some("Hi".to_string()), "Body\n".to_string())
        );
        assert_eq!(split_subject("Just text"), (None, "Just text".to_string()));
    }
}
