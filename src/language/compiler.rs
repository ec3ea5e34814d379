//! Compiler: [`Document`] -> [`Funnel`]. Resolves every name, parses every
//! duration, time and condition, and reports each malformed or undefined one
//! with its location. It is lenient: a broken part is reported and replaced
//! by a placeholder so the linter can still look at the rest of the funnel.
//! Graph-level problems (dead ends, loops, reachability) are the linter's.

use std::collections::HashMap;

use chrono::TimeDelta;
use chrono_tz::Tz;
use indexmap::IndexMap;

use crate::language::condition::{Condition, Parsed, Scope};
use crate::language::document::{
    BranchDoc, Document, MessageDoc, NotifyDoc, Spanned, StageDoc, StepDoc, TaskDoc, Text,
    TransitionDoc, TriggerDoc, VariantDoc, WaitDoc, WebhookDoc,
};
use crate::language::model::*;
use crate::language::parser::Parser;
use crate::language::source::{SourceFile, SourceId, Span};
use crate::language::template::locale::Locale;
use crate::language::{duration, schedule};
use crate::lint::diagnostic::{Diagnostic, suggest};
use crate::lint::rules::{self, Rule};

mod events;
mod timing;

pub type CompileResult = (Funnel, Vec<Diagnostic>);

/// Parses and compiles one version of a funnel file on its own, for
/// callers that read structure rather than check it (`funnel diff`, a run
/// migrating journeys, `funnel report`). Compile problems are `funnel
/// check`'s to report: the compiler is lenient, and these read what they
/// can. Templates are not read: only the structure is wanted. A parse error
/// is its message with the line and column, as a diff shows it.
pub fn compile_file(file: &SourceFile) -> Result<Funnel, String> {
    let id = SourceId(0);
    match Parser::parse(id, file) {
        Ok(document) => Ok(Compiler::compile(&document, id, &file.text).0),
        Err(diagnostic) => {
            let (line, column) = file.line_col(diagnostic.span.offset);
            Err(format!("{} at {line}:{column}", diagnostic.message))
        }
    }
}

pub struct Compiler<'a> {
    source: SourceId,
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
    stages: HashMap<&'a str, StageId>,
    /// Step id -> (stage, index).
    steps: HashMap<&'a str, (StageId, usize)>,
    staff: Vec<&'a str>,
    terminal: Vec<bool>,
    parsed: HashMap<String, Parsed>,
    reads: Vec<(String, Span)>,
    templates: Vec<(String, Span)>,
}

/// The action keys of a step or an A/B variant, seen the same way.
struct ActionKeys<'a> {
    email: Option<&'a Spanned<MessageDoc>>,
    sms: Option<&'a Spanned<MessageDoc>>,
    messenger: Option<&'a Spanned<MessageDoc>>,
    webhook: Option<&'a Spanned<WebhookDoc>>,
    task: Option<&'a Spanned<TaskDoc>>,
    set: Option<&'a Spanned<IndexMap<Text, Text>>>,
    tag: Option<&'a Text>,
    notify: Option<&'a Spanned<NotifyDoc>>,
    split: Option<&'a Spanned<Vec<VariantDoc>>>,
}

impl<'a> ActionKeys<'a> {
    fn of_step(step: &'a StepDoc) -> Self {
        Self {
            email: step.email.as_ref(),
            sms: step.sms.as_ref(),
            messenger: step.messenger.as_ref(),
            webhook: step.webhook.as_ref(),
            task: step.task.as_ref(),
            set: step.set.as_ref(),
            tag: step.tag.as_ref(),
            notify: step.notify.as_ref(),
            split: step.split.as_ref(),
        }
    }

    fn of_variant(variant: &'a VariantDoc) -> Self {
        Self {
            email: variant.email.as_ref(),
            sms: variant.sms.as_ref(),
            messenger: variant.messenger.as_ref(),
            webhook: variant.webhook.as_ref(),
            task: variant.task.as_ref(),
            set: variant.set.as_ref(),
            tag: variant.tag.as_ref(),
            notify: variant.notify.as_ref(),
            split: None,
        }
    }

    /// Names and spans of the keys that are present.
    fn present(&self) -> Vec<(&'static str, Span)> {
        [
            ("email", self.email.map(|x| x.span)),
            ("sms", self.sms.map(|x| x.span)),
            ("messenger", self.messenger.map(|x| x.span)),
            ("webhook", self.webhook.map(|x| x.span)),
            ("task", self.task.map(|x| x.span)),
            ("set", self.set.map(|x| x.span)),
            ("tag", self.tag.map(|x| x.span)),
            ("notify", self.notify.map(|x| x.span)),
            ("split", self.split.map(|x| x.span)),
        ]
        .into_iter()
        .filter_map(|(name, span)| span.map(|s| (name, s)))
        .collect()
    }
}

impl<'a> Compiler<'a> {
    pub fn compile(document: &'a Document, source: SourceId, text: &'a str) -> CompileResult {
        let mut compiler = Compiler {
            source,
            text,
            diagnostics: Vec::new(),
            stages: HashMap::new(),
            steps: HashMap::new(),
            staff: document.staff.keys().map(Text::as_str).collect(),
            terminal: document
                .stages
                .values()
                .map(|s| s.terminal.as_ref().is_some_and(|t| t.value))
                .collect(),
            parsed: HashMap::new(),
            reads: Vec::new(),
            templates: Vec::new(),
        };
        let funnel = compiler.funnel(document);
        compiler.check_timing(document, &funnel);
        (funnel, compiler.diagnostics)
    }

    fn report(
        &mut self,
        rule: &Rule,
        span: Span,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let diagnostic = Diagnostic::new(rule, self.source, span, message).help(help);
        self.diagnostics.push(diagnostic);
    }

    fn funnel(&mut self, doc: &'a Document) -> Funnel {
        self.check_name(&doc.funnel);
        self.index(doc);
        let fields = self.fields(doc);
        let staff = self.staff(doc);
        let stages = doc
            .stages
            .iter()
            .enumerate()
            .map(|(id, (name, stage))| self.stage(id, name, stage))
            .collect();
        let entries = self.entries(doc);
        self.check_created(&fields, &entries);
        let exits = doc.exit.iter().map(|t| self.transition(t)).collect();
        Funnel {
            name: doc.funnel.value.clone(),
            name_span: doc.funnel.span,
            source: self.source,
            description: doc.description.clone(),
            timezone: self.timezone(doc.timezone.as_ref()),
            locale: self.locale(doc.locale.as_ref()),
            fields,
            staff,
            entries,
            reentry: self.reentry(doc.reentry.as_ref()),
            exits,
            send_window: self.send_window(doc),
            working_days: self.working_days(doc.working_days.as_ref()),
            caps: self.caps(doc),
            caps_span: doc.caps.as_ref().map(|c| c.span),
            expire: doc.expire.as_ref().map(|e| Expire {
                after: self.duration(&e.value.after).unwrap_or(TimeDelta::MAX),
                to: self.stage_target(&e.value.to),
                span: e.span,
            }),
            stages,
            templates: std::mem::take(&mut self.templates),
            reads: std::mem::take(&mut self.reads),
            migrate: self.migrations(doc),
        }
    }

    /// Resolves `migrate:` targets by name; unknown ones stay unresolved for
    /// the `unknown-migration-target` rule, which lists the close names.
    fn migrations(&self, doc: &Document) -> Vec<Migration> {
        doc.migrate
            .iter()
            .map(|(from, to)| {
                let name = to.as_str();
                let target = match name {
                    "next" => MigrationTarget::Next,
                    "stay" => MigrationTarget::Stay,
                    _ if self.stages.contains_key(name) => MigrationTarget::Stage(to.value.clone()),
                    _ if self.steps.contains_key(name) => MigrationTarget::Step(to.value.clone()),
                    _ => MigrationTarget::Unresolved(to.value.clone()),
                };
                Migration {
                    from: from.value.clone(),
                    from_span: from.span,
                    to: target,
                    to_span: to.span,
                }
            })
            .collect()
    }

    fn check_name(&mut self, name: &Text) {
        let ok = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            self.report(
                &rules::invalid_value::RULE,
                name.span,
                format!("`{}` is not a valid funnel name", name.value),
                "use lowercase letters, digits and `-`, e.g. quote-follow-up",
            );
        }
    }

    /// Names every stage and step, reporting ids used twice.
    fn index(&mut self, doc: &'a Document) {
        for (id, name) in doc.stages.keys().enumerate() {
            self.stages.insert(name.as_str(), id);
        }
        for (stage_id, stage) in doc.stages.values().enumerate() {
            for (index, step) in stage.steps.iter().enumerate() {
                let id = step.id.as_str();
                if self.stages.contains_key(id) {
                    self.report(
                        &rules::duplicate_id::RULE,
                        step.id.span,
                        format!("step id `{id}` is also the name of a stage"),
                        "targets name steps and stages alike; rename the step",
                    );
                } else if let Some((other_stage, _)) = self.steps.get(id) {
                    let other = doc
                        .stages
                        .get_index(*other_stage)
                        .map_or("", |(n, _)| n.as_str());
                    self.report(
                        &rules::duplicate_id::RULE,
                        step.id.span,
                        format!("step id `{id}` is used twice"),
                        format!("the other `{id}` is in stage `{other}`; step ids are unique in a funnel"),
                    );
                } else {
                    self.steps.insert(id, (stage_id, index));
                }
            }
        }
    }

    fn fields(&mut self, doc: &Document) -> IndexMap<String, Field> {
        let mut fields = IndexMap::new();
        for (name, kind) in &doc.contact {
            let (type_name, optional) = match kind.value.strip_suffix('?') {
                Some(base) => (base.trim(), true),
                None => (kind.value.trim(), false),
            };
            let valid_name = name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name
                    .value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !valid_name {
                self.report(
                    &rules::invalid_value::RULE,
                    name.span,
                    format!("`{}` is not a valid field name", name.value),
                    "field names are letters, digits and `_`, so CEL can read them as contact.NAME",
                );
            }
            match FieldType::parse(type_name) {
                Some(kind_parsed) => {
                    fields.insert(
                        name.value.clone(),
                        Field {
                            kind: kind_parsed,
                            optional,
                            span: name.span,
                        },
                    );
                }
                None => self.report(
                    &rules::invalid_value::RULE,
                    kind.span,
                    format!("`{}` is not a field type", kind.value),
                    format!(
                        "{} (add `?` for an optional field)",
                        suggest(type_name, FieldType::NAMES)
                    ),
                ),
            }
        }
        fields
    }

    fn staff(&mut self, doc: &Document) -> IndexMap<String, Staff> {
        let mut staff = IndexMap::new();
        for (name, person) in &doc.staff {
            if let Some(supervisor) = &person.supervisor {
                self.staff_name(supervisor);
            }
            staff.insert(
                name.value.clone(),
                Staff {
                    supervisor: person.supervisor.as_ref().map(|s| s.value.clone()),
                    span: name.span,
                },
            );
        }
        staff
    }

    fn timezone(&mut self, timezone: Option<&Text>) -> Tz {
        let Some(text) = timezone else { return Tz::UTC };
        text.value.parse::<Tz>().unwrap_or_else(|_| {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            let hint = suggest(&text.value, names);
            let hint = if hint.starts_with("did you mean") {
                hint
            } else {
                "use an IANA name such as Europe/Budapest or America/New_York".to_string()
            };
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                format!("`{}` is not a timezone", text.value),
                hint,
            );
            Tz::UTC
        })
    }

    fn locale(&mut self, locale: Option<&Text>) -> Locale {
        let Some(text) = locale else {
            return Locale::default();
        };
        Locale::parse(&text.value).unwrap_or_else(|| {
            let known: Vec<&str> = Locale::known().collect();
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                format!("`{}` is not a locale funnel knows", text.value),
                format!(
                    "use one of {}, optionally with a region (`en-GB`)",
                    known.join(", ")
                ),
            );
            Locale::default()
        })
    }

    fn reentry(&mut self, reentry: Option<&Text>) -> schedule::Reentry {
        let Some(text) = reentry else {
            return schedule::Reentry::Never;
        };
        schedule::reentry(&text.value).unwrap_or_else(|message| {
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                message,
                "never | always | after 90d",
            );
            schedule::Reentry::Never
        })
    }

    fn send_window(&mut self, doc: &Document) -> Option<schedule::SendWindow> {
        let window = &doc.send_window.as_ref()?.value;
        let days = match &window.days {
            Some(text) => schedule::days(&text.value).unwrap_or_else(|message| {
                self.report(
                    &rules::invalid_value::RULE,
                    text.span,
                    message,
                    "e.g. mon-fri, sat-sun, mon,wed,fri or every day",
                );
                [true; 7]
            }),
            None => [true; 7],
        };
        let midnight = chrono::NaiveTime::MIN;
        let last = chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(midnight);
        let (start, end) = match &window.hours {
            Some(text) => schedule::hours(&text.value).unwrap_or_else(|message| {
                self.report(
                    &rules::invalid_value::RULE,
                    text.span,
                    message,
                    "e.g. 09:00-18:00, in the contact's timezone",
                );
                (midnight, last)
            }),
            None => (midnight, last),
        };
        Some(schedule::SendWindow { days, start, end })
    }

    fn caps(&mut self, doc: &Document) -> Caps {
        let Some(caps) = &doc.caps else {
            return Caps::default();
        };
        let mut one = |text: &Option<Text>| {
            let text = text.as_ref()?;
            schedule::cap(&text.value)
                .map_err(|message| {
                    self.report(
                        &rules::invalid_value::RULE,
                        text.span,
                        message,
                        "N per day | N per week | N per DURATION",
                    );
                })
                .ok()
        };
        Caps {
            email: one(&caps.value.email),
            sms: one(&caps.value.sms),
            messenger: one(&caps.value.messenger),
            messages: one(&caps.value.messages),
        }
    }

    fn duration(&mut self, text: &Text) -> Option<TimeDelta> {
        match duration::parse(&text.value) {
            Ok(delta) => Some(delta),
            Err(error) => {
                self.report(
                    &rules::invalid_duration::RULE,
                    text.span,
                    format!("`{}` is not a duration: {error}", text.value),
                    error.help(),
                );
                None
            }
        }
    }

    fn condition(&mut self, text: &Text) -> Condition {
        self.condition_in(text, Scope::Contact)
    }

    fn stage_names(&self) -> Vec<&'a str> {
        let mut names: Vec<(&str, StageId)> = self.stages.iter().map(|(n, id)| (*n, *id)).collect();
        names.sort_by_key(|(_, id)| *id);
        names.into_iter().map(|(n, _)| n).collect()
    }

    /// A target that must be a stage: `to`, `exhausted`, `enter.stage`.
    fn stage_target(&mut self, text: &Text) -> Target {
        if let Some(&id) = self.stages.get(text.as_str()) {
            return Target::Stage(id);
        }
        let help = if self.steps.contains_key(text.as_str()) {
            format!("`{}` is a step; name a stage here", text.value)
        } else {
            format!(
                "{} (stages: {})",
                suggest(&text.value, self.stage_names()),
                self.stage_names().join(", ")
            )
        };
        self.report(
            &rules::undefined_reference::RULE,
            text.span,
            format!("no stage named `{}`", text.value),
            help,
        );
        Target::Unresolved
    }

    /// A wait or branch target: `next`, a step of this stage, or a stage.
    fn step_target(&mut self, text: &Text, stage: StageId, index: usize, count: usize) -> Target {
        let name = text.as_str();
        if name == "next" {
            return if index + 1 < count {
                Target::Step(stage, index + 1)
            } else {
                Target::Exhausted(stage)
            };
        }
        match (self.stages.get(name), self.steps.get(name)) {
            (Some(&id), _) => Target::Stage(id),
            (None, Some(&(s, i))) if s == stage => Target::Step(s, i),
            (None, Some(_)) => {
                self.report(
                    &rules::undefined_reference::RULE,
                    text.span,
                    format!("step `{name}` belongs to another stage"),
                    "a wait or branch can jump to a step of its own stage, or to a stage",
                );
                Target::Unresolved
            }
            (None, None) => {
                let known: Vec<&str> = std::iter::once("next")
                    .chain(self.stage_names())
                    .chain(
                        self.steps
                            .iter()
                            .filter(|(_, (s, _))| *s == stage)
                            .map(|(n, _)| *n),
                    )
                    .collect();
                self.report(
                    &rules::undefined_reference::RULE,
                    text.span,
                    format!("no step or stage named `{name}`"),
                    suggest(name, known),
                );
                Target::Unresolved
            }
        }
    }

    /// A staff name (assignee, escalation, notification).
    fn staff_name(&mut self, text: &Text) -> Assignee {
        if let Some(field) = text.value.strip_prefix("contact.") {
            self.reads.push((field.to_string(), text.span));
            return Assignee::Field(field.to_string());
        }
        if !self.staff.contains(&text.as_str()) {
            let help = match suggest(&text.value, self.staff.iter().copied()) {
                _ if self.staff.is_empty() => {
                    "no staff are declared: declare people under `staff:`, or use contact.FIELD"
                        .to_string()
                }
                hint if hint.starts_with("did you mean") => format!(
                    "{hint} (known staff: {}); declare people under `staff:`, or use contact.FIELD",
                    self.staff.join(", ")
                ),
                _ => format!(
                    "known staff: {}; declare people under `staff:`, or use contact.FIELD",
                    self.staff.join(", ")
                ),
            };
            self.report(
                &rules::undefined_reference::RULE,
                text.span,
                format!("no staff member named `{}`", text.value),
                help,
            );
        }
        Assignee::Staff(text.value.clone())
    }

    fn entries(&mut self, doc: &Document) -> Vec<Trigger> {
        if doc.enter.is_empty() {
            self.report(
                &rules::invalid_entry::RULE,
                doc.funnel.span,
                format!("funnel `{}` has no entry trigger", doc.funnel.value),
                "add `enter:` with a `when`, `event`, `on` or `inactive` trigger and a stage",
            );
        }
        doc.enter.iter().filter_map(|t| self.trigger(t)).collect()
    }

    fn trigger(&mut self, trigger: &Spanned<TriggerDoc>) -> Option<Trigger> {
        let doc = &trigger.value;
        let kinds: Vec<&str> = [
            ("event", doc.event.is_some()),
            ("on", doc.on.is_some()),
            ("inactive", doc.inactive.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let stage = self.stage_target(&doc.stage);
        if let Target::Stage(id) = stage
            && self.terminal(id)
        {
            self.report(
                &rules::invalid_entry::RULE,
                doc.stage.span,
                format!(
                    "contacts would enter the terminal stage `{}`",
                    doc.stage.value
                ),
                "enter a stage that has automation; terminal stages end a journey",
            );
        }
        if let Some(create) = &doc.create
            && doc.event.is_none()
        {
            self.report(
                &rules::invalid_entry::RULE,
                create.span,
                "`create` belongs to an `event` entry",
                "only an event can make a contact: e.g. `{ event: sms.replied, create: { phone: event.data.from }, stage: welcome }`",
            );
        }
        if doc.for_.is_some() != doc.inactive.is_some() {
            self.report(
                &rules::invalid_entry::RULE,
                trigger.span,
                "`inactive` and `for` go together",
                "e.g. `{ inactive: contact.last_order_at, for: 60d, stage: survey }`",
            );
            return None;
        }
        let kind = match (kinds.as_slice(), &doc.when) {
            ([], Some(when)) => TriggerKind::When(self.condition(when)),
            (["event"], filter) => TriggerKind::Event {
                name: doc.event.as_ref()?.value.clone(),
                filter: filter.as_ref().map(|w| self.condition_in(w, Scope::Event)),
                create: doc.create.as_ref().map(|c| self.create(c)),
            },
            (["on"], None) => TriggerKind::On(self.condition(doc.on.as_ref()?)),
            (["inactive"], None) => {
                let field = doc.inactive.as_ref()?;
                let period = self.duration(doc.for_.as_ref()?)?;
                let name = field
                    .value
                    .strip_prefix("contact.")
                    .unwrap_or(&field.value)
                    .to_string();
                self.reads.push((name.clone(), field.span));
                TriggerKind::Inactive {
                    field: name,
                    span: field.span,
                    period,
                }
            }
            _ => {
                self.report(
                    &rules::invalid_entry::RULE,
                    trigger.span,
                    "an entry trigger needs exactly one of `when`, `event`, `on` or `inactive`",
                    "`when` may also filter an `event` trigger; split the others into separate triggers",
                );
                return None;
            }
        };
        Some(Trigger {
            kind,
            stage,
            span: trigger.span,
        })
    }

    fn terminal(&self, stage: StageId) -> bool {
        self.terminal.get(stage).copied().unwrap_or(false)
    }

    fn signal(
        &mut self,
        when: &Option<Text>,
        event: &Option<Text>,
        span: Span,
        what: &str,
    ) -> Option<Signal> {
        match (when, event) {
            (Some(when), None) => Some(Signal::When(self.condition(when))),
            (when, Some(event)) => Some(self.event_signal(event, when.as_ref())),
            _ => {
                self.report(
                    &rules::conflicting_keys::RULE,
                    span,
                    format!("{what} needs `when` or `event`"),
                    "e.g. `{ when: \"contact.paid\", to: customer }` or `{ event: order.placed, to: customer }`",
                );
                None
            }
        }
    }

    fn transition(&mut self, transition: &Spanned<TransitionDoc>) -> Transition {
        let doc = &transition.value;
        let signal = self
            .signal(&doc.when, &doc.event, transition.span, "a transition")
            .unwrap_or_else(|| Signal::Event {
                name: String::new(),
                filter: None,
            });
        Transition {
            signal,
            to: self.stage_target(&doc.to),
            span: transition.span,
        }
    }

    fn stage(&mut self, id: StageId, name: &Text, doc: &'a StageDoc) -> Stage {
        let terminal = doc.terminal.as_ref().is_some_and(|t| t.value);
        if terminal {
            for (key, span) in [
                ("goal", doc.goal.as_ref().map(|g| g.span)),
                ("goals", doc.goals.first().map(|g| g.span)),
                ("exhausted", doc.exhausted.as_ref().map(|e| e.span)),
            ] {
                if let Some(span) = span {
                    self.report(
                        &rules::conflicting_keys::RULE,
                        span,
                        format!("terminal stage `{}` has a `{key}`", name.value),
                        "a terminal stage ends the journey; remove `terminal: true` or the key",
                    );
                }
            }
        }
        if let (Some(_), Some(second)) = (&doc.goal, doc.goals.first()) {
            self.report(
                &rules::conflicting_keys::RULE,
                second.span,
                format!("stage `{}` has both `goal` and `goals`", name.value),
                "put the goal first in `goals:` and drop `goal:`",
            );
        }
        let mut goals: Vec<Transition> = doc
            .goal
            .iter()
            .chain(&doc.goals)
            .map(|g| self.transition(g))
            .collect();
        let more_goals = goals.split_off(goals.len().min(1));
        let count = doc.steps.len();
        Stage {
            name: name.value.clone(),
            span: name.span,
            description: doc.description.clone(),
            terminal,
            goal: goals.pop(),
            more_goals,
            exits: doc.exit.iter().map(|t| self.transition(t)).collect(),
            steps: doc
                .steps
                .iter()
                .enumerate()
                .map(|(index, step)| self.step(id, index, count, step))
                .collect(),
            exhausted: doc
                .exhausted
                .as_ref()
                .map(|e| (self.stage_target(e), e.span)),
        }
    }

    fn step(&mut self, stage: StageId, index: usize, count: usize, doc: &'a StepDoc) -> Step {
        let timing = self.step_timing(doc);
        let outcome = match (&doc.wait, &doc.branch) {
            (Some(wait), None) => Outcome::Wait(self.wait(wait, stage, index, count)),
            (None, Some(branch)) => Outcome::Branch(self.branch(branch, stage, index, count)),
            (None, None) => Outcome::Continue,
            (Some(wait), Some(_)) => {
                self.report(
                    &rules::conflicting_keys::RULE,
                    wait.span,
                    format!("step `{}` has both `wait` and `branch`", doc.id.value),
                    "a step has one outcome: split it into two steps",
                );
                Outcome::Continue
            }
        };
        Step {
            id: doc.id.value.clone(),
            span: doc.id.span,
            after: timing.after,
            after_working_days: timing.after_working_days,
            at: timing.at,
            on: doc.on.as_ref().map(|t| self.condition(t)),
            stale_after: doc.stale_after.as_ref().and_then(|t| self.duration(t)),
            anytime: doc.anytime.as_ref().is_some_and(|a| a.value),
            action: self.action(&ActionKeys::of_step(doc), &doc.id),
            outcome,
        }
    }

    fn action(&mut self, keys: &ActionKeys<'a>, owner: &Text) -> Option<Action> {
        let present = keys.present();
        if present.len() > 1 {
            let names: Vec<&str> = present.iter().map(|(n, _)| *n).collect();
            self.report(
                &rules::conflicting_keys::RULE,
                present[1].1,
                format!(
                    "`{}` has {} actions: {}",
                    owner.value,
                    names.len(),
                    names.join(", ")
                ),
                "one action per step; put the others in steps of their own",
            );
        }
        let message = |channel, doc: &Spanned<MessageDoc>, this: &mut Self| {
            this.templates
                .push((doc.value.template.value.clone(), doc.value.template.span));
            Action::Message {
                channel,
                template: doc.value.template.value.clone(),
                transactional: doc.value.transactional,
            }
        };
        if let Some(doc) = keys.email {
            return Some(message(Channel::Email, doc, self));
        }
        if let Some(doc) = keys.sms {
            return Some(message(Channel::Sms, doc, self));
        }
        if let Some(doc) = keys.messenger {
            return Some(message(Channel::Messenger, doc, self));
        }
        if let Some(doc) = keys.webhook {
            let template = doc.value.template.as_ref().map(|t| self.template(t));
            return Some(Action::Webhook {
                endpoint: doc.value.endpoint.value.clone(),
                template,
            });
        }
        if let Some(doc) = keys.task {
            return Some(Action::Task(self.task(&doc.value)));
        }
        if let Some(doc) = keys.set {
            let assignments = doc
                .value
                .iter()
                .map(|(field, value)| {
                    self.reads.push((field.value.clone(), field.span));
                    (field.value.clone(), self.condition(value))
                })
                .collect();
            return Some(Action::Set(assignments));
        }
        if let Some(tag) = keys.tag {
            return Some(Action::Tag(tag.value.clone()));
        }
        if let Some(doc) = keys.notify {
            let to = self.staff_name(&doc.value.to);
            let template = self.template(&doc.value.template);
            return Some(Action::Notify { to, template });
        }
        keys.split.map(|split| Action::Split(self.split(split)))
    }

    fn template(&mut self, name: &Text) -> String {
        self.templates.push((name.value.clone(), name.span));
        name.value.clone()
    }

    fn task(&mut self, doc: &TaskDoc) -> Task {
        Task {
            kind: doc.kind.value,
            assignee: self.staff_name(&doc.assignee),
            due: doc.due.as_ref().and_then(|t| self.duration(t)),
            escalate_to: doc.escalate_to.as_ref().map(|t| {
                self.staff_name(t);
                t.value.clone()
            }),
            template: doc.template.as_ref().map(|t| self.template(t)),
        }
    }

    fn split(&mut self, split: &'a Spanned<Vec<VariantDoc>>) -> Vec<Variant> {
        let mut seen: Vec<&str> = Vec::new();
        let mut variants = Vec::new();
        for doc in &split.value {
            if seen.contains(&doc.variant.as_str()) {
                self.report(
                    &rules::duplicate_id::RULE,
                    doc.variant.span,
                    format!(
                        "variant `{}` is named twice in this split",
                        doc.variant.value
                    ),
                    "reports compare variants by name; give each its own",
                );
            }
            seen.push(doc.variant.as_str());
            let action = self.action(&ActionKeys::of_variant(doc), &doc.variant);
            variants.push(Variant {
                name: doc.variant.value.clone(),
                weight: doc.weight.value,
                span: doc.variant.span,
                action,
            });
        }
        variants
    }

    fn wait(
        &mut self,
        wait: &Spanned<WaitDoc>,
        stage: StageId,
        index: usize,
        count: usize,
    ) -> Wait {
        let doc = &wait.value;
        if let (Some(when), None) = (&doc.when, &doc.event) {
            self.report(
                &rules::conflicting_keys::RULE,
                when.span,
                "a wait's `when` decides on its `event`, and this wait has none",
                "wait for a condition with `until: \"...\"`, or add the `event` the `when` is about",
            );
        }
        let signal = match (&doc.event, &doc.until) {
            (Some(event), None) => Some(self.event_signal(event, doc.when.as_ref())),
            (None, Some(until)) => Some(Signal::When(self.condition(until))),
            _ => {
                self.report(
                    &rules::conflicting_keys::RULE,
                    wait.span,
                    "a wait needs exactly one of `event` or `until`",
                    "e.g. `wait: { event: email.opened, within: 2d, yes: next, no: reminder }`",
                );
                None
            }
        };
        Wait {
            signal,
            within: doc.within.as_ref().and_then(|t| self.duration(t)),
            within_span: doc.within.as_ref().map_or(wait.span, |t| t.span),
            yes: match &doc.yes {
                Some(text) => self.step_target(text, stage, index, count),
                None if index + 1 < count => Target::Step(stage, index + 1),
                None => Target::Exhausted(stage),
            },
            no: doc
                .no
                .as_ref()
                .map(|text| self.step_target(text, stage, index, count)),
            span: wait.span,
        }
    }

    fn branch(
        &mut self,
        branch: &Spanned<BranchDoc>,
        stage: StageId,
        index: usize,
        count: usize,
    ) -> Branch {
        let doc = &branch.value;
        Branch {
            when: self.condition(&doc.when),
            yes: self.step_target(&doc.yes, stage, index, count),
            no: self.step_target(&doc.no, stage, index, count),
            span: branch.span,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::compile_str;

    /// Conditions are parsed once per distinct text, but each use keeps
    /// its own location.
    #[test]
    fn a_repeated_condition_is_placed_at_each_use() {
        let (funnel, diagnostics) = compile_str(
            "funnel: t\ncontact: { paid: bool }\nenter: [{ when: 'true', stage: a }]\nstages:\n  a:\n    goal: { when: \"contact.paid\", to: b }\n  b:\n    goal: { when: \"contact.paid\", to: c }\n  c: { terminal: true }\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let spans: Vec<usize> = funnel.reads.iter().map(|(_, span)| span.offset).collect();
        assert_eq!(spans.len(), 2);
        assert_ne!(spans[0], spans[1]);
    }
}
