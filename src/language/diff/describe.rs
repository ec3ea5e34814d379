//! Edits in words for `funnel diff`: a step's timing, action and wait, a
//! stage's goal, each as one short line that compares equal exactly when
//! the thing it describes did not change for a contact. Targets are named,
//! not indexed, so inserting a step elsewhere changes no description.

use crate::language::duration;
use crate::language::model::{Action, Funnel, Outcome, Signal, Stage, Step, Target, Wait};

pub(super) fn place(stage: &Stage, index: usize) -> String {
    match index.checked_sub(1).and_then(|p| stage.steps.get(p)) {
        Some(before) => format!("after `{}`", before.id),
        None => "first".to_string(),
    }
}

pub(super) fn steps_of(stage: &Stage) -> String {
    let ids: Vec<&str> = stage.steps.iter().map(|s| s.id.as_str()).collect();
    if ids.is_empty() {
        "no steps".to_string()
    } else {
        format!("steps {}", ids.join(", "))
    }
}

pub(super) fn describe_step(funnel: &Funnel, step: &Step) -> String {
    let mut parts = vec![timing(step), action(step)];
    let at = funnel.step_position(&step.id);
    if let Some(targets) = at.and_then(|(s, i)| wait_targets(funnel, s, i)) {
        parts.push(format!("wait {targets}"));
    }
    parts.retain(|p| p != "at once" && p != "no action");
    if parts.is_empty() {
        "no action".to_string()
    } else {
        parts.join(", ")
    }
}

/// What [`timing`] says of a step that runs as soon as it is reached.
pub(crate) const AT_ONCE: &str = "at once";

/// `after 3d`, `at 09:00`, `on EXPR`, or `at once`.
pub(crate) fn timing(step: &Step) -> String {
    let mut parts = Vec::new();
    if let Some(after) = step.after {
        parts.push(format!("after {}", duration::format(after)));
    }
    if let Some(days) = step.after_working_days {
        let unit = if days == 1 { "day" } else { "days" };
        parts.push(format!("after {days} working {unit}"));
    }
    if let Some(at) = step.at {
        parts.push(format!("at {}", at.format("%H:%M")));
    }
    if let Some(on) = &step.on {
        parts.push(format!("on {}", on.source));
    }
    if parts.is_empty() {
        AT_ONCE.to_string()
    } else {
        parts.join(", ")
    }
}

pub(super) fn wait_of(step: &Step) -> Option<&Wait> {
    match &step.outcome {
        Outcome::Wait(wait) => Some(wait),
        _ => None,
    }
}

/// `within 3d`, `no window`, or `no wait`.
pub(super) fn window(step: &Step) -> String {
    match wait_of(step) {
        Some(wait) => wait.within.map_or("no window".to_string(), |w| {
            format!("within {}", duration::format(w))
        }),
        None => "no wait".to_string(),
    }
}

/// What the wait of step `i` of stage `s` waits for and where it leads,
/// targets by name (`next` for the following step); `None` without a wait.
pub(super) fn wait_targets(funnel: &Funnel, s: usize, i: usize) -> Option<String> {
    let wait = wait_of(funnel.stages.get(s)?.steps.get(i)?)?;
    let signal = match &wait.signal {
        Some(Signal::When(condition)) => format!("until {}", condition.source),
        Some(Signal::Event { name, filter }) => event(name, filter.as_ref()),
        None => "?".to_string(),
    };
    let name = |target: Target| target_name(funnel, s, i, target);
    let no = wait.no.map_or("none".to_string(), name);
    Some(format!("{signal}, yes: {}, no: {no}", name(wait.yes)))
}

/// An event signal in words, with the condition that decides on it.
fn event(name: &str, filter: Option<&crate::language::condition::Condition>) -> String {
    match filter {
        Some(when) => format!("event {name} when {}", when.source),
        None => format!("event {name}"),
    }
}

fn target_name(funnel: &Funnel, s: usize, i: usize, target: Target) -> String {
    match target {
        Target::Step(ts, ti) if ts == s && ti == i + 1 => "next".to_string(),
        Target::Exhausted(ts) if ts == s => "next".to_string(),
        Target::Step(ts, ti) => funnel.stages[ts].steps[ti].id.clone(),
        Target::Stage(ts) => funnel.stages[ts].name.clone(),
        Target::Exhausted(ts) => format!("exhausted of {}", funnel.stages[ts].name),
        Target::Unresolved => "?".to_string(),
    }
}

pub(super) fn goal(funnel: &Funnel, s: usize) -> String {
    let stage = &funnel.stages[s];
    let Some(goal) = &stage.goal else {
        return "no goal".to_string();
    };
    std::iter::once(goal)
        .chain(&stage.more_goals)
        .map(|goal| {
            let signal = match &goal.signal {
                Signal::When(condition) => format!("when {}", condition.source),
                Signal::Event { name, filter } => event(name, filter.as_ref()),
            };
            let to = match goal.to {
                Target::Stage(ts) => funnel.stages[ts].name.as_str(),
                _ => "?",
            };
            format!("{signal} -> {to}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The action in words: `email quote-nudge`, `task call for assistant`.
pub(super) fn action(step: &Step) -> String {
    step.action
        .as_ref()
        .map_or("no action".to_string(), describe_action)
}

fn describe_action(action: &Action) -> String {
    let template = |t: &Option<String>| t.as_ref().map_or(String::new(), |t| format!(" ({t})"));
    match action {
        Action::Message {
            channel,
            template,
            transactional,
        } => {
            let kind = if *transactional { " transactional" } else { "" };
            format!("{}{kind} {template}", channel.name())
        }
        Action::Webhook {
            endpoint,
            template: t,
        } => format!("webhook {endpoint}{}", template(t)),
        Action::Task(task) => {
            let who = match &task.assignee {
                crate::language::model::Assignee::Staff(name) => name.clone(),
                crate::language::model::Assignee::Field(field) => format!("contact.{field}"),
            };
            let due = task
                .due
                .map_or(String::new(), |d| format!(" due {}", duration::format(d)));
            let kind = serde_json::to_value(task.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("task {kind} for {who}{due}{}", template(&task.template))
        }
        Action::Set(fields) => {
            let set: Vec<String> = fields
                .iter()
                .map(|(field, value)| format!("{field} = {}", value.source))
                .collect();
            format!("set {}", set.join(", "))
        }
        Action::Tag(tag) => format!("tag {tag}"),
        Action::Notify { to, template } => {
            let to = match to {
                crate::language::model::Assignee::Staff(name) => name.clone(),
                crate::language::model::Assignee::Field(field) => format!("contact.{field}"),
            };
            format!("notify {to} ({template})")
        }
        Action::Split(variants) => {
            let parts: Vec<String> = variants
                .iter()
                .map(|v| {
                    let action = v.action.as_ref().map_or("nothing".into(), describe_action);
                    format!("{} {}% {action}", v.name, v.weight)
                })
                .collect();
            format!("split {}", parts.join(" | "))
        }
    }
}
