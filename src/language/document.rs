//! The funnel file as written: serde types that mirror the YAML one to one,
//! with a source span on every value a diagnostic may point at. Values stay
//! strings here (durations, conditions, times) so the compiler can report
//! every malformed one with its location instead of stopping at the first.
//!
//! Steps and actions are plain structs, never internally-tagged, untagged or
//! flattened enums: serde-saphyr loses spans inside those.
//!
//! `builder.rs` builds these types straight from YAML events too: a field or
//! serde attribute changed here must change in its `build_struct!` list.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use crate::language::source::Span;

/// A value and where it was written. Equality and hashing look at the value
/// only, so spanned strings can be map keys.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl Spanned<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let inner = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let span = inner.referenced.span();
        let offset = span
            .byte_offset()
            .and_then(|o| usize::try_from(o).ok())
            .unwrap_or(0);
        let len = usize::try_from(span.len()).unwrap_or(0);
        Ok(Spanned::new(inner.value, Span::new(offset, len)))
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: Hash> Hash for Spanned<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

// The schema of a spanned value is the schema of the value: spans are ours.
impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

pub type Text = Spanned<String>;

/// A funnel file. See docs/language.md.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "funnel",
    description = "A sales or service funnel: who enters, the stages a contact moves through and the timed steps of each stage."
)]
pub struct Document {
    /// The funnel's name: lowercase letters, digits and `-`.
    pub funnel: Text,
    pub description: Option<String>,
    /// IANA timezone used for contacts without a timezone field (default UTC).
    pub timezone: Option<Text>,
    /// Language of dates, numbers and money in templates: en (default), de, fr, hu, ru, he, optionally with a region (`en-GB`). A contact's `locale` field, when declared and set, wins.
    pub locale: Option<Text>,
    /// Contact fields the funnel reads, `name: type`; types: string, int, float, bool, timestamp, date, email, phone, timezone; `?` marks an optional field.
    #[serde(default)]
    pub contact: IndexMap<Text, Text>,
    /// People or teams who get tasks and notifications.
    #[serde(default)]
    pub staff: IndexMap<Text, StaffDoc>,
    /// Entry triggers; the first that matches puts the contact in its stage.
    #[serde(default)]
    pub enter: Vec<Spanned<TriggerDoc>>,
    /// `never` (default), `always`, or `after DURATION`.
    pub reentry: Option<Text>,
    /// Global exits, checked first from every non-terminal stage (opt-out).
    #[serde(default)]
    pub exit: Vec<Spanned<TransitionDoc>>,
    pub send_window: Option<Spanned<SendWindowDoc>>,
    /// The days `after: N working days` counts, like `send_window.days` (`mon-fri`, `mon,wed,fri`); default mon-fri. Holidays are not known.
    pub working_days: Option<Text>,
    pub caps: Option<Spanned<CapsDoc>>,
    pub expire: Option<Spanned<ExpireDoc>>,
    /// The stages, by name.
    pub stages: IndexMap<Text, StageDoc>,
    // A map of plain strings, not an enum of targets: both sides keep spans.
    /// Where contacts on a removed or renamed step or stage of the previous version go, `old-id: target`; target: a step id, a stage name, `next` (the step that followed it) or `stay` (keep them on a changed step).
    #[serde(default)]
    pub migrate: IndexMap<Text, Text>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffDoc {
    pub description: Option<String>,
    /// Who is notified when this person's task is overdue.
    pub supervisor: Option<Text>,
}

/// An entry trigger: a `stage` and exactly one of `when`, `event`, `on`, `inactive`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerDoc {
    /// CEL condition on the contact (with `event`: an extra filter).
    pub when: Option<Text>,
    /// An event name such as `order.placed`.
    pub event: Option<Text>,
    /// CEL expression giving a timestamp, e.g. `contact.delivery_due`.
    pub on: Option<Text>,
    /// A timestamp field, e.g. `contact.last_order_at`; with `for`.
    pub inactive: Option<Text>,
    /// How long `inactive` must be in the past, e.g. `60d`.
    #[serde(rename = "for")]
    pub for_: Option<Text>,
    /// With `event`: an event for a contact the contacts feed does not have creates the contact, `field: CEL expression` over `event` (e.g. `phone: event.data.from`); its id is the event's contact.
    pub create: Option<Spanned<IndexMap<Text, Text>>>,
    pub stage: Text,
}

/// A move to another stage: `to` and `when`, `event`, or both (`when` then decides on the event, reading `event.data`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionDoc {
    pub when: Option<Text>,
    pub event: Option<Text>,
    pub to: Text,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendWindowDoc {
    /// `mon-fri`, `mon,wed,fri`, `every day`.
    pub days: Option<Text>,
    /// `09:00-18:00`.
    pub hours: Option<Text>,
}

/// Frequency caps: `N per day`, `N per week` or `N per DURATION`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapsDoc {
    pub email: Option<Text>,
    pub sms: Option<Text>,
    pub messenger: Option<Text>,
    /// All messages together.
    pub messages: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpireDoc {
    pub after: Text,
    pub to: Text,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageDoc {
    pub description: Option<String>,
    /// An end stage: the journey stops here.
    pub terminal: Option<Spanned<bool>>,
    /// The stage's one conversion.
    pub goal: Option<Spanned<TransitionDoc>>,
    /// Several transitions that each convert the stage (instead of `goal`); the first is the stage's goal in reports and diagrams.
    #[serde(default)]
    pub goals: Vec<Spanned<TransitionDoc>>,
    /// Negative transitions that apply in this stage only.
    #[serde(default)]
    pub exit: Vec<Spanned<TransitionDoc>>,
    #[serde(default)]
    pub steps: Vec<StepDoc>,
    /// Where contacts go when the steps run out without the goal.
    pub exhausted: Option<Text>,
}

/// What a step or an A/B variant does. Kept as separate optional keys so that
/// spans survive; the compiler checks that at most one is given.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    /// Unique in the funnel and different from every stage name.
    pub id: Text,
    /// Delay after the previous step (or stage entry), e.g. `3d`, or `N working days` (the Nth working day after, see `working_days`).
    pub after: Option<Text>,
    /// Time of day, `HH:MM`, in the contact's timezone field or else the funnel's `timezone`: the next such time (after `after`), or on the day `on` gives.
    pub at: Option<Text>,
    /// CEL expression giving the time the step is due; with `at`, the day (in the contact's timezone) on which it is due at that time.
    pub on: Option<Text>,
    /// Skip the action when it could not go out within this long of its due time.
    pub stale_after: Option<Text>,
    /// Send at once even outside the funnel's `send_window` (slides after a
    /// talk); frequency caps still apply.
    pub anytime: Option<Spanned<bool>>,
    pub email: Option<Spanned<MessageDoc>>,
    pub sms: Option<Spanned<MessageDoc>>,
    pub messenger: Option<Spanned<MessageDoc>>,
    pub webhook: Option<Spanned<WebhookDoc>>,
    pub task: Option<Spanned<TaskDoc>>,
    /// Contact fields to set, `field: CEL expression`.
    pub set: Option<Spanned<IndexMap<Text, Text>>>,
    pub tag: Option<Text>,
    pub notify: Option<Spanned<NotifyDoc>>,
    /// An A/B split: weighted variants, each with its own action.
    pub split: Option<Spanned<Vec<VariantDoc>>>,
    pub wait: Option<Spanned<WaitDoc>>,
    pub branch: Option<Spanned<BranchDoc>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantDoc {
    pub variant: Text,
    /// Percent; the weights of a split add up to 100.
    pub weight: Spanned<u32>,
    pub email: Option<Spanned<MessageDoc>>,
    pub sms: Option<Spanned<MessageDoc>>,
    pub messenger: Option<Spanned<MessageDoc>>,
    pub webhook: Option<Spanned<WebhookDoc>>,
    pub task: Option<Spanned<TaskDoc>>,
    pub set: Option<Spanned<IndexMap<Text, Text>>>,
    pub tag: Option<Text>,
    pub notify: Option<Spanned<NotifyDoc>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageDoc {
    /// A handlebars file `templates/NAME.hbs` beside the funnel.
    pub template: Text,
    /// A confirmation or reminder the contact asked for, not marketing.
    #[serde(default)]
    pub transactional: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDoc {
    /// A webhook endpoint named in the project config.
    pub endpoint: Text,
    pub template: Option<Text>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Call,
    Post,
    Meeting,
    Other,
}

impl TaskKind {
    pub const ALL: &'static [TaskKind] = &[
        TaskKind::Call,
        TaskKind::Post,
        TaskKind::Meeting,
        TaskKind::Other,
    ];

    /// The kind as a funnel spells it, and as the state stores it
    /// (`tasks.kind`). States written before this method stored the
    /// lowercased `Debug` text, which is the same word.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Call => "call",
            TaskKind::Post => "post",
            TaskKind::Meeting => "meeting",
            TaskKind::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == text)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskDoc {
    pub kind: Spanned<TaskKind>,
    /// A staff name, or `contact.FIELD` holding one.
    pub assignee: Text,
    /// How long after creation the task is due, e.g. `4h`.
    pub due: Option<Text>,
    /// Who is notified when the task is overdue (default: the assignee's supervisor).
    pub escalate_to: Option<Text>,
    pub template: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyDoc {
    /// A staff name, or `contact.FIELD` holding one.
    pub to: Text,
    pub template: Text,
}

/// The two outcomes of a step: `yes` when the event or condition happens within the window, else `no`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitDoc {
    pub event: Option<Text>,
    /// With `event`: only an event this CEL condition holds for answers (it reads `event.data`).
    pub when: Option<Text>,
    pub until: Option<Text>,
    pub within: Option<Text>,
    /// `next`, a step id or a stage name (default `next`).
    pub yes: Option<Text>,
    /// `next`, a step id or a stage name.
    pub no: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchDoc {
    pub when: Text,
    pub yes: Text,
    pub no: Text,
}
