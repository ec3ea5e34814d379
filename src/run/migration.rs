//! Migration: what happens to contacts who are in the middle of a funnel
//! when the funnel changes. Journeys name their stage and step by id and
//! record the version they run under; before a run walks anyone, each
//! place an older version's contacts are at is weighed against the new
//! version with [`diff::impact`](crate::language::diff::impact) (the same rules
//! `funnel diff --state` shows): they stay (ids still there), or move where
//! the funnel's `migrate:` block says, or, with no migration for a
//! breaking edit, the run refuses to start.

use std::collections::HashMap;

use crate::language::diff::{self, Destination, Effect, Fate};
use crate::language::model::{Funnel, Target};
use crate::language::source::SourceFile;
use crate::run::runner::Loaded;
use crate::store::{Store, StoreError};

/// A place of an older version: the version, stage, step (`None` once the
/// steps ran out) and whether its wait is open.
pub type Place = (String, String, Option<String>, bool);

/// What the run does with the contacts at one place of an older version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carry {
    /// Same ids in this version: they go on from where they are (`step`,
    /// resolved by id, or from a `#N` position against the version they
    /// ran under).
    Stay { step: Option<String> },
    /// Moved by the funnel's `migrate:` block; `via` says how, for history.
    Move { to: Target, via: String },
}

/// In-flight contacts an edit would move with no migration to say where:
/// the run refuses to start, naming each place and how many are there.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.blocked))]
pub struct Unmigrated {
    pub blocked: Vec<Blocked>,
}

/// One place of an older version that this version cannot take contacts
/// from on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub funnel: String,
    pub version: String,
    pub stage: String,
    pub step: Option<String>,
    pub contacts: u64,
    pub why: String,
}

fn describe(blocked: &[Blocked]) -> String {
    let mut text = String::from(
        "an edit would move contacts who are in the middle of a funnel, and no migration says where; nothing was changed",
    );
    for b in blocked {
        if b.stage.is_empty() {
            text.push_str(&format!(
                "\n  {}: {} contacts: {}",
                b.funnel, b.contacts, b.why
            ));
            continue;
        }
        let place = match &b.step {
            Some(step) => format!("step `{step}` of stage `{}`", b.stage),
            None => format!("the end of stage `{}`", b.stage),
        };
        let id = b.step.as_deref().unwrap_or(&b.stage);
        text.push_str(&format!(
            "\n  {}: {} contact{} on {place} (version {}): {}\n    help: add `migrate: {{ {id}: <step, stage, next or stay> }}` to the funnel; `funnel diff --state` shows every change",
            b.funnel,
            b.contacts,
            if b.contacts == 1 { "" } else { "s" },
            short(&b.version),
            b.why,
        ));
    }
    text
}

/// The first eight hex digits of a version, as reports show it.
pub fn short(version: &str) -> &str {
    version.get(..8).unwrap_or(version)
}

/// An older version of a funnel as the state kept it, compiled; for a
/// state written before versions' text was kept, as git has it at the
/// commit the state recorded; `None` when neither has it (then the current
/// version stands in for it: ids are compared as they are now).
pub fn old_version(
    store: &Store,
    funnel: &str,
    version: &str,
) -> Result<Option<Funnel>, StoreError> {
    let text = match store.version_source(funnel, version)? {
        Some(text) => text,
        // An older state kept the file and commit, not the text: git may
        // still have it (checked against the hash, so a file edited after
        // that commit is not mistaken for the version).
        None => match store.version_origin(funnel, version)? {
            Some((path, Some(commit))) => {
                match crate::git::at_commit(std::path::Path::new(&path), &commit) {
                    Some(text) if crate::run::runner::version(&text) == version => text,
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        },
    };
    let file = SourceFile::new(format!("{funnel}@{}", short(version)).into(), text);
    Ok(crate::language::compiler::compile_file(&file).ok())
}

/// One older version with in-flight contacts: its hash, its text compiled
/// (when the state kept it), and what this version does at each place.
/// The last element is each place's step as the state holds it (`#N` for a
/// position an older funnel wrote), for the run to find its plan by.
pub type Older = (
    String,
    Option<Funnel>,
    Vec<(diff::InFlight, Effect)>,
    Vec<Option<String>>,
);

/// The places of every older version's in-flight contacts with what this
/// version does to them, grouped by old version.
pub fn effects(store: &Store, (new, current): (&Funnel, &str)) -> Result<Vec<Older>, StoreError> {
    let mut by_version: Vec<(String, Vec<diff::InFlight>)> = Vec::new();
    for place in store.in_flight(&new.name)? {
        if place.version == current {
            continue;
        }
        let position = diff::InFlight {
            stage: place.stage,
            step: place.step,
            waiting: place.waiting,
            count: place.contacts,
        };
        match by_version.iter_mut().find(|(v, _)| *v == place.version) {
            Some((_, places)) => places.push(position),
            None => by_version.push((place.version, vec![position])),
        }
    }
    let mut grouped = Vec::new();
    for (version, mut places) in by_version {
        let old = old_version(store, &new.name, &version)?;
        let before = old.as_ref().unwrap_or(new);
        let stored: Vec<Option<String>> = places.iter().map(|p| p.step.clone()).collect();
        // `#N`: a position an older funnel wrote, read as an index into the
        // version it ran under (or this one, when the state has no text).
        for place in &mut places {
            if let Some(index) = place.step.as_deref().and_then(|s| s.strip_prefix('#')) {
                place.step = before.stage_id(&place.stage).and_then(|s| {
                    let i = index.parse::<usize>().ok()?;
                    before.stages[s].steps.get(i).map(|step| step.id.clone())
                });
            }
        }
        let effects = diff::impact(before, new, &places);
        grouped.push((
            version,
            old,
            places.into_iter().zip(effects).collect(),
            stored,
        ));
    }
    Ok(grouped)
}

/// What the run does with one funnel's older versions' contacts, by place.
pub type Carries = HashMap<Place, Carry>;

/// Plans what the run does with every older version's in-flight contacts,
/// one [`Carries`] per funnel (for `loaded.carries`); refuses (before
/// anything changes) when an edit blocks some of them. Only reads: the
/// tick plans while the contacts feed is screened.
pub fn plan(
    store: &Store,
    funnels: &[Loaded],
) -> Result<Vec<Carries>, crate::run::tick::TickError> {
    let mut blocked = Vec::new();
    let mut planned = Vec::new();
    for loaded in funnels {
        blocked.extend(renamed(store, loaded)?);
        let mut carries = HashMap::new();
        let current = (&loaded.funnel, loaded.version.as_str());
        for (version, _, effects, stored) in effects(store, current)? {
            for ((place, effect), stored) in effects.into_iter().zip(stored) {
                let key: Place = (version.clone(), place.stage.clone(), stored, place.waiting);
                let carry = match effect.fate {
                    Fate::Stays | Fate::Retimed => Carry::Stay {
                        step: place.step.clone(),
                    },
                    Fate::Migrated { to } => match target(&loaded.funnel, &to) {
                        Some(target) => Carry::Move {
                            to: target,
                            via: format!(
                                "{} -> {to}",
                                place.step.as_deref().unwrap_or(&place.stage)
                            ),
                        },
                        None => continue,
                    },
                    Fate::Blocked { reason } => {
                        blocked.push(Blocked {
                            funnel: loaded.funnel.name.clone(),
                            version: version.clone(),
                            stage: place.stage,
                            step: place.step,
                            contacts: place.count,
                            why: reason,
                        });
                        continue;
                    }
                };
                carries.insert(key, carry);
            }
        }
        planned.push(carries);
    }
    if blocked.is_empty() {
        Ok(planned)
    } else {
        Err(Unmigrated { blocked }.into())
    }
}

/// A destination in `funnel`'s terms.
fn target(funnel: &Funnel, to: &Destination) -> Option<Target> {
    match to {
        Destination::Step { step, .. } => {
            let (s, i) = funnel.step_position(step)?;
            Some(Target::Step(s, i))
        }
        Destination::Stage { stage } => funnel.stage_id(stage).map(Target::Stage),
        Destination::Exhausted { stage } => funnel.stage_id(stage).map(Target::Exhausted),
    }
}

/// Contacts in flight under another funnel name that was last run from the
/// same file: the funnel was renamed. Journeys are kept by name, so a
/// renamed funnel would start everyone again under the new one; the run
/// refuses instead.
pub fn renamed(store: &Store, loaded: &Loaded) -> Result<Option<Blocked>, StoreError> {
    let path = loaded.path.display().to_string();
    let Some((old, contacts)) = store.renamed_from(&loaded.funnel.name, &path)? else {
        return Ok(None);
    };
    Ok(Some(Blocked {
        funnel: loaded.funnel.name.clone(),
        version: String::new(),
        stage: String::new(),
        step: None,
        contacts,
        why: format!(
            "{path} was the funnel `{old}`, and its contacts are in flight under that name; a renamed funnel would start them all again: keep the name `{old}` until they are through"
        ),
    }))
}
