//! Scorecard: the figures of `funnel report` and their text forms: an
//! aligned table for the terminal, JSON, and CSV with one number a row. The
//! field names here are the documented, stable names of the JSON and CSV
//! (README, "Measuring funnels"); the HTML page is `dashboard.rs`. Nothing
//! here computes: `measure.rs` fills these in.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::TableFormat;

/// Everything one report shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scorecard {
    /// First and last day counted (UTC, inclusive), when limited.
    pub since: Option<String>,
    pub until: Option<String>,
    /// The last run's time: open tasks due before it are overdue.
    pub as_of: Option<String>,
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
}

/// A funnel version that ran: the hash of the file, and its git commit when
/// the file was committed and unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: String,
    pub git_commit: Option<String>,
    pub path: String,
    pub first_run: String,
    pub last_run: Option<String>,
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

/// The winner of a split from its comparisons (each variant against the
/// first), and the verdict in words. A variant wins when it beats the
/// control significantly (the largest such difference if several do); the
/// control wins when every other variant is significantly worse.
pub fn winner(comparisons: &[Comparison]) -> (Option<String>, String) {
    let better = comparisons
        .iter()
        .filter(|c| c.significant && c.difference.is_some_and(|d| d > 0.0))
        .max_by(|a, b| {
            a.difference
                .unwrap_or(0.0)
                .total_cmp(&b.difference.unwrap_or(0.0))
        });
    if let Some(c) = better {
        let p = c.p_value.unwrap_or(0.0);
        return (
            Some(c.variant.clone()),
            format!("winner: {} (p={p:.4})", c.variant),
        );
    }
    let all_worse = !comparisons.is_empty()
        && comparisons
            .iter()
            .all(|c| c.significant && c.difference.is_some_and(|d| d < 0.0));
    if let (true, Some(first)) = (all_worse, comparisons.first()) {
        let p = comparisons
            .iter()
            .filter_map(|c| c.p_value)
            .fold(0.0, f64::max);
        return (
            Some(first.control.clone()),
            format!("winner: {} (p={p:.4})", first.control),
        );
    }
    let more = comparisons.iter().filter_map(|c| c.more_needed).max();
    let verdict = match more {
        Some(more) if more > 0 => format!("no winner yet; need about {more} more per variant"),
        _ if comparisons.iter().all(|c| c.p_value.is_none()) => {
            "no winner yet; not enough data to compare".to_string()
        }
        _ => "no winner: the variants convert alike".to_string(),
    };
    (None, verdict)
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
        TableFormat::Csv => csv(card, out),
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

/// The verdict on one comparison, in words.
pub fn verdict(c: &Comparison) -> String {
    let Some(p) = c.p_value else {
        return "not enough data to compare".to_string();
    };
    if c.significant {
        return format!("significant (p = {p:.4})");
    }
    match (c.needed_per_variant, c.more_needed) {
        (None, _) => format!("no difference (p = {p:.4})"),
        (Some(_), Some(more)) if more > 0 => {
            format!("not significant (p = {p:.4}); about {more} more contacts per variant to tell")
        }
        _ => format!("not significant (p = {p:.4})"),
    }
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

/// CSV, one number a row: `funnel,section,stage,step,variant,assignee,metric,value`.
/// Long rather than wide so that every section fits one header, and a new
/// metric is a new row, not a new column that breaks a reader.
fn csv(card: &Scorecard, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = crate::table::Csv::new(out);
    let mut put = |record: [&str; 8]| writer.row(record);
    put([
        "funnel", "section", "stage", "step", "variant", "assignee", "metric", "value",
    ])?;
    for f in &card.funnels {
        let name = f.funnel.as_str();
        for v in &f.versions {
            put([name, "version", "", "", "", "", "version", &v.version])?;
        }
        if let Some(b) = &f.bottleneck {
            put([name, "bottleneck", b, "", "", "", "stage", b])?;
        }
        for s in &f.stages {
            for (metric, value) in fields(s) {
                put([name, "stage", &s.stage, "", "", "", &metric, &value])?;
            }
        }
        for s in &f.steps {
            for (metric, value) in fields(s) {
                put([name, "step", &s.stage, &s.step, "", "", &metric, &value])?;
            }
        }
        for split in &f.splits {
            for v in &split.variants {
                for (metric, value) in fields(v) {
                    put([
                        name,
                        "variant",
                        &split.stage,
                        &split.step,
                        &v.variant,
                        "",
                        &metric,
                        &value,
                    ])?;
                }
            }
            for c in &split.comparisons {
                for (metric, value) in fields(c) {
                    put([
                        name,
                        "comparison",
                        &split.stage,
                        &split.step,
                        &c.variant,
                        "",
                        &metric,
                        &value,
                    ])?;
                }
            }
        }
        for s in &f.staff {
            for (metric, value) in fields(s) {
                put([name, "staff", "", "", "", &s.assignee, &metric, &value])?;
            }
        }
    }
    writer.finish()
}

/// A row's numeric and flag fields as (name, value), in declaration order;
/// the names that place the row (stage, step, ...) are already columns.
fn fields<T: Serialize>(row: &T) -> Vec<(String, String)> {
    const PLACES: [&str; 4] = ["stage", "step", "variant", "assignee"];
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(row) else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(k, _)| !PLACES.contains(&k.as_str()))
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compared(variant: &str, difference: f64, p: f64, more: Option<u64>) -> Comparison {
        Comparison {
            control: "control".to_string(),
            variant: variant.to_string(),
            difference: Some(difference),
            p_value: Some(p),
            significant: p < 0.05,
            needed_per_variant: more.map(|m| m + 100),
            more_needed: more,
        }
    }

    /// The report gave each comparison's p-value but never said which
    /// variant won: now it names the winner, or what it still needs.
    #[test]
    fn the_winner_is_named_in_words() {
        let (won, verdict) = super::winner(&[compared("coupon", 0.2, 0.01, None)]);
        assert_eq!(won.as_deref(), Some("coupon"));
        assert_eq!(verdict, "winner: coupon (p=0.0100)");

        let (won, verdict) = super::winner(&[compared("coupon", -0.2, 0.01, None)]);
        assert_eq!(won.as_deref(), Some("control"));
        assert_eq!(verdict, "winner: control (p=0.0100)");

        let (won, verdict) = super::winner(&[compared("coupon", 0.05, 0.3, Some(120))]);
        assert_eq!(won, None);
        assert_eq!(verdict, "no winner yet; need about 120 more per variant");
    }
}
