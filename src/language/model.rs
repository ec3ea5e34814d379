//! The compiled funnel: what the runner walks and the linter inspects. Every
//! duration, time and condition is already parsed; every target is resolved
//! to a stage or step index. Spans stay attached so findings can point back
//! at the YAML.

use chrono::{NaiveTime, TimeDelta};
use chrono_tz::Tz;
use indexmap::IndexMap;

use crate::language::condition::Condition;
use crate::language::document::TaskKind;
use crate::language::schedule::{Cap, Reentry, SendWindow};
use crate::language::source::{SourceId, Span};

pub type StageId = usize;

#[derive(Debug)]
pub struct Funnel {
    pub name: String,
    pub name_span: Span,
    pub source: SourceId,
    pub description: Option<String>,
    pub timezone: Tz,
    /// How templates write dates, numbers and money (`locale:`).
    pub locale: crate::language::template::locale::Locale,
    pub fields: IndexMap<String, Field>,
    pub staff: IndexMap<String, Staff>,
    pub entries: Vec<Trigger>,
    pub reentry: Reentry,
    pub exits: Vec<Transition>,
    pub send_window: Option<SendWindow>,
    /// The days `after: N working days` counts (`working_days:`), Monday
    /// first; Monday to Friday unless the funnel says otherwise.
    pub working_days: [bool; 7],
    pub caps: Caps,
    pub caps_span: Option<Span>,
    pub expire: Option<Expire>,
    pub stages: Vec<Stage>,
    /// Every template the funnel names, with where.
    pub templates: Vec<(String, Span)>,
    /// Every contact field the funnel reads or sets, with where: condition
    /// reads, `contact.FIELD` assignees, `inactive` fields, `set` targets.
    pub reads: Vec<(String, Span)>,
    /// The `migrate:` entries, in file order.
    pub migrate: Vec<Migration>,
}

impl Funnel {
    /// Who takes what nobody else can: a task whose assignee is nobody, an
    /// escalation with no one above. The first staff member without a
    /// supervisor (the first at all when everyone has one); `None` when the
    /// funnel names no staff.
    pub fn head(&self) -> Option<&str> {
        self.staff
            .iter()
            .find(|(_, s)| s.supervisor.is_none())
            .or_else(|| self.staff.first())
            .map(|(name, _)| name.as_str())
    }

    /// A stage's goal and its further goals: every transition that
    /// converts it.
    pub fn goals(&self, stage: StageId) -> impl Iterator<Item = &Transition> {
        let stage = &self.stages[stage];
        stage.goal.iter().chain(&stage.more_goals)
    }

    pub fn stage_id(&self, name: &str) -> Option<StageId> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// Where the step `id` is: its stage and index.
    pub fn step_position(&self, id: &str) -> Option<(StageId, usize)> {
        self.stages.iter().enumerate().find_map(|(s, stage)| {
            let index = stage.steps.iter().position(|step| step.id == id)?;
            Some((s, index))
        })
    }

    /// The `migrate:` entry for an old step or stage id.
    pub fn migration(&self, from: &str) -> Option<&Migration> {
        self.migrate.iter().find(|m| m.from == from)
    }

    /// The name of the first `timezone` field: the contact's own timezone.
    pub fn timezone_field(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|(_, f)| f.kind == FieldType::Timezone)
            .map(|(name, _)| name.as_str())
    }
}

/// One `migrate:` entry: contacts on the step or stage `from` of an
/// earlier version go to `to` in this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub from: String,
    pub from_span: Span,
    pub to: MigrationTarget,
    pub to_span: Span,
}

/// Where a migration sends contacts, resolved against this funnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationTarget {
    /// A step of this funnel, by id.
    Step(String),
    /// The start of a stage of this funnel.
    Stage(String),
    /// The step that followed `from` in the old version: the first later
    /// step of its stage that still exists, else the stage's `exhausted`.
    Next,
    /// Keep contacts on `from`, a step of this funnel, under its new
    /// definition (for a wait whose targets changed).
    Stay,
    /// Names nothing in this funnel; reported as `unknown-migration-target`.
    Unresolved(String),
}

impl MigrationTarget {
    /// The target as written.
    pub fn name(&self) -> &str {
        match self {
            MigrationTarget::Step(name)
            | MigrationTarget::Stage(name)
            | MigrationTarget::Unresolved(name) => name,
            MigrationTarget::Next => "next",
            MigrationTarget::Stay => "stay",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
    Date,
    Email,
    Phone,
    Timezone,
}

impl FieldType {
    pub const NAMES: [&'static str; 9] = [
        "string",
        "int",
        "float",
        "bool",
        "timestamp",
        "date",
        "email",
        "phone",
        "timezone",
    ];

    pub fn parse(name: &str) -> Option<Self> {
        use FieldType::*;
        let all = [
            String, Int, Float, Bool, Timestamp, Date, Email, Phone, Timezone,
        ];
        Self::NAMES.iter().position(|n| *n == name).map(|i| all[i])
    }
}

#[derive(Clone, Debug)]
pub struct Field {
    pub kind: FieldType,
    pub optional: bool,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Staff {
    pub supervisor: Option<String>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub stage: Target,
    pub span: Span,
}

#[derive(Debug)]
pub enum TriggerKind {
    When(Condition),
    Event {
        name: String,
        /// `when`: decided on the event (it reads `event`).
        filter: Option<Condition>,
        /// `create`: an event for a contact the feed does not have makes
        /// the contact.
        create: Option<Create>,
    },
    On(Condition),
    Inactive {
        field: String,
        span: Span,
        period: TimeDelta,
    },
}

/// The fields of a contact an event creates: `field: CEL over the event`.
#[derive(Debug)]
pub struct Create {
    pub fields: Vec<(String, Condition)>,
    pub span: Span,
}

/// What makes a transition fire.
#[derive(Debug)]
pub enum Signal {
    When(Condition),
    /// An event by name; with `filter` (`when` beside `event`), only one
    /// the condition holds for, decided on that event.
    Event {
        name: String,
        filter: Option<Condition>,
    },
}

#[derive(Debug)]
pub struct Transition {
    pub signal: Signal,
    pub to: Target,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Stage(StageId),
    Step(StageId, usize),
    /// The steps of this stage ran out: follow its `exhausted`.
    Exhausted(StageId),
    /// Named something that does not exist; reported as `undefined-reference`
    /// and never present in a funnel that passed `check`.
    Unresolved,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub email: Option<Cap>,
    pub sms: Option<Cap>,
    pub messenger: Option<Cap>,
    pub messages: Option<Cap>,
}

#[derive(Debug)]
pub struct Expire {
    pub after: TimeDelta,
    pub to: Target,
    pub span: Span,
}

#[derive(Debug)]
pub struct Stage {
    pub name: String,
    pub span: Span,
    pub description: Option<String>,
    pub terminal: bool,
    pub goal: Option<Transition>,
    /// Further transitions that convert the stage too (`goals:` after its
    /// first, which is `goal`): a repeat purchase that sends an advocate
    /// through care again is a success, not an exit.
    pub more_goals: Vec<Transition>,
    pub exits: Vec<Transition>,
    pub steps: Vec<Step>,
    pub exhausted: Option<(Target, Span)>,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub span: Span,
    pub after: Option<TimeDelta>,
    /// `after: N working days`: due on the Nth working day after the
    /// previous step, at `at` or the same local time of day.
    pub after_working_days: Option<u32>,
    pub at: Option<NaiveTime>,
    pub on: Option<Condition>,
    pub stale_after: Option<TimeDelta>,
    /// Goes out outside the send window too (caps still apply).
    pub anytime: bool,
    pub action: Option<Action>,
    pub outcome: Outcome,
}

impl Step {
    /// The least time that passes between the previous step and this one.
    pub fn min_delay(&self) -> TimeDelta {
        // `at` and `on` may already have come: they add nothing for sure.
        // N working days land on a later day: at least N - 1 days less a
        // DST hour, and always some time.
        if let Some(days) = self.after_working_days {
            let days = TimeDelta::days(i64::from(days).saturating_sub(1));
            return (days - TimeDelta::hours(1)).max(TimeDelta::seconds(1));
        }
        self.after.unwrap_or_else(TimeDelta::zero)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
    Messenger,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Messenger => "messenger",
        }
    }
}

#[derive(Debug)]
pub enum Action {
    Message {
        channel: Channel,
        template: String,
        transactional: bool,
    },
    Webhook {
        endpoint: String,
        template: Option<String>,
    },
    Task(Task),
    Set(Vec<(String, Condition)>),
    Tag(String),
    Notify {
        to: Assignee,
        template: String,
    },
    Split(Vec<Variant>),
}

impl Action {
    /// Whether this action, or the action of a variant of its split,
    /// passes `test`.
    pub fn any(&self, test: &dyn Fn(&Action) -> bool) -> bool {
        match self {
            Action::Split(variants) => (variants.iter())
                .filter_map(|v| v.action.as_ref())
                .any(|action| action.any(test)),
            other => test(other),
        }
    }

    /// The messages this action can send a contact, at most one per channel
    /// (a split sends one of its variants).
    pub fn messages(&self) -> Vec<(Channel, bool)> {
        match self {
            Action::Message {
                channel,
                transactional,
                ..
            } => vec![(*channel, *transactional)],
            Action::Split(variants) => variants
                .iter()
                .filter_map(|v| v.action.as_ref())
                .flat_map(Action::messages)
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
    pub span: Span,
    pub action: Option<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Staff(String),
    /// A contact field holding a staff name.
    Field(String),
}

#[derive(Debug)]
pub struct Task {
    pub kind: TaskKind,
    pub assignee: Assignee,
    pub due: Option<TimeDelta>,
    pub escalate_to: Option<String>,
    pub template: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// Go on to the next step (or `exhausted` after the last).
    Continue,
    Wait(Wait),
    Branch(Branch),
}

#[derive(Debug)]
pub struct Wait {
    pub signal: Option<Signal>,
    pub within: Option<TimeDelta>,
    pub within_span: Span,
    pub yes: Target,
    pub no: Option<Target>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Branch {
    pub when: Condition,
    pub yes: Target,
    pub no: Target,
    pub span: Span,
}
