//! Scorecard: the figures of `funnel report` and their text forms: an
//! aligned table for the terminal, JSON, and CSV with one number a row. The
//! field names here are the documented, stable names of the JSON and CSV
//! (README, "Measuring funnels"); the HTML page is `dashboard.rs`. Nothing
//! here computes: `measure.rs` fills these in.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::table::TableFormat;

mod csv;
mod verdict;

pub use verdict::{verdict, winner};

/// Everything one report shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scorecard {
    /// First and last day counted (UTC, inclusive), when limited.
    pub since: Option<String>,
    pub until: Option<String>,
    /// The last run's time: open tasks due before it are overdue.
    #[serde(with = "crate::store::stamp::optional")]
    pub as_of: Option<DateTime<Utc>>,
    /// Stages with fewer contacts than this are not named the bottleneck.
    pub min_contacts: u64,
    pub funnels: Vec<FunnelCard>,
}

/// One funnel's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunnelCard {
    pub funnel: String,
    /// The versions whose figures are counted here.
    pub versions: Vec<VersionInfo>,
    /// True when more than one version is counted together.
    pub mixed: bool,
    /// The stage with the lowest conversion among those with enough contacts.
    pub bottleneck: Option<String>,
    pub stages: Vec<StageFigures>,
    pub steps: Vec<StepFigures>,
    pub splits: Vec<SplitFigures>,
    pub staff: Vec<StaffFigures>,
    /// The main path: the stage the first `enter:` leads to, then each
    /// stage's goal in turn. Stages off it are detours and side exits.
    pub main_path: Vec<String>,
    /// The funnel's overall conversion, when its main path ends in a
    /// terminal stage (its final goal).
    pub overall: Option<Overall>,
}

/// Visits of the main path's first stage against visits of its final goal,
/// the terminal stage its goals lead to: the same visit counts as the
/// stage table's `entered`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overall {
    /// The final goal stage.
    pub goal: String,
    /// Entered the main path's first stage.
    pub entered: u64,
    /// Entered the final goal stage, by whatever move.
    pub reached: u64,
    /// `reached / entered` with its 95% Wilson interval; none when the
    /// window holds more arrivals than entries (journeys begun before it).
    pub rate: Option<f64>,
    pub rate_low: Option<f64>,
    pub rate_high: Option<f64>,
}

/// A funnel version that ran: the hash of the file, and its git commit when
/// the file was committed and unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: String,
    pub git_commit: Option<String>,
    pub path: String,
    #[serde(with = "crate::store::stamp")]
    pub first_run: DateTime<Utc>,
    #[serde(with = "crate::store::stamp::optional")]
    pub last_run: Option<DateTime<Utc>>,
}

/// Visits of one stage that began in the window, and how they ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageFigures {
    pub stage: String,
    pub terminal: bool,
    /// Where the stage's goal leads.
    pub goal: Option<String>,
    pub entered: u64,
    /// Reached the goal: by the goal itself, or by a step's positive outcome
    /// leading to the goal's stage.
    pub converted: u64,
    /// A step's negative outcome led out of the stage.
    pub negative: u64,
    /// The steps ran out without the goal.
    pub exhausted: u64,
    /// Left through an exit (opt-out and the like).
    pub exited: u64,
    /// Any other move out: a positive branch elsewhere, or a legacy move.
    pub other: u64,
    pub still: u64,
    /// `converted / entered`, with its 95% Wilson interval.
    pub rate: Option<f64>,
    pub rate_low: Option<f64>,
    pub rate_high: Option<f64>,
    /// Median time from entering the stage to converting.
    pub median_seconds: Option<i64>,
}

/// One step: its actions by delivery status and its outcomes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepFigures {
    pub stage: String,
    pub step: String,
    pub channel: Option<String>,
    /// Waiting to be sent.
    pub queued: u64,
    /// Handed to a channel: `delivered + failed`.
    pub sent: u64,
    pub delivered: u64,
    /// Failed, dead or in an unknown status.
    pub failed: u64,
    /// Never sent: stale or suppressed.
    pub skipped: u64,
    /// Positive and negative outcomes of the step's wait or branch.
    pub yes: u64,
    pub no: u64,
    pub yes_rate: Option<f64>,
}

/// One A/B split step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitFigures {
    pub stage: String,
    pub step: String,
    pub variants: Vec<VariantFigures>,
    /// Every variant against the first.
    pub comparisons: Vec<Comparison>,
    /// The variant that converts significantly better, if one does.
    pub winner: Option<String>,
    /// The outcome in words: `winner: coupon (p=0.0100)`, or what is
    /// missing (`no winner yet; need about 120 more per variant`).
    pub verdict: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantFigures {
    pub variant: String,
    /// Contacts assigned the variant.
    pub contacts: u64,
    /// Of those, the ones whose visit of the split's stage converted.
    pub converted: u64,
    /// Still in the stage: not (yet) converted.
    pub still: u64,
    pub rate: Option<f64>,
    pub rate_low: Option<f64>,
    pub rate_high: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub control: String,
    pub variant: String,
    /// The variant's rate minus the control's.
    pub difference: Option<f64>,
    /// Two-sided p-value of the two-proportion z-test.
    pub p_value: Option<f64>,
    /// `p_value < 0.05`.
    pub significant: bool,
    /// Contacts each variant needs to tell a difference of this size (5%
    /// level, 80% power), and how many more than the larger arm has now.
    pub needed_per_variant: Option<u64>,
    pub more_needed: Option<u64>,
}

/// One assignee's tasks created in the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaffFigures {
    pub assignee: String,
    pub created: u64,
    pub done: u64,
    /// Done by the due time (or with none).
    pub on_time: u64,
    pub late: u64,
    pub open: u64,
    /// Open and past due at `as_of`.
    pub overdue: u64,
    pub escalated: u64,
}

impl FunnelCard {
    pub fn stage(&self, name: &str) -> Option<&StageFigures> {
        self.stages.iter().find(|s| s.stage == name)
    }
}

/// Renders the scorecard as a table, JSON or CSV.
pub fn render(card: &Scorecard, format: TableFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, card)?;
            writeln!(out)
        }
        TableFormat::Csv => csv::csv(card, out),
        TableFormat::Table => table(card, out),
    }
}

pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

pub fn interval(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(low), Some(high)) => format!("{:.1}-{:.1}%", low * 100.0, high * 100.0),
        _ => "-".to_string(),
    }
}

/// A duration for people: `2d 3h`, `5h 10m`, `45m`.
pub fn duration(seconds: Option<i64>) -> String {
    let Some(seconds) = seconds else {
        return "-".to_string();
    };
    let minutes = seconds.max(0) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

pub fn version_label(v: &VersionInfo) -> String {
    let short = v.version.get(..8).unwrap_or(&v.version);
    match &v.git_commit {
        Some(commit) => format!("{short} (git {})", commit.get(..7).unwrap_or(commit)),
        None => format!("{short} (not committed)"),
    }
}

/// The lines above a funnel's tables: the versions and the bottleneck.
pub fn headline(funnel: &FunnelCard) -> Vec<String> {
    let mut lines = Vec::new();
    let labels: Vec<String> = funnel.versions.iter().map(version_label).collect();
    match labels.len() {
        0 => lines.push("no runs in this period".to_string()),
        1 => lines.push(format!("version {}", labels.join(""))),
        n => lines.push(format!(
            "warning: {n} versions mixed: {}; pick one with --version",
            labels.join(", ")
        )),
    }
    if let Some(o) = &funnel.overall {
        lines.push(format!(
            "overall: {} of {} reached {} ({}, 95% CI {})",
            o.reached,
            o.entered,
            o.goal,
            percent(o.rate),
            interval(o.rate_low, o.rate_high)
        ));
    }
    if let Some(stage) = funnel.bottleneck.as_deref().and_then(|b| funnel.stage(b)) {
        lines.push(format!(
            "bottleneck: {} ({} of {} converted, {}, 95% CI {})",
            stage.stage,
            stage.converted,
            stage.entered,
            percent(stage.rate),
            interval(stage.rate_low, stage.rate_high)
        ));
    }
    lines
}

/// The period a scorecard covers, in words.
pub fn window(card: &Scorecard) -> String {
    match (&card.since, &card.until) {
        (None, None) => "all time".to_string(),
        (since, until) => format!(
            "{} to {}",
            since.as_deref().unwrap_or("start"),
            until.as_deref().unwrap_or("now")
        ),
    }
}

fn table(card: &Scorecard, out: &mut dyn Write) -> io::Result<()> {
    let window = window(card);
    if card.funnels.is_empty() {
        return writeln!(out, "no funnel has run yet ({window})");
    }
    for (i, funnel) in card.funnels.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        say(out, &format!("funnel {} ({window})", funnel.funnel))?;
        for line in headline(funnel) {
            say(out, &line)?;
        }
        writeln!(out)?;
        grid(out, &stage_rows(funnel))?;
        if !funnel.steps.is_empty() {
            writeln!(out)?;
            grid(out, &step_rows(funnel))?;
        }
        for split in &funnel.splits {
            writeln!(out)?;
            say(
                out,
                &format!("A/B split {} (stage {})", split.step, split.stage),
            )?;
            grid(out, &variant_rows(split))?;
            for c in &split.comparisons {
                say(
                    out,
                    &format!("{} vs {}: {}", c.variant, c.control, verdict(c)),
                )?;
            }
            say(out, &split.verdict)?;
        }
        if !funnel.staff.is_empty() {
            writeln!(out)?;
            grid(out, &staff_rows(funnel))?;
        }
    }
    Ok(())
}

type Rows = Vec<Vec<String>>;

/// The columns of each table, shared by the terminal table and the HTML page.
pub const STAGE_COLUMNS: [&str; 11] = [
    "stage",
    "entered",
    "converted",
    "negative",
    "exhausted",
    "exited",
    "other",
    "still",
    "rate",
    "95% CI",
    "median to goal",
];
pub const STEP_COLUMNS: [&str; 10] = [
    "step",
    "channel",
    "queued",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "yes",
    "no",
    "yes rate",
];
pub const VARIANT_COLUMNS: [&str; 6] = [
    "variant",
    "contacts",
    "converted",
    "still",
    "rate",
    "95% CI",
];
pub const STAFF_COLUMNS: [&str; 8] = [
    "assignee",
    "tasks",
    "done",
    "on time",
    "late",
    "open",
    "overdue",
    "escalated",
];

/// A stage's cells after its name (which each format marks its own way).
pub fn stage_cells(s: &StageFigures) -> Vec<String> {
    vec![
        s.entered.to_string(),
        s.converted.to_string(),
        s.negative.to_string(),
        s.exhausted.to_string(),
        s.exited.to_string(),
        s.other.to_string(),
        s.still.to_string(),
        percent(s.rate),
        interval(s.rate_low, s.rate_high),
        duration(s.median_seconds),
    ]
}

/// A step's cells after its name.
pub fn step_cells(s: &StepFigures) -> Vec<String> {
    vec![
        s.channel.clone().unwrap_or_else(|| "-".to_string()),
        s.queued.to_string(),
        s.sent.to_string(),
        s.delivered.to_string(),
        s.failed.to_string(),
        s.skipped.to_string(),
        s.yes.to_string(),
        s.no.to_string(),
        percent(s.yes_rate),
    ]
}

pub fn variant_cells(v: &VariantFigures) -> Vec<String> {
    vec![
        v.variant.clone(),
        v.contacts.to_string(),
        v.converted.to_string(),
        v.still.to_string(),
        percent(v.rate),
        interval(v.rate_low, v.rate_high),
    ]
}

pub fn staff_cells(s: &StaffFigures) -> Vec<String> {
    vec![
        s.assignee.clone(),
        s.created.to_string(),
        s.done.to_string(),
        s.on_time.to_string(),
        s.late.to_string(),
        s.open.to_string(),
        s.overdue.to_string(),
        s.escalated.to_string(),
    ]
}

fn header(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

fn stage_rows(funnel: &FunnelCard) -> Rows {
    let mut rows = vec![header(&STAGE_COLUMNS)];
    for s in &funnel.stages {
        let mark = if funnel.bottleneck.as_deref() == Some(&s.stage) {
            " <- bottleneck"
        } else if s.terminal {
            " (end)"
        } else {
            ""
        };
        let mut row = vec![format!("{}{mark}", s.stage)];
        row.extend(stage_cells(s));
        rows.push(row);
    }
    rows
}

fn step_rows(funnel: &FunnelCard) -> Rows {
    let mut rows = vec![header(&STEP_COLUMNS)];
    for s in &funnel.steps {
        let mut row = vec![format!("{}/{}", s.stage, s.step)];
        row.extend(step_cells(s));
        rows.push(row);
    }
    rows
}

fn variant_rows(split: &SplitFigures) -> Rows {
    let mut rows = vec![header(&VARIANT_COLUMNS)];
    rows.extend(split.variants.iter().map(variant_cells));
    rows
}

fn staff_rows(funnel: &FunnelCard) -> Rows {
    let mut rows = vec![header(&STAFF_COLUMNS)];
    rows.extend(funnel.staff.iter().map(staff_cells));
    rows
}

/// One line of text that names things from the funnels, escaped.
fn say(out: &mut dyn Write, text: &str) -> io::Result<()> {
    writeln!(out, "{}", crate::table::escape(text))
}

/// Columns aligned; the first left, the numbers right.
fn grid(out: &mut dyn Write, rows: &Rows) -> io::Result<()> {
    crate::table::aligned(out, rows, crate::table::Align::NumbersRight)
}
