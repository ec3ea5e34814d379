//! Runner: one tick of `funnel run` at a given `now`. For every contact of
//! the feed and every funnel: global exits first, then entry, stage goals
//! and exits, resolved waits, and the steps that are due, each action queued
//! in the outbox with a stable idempotency key. A contact's changes and the
//! outbox rows they create commit in one transaction, so a crash loses or
//! doubles nothing: the next run picks up where the last commit left off.
//!
//! Deterministic: the same state, feeds and `now` give the same result, and
//! a second run at the same `now` changes nothing. Missed runs catch up:
//! every step is dated by when it was due, not by when the run happened.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use rusqlite::Connection;
use serde_json::{Value as Json, json};

use crate::condition::Condition;
use crate::feed::{Contact, Event, Value};
use crate::model::{
    Action, Assignee, Channel, Funnel, Outcome, Signal, StageId, Target, TriggerKind,
};
use crate::schedule::Reentry;
use crate::store::{self, Journey, Kind, OutboxRow, StoreError, Tally, Task, Transition};
use crate::template::{self, Part};

/// How far one contact may move in one tick before the runner calls it a
/// loop; `check` rejects zero-delay loops, so only a bug can get here.
const MAX_MOVES: usize = 1_000;

/// How long an action may be late before it is skipped as stale, when the
/// step does not say: a message is news for a day, a task for a week.
fn default_stale_after(action: &Action) -> TimeDelta {
    match action {
        Action::Task(_) | Action::Set(_) | Action::Tag(_) => TimeDelta::days(7),
        _ => TimeDelta::days(1),
    }
}

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
        // A missing or unreadable directory leaves the registries empty:
        // `check` has already reported it, and each action then fails alone.
        for (name, part, path) in template::files(dir).unwrap_or_default() {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
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
        })
    }
}

/// FNV-1a of the funnel text: stable across runs and platforms.
fn version(text: &str) -> String {
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
    cel: Arc<cel::Env>,
    planning: bool,
    /// Whether any contact has `set` fields or tags in the state; while
    /// none has, conditions skip the two queries per contact that read them.
    overrides: bool,
    tags: bool,
    /// The report counters of the batch being walked; [`Runner::flush`]
    /// writes them before the batch commits.
    tally: Tally,
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
            cel: Arc::new(cel::Env::stdlib()),
            planning,
            overrides: true,
            tags: true,
            tally: Tally::default(),
        }
    }

    /// Looks once whether the state holds `set` fields and tags at all.
    pub fn survey(&mut self, tx: &Connection) -> Result<(), StoreError> {
        (self.overrides, self.tags) = store::side_tables_used(tx)?;
        Ok(())
    }

    /// Writes what the contacts walked in `tx` add to the report's
    /// counters; call it before `tx` commits.
    pub fn flush(&mut self, tx: &Connection) -> Result<(), StoreError> {
        self.tally.flush(tx)
    }

    /// Runs one contact through every funnel inside `tx`.
    pub fn contact(
        &mut self,
        tx: &Connection,
        contact: &BTreeMap<String, Contact>,
        events: &[&Event],
    ) -> Result<(), StoreError> {
        self.summary.contacts += 1;
        for loaded in self.funnels {
            let Some(typed) = contact.get(&loaded.funnel.name) else {
                continue;
            };
            let journey = store::journey(tx, &loaded.funnel.name, &typed.id)?;
            // A `task.done` closes a task of the current journey: the feed
            // still holds the ones that closed an earlier journey's tasks.
            let since = journey
                .as_ref()
                .map_or(DateTime::<Utc>::MAX_UTC, |j| j.entered_at);
            let done = events
                .iter()
                .filter(|e| e.name == "task.done" && e.at >= since && e.at <= self.now);
            for event in done {
                if let Some(step) = event.data.get("step").and_then(Json::as_str) {
                    store::complete_step_tasks(tx, &loaded.funnel.name, &typed.id, step, event.at)?;
                }
            }
            Walk {
                runner: self,
                loaded,
                tx,
                contact: typed,
                events,
                journey,
                cel: RefCell::new(None),
            }
            .run()?;
        }
        Ok(())
    }

    /// Escalates overdue tasks once each, to `escalate_to` or the
    /// assignee's supervisor.
    pub fn escalate(&mut self, tx: &Connection) -> Result<(), StoreError> {
        for task in store::overdue_unescalated(tx, self.now)? {
            let loaded = self.funnels.iter().find(|l| l.funnel.name == task.funnel);
            let supervisor = loaded
                .and_then(|l| l.funnel.staff.get(&task.assignee))
                .and_then(|s| s.supervisor.clone());
            let to = task.escalate_to.clone().or(supervisor);
            let due = task.due_at.clone().unwrap_or_default();
            if let Some(to) = to {
                let row = OutboxRow {
                    key: format!("{}/escalation", task.key),
                    funnel: task.funnel.clone(),
                    contact: task.contact.clone(),
                    step: task.step.clone(),
                    channel: "notify".to_string(),
                    payload: json!({
                        "to": to,
                        "body": format!("Overdue: {} task for contact {} (step {}, assigned to {}, due {due})", task.kind, task.contact, task.step, task.assignee),
                        "task": task.id,
                    }),
                    due_at: due.clone(),
                    status: "queued".to_string(),
                };
                if store::enqueue(tx, &mut self.tally, &row, None, self.now)? {
                    self.summary.escalated += 1;
                    self.plan(
                        &task.funnel,
                        &task.contact,
                        self.now,
                        format_args!("escalate overdue task {} to {to}", task.id),
                    );
                }
            }
            store::mark_escalated(tx, task.id, self.now)?;
        }
        Ok(())
    }

    /// Notes a line of the plan; only a dry run keeps one, so a real run of
    /// millions does not hold a line per action.
    fn plan(&mut self, funnel: &str, contact: &str, at: DateTime<Utc>, what: impl Display) {
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

/// One contact in one funnel during one tick.
struct Walk<'r, 'a, 't, 'c, 'e> {
    runner: &'r mut Runner<'a>,
    loaded: &'a Loaded,
    tx: &'t Connection,
    contact: &'c Contact,
    events: &'e [&'e Event],
    journey: Option<Journey>,
    /// The contact's CEL context, built on first use and dropped when a
    /// `set` or `tag` action changes what conditions see.
    cel: RefCell<Option<cel::Context<'static, 'static>>>,
}

impl Walk<'_, '_, '_, '_, '_> {
    fn funnel(&self) -> &Funnel {
        &self.loaded.funnel
    }

    fn now(&self) -> DateTime<Utc> {
        self.runner.now
    }

    /// Walks the contact on from `self.journey`, as the state holds it.
    fn run(mut self) -> Result<(), StoreError> {
        let before = self.journey.clone();
        self.walk()?;
        // Most contacts wait most of the time: write only what changed.
        match &self.journey {
            Some(journey) if self.journey != before => store::save_journey(self.tx, journey),
            _ => Ok(()),
        }
    }

    fn walk(&mut self) -> Result<(), StoreError> {
        let active = self.journey.as_ref().is_some_and(|j| j.active);
        let since = self
            .journey
            .as_ref()
            .map_or(DateTime::<Utc>::MIN_UTC, |j| j.entered_at);
        // Global exits first: opt-out always wins.
        if let Some((to, at, why)) = self.first_exit(since) {
            if active {
                self.move_to(to, at, Kind::Exit, format!("exit: {why}"))?;
                self.runner.summary.exited += 1;
                self.stop(at);
            }
            return Ok(());
        }
        if !active && !self.enter()? {
            return Ok(());
        }
        self.expire()?;
        for _ in 0..MAX_MOVES {
            if !self.advance()? {
                break;
            }
        }
        Ok(())
    }

    /// `expire`: the longest a contact may stay in the funnel, counted from
    /// entry; dated when it ran out. Checked before the stage's own moves,
    /// like a global exit, so a contact stuck on a step that can never fall
    /// due still leaves.
    fn expire(&mut self) -> Result<(), StoreError> {
        let (Some(expire), Some(journey)) = (&self.loaded.funnel.expire, &self.journey) else {
            return Ok(());
        };
        let terminal = self
            .funnel()
            .stage_id(&journey.stage)
            .is_none_or(|s| self.funnel().stages[s].terminal);
        let Some(at) = journey.entered_at.checked_add_signed(expire.after) else {
            return Ok(());
        };
        if !journey.active || terminal || at > self.now() {
            return Ok(());
        }
        let at = at.max(journey.clock);
        let why = format!(
            "expire: in the funnel for {}",
            crate::duration::format(expire.after)
        );
        self.move_to(expire.to, at, Kind::Exit, why)
    }

    fn first_exit(&self, since: DateTime<Utc>) -> Option<(Target, DateTime<Utc>, String)> {
        self.funnel().exits.iter().find_map(|exit| {
            self.fired(&exit.signal, since)
                .map(|(at, why)| (exit.to, at, why))
        })
    }

    /// Whether a signal has happened since `since`: a condition true now, or
    /// the event in the feed between then and now. Gives when and why.
    fn fired(&self, signal: &Signal, since: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        match signal {
            Signal::When(condition) => self
                .truthy(condition)
                .then(|| (self.now(), condition.source.clone())),
            Signal::Event(name) => self
                .events
                .iter()
                .find(|e| &e.name == name && e.at >= since && e.at <= self.now())
                .map(|e| (e.at, format!("event {name}"))),
        }
    }

    fn enter(&mut self) -> Result<bool, StoreError> {
        let previous = self.journey.clone();
        if let Some(previous) = &previous {
            let allowed = match self.funnel().reentry {
                Reentry::Never => false,
                Reentry::Always => true,
                Reentry::After(gap) => previous
                    .left_at
                    .is_some_and(|left| left + gap <= self.now()),
            };
            if !allowed {
                return Ok(false);
            }
        }
        let Some((stage, at, why)) = self
            .funnel()
            .entries
            .iter()
            .find_map(|t| self.triggered(t, previous.as_ref()))
        else {
            return Ok(false);
        };
        let Target::Stage(stage) = stage else {
            return Ok(false);
        };
        let entry = previous.map_or(1, |p| p.entry + 1);
        let name = self.funnel().stages[stage].name.clone();
        self.journey = Some(Journey {
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            entry,
            stage: name.clone(),
            step: 0,
            clock: at,
            waiting_since: None,
            stage_since: at,
            active: true,
            entered_at: at,
            left_at: None,
        });
        self.history(
            Kind::Enter,
            (None, None),
            (Some(name), None),
            at,
            format!("enter: {why}"),
        )?;
        self.runner.summary.entered += 1;
        Ok(true)
    }

    /// Whether an event may start a journey after `previous`: not while the
    /// reentry gap runs (a purchase inside it must not start a journey once
    /// it has passed), and not the event that started `previous`. The event
    /// that ended `previous` may (a no-show's new booking is a new booking).
    fn may_enter_on(&self, event: &Event, previous: Option<&Journey>) -> bool {
        let Some(previous) = previous else {
            return true;
        };
        let gap = match self.funnel().reentry {
            Reentry::After(gap) => gap,
            Reentry::Never | Reentry::Always => TimeDelta::zero(),
        };
        let from = previous
            .left_at
            .and_then(|left| left.checked_add_signed(gap))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        event.at >= from && event.at > previous.entered_at
    }

    fn triggered(
        &self,
        trigger: &crate::model::Trigger,
        previous: Option<&Journey>,
    ) -> Option<(Target, DateTime<Utc>, String)> {
        let now = self.now();
        let after = previous
            .and_then(|p| p.left_at)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let (at, why) = match &trigger.kind {
            TriggerKind::When(condition) => self
                .truthy(condition)
                .then(|| (now, condition.source.clone()))?,
            TriggerKind::Event { name, filter } => {
                let event = self
                    .events
                    .iter()
                    .find(|e| &e.name == name && e.at <= now && self.may_enter_on(e, previous))?;
                if filter.as_ref().is_some_and(|f| !self.truthy(f)) {
                    return None;
                }
                (event.at, format!("event {name}"))
            }
            TriggerKind::On(condition) => {
                let at = self.timestamp(condition)?;
                (at <= now && at > after).then(|| (at, condition.source.clone()))?
            }
            TriggerKind::Inactive { field, period, .. } => {
                let Some(Value::Timestamp(last)) = self.contact.fields.get(field) else {
                    return None;
                };
                let at = *last + *period;
                (at <= now && at > after).then(|| {
                    (
                        at,
                        format!("no {field} for {}", crate::duration::format(*period)),
                    )
                })?
            }
        };
        Some((trigger.stage, at, why))
    }

    /// One move: a goal, an exit, a resolved wait or a due step. False when
    /// the contact must wait for a later run.
    fn advance(&mut self) -> Result<bool, StoreError> {
        let Some(journey) = self.journey.clone() else {
            return Ok(false);
        };
        if !journey.active {
            return Ok(false);
        }
        let Some(s) = self.funnel().stage_id(&journey.stage) else {
            return Ok(false);
        };
        let stage = &self.loaded.funnel.stages[s];
        if let Some(goal) = &stage.goal
            && let Some((at, why)) = self.fired(&goal.signal, journey.stage_since)
        {
            self.move_to(
                goal.to,
                at.max(journey.clock),
                Kind::Goal,
                format!("goal: {why}"),
            )?;
            return Ok(true);
        }
        for exit in &stage.exits {
            if let Some((at, why)) = self.fired(&exit.signal, journey.stage_since) {
                self.move_to(
                    exit.to,
                    at.max(journey.clock),
                    Kind::Exit,
                    format!("exit: {why}"),
                )?;
                return Ok(true);
            }
        }
        let Some(step) = stage.steps.get(journey.step) else {
            return match stage.exhausted {
                Some((target, _)) if !stage.terminal => {
                    self.move_to(
                        target,
                        journey.clock,
                        Kind::Exhausted,
                        "exhausted".to_string(),
                    )?;
                    Ok(true)
                }
                _ => {
                    self.stop(journey.clock);
                    Ok(false)
                }
            };
        };
        if let Some(since) = journey.waiting_since {
            let Outcome::Wait(wait) = &step.outcome else {
                return Ok(false);
            };
            return self.resolve_wait(s, journey.step, wait, since);
        }
        let Some(due) = self.due(step, journey.clock) else {
            return Ok(false);
        };
        if due > self.now() {
            return Ok(false);
        }
        let due = match &step.action {
            Some(action) if !action.messages().is_empty() => {
                let opens = self.opening(action, due)?;
                if opens > self.now() {
                    self.runner.summary.deferred += 1;
                    return Ok(false);
                }
                opens
            }
            _ => due,
        };
        if let Some(action) = &step.action {
            self.act(s, journey.step, action, due)?;
        }
        match &step.outcome {
            Outcome::Continue => self.go(Target::Step(s, journey.step + 1), due, None)?,
            Outcome::Wait(_) => {
                if let Some(j) = self.journey.as_mut() {
                    j.waiting_since = Some(due);
                }
            }
            Outcome::Branch(branch) => {
                let yes = self.truthy(&branch.when);
                let (target, kind, label) = if yes {
                    (branch.yes, Kind::BranchYes, "yes")
                } else {
                    (branch.no, Kind::BranchNo, "no")
                };
                self.go(
                    target,
                    due,
                    Some((kind, format!("branch {}: {label}", step.id))),
                )?;
            }
        }
        Ok(true)
    }

    fn resolve_wait(
        &mut self,
        s: StageId,
        index: usize,
        wait: &crate::model::Wait,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let step_id = self.funnel().stages[s].steps[index].id.clone();
        let deadline = wait.within.map(|w| since + w);
        let horizon = deadline.map_or(self.now(), |d| d.min(self.now()));
        let positive = match &wait.signal {
            Some(Signal::Event(name)) => self
                .events
                .iter()
                .find(|e| &e.name == name && e.at >= since && e.at <= horizon)
                .map(|e| e.at),
            Some(Signal::When(condition)) => {
                self.truthy(condition).then(|| self.now().min(horizon))
            }
            None => None,
        };
        if let Some(at) = positive {
            self.go(
                wait.yes,
                at.max(since),
                Some((Kind::WaitYes, format!("wait {step_id}: yes"))),
            )?;
            return Ok(true);
        }
        match (deadline, wait.no) {
            (Some(deadline), Some(no)) if deadline <= self.now() => {
                self.go(
                    no,
                    deadline,
                    Some((
                        Kind::WaitNo,
                        format!(
                            "wait {step_id}: no reaction within {}",
                            crate::duration::format(deadline - since)
                        ),
                    )),
                )?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// When a step falls due, counting from `clock`; `None` when its `on`
    /// expression cannot be evaluated yet (an optional date not set).
    fn due(&self, step: &crate::model::Step, clock: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some(on) = &step.on {
            return self.timestamp(on);
        }
        let base = clock + step.after.unwrap_or_else(TimeDelta::zero);
        let Some(at) = step.at else { return Some(base) };
        let tz = self.timezone();
        let local = base.with_timezone(&tz);
        let mut day = local.date_naive();
        loop {
            if let Some(candidate) = local_to_utc(&tz, day.and_time(at))
                && candidate >= base
            {
                return Some(candidate);
            }
            day = day.succ_opt()?;
        }
    }

    /// The first moment at or after `due` inside the send window, in the
    /// contact's timezone (DST-correct through chrono-tz).
    /// When a message due at `due` may go: the send window's next opening,
    /// pushed on by the frequency caps until both agree.
    fn opening(&self, action: &Action, due: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let mut at = due;
        // Each pass can only move later, and a window opens at least weekly,
        // so a few passes settle it; the bound guards a pathological cap.
        for _ in 0..16 {
            let opens = self.next_opening(at);
            at = self.cap_opening(action, opens)?;
            if at == opens {
                break;
            }
        }
        Ok(at)
    }

    /// The earliest moment from `at` on when sending `action` keeps the
    /// contact within the funnel's caps. Marketing messages to the contact
    /// from every funnel count; transactional ones neither count nor wait.
    fn cap_opening(&self, action: &Action, at: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        let caps = &self.funnel().caps;
        let mut opening = at;
        for (channel, transactional) in action.messages() {
            if transactional {
                continue;
            }
            let own = match channel {
                Channel::Email => caps.email,
                Channel::Sms => caps.sms,
                Channel::Messenger => caps.messenger,
            };
            let own_channel = [channel.name()];
            let limits = [
                own.map(|cap| (cap, &own_channel[..])),
                caps.messages
                    .map(|cap| (cap, &["email", "sms", "messenger"][..])),
            ];
            for (cap, channels) in limits.into_iter().flatten() {
                let count = usize::try_from(cap.count).unwrap_or(usize::MAX);
                let sent = store::marketing_sent_after(
                    self.tx,
                    &self.contact.id,
                    channels,
                    at - cap.period,
                )?;
                // Once the oldest of the last `count` leaves the period,
                // there is room for one more.
                if let Some(oldest) = sent.len().checked_sub(count).and_then(|i| sent.get(i)) {
                    opening = opening.max(*oldest + cap.period);
                }
            }
        }
        Ok(opening)
    }

    fn next_opening(&self, due: DateTime<Utc>) -> DateTime<Utc> {
        let Some(window) = &self.funnel().send_window else {
            return due;
        };
        let tz = self.timezone();
        let local = due.with_timezone(&tz);
        let mut day = local.date_naive();
        for _ in 0..8 {
            if window.open_on(day.weekday()) {
                let start = local_to_utc(&tz, day.and_time(window.start));
                let end = local_to_utc(&tz, day.and_time(window.end));
                if let (Some(start), Some(end)) = (start, end) {
                    if due < start {
                        return start;
                    }
                    if due < end {
                        return due;
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        due
    }

    fn timezone(&self) -> Tz {
        self.funnel()
            .timezone_field()
            .and_then(|field| match self.contact.fields.get(field) {
                Some(Value::String(name)) => name.parse::<Tz>().ok(),
                _ => None,
            })
            .unwrap_or(self.funnel().timezone)
    }

    fn act(
        &mut self,
        s: StageId,
        index: usize,
        action: &Action,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let step = &self.loaded.funnel.stages[s].steps[index];
        let Some(entry) = self.journey.as_ref().map(|j| j.entry) else {
            return Ok(());
        };
        let key = format!(
            "{}/{}/{}/{}",
            self.funnel().name,
            self.contact.id,
            entry,
            step.id
        );
        let stale_after = step
            .stale_after
            .unwrap_or_else(|| default_stale_after(action));
        let stale = self.now() - due > stale_after;
        let action = match action {
            Action::Split(variants) => {
                let sticky = format!("{}/{}/{}", self.funnel().name, self.contact.id, step.id);
                let Some(variant) = choose(&sticky, variants) else {
                    return Ok(());
                };
                // Recorded once per entry, even when the variant does
                // nothing, so `report` can count every arm.
                let stage = self.loaded.funnel.stages[s].name.clone();
                let split = (self.funnel().name.as_str(), self.contact.id.as_str());
                if !store::split_recorded(self.tx, split, entry, &step.id)? {
                    self.history(
                        Kind::Split,
                        (Some(stage.clone()), Some(step.id.clone())),
                        (Some(stage), Some(variant.name.clone())),
                        due,
                        format!("split {}: variant {}", step.id, variant.name),
                    )?;
                }
                let Some(action) = &variant.action else {
                    return Ok(());
                };
                action
            }
            other => other,
        };
        let stage_name = &self.loaded.funnel.stages[s].name;
        let data = self.template_data(stage_name, &step.id);
        let (channel, payload) = match action {
            Action::Message {
                channel,
                template,
                transactional,
            } => {
                let to = match channel {
                    Channel::Email => self.field_text("email"),
                    Channel::Sms | Channel::Messenger => self.field_text("phone"),
                };
                let html = match channel {
                    Channel::Email => self.render_html(template, &data).transpose(),
                    Channel::Sms | Channel::Messenger => Ok(None),
                };
                let rendered = self
                    .render(template, &data)
                    .and_then(|text| Ok((text, html?)));
                let payload = rendered.map(|(text, html)| {
                    let (subject, body) = split_subject(&text);
                    let mut payload = json!({ "to": to, "subject": subject, "body": body, "template": template, "transactional": transactional });
                    if let Some(html) = html {
                        payload["html"] = Json::String(html);
                    }
                    payload
                });
                (channel.name(), payload)
            }
            Action::Webhook { endpoint, template } => {
                let body = template.as_ref().map(|t| self.render(t, &data)).transpose();
                (
                    "webhook",
                    body.map(|body| json!({ "endpoint": endpoint, "funnel": self.funnel().name, "stage": stage_name, "step": step.id, "contact": data["contact"], "body": body })),
                )
            }
            Action::Notify { to, template } => {
                let to = self.assignee(to);
                (
                    "notify",
                    self.render(template, &data)
                        .map(|body| json!({ "to": to, "body": body })),
                )
            }
            Action::Task(task) => {
                let assignee = self.assignee(&task.assignee);
                let added = store::add_task(
                    self.tx,
                    &Task {
                        id: 0,
                        key: key.clone(),
                        funnel: self.funnel().name.clone(),
                        contact: self.contact.id.clone(),
                        step: step.id.clone(),
                        kind: format!("{:?}", task.kind).to_lowercase(),
                        assignee: assignee.clone(),
                        escalate_to: task.escalate_to.clone(),
                        created_at: store::time(due),
                        due_at: task.due.map(|d| store::time(due + d)),
                        status: "open".to_string(),
                        escalated_at: None,
                    },
                )?;
                if added {
                    self.runner.summary.tasks += 1;
                    self.runner.plan(
                        &self.loaded.funnel.name,
                        &self.contact.id,
                        due,
                        format_args!("task {} for {assignee}", step.id),
                    );
                }
                return Ok(());
            }
            Action::Set(assignments) => {
                let mut set = serde_json::Map::new();
                for (field, expression) in assignments {
                    if let Some(value) = self.evaluate(expression) {
                        store::set_field(self.tx, &self.contact.id, field, &value)?;
                        self.runner.overrides = true;
                        self.cel.replace(None);
                        set.insert(field.clone(), value);
                    }
                }
                ("set", Ok(json!({ "fields": set })))
            }
            Action::Tag(tag) => {
                store::add_tag(self.tx, &self.contact.id, tag)?;
                self.runner.tags = true;
                self.cel.replace(None);
                ("tag", Ok(json!({ "tag": tag })))
            }
            Action::Split(_) => return Ok(()),
        };
        let (status, payload) = match payload {
            Ok(payload) if stale => ("stale", payload),
            Ok(payload) => ("queued", payload),
            Err(error) => ("failed", json!({ "error": error })),
        };
        let row = OutboxRow {
            key,
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            step: step.id.clone(),
            channel: channel.to_string(),
            payload,
            due_at: store::time(due),
            status: status.to_string(),
        };
        let (version, now) = (Some(self.loaded.version.as_str()), self.now());
        if store::enqueue(self.tx, &mut self.runner.tally, &row, version, now)? {
            match status {
                "stale" => self.runner.summary.stale += 1,
                "failed" => self.runner.summary.failed += 1,
                _ => self.runner.summary.queued += 1,
            }
            self.runner.plan(
                &row.funnel,
                &row.contact,
                due,
                format_args!("{channel} {} ({status})", step.id),
            );
        }
        Ok(())
    }

    fn assignee(&self, assignee: &Assignee) -> String {
        match assignee {
            Assignee::Staff(name) => name.clone(),
            Assignee::Field(field) => self.field_text(field).unwrap_or_default(),
        }
    }

    fn field_text(&self, field: &str) -> Option<String> {
        match self.contact.fields.get(field)? {
            Value::String(text) => Some(text.clone()),
            _ => None,
        }
    }

    fn template_data(&self, stage: &str, step: &str) -> Json {
        let contact: serde_json::Map<String, Json> = self
            .contact
            .fields
            .iter()
            .filter(|(_, v)| **v != Value::Null)
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Json::Null)))
            .collect();
        json!({ "contact": contact, "funnel": self.funnel().name, "stage": stage, "step": step })
    }

    fn render(&self, template: &str, data: &Json) -> Result<String, String> {
        self.loaded
            .templates
            .render(template, data)
            .map_err(|e| format!("template {template}: {}", e.reason()))
    }

    /// The HTML body of the email `template`, when it has one.
    fn render_html(&self, template: &str, data: &Json) -> Option<Result<String, String>> {
        let html = &self.loaded.html;
        html.has_template(template).then(|| {
            html.render(template, data)
                .map_err(|e| format!("template {template}.html: {}", e.reason()))
        })
    }

    fn cel_context(&self) -> cel::Context<'static, 'static> {
        let mut fields: HashMap<String, cel::Value> = HashMap::new();
        for (name, value) in &self.contact.fields {
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
        if self.runner.overrides
            && let Ok(overrides) = store::overrides(self.tx, &self.contact.id)
        {
            for (name, value) in overrides {
                if let Ok(value) = cel::to_value(value) {
                    fields.insert(name, value);
                }
            }
        }
        let tags = if self.runner.tags {
            store::tags_of(self.tx, &self.contact.id).unwrap_or_default()
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
        context.add_variable_from_value("now", cel::Value::Timestamp(self.now().fixed_offset()));
        context
    }

    fn execute(&self, condition: &Condition) -> Option<cel::Value> {
        let program = condition.program.as_ref()?;
        let mut cached = self.cel.borrow_mut();
        let context = cached.get_or_insert_with(|| self.cel_context());
        program.execute(context).ok()
    }

    /// A condition that cannot be evaluated (a field not set) is false.
    fn truthy(&self, condition: &Condition) -> bool {
        matches!(self.execute(condition), Some(cel::Value::Bool(true)))
    }

    fn timestamp(&self, condition: &Condition) -> Option<DateTime<Utc>> {
        match self.execute(condition)? {
            cel::Value::Timestamp(t) => Some(t.with_timezone(&Utc)),
            _ => None,
        }
    }

    fn evaluate(&self, condition: &Condition) -> Option<Json> {
        match self.execute(condition)? {
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

    /// Follows a target from a step: another step of the stage, a stage, or
    /// the end of the steps. `why` is recorded in history; plain progress to
    /// the next step is not.
    fn go(
        &mut self,
        target: Target,
        at: DateTime<Utc>,
        why: Option<(Kind, String)>,
    ) -> Result<(), StoreError> {
        match target {
            Target::Step(s, index) => {
                let from = self.position();
                if let Some(j) = self.journey.as_mut() {
                    j.step = index;
                    j.clock = at;
                    j.waiting_since = None;
                }
                if let Some((kind, why)) = why {
                    let to = (from.0.clone(), self.step_id(s, index));
                    self.history(kind, from, to, at, why)?;
                }
                Ok(())
            }
            Target::Exhausted(s) => {
                let count = self.funnel().stages[s].steps.len();
                self.go(Target::Step(s, count), at, why)
            }
            Target::Stage(_) => {
                let (kind, why) = why.unwrap_or((Kind::Moved, "moved".to_string()));
                self.move_to(target, at, kind, why)
            }
            Target::Unresolved => Ok(()),
        }
    }

    fn move_to(
        &mut self,
        target: Target,
        at: DateTime<Utc>,
        kind: Kind,
        why: String,
    ) -> Result<(), StoreError> {
        let stage = match target {
            Target::Stage(s) => s,
            Target::Exhausted(s) | Target::Step(s, _) => s,
            Target::Unresolved => return Ok(()),
        };
        let name = self.funnel().stages[stage].name.clone();
        let from = self.position();
        if let Some(j) = self.journey.as_mut() {
            j.stage = name.clone();
            j.step = 0;
            j.clock = at;
            j.stage_since = at;
            j.waiting_since = None;
        }
        self.runner.summary.moved += 1;
        self.history(kind, from, (Some(name), None), at, why)
    }

    /// The journey ends (a terminal stage whose steps are done).
    fn stop(&mut self, at: DateTime<Utc>) {
        if let Some(j) = self.journey.as_mut() {
            j.active = false;
            j.left_at = Some(at.max(j.clock));
        }
    }

    /// The contact's stage and step (when one is being worked on).
    fn position(&self) -> (Option<String>, Option<String>) {
        let Some(journey) = &self.journey else {
            return (None, None);
        };
        let step = self
            .funnel()
            .stage_id(&journey.stage)
            .and_then(|s| self.step_id(s, journey.step));
        (Some(journey.stage.clone()), step)
    }

    fn step_id(&self, s: StageId, index: usize) -> Option<String> {
        self.funnel().stages[s]
            .steps
            .get(index)
            .map(|step| step.id.clone())
    }

    fn history(
        &mut self,
        kind: Kind,
        (from_stage, from_step): (Option<String>, Option<String>),
        (to_stage, to_step): (Option<String>, Option<String>),
        at: DateTime<Utc>,
        reason: String,
    ) -> Result<(), StoreError> {
        let entry = self.journey.as_ref().map_or(0, |j| j.entry);
        let transition = Transition {
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            entry,
            at: store::time(at),
            kind,
            from_stage,
            from_step,
            to_stage,
            to_step,
            reason: reason.clone(),
        };
        store::record(
            self.tx,
            &mut self.runner.tally,
            &transition,
            &self.loaded.version,
        )?;
        let funnel = self.funnel().name.clone();
        self.runner.plan(&funnel, &self.contact.id, at, reason);
        Ok(())
    }
}

/// A local time in `tz` as UTC: the earlier of two in a DST fold, and the
/// first valid minute after a DST gap.
fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::offset::LocalResult;
    for minutes in 0..=120 {
        match local
            .checked_add_signed(TimeDelta::minutes(minutes))?
            .and_local_timezone(*tz)
        {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, _) => return Some(earlier.with_timezone(&Utc)),
            LocalResult::None => continue,
        }
    }
    None
}

/// The variant a contact gets, for good: a stable hash of funnel, contact
/// and step (not the entry, so a contact who comes back, or is imported
/// into a fresh state, gets the same variant again) against the cumulative
/// weights. The funnel name keeps two funnels' splits with the same step id
/// independent of each other.
fn choose<'v>(
    key: &str,
    variants: &'v [crate::model::Variant],
) -> Option<&'v crate::model::Variant> {
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
fn split_subject(text: &str) -> (Option<String>, String) {
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
    fn local_times_across_dst_are_valid_instants() {
        let tz: Tz = "Europe/Budapest".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Budapest: the clock jumps to 03:00 (01:00 UTC).
        let gap = chrono::NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            store::time(local_to_utc(&tz, gap).unwrap()),
            "2026-03-29T01:00:00Z"
        );
        // 09:00 is 08:00 UTC before the change and 07:00 UTC after it.
        let before = chrono::NaiveDate::from_ymd_opt(2026, 3, 27)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let after = chrono::NaiveDate::from_ymd_opt(2026, 3, 30)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        assert_eq!(
            store::time(local_to_utc(&tz, before).unwrap()),
            "2026-03-27T08:00:00Z"
        );
        assert_eq!(
            store::time(local_to_utc(&tz, after).unwrap()),
            "2026-03-30T07:00:00Z"
        );
    }

    #[test]
    fn subjects_split_from_bodies() {
        assert_eq!(
            split_subject("subject: Hi\n---\nBody\n"),
            (Some("Hi".to_string()), "Body\n".to_string())
        );
        assert_eq!(split_subject("Just text"), (None, "Just text".to_string()));
    }
}
