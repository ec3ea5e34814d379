//! Dashboard: the scorecard as one self-contained HTML page: inline CSS and
//! SVG, no scripts, no fonts or images from the network, so it can be
//! mailed or opened offline. The overall conversion to the final goal, a
//! funnel chart of the main path (a bar per stage, as wide as the contacts
//! that entered it, the bottleneck in red) with the side stages listed
//! apart, the stage and step tables, the A/B panel with the winner in words
//! and each variant's interval, and the staff table.
//! Readable on a phone: one column, tables scroll sideways on their own.

use std::fmt::Write as _;

use crate::measure::scorecard::{
    self, FunnelCard, STAFF_COLUMNS, STAGE_COLUMNS, STEP_COLUMNS, Scorecard, SplitFigures,
    StageFigures, VARIANT_COLUMNS, percent, staff_cells, stage_cells, step_cells, variant_cells,
};

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:960px;margin:0 auto;padding:16px}
section{background:#fff;border-radius:10px;padding:16px;margin:0 0 20px;box-shadow:0 1px 3px #0002}
h1{font-size:1.4em;margin:0 0 4px}h2{font-size:1.1em;margin:20px 0 8px}
.meta{color:#5c6370;margin:0 0 8px}.warn{background:#fff4e6;border-left:4px solid #f08c00;padding:6px 10px}
.bottleneck{background:#fff5f5;border-left:4px solid #e03131;padding:6px 10px;font-weight:600}
.overall{background:#ebfbee;border-left:4px solid #2b8a3e;padding:6px 10px;font-weight:600}.winner{font-size:1.05em;margin:8px 0 4px}
ul.side{margin:0;padding-left:20px}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #e9ecef;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{font-size:.85em;color:#5c6370}
tr.hot td{background:#fff5f5;font-weight:600}.verdict{margin:6px 0 14px}
.yes{color:#2b8a3e;font-weight:600}.no{color:#5c6370}
svg text{font:13px system-ui,sans-serif}
.funnel .stage{margin:0 0 10px;text-align:center}.funnel .label{font-size:.9em}
.funnel .bar{height:22px;margin:2px auto 0;min-width:4px;border-radius:4px;background:#74c0fc}
.funnel .hot .bar{background:#ff8787}.funnel .hot .label{color:#c92a2a}
td:first-child,th:first-child{position:sticky;left:0;background:#fff}tr.hot td:first-child{background:#fff5f5}";

/// The page for the whole scorecard.
pub fn render(card: &Scorecard) -> String {
    let mut html = String::new();
    let window = scorecard::window(card);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>funnel report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<p class=\"meta\">funnel report, {}{}</p>\n",
        escape(&window),
        card.as_of
            .map(|t| format!(", as of the run at {}", escape(&crate::store::time(t))))
            .unwrap_or_default()
    );
    if card.funnels.is_empty() {
        html.push_str("<section><p>No funnel has run yet.</p></section>\n");
    }
    for funnel in &card.funnels {
        section(&mut html, funnel);
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

fn section(html: &mut String, funnel: &FunnelCard) {
    let _ = writeln!(html, "<section>\n<h1>{}</h1>", escape(&funnel.funnel));
    for line in scorecard::headline(funnel) {
        let class = if line.starts_with("bottleneck") {
            "bottleneck"
        } else if line.starts_with("overall") {
            "overall"
        } else if funnel.mixed {
            "warn"
        } else {
            "meta"
        };
        let _ = writeln!(html, "<p class=\"{class}\">{}</p>", escape(&line));
    }
    chart(html, funnel);
    stages(html, funnel);
    steps(html, funnel);
    for split in &funnel.splits {
        ab_panel(html, split);
    }
    staff(html, funnel);
    html.push_str("</section>\n");
}

/// The main path as a funnel: one bar per stage, centred and as wide as
/// the contacts that entered it against the widest, so the funnel narrows
/// where contacts are lost; the final goal last. Stages off the path
/// (detours, side exits such as `lost` or `opted-out`) are listed apart,
/// since they are not steps in the sequence. Plain HTML boxes rather than
/// SVG so the labels keep their size on a phone.
fn chart(html: &mut String, funnel: &FunnelCard) {
    let path: Vec<&StageFigures> = funnel
        .main_path
        .iter()
        .filter_map(|name| funnel.stage(name))
        .collect();
    let Some(widest) = path.iter().map(|s| s.entered).max().filter(|w| *w > 0) else {
        return;
    };
    html.push_str(
        "<h2>Main path</h2>\n<div class=\"funnel\" role=\"img\" aria-label=\"funnel chart of the main path\">\n",
    );
    for stage in path {
        let hot = funnel.bottleneck.as_deref() == Some(stage.stage.as_str());
        let width = 100.0 * stage.entered as f64 / widest as f64;
        let (note, figures) = if stage.terminal {
            (" (final goal)", format!("{} reached", stage.entered))
        } else {
            let note = if hot { " (bottleneck)" } else { "" };
            let figures = format!(
                "{} entered, {} converted",
                stage.entered,
                percent(stage.rate)
            );
            (note, figures)
        };
        let _ = writeln!(
            html,
            "<div class=\"stage{}\"><div class=\"label\"><b>{}</b>{note}: {figures}</div><div class=\"bar\" style=\"width:{width:.1}%\"></div></div>",
            if hot { " hot" } else { "" },
            escape(&stage.stage),
        );
    }
    html.push_str("</div>\n");
    side(html, funnel);
}

/// The stages off the main path that contacts entered.
fn side(html: &mut String, funnel: &FunnelCard) {
    let side: Vec<&StageFigures> = funnel
        .stages
        .iter()
        .filter(|s| s.entered > 0 && !funnel.main_path.contains(&s.stage))
        .collect();
    if side.is_empty() {
        return;
    }
    html.push_str("<h2>Off the main path</h2>\n<p class=\"meta\">Detours and side exits, not stages in sequence.</p>\n<ul class=\"side\">\n");
    for stage in side {
        let what = if stage.terminal {
            format!("{} entered (end)", stage.entered)
        } else {
            format!(
                "{} entered, {} converted",
                stage.entered,
                percent(stage.rate)
            )
        };
        let _ = writeln!(html, "<li><b>{}</b>: {what}</li>", escape(&stage.stage));
    }
    html.push_str("</ul>\n");
}

fn table(html: &mut String, title: &str, header: &[&str], rows: Vec<(bool, Vec<String>)>) {
    let _ = write!(
        html,
        "<h2>{}</h2>\n<div class=\"scroll\"><table>\n<tr>",
        escape(title)
    );
    for h in header {
        let _ = write!(html, "<th>{}</th>", escape(h));
    }
    html.push_str("</tr>\n");
    for (hot, cells) in rows {
        html.push_str(if hot { "<tr class=\"hot\">" } else { "<tr>" });
        for cell in cells {
            let _ = write!(html, "<td>{}</td>", escape(&cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table></div>\n");
}

fn stages(html: &mut String, funnel: &FunnelCard) {
    let rows = funnel
        .stages
        .iter()
        .map(|s| {
            let hot = funnel.bottleneck.as_deref() == Some(s.stage.as_str());
            let name = if s.terminal {
                format!("{} (end)", s.stage)
            } else {
                s.stage.clone()
            };
            let mut cells = vec![name];
            cells.extend(stage_cells(s));
            (hot, cells)
        })
        .collect();
    table(html, "Stages", &STAGE_COLUMNS, rows);
}

fn steps(html: &mut String, funnel: &FunnelCard) {
    if funnel.steps.is_empty() {
        return;
    }
    let rows = funnel
        .steps
        .iter()
        .map(|s| {
            let mut cells = vec![format!("{} / {}", s.stage, s.step)];
            cells.extend(step_cells(s));
            (false, cells)
        })
        .collect();
    table(html, "Steps", &STEP_COLUMNS, rows);
}

/// The variants with their rates, each with a bar for its 95% interval on a
/// common scale, and the verdict of the test.
fn ab_panel(html: &mut String, split: &SplitFigures) {
    let top = split
        .variants
        .iter()
        .filter_map(|v| v.rate_high)
        .fold(0.0_f64, f64::max)
        .max(0.01);
    let rows = split
        .variants
        .iter()
        .map(|v| (false, variant_cells(v)))
        .collect();
    table(
        html,
        &format!("A/B split {} (stage {})", split.step, split.stage),
        &VARIANT_COLUMNS,
        rows,
    );
    let _ = writeln!(
        html,
        "<svg role=\"img\" aria-label=\"conversion rate and 95% interval per variant\" viewBox=\"0 0 600 {}\" width=\"100%\">",
        28 * split.variants.len()
    );
    for (i, v) in split.variants.iter().enumerate() {
        let y = 28 * i + 14;
        let scale = |r: f64| 150.0 + 430.0 * r / top;
        if let (Some(rate), Some(low), Some(high)) = (v.rate, v.rate_low, v.rate_high) {
            let _ = writeln!(
                html,
                "<text x=\"0\" y=\"{}\">{}</text><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#1c7ed6\" stroke-width=\"6\" stroke-linecap=\"round\"/><circle cx=\"{:.1}\" cy=\"{y}\" r=\"6\" fill=\"#1d2330\"/>",
                y + 5,
                escape(&v.variant),
                scale(low),
                scale(high),
                scale(rate)
            );
        }
    }
    html.push_str("</svg>\n");
    // The same words as the table report's.
    let class = if split.winner.is_some() { "yes" } else { "no" };
    let _ = writeln!(
        html,
        "<p class=\"winner\"><span class=\"{class}\">{}</span></p>",
        escape(&split.verdict)
    );
    for c in &split.comparisons {
        let class = if c.significant { "yes" } else { "no" };
        let _ = writeln!(
            html,
            "<p class=\"verdict\"><span class=\"{class}\">{} vs {}</span>: {}</p>",
            escape(&c.variant),
            escape(&c.control),
            escape(&scorecard::verdict(c))
        );
    }
}

fn staff(html: &mut String, funnel: &FunnelCard) {
    if funnel.staff.is_empty() {
        return;
    }
    let rows = funnel
        .staff
        .iter()
        .map(|s| (s.overdue > 0, staff_cells(s)))
        .collect();
    table(html, "Staff", &STAFF_COLUMNS, rows);
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
