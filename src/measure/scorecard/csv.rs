//! The scorecard as CSV.

use std::io::{self, Write};

use serde::Serialize;

use super::Scorecard;

/// CSV, one number a row: `funnel,section,stage,step,variant,assignee,metric,value`.
/// Long rather than wide so that every section fits one header, and a new
/// metric is a new row, not a new column that breaks a reader.
pub(super) fn csv(card: &Scorecard, out: &mut dyn Write) -> io::Result<()> {
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
        if let Some(o) = &f.overall {
            // The goal's name is the stage column already.
            for (metric, value) in fields(o).into_iter().filter(|(m, _)| m != "goal") {
                put([name, "overall", &o.goal, "", "", "", &metric, &value])?;
            }
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
