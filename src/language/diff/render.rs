//! Renderers of one comparison list: a table for people, JSON for tools,
//! and GitHub workflow annotations. `funnel diff --against` supplies the
//! changes; `funnel diff --state` adds, per funnel, what the new version
//! does to the contacts in flight. Nothing here decides anything.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Change, ChangeKind, Effect, Fate, InFlight};
use crate::language::source::SourceFile;
use crate::lint::render::escape;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per change, per funnel, for people.
    Table,
    /// One JSON document: every funnel, its changes and a summary.
    Json,
    /// `::error` for breaking changes without a migration, `::notice` for the rest.
    Github,
}

/// One funnel file compared with an earlier version of itself.
#[derive(Debug)]
pub struct Compared {
    /// The file as it is now: its path as named and its text, for positions.
    pub file: SourceFile,
    /// The funnel's name in the new version (the file's name when it does not parse).
    pub funnel: String,
    pub status: Status,
    pub changes: Vec<Change>,
    /// With `--state`: the contacts at each position of the old version and
    /// what the new version does to them.
    pub effects: Option<Vec<(InFlight, Effect)>>,
}

/// Whether the two versions could be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Compared,
    /// The file is new: nobody is in it yet.
    Added,
    /// The earlier version does not parse: nothing to compare with.
    OldUnreadable {
        message: String,
    },
    /// The current version does not parse: `funnel check` says why.
    NewUnreadable {
        message: String,
    },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Compared => "compared",
            Status::Added => "added",
            Status::OldUnreadable { .. } => "old-unreadable",
            Status::NewUnreadable { .. } => "new-unreadable",
        }
    }

    fn message(&self) -> Option<&str> {
        match self {
            Status::Compared => None,
            Status::Added => Some("a new funnel: nobody is in it yet"),
            Status::OldUnreadable { message } | Status::NewUnreadable { message } => Some(message),
        }
    }
}

pub fn render(format: Format, compared: &[Compared], out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => table(compared, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(compared))?;
            writeln!(out)
        }
        Format::Github => github(compared, out),
    }
}

/// `stage/step`, `stage` or the funnel, for a change.
fn location(change: &Change) -> String {
    match (&change.stage, &change.step) {
        (Some(stage), Some(step)) => format!("{stage}/{step}"),
        (Some(stage), None) => stage.clone(),
        (None, Some(step)) => step.clone(),
        (None, None) => "funnel".to_string(),
    }
}

fn detail(change: &Change) -> String {
    let text = match (&change.old, &change.new) {
        (Some(old), Some(new)) => format!("{old} -> {new}"),
        (Some(old), None) => format!("was {old}"),
        (None, Some(new)) => new.clone(),
        (None, None) => String::new(),
    };
    match (&change.migration, change.breaking) {
        // A rename names its target already.
        (Some(to), _) if change.new.as_ref() == Some(to) => text,
        (Some(to), _) => format!("{text}; migrate: {to}"),
        (None, true) => format!("{text}; {}", remedy(change)),
        (None, false) => text,
    }
}

/// What a breaking change without a migration needs.
fn remedy(change: &Change) -> String {
    let id = change
        .step
        .as_deref()
        .or(change.stage.as_deref())
        .unwrap_or("?");
    match change.kind {
        ChangeKind::FunnelRenamed => {
            "journeys are kept by funnel name: keep the name, or let the old funnel empty first"
                .to_string()
        }
        ChangeKind::WaitTargetsChanged | ChangeKind::StepMoved => {
            format!("needs `migrate: {{ {id}: stay }}` or a step or stage for its contacts")
        }
        ChangeKind::StepRemoved => format!("needs `migrate: {{ {id}: <step|stage|next> }}`"),
        _ => format!("needs `migrate: {{ {id}: <step|stage> }}`"),
    }
}

fn mark(change: &Change) -> &'static str {
    match (change.breaking, &change.migration) {
        (true, None) => "breaking",
        (true, Some(_)) => "migrated",
        (false, _) => "ok",
    }
}

fn table(compared: &[Compared], out: &mut dyn Write) -> io::Result<()> {
    for one in compared {
        writeln!(out, "{} ({})", one.file.name(), one.funnel)?;
        if let Some(message) = one.status.message() {
            writeln!(out, "  {message}")?;
        } else if one.changes.is_empty() {
            writeln!(out, "  no structural changes")?;
        }
        for change in &one.changes {
            writeln!(
                out,
                "  {:<8}  {:<20}  {:<28}  {}",
                mark(change),
                change.kind.name(),
                location(change),
                detail(change)
            )?;
        }
        if let Some(effects) = &one.effects {
            writeln!(out, "  contacts in flight:")?;
            for (position, effect) in effects {
                writeln!(out, "    {}", contacts_line(position, effect))?;
            }
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", summary(compared))
}

fn position(p: &InFlight) -> String {
    match (&p.step, p.waiting) {
        (Some(step), true) => format!("{}/{step} (waiting)", p.stage),
        (Some(step), false) => format!("{}/{step}", p.stage),
        (None, _) => format!("{} (steps done)", p.stage),
    }
}

fn fate(fate: &Fate) -> String {
    match fate {
        Fate::Stays => "stay".to_string(),
        Fate::Retimed => "stay, on the new timing (open waits keep their deadline)".to_string(),
        Fate::Migrated { to } => format!("move to {to}"),
        Fate::Blocked { reason } => format!("blocked: {reason}"),
    }
}

fn contacts_line(p: &InFlight, effect: &Effect) -> String {
    let mut line = format!(
        "{:>6}  {:<34}  {}",
        p.count,
        position(p),
        fate(&effect.fate)
    );
    if !effect.upcoming.is_empty() {
        line.push_str(&format!("; will get {}", effect.upcoming.join(", ")));
    }
    if !effect.skipped.is_empty() {
        line.push_str(&format!("; will not get {}", effect.skipped.join(", ")));
    }
    line
}

/// The closing line: what fails the command, then how much changed.
pub fn summary(compared: &[Compared]) -> String {
    let changes: Vec<&Change> = compared.iter().flat_map(|c| &c.changes).collect();
    let unmigrated = changes.iter().filter(|c| c.unmigrated()).count();
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let head = match unmigrated {
        0 => "no breaking change without a migration".to_string(),
        n => format!("{} without a migration", plural(n, "breaking change")),
    };
    let blocked: u64 = compared
        .iter()
        .flat_map(|c| c.effects.iter().flatten())
        .filter(|(_, e)| matches!(e.fate, Fate::Blocked { .. }))
        .map(|(p, _)| p.count)
        .sum();
    let blocked = if compared.iter().any(|c| c.effects.is_some()) {
        format!(
            ", {} blocked",
            plural(usize::try_from(blocked).unwrap_or(usize::MAX), "contact")
        )
    } else {
        String::new()
    };
    format!(
        "{head}{blocked} ({} in {})",
        plural(changes.len(), "change"),
        plural(compared.len(), "funnel")
    )
}

fn json_report(compared: &[Compared]) -> Value {
    let funnels: Vec<Value> = compared.iter().map(json_funnel).collect();
    let changes = compared.iter().flat_map(|c| &c.changes);
    json!({
        "funnels": funnels,
        "summary": {
            "funnels": compared.len(),
            "changes": changes.clone().count(),
            "breaking": changes.clone().filter(|c| c.breaking).count(),
            "unmigrated": changes.filter(|c| c.unmigrated()).count(),
        },
    })
}

fn json_funnel(one: &Compared) -> Value {
    let changes: Vec<Value> = one
        .changes
        .iter()
        .map(|c| {
            let (line, column) = c.span.map(|s| one.file.line_col(s.offset)).unzip();
            json!({
                "kind": c.kind.name(),
                "stage": c.stage,
                "step": c.step,
                "old": c.old,
                "new": c.new,
                "breaking": c.breaking,
                "migration": c.migration,
                "line": line,
                "column": column,
            })
        })
        .collect();
    let mut value = json!({
        "file": one.file.name(),
        "funnel": one.funnel,
        "status": one.status.name(),
        "message": one.status.message(),
        "changes": changes,
    });
    if let Some(effects) = &one.effects {
        value["contacts"] = effects
            .iter()
            .map(|(position, effect)| {
                let mut fate = serde_json::to_value(&effect.fate).unwrap_or(Value::Null);
                fate["position"] = serde_json::to_value(position).unwrap_or(Value::Null);
                fate["skipped"] = json!(effect.skipped);
                fate["upcoming"] = json!(effect.upcoming);
                fate
            })
            .collect();
    }
    value
}

fn github(compared: &[Compared], out: &mut dyn Write) -> io::Result<()> {
    for one in compared {
        let file = escape(&one.file.name(), true);
        if let Some(message) = one.status.message() {
            let level = match one.status {
                Status::Added => "notice",
                _ => "warning",
            };
            writeln!(out, "::{level} file={file}::{}", escape(message, false))?;
        }
        for change in &one.changes {
            let level = if change.unmigrated() {
                "error"
            } else {
                "notice"
            };
            let place = match change.span {
                Some(span) => {
                    let (line, column) = one.file.line_col(span.offset);
                    format!(",line={line},col={column}")
                }
                None => String::new(),
            };
            let message = format!(
                "{} {}: {}",
                change.kind.name(),
                location(change),
                detail(change)
            );
            writeln!(
                out,
                "::{level} file={file}{place},title={}::{}",
                escape(&format!("funnel diff: {}", change.kind.name()), true),
                escape(&message, false)
            )?;
        }
        // With a state: who the edit moves, and who it would strand.
        for (place, effect) in one.effects.iter().flatten() {
            let level = match effect.fate {
                Fate::Blocked { .. } => "error",
                Fate::Migrated { .. } => "notice",
                Fate::Stays | Fate::Retimed => continue,
            };
            let message = format!(
                "{} on {}: {}",
                place.count,
                position(place),
                fate(&effect.fate)
            );
            writeln!(
                out,
                "::{level} file={file},title={}::{}",
                escape("funnel diff: contacts in flight", true),
                escape(&message, false)
            )?;
        }
    }
    Ok(())
}
