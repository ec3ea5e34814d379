//! Migration: where a contact goes when the version of the funnel it runs
//! under had a step or stage this one no longer has. The funnel's
//! `migrate:` block decides; without an entry the contact cannot be placed
//! and the run refuses the edit before anyone moves.

use crate::model::{Funnel, Target};

/// Where a contact on `stage`/`step` of an older version goes in `funnel`,
/// and how it was decided (for the history line); `None` when nothing says.
/// `old` is the version the contact ran under, when the state kept it (to
/// resolve `next`).
pub fn resolve(
    funnel: &Funnel,
    stage: &str,
    step: Option<&str>,
    old: Option<&Funnel>,
) -> Option<(Target, String)> {
    let _ = (funnel, stage, step, old);
    None
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
        let place = match &b.step {
            Some(step) => format!("step `{step}` of stage `{}`", b.stage),
            None => format!("the end of stage `{}`", b.stage),
        };
        let id = b.step.as_deref().unwrap_or(&b.stage);
        text.push_str(&format!(
            "\n  {}: {} contact{} on {place} (version {}): {}\n    help: add `migrate: {{ {id}: <step, stage or next> }}` to the funnel; `funnel diff --state` shows every change",
            b.funnel,
            b.contacts,
            if b.contacts == 1 { "" } else { "s" },
            b.version.get(..8).unwrap_or(&b.version),
            b.why,
        ));
    }
    text
}

/// Whether a place of an older version still exists in `funnel`, by id;
/// `#N` (a position an older funnel wrote) is read as an index.
pub fn placed(funnel: &Funnel, stage: &str, step: Option<&str>) -> Result<(), String> {
    let Some(s) = funnel.stage_id(stage) else {
        return Err(format!("this version has no stage `{stage}`"));
    };
    match step {
        None => Ok(()),
        Some(index) if index.starts_with('#') => Ok(()),
        Some(id) if funnel.stages[s].steps.iter().any(|st| st.id == id) => Ok(()),
        Some(id) => Err(format!(
            "stage `{stage}` of this version has no step `{id}`"
        )),
    }
}

/// Refuses a run whose funnels would move in-flight contacts without a
/// migration; checked before anything changes.
pub fn check(
    connection: &rusqlite::Connection,
    funnels: &[crate::runner::Loaded],
) -> Result<(), crate::tick::TickError> {
    let mut blocked = Vec::new();
    for loaded in funnels {
        let funnel = &loaded.funnel;
        for place in crate::store::in_flight(connection, &funnel.name)? {
            if place.version == loaded.version {
                continue;
            }
            let Err(why) = placed(funnel, &place.stage, place.step.as_deref()) else {
                continue;
            };
            if resolve(funnel, &place.stage, place.step.as_deref(), None).is_some() {
                continue;
            }
            blocked.push(Blocked {
                funnel: funnel.name.clone(),
                version: place.version,
                stage: place.stage,
                step: place.step,
                contacts: place.contacts,
                why,
            });
        }
    }
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(Unmigrated { blocked }.into())
    }
}
