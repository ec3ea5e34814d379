//! Measure: the figures of `funnel report`, from the state's summary tables
//! (tables of the store's v4 migration, `store/v4_summaries.sql`, kept by
//! `store/counters.rs` and two triggers)
//! and, when they can be read, the funnel definitions, which give the stage
//! and step order, each stage's goal and which stages are ends. Reads only
//! counters, never the history itself, so a report costs the same at ten
//! thousand history rows as at ten million. The counters come through the
//! store's typed reads ([`Report`]); the sums, rates and medians made of
//! them, and the scorecard, are this module's.
//!
//! Definitions, as the README documents them:
//! - A stage's figures count *visits that began in the window*, under the
//!   version the contact entered the stage with. A visit *converts* when it
//!   leaves by the goal, or by a step's positive outcome into the goal's
//!   stage (`wait: { until: paid, yes: paid }` reaches the same place).
//! - A split variant converts when the visit of the split's stage in which
//!   the contact was assigned converts.
//! - The *main path* starts at the stage the first `enter:` leads to and
//!   follows each stage's goal; when it ends in a terminal stage, that is
//!   the *final goal*, and the overall conversion is that stage's visits
//!   against the first stage's (`path.rs`).
//! - Step outcomes and sends are dated by when they happened or were due;
//!   tasks by when they were created.
//!
//! The figures are written as a `scorecard` (table, JSON, CSV) or a
//! `dashboard` (HTML), with `stats` for intervals and tests.

pub mod dashboard;
mod path;
pub mod scorecard;
mod split;
pub mod stats;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::language::model::{Action, Funnel, Target};
use crate::measure::scorecard::{
    FunnelCard, Scorecard, StaffFigures, StageFigures, StepFigures, VersionInfo,
};
use crate::measure::stats::Proportion;
use crate::store::{OutboxStatus, Report, Store, StoreError};

/// What to measure.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// One funnel by name; all when `None`.
    pub funnel: Option<String>,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// A version hash or git commit, or a prefix of one.
    pub version: Option<String>,
    pub min_contacts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The funnel named has never run.
    #[error("no funnel `{name}` has run; known: {known}")]
    UnknownFunnel { name: String, known: String },
    /// No version matches `--version`.
    #[error("no version `{version}` has run; known: {known}")]
    UnknownVersion { version: String, known: String },
    /// `--version` matches more than one version of a funnel.
    #[error("version `{version}` of {funnel} is ambiguous: {matches}; give more of it")]
    AmbiguousVersion {
        version: String,
        funnel: String,
        matches: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type MeasureResult<T> = Result<T, MeasureError>;

pub struct Measurer<'a> {
    /// The state's counters in the filter's window.
    report: Report<'a>,
    definitions: &'a [Funnel],
    filter: &'a Filter,
}

/// How a visit of a stage ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ending {
    Converted,
    Negative,
    Exhausted,
    Exited,
    Other,
}

fn ending(outcome: &str, to_stage: &str, goal: Option<&str>) -> Ending {
    match outcome {
        "goal" => Ending::Converted,
        "wait-yes" | "branch-yes" if goal == Some(to_stage) => Ending::Converted,
        "wait-no" | "branch-no" => Ending::Negative,
        "exhausted" => Ending::Exhausted,
        "exit" => Ending::Exited,
        _ => Ending::Other,
    }
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10_f64.powi(places);
    (x * scale).round() / scale
}

fn rated(p: Proportion) -> (Option<f64>, Option<f64>, Option<f64>) {
    let interval = p.wilson();
    (
        p.rate().map(|r| round(r, 4)),
        interval.map(|(low, _)| round(low, 4)),
        interval.map(|(_, high)| round(high, 4)),
    )
}

impl<'a> Measurer<'a> {
    pub fn new(store: &'a Store, definitions: &'a [Funnel], filter: &'a Filter) -> Self {
        Self {
            report: store.report(filter.since, filter.until),
            definitions,
            filter,
        }
    }

    pub fn measure(&self) -> MeasureResult<Scorecard> {
        let mut names = self.report.funnels()?;
        if let Some(name) = &self.filter.funnel {
            if !names.contains(name) {
                return Err(MeasureError::UnknownFunnel {
                    name: name.clone(),
                    known: names.join(", "),
                });
            }
            names.retain(|n| n == name);
        }
        let as_of = self.report.as_of()?;
        let mut funnels = Vec::new();
        let mut known = Vec::new();
        for name in names {
            let versions = self.versions(&name)?;
            let selected = match &self.filter.version {
                None => None,
                Some(wanted) => match pick(wanted, &name, &versions)? {
                    Some(v) => Some(v),
                    None => {
                        known.extend(versions.iter().map(|v| v.version.clone()));
                        continue;
                    }
                },
            };
            funnels.push(self.funnel(&name, &versions, selected.as_deref(), as_of)?);
        }
        if let (Some(version), true) = (&self.filter.version, funnels.is_empty()) {
            return Err(MeasureError::UnknownVersion {
                version: version.clone(),
                known: known.join(", "),
            });
        }
        Ok(Scorecard {
            since: self.filter.since.map(|d| d.to_string()),
            until: self.filter.until.map(|d| d.to_string()),
            as_of,
            min_contacts: self.filter.min_contacts,
            funnels,
        })
    }

    fn versions(&self, funnel: &str) -> MeasureResult<Vec<VersionInfo>> {
        let rows = self.report.versions(funnel)?;
        Ok(rows
            .into_iter()
            .map(|v| VersionInfo {
                version: v.version,
                git_commit: v.git_commit,
                path: v.path,
                first_run: v.first_run,
                last_run: v.last_run,
            })
            .collect())
    }

    fn funnel(
        &self,
        name: &str,
        versions: &[VersionInfo],
        selected: Option<&str>,
        as_of: Option<DateTime<Utc>>,
    ) -> MeasureResult<FunnelCard> {
        let definition = self.definitions.iter().find(|f| f.name == name);
        let shown = self.report.versions_with_data(name, selected)?;
        let versions: Vec<VersionInfo> = versions
            .iter()
            .filter(|v| shown.contains(&v.version))
            .cloned()
            .collect();
        let stages = self.stages(name, definition, selected)?;
        let bottleneck = stages
            .iter()
            .filter(|s| !s.terminal && s.entered >= self.filter.min_contacts)
            .filter_map(|s| s.rate.map(|r| (r, s)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, s)| s.stage.clone());
        let start = definition.and_then(|f| {
            let trigger = f.entries.first()?;
            stage_name(f, trigger.stage)
        });
        let main_path = path::main_path(&stages, start.as_deref());
        let overall = path::overall(&stages, &main_path);
        let goals: HashMap<&str, Option<&str>> = stages
            .iter()
            .map(|s| (s.stage.as_str(), s.goal.as_deref()))
            .collect();
        let mut steps = self.steps(name, definition, selected)?;
        // Stage by stage, as the stages are listed (stable: the definition's
        // step order stays within a stage).
        steps.sort_by_key(|s| {
            stages
                .iter()
                .position(|x| x.stage == s.stage)
                .unwrap_or(usize::MAX)
        });
        Ok(FunnelCard {
            funnel: name.to_string(),
            mixed: versions.len() > 1,
            versions,
            bottleneck,
            steps,
            splits: self.splits(name, definition, selected, &goals)?,
            staff: self.staff(name, selected, as_of)?,
            stages,
            main_path,
            overall,
        })
    }

    fn stages(
        &self,
        funnel: &str,
        definition: Option<&Funnel>,
        selected: Option<&str>,
    ) -> MeasureResult<Vec<StageFigures>> {
        let mut flows: BTreeMap<String, Vec<(String, String, u64)>> = BTreeMap::new();
        for row in self.report.stage_flow(funnel, selected)? {
            let flow = (row.outcome, row.to_stage, row.contacts);
            flows.entry(row.stage).or_default().push(flow);
        }
        let mut order: Vec<String> = definition
            .map(|f| f.stages.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        // Stages the definition does not know (it changed, or is missing)
        // follow, the bigger first: funnels narrow.
        let mut extra: Vec<(&String, u64)> = flows
            .iter()
            .filter(|(stage, _)| !order.contains(stage))
            .map(|(stage, f)| (stage, entered(f)))
            .collect();
        extra.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        order.extend(extra.into_iter().map(|(s, _)| s.clone()));
        let mut figures = Vec::new();
        for stage in order {
            let flow = flows.get(&stage).map(Vec::as_slice).unwrap_or_default();
            let defined = definition.and_then(|f| f.stage_id(&stage).map(|s| (f, s)));
            let goal = match defined {
                Some((f, s)) => f.stages[s].goal.as_ref().and_then(|g| stage_name(f, g.to)),
                None => observed_goal(flow),
            };
            let departures: u64 = flow
                .iter()
                .filter(|(o, ..)| o != "entered")
                .map(|f| f.2)
                .sum();
            let terminal = match defined {
                Some((f, s)) => f.stages[s].terminal,
                None => goal.is_none() && departures == 0,
            };
            figures.push(self.stage(funnel, stage, flow, goal, terminal, selected)?);
        }
        Ok(figures)
    }

    fn stage(
        &self,
        funnel: &str,
        stage: String,
        flow: &[(String, String, u64)],
        goal: Option<String>,
        terminal: bool,
        selected: Option<&str>,
    ) -> MeasureResult<StageFigures> {
        let mut by = HashMap::new();
        for (outcome, to, n) in flow.iter().filter(|(o, ..)| o != "entered") {
            *by.entry(ending(outcome, to, goal.as_deref())).or_insert(0) += n;
        }
        let get = |e| by.get(&e).copied().unwrap_or(0);
        let entered = entered(flow);
        let converted = get(Ending::Converted);
        let left: u64 = by.values().sum();
        let (rate, rate_low, rate_high) = if terminal || goal.is_none() {
            (None, None, None)
        } else {
            rated(Proportion::new(converted, entered))
        };
        let median_seconds = match converted {
            0 => None,
            n => self.median(funnel, &stage, goal.as_deref(), n, selected)?,
        };
        Ok(StageFigures {
            stage,
            terminal,
            goal,
            entered,
            converted,
            negative: get(Ending::Negative),
            exhausted: get(Ending::Exhausted),
            exited: get(Ending::Exited),
            other: get(Ending::Other),
            still: entered.saturating_sub(left),
            rate,
            rate_low,
            rate_high,
            median_seconds,
        })
    }

    /// The median time to convert: the middle of the index on
    /// (funnel, stage, seconds), reached by OFFSET instead of a sort.
    fn median(
        &self,
        funnel: &str,
        stage: &str,
        goal: Option<&str>,
        n: u64,
        selected: Option<&str>,
    ) -> MeasureResult<Option<i64>> {
        let (limit, offset) = if n % 2 == 1 {
            (1, (n - 1) / 2)
        } else {
            (2, n / 2 - 1)
        };
        let place = (funnel, stage, goal);
        let middle = self
            .report
            .conversion_seconds(place, selected, (limit, offset))?;
        Ok(match middle.as_slice() {
            [one] => Some(*one),
            [a, b] => Some((a + b).div_euclid(2)),
            _ => None,
        })
    }

    fn steps(
        &self,
        funnel: &str,
        definition: Option<&Funnel>,
        selected: Option<&str>,
    ) -> MeasureResult<Vec<StepFigures>> {
        let blank = |stage: &str, step: &str| StepFigures {
            stage: stage.to_string(),
            step: step.to_string(),
            channel: None,
            queued: 0,
            sent: 0,
            delivered: 0,
            failed: 0,
            skipped: 0,
            yes: 0,
            no: 0,
            yes_rate: None,
        };
        // Keyed by step id, which is unique in a funnel.
        let mut steps: BTreeMap<String, StepFigures> = BTreeMap::new();
        for flow in self.report.step_flow(funnel, selected)? {
            let (stage, step, outcome, n) = (flow.stage, flow.step, flow.outcome, flow.contacts);
            let figures = steps
                .entry(step.clone())
                .or_insert_with(|| blank(&stage, &step));
            if outcome.ends_with("-yes") {
                figures.yes += n;
            } else {
                figures.no += n;
            }
        }
        for sends in self.report.step_sends(funnel, selected)? {
            let (step, channel, status, n) =
                (sends.step, sends.channel, sends.status, sends.actions);
            if n == 0 {
                continue;
            }
            let stage = definition
                .and_then(|f| step_place(f, &step).map(|(s, _)| f.stages[s].name.clone()))
                .unwrap_or_default();
            let figures = steps
                .entry(step.clone())
                .or_insert_with(|| blank(&stage, &step));
            match &mut figures.channel {
                Some(known) if !known.split('/').any(|c| c == channel) => {
                    known.push('/');
                    known.push_str(&channel);
                }
                Some(_) => {}
                none => *none = Some(channel),
            }
            match status {
                OutboxStatus::Queued => figures.queued += n,
                OutboxStatus::Delivered => figures.delivered += n,
                OutboxStatus::Stale | OutboxStatus::Suppressed => figures.skipped += n,
                OutboxStatus::Failed | OutboxStatus::Dead => figures.failed += n,
            }
        }
        let mut steps: Vec<StepFigures> = steps.into_values().collect();
        for s in &mut steps {
            s.sent = s.delivered + s.failed;
            s.yes_rate = Proportion::new(s.yes, s.yes + s.no)
                .rate()
                .map(|r| round(r, 4));
            if s.channel.is_none()
                && let Some(Action::Task(_)) = definition
                    .and_then(|f| step_place(f, &s.step).map(|(a, b)| &f.stages[a].steps[b]))
                    .and_then(|step| step.action.as_ref())
            {
                s.channel = Some("task".to_string());
            }
        }
        // Definition order, then what it does not know.
        steps.sort_by_key(|s| {
            definition
                .and_then(|f| step_place(f, &s.step))
                .unwrap_or((usize::MAX, usize::MAX))
        });
        Ok(steps)
    }

    fn staff(
        &self,
        funnel: &str,
        selected: Option<&str>,
        as_of: Option<DateTime<Utc>>,
    ) -> MeasureResult<Vec<StaffFigures>> {
        let rows = self.report.staff(funnel, selected, as_of)?;
        Ok(rows
            .into_iter()
            .map(|t| StaffFigures {
                assignee: t.assignee,
                created: t.created,
                done: t.done,
                on_time: t.on_time,
                late: t.done.saturating_sub(t.on_time),
                open: t.open,
                overdue: t.overdue,
                escalated: t.escalated,
            })
            .collect())
    }
}

fn entered(flow: &[(String, String, u64)]) -> u64 {
    flow.iter()
        .filter(|(o, ..)| o == "entered")
        .map(|f| f.2)
        .sum()
}

/// Without a definition, the goal is where the stage's goal moves went.
fn observed_goal(flow: &[(String, String, u64)]) -> Option<String> {
    flow.iter()
        .filter(|(o, ..)| o == "goal")
        .max_by_key(|(_, to, n)| (*n, std::cmp::Reverse(to.clone())))
        .map(|(_, to, _)| to.clone())
}

fn stage_name(funnel: &Funnel, target: Target) -> Option<String> {
    match target {
        Target::Stage(s) | Target::Step(s, _) | Target::Exhausted(s) => {
            funnel.stages.get(s).map(|s| s.name.clone())
        }
        Target::Unresolved => None,
    }
}

/// (stage index, step index) of a step id.
fn step_place(funnel: &Funnel, step: &str) -> Option<(usize, usize)> {
    funnel.stages.iter().enumerate().find_map(|(s, stage)| {
        stage
            .steps
            .iter()
            .position(|x| x.id == step)
            .map(|i| (s, i))
    })
}

/// The version `wanted` names in `funnel`: a prefix of its hash or of its
/// git commit. `None` when it names none of this funnel's.
fn pick(wanted: &str, funnel: &str, versions: &[VersionInfo]) -> MeasureResult<Option<String>> {
    let matches: Vec<&VersionInfo> = versions
        .iter()
        .filter(|v| {
            v.version.starts_with(wanted)
                || v.git_commit
                    .as_deref()
                    .is_some_and(|c| c.starts_with(wanted))
        })
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.version.clone())),
        many => Err(MeasureError::AmbiguousVersion {
            version: wanted.to_string(),
            funnel: funnel.to_string(),
            matches: many
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
