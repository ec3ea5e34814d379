//! Synthetic contacts for the `funnel run` benchmark (`benches/run.sh`):
//! a CSV for `benches/funnels/onboarding.yaml` on stdout.
//!
//! ```sh
//! cargo run --release --example gen-contacts -- 1000000 > contacts.csv
//! cargo run --release --example gen-contacts -- 1000000 --changed 1 > tick.csv
//! ```
//!
//! The same count gives the same contacts. `--changed P` changes P percent
//! of them, spread evenly: half verify their email (a goal), half opt out.

// A program of its own, not the library: it may talk to its terminal.
#![allow(clippy::print_stderr)]

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gen-contacts COUNT [--changed PERCENT]";
    let Some(count) = args.first().and_then(|a| a.parse::<u64>().ok()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let changed = match args.get(1).map(String::as_str) {
        None => 0,
        Some("--changed") => match args.get(2).and_then(|a| a.parse::<u64>().ok()) {
            Some(percent) if percent <= 100 => percent,
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        },
        Some(_) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    const NAMES: [&str; 8] = [
        "Anna", "Bence", "Csilla", "Dávid", "Eszter", "Gábor", "Hanna", "Imre",
    ];
    const PLANS: [&str; 3] = ["starter", "team", "business"];
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    writeln!(
        out,
        "id,email,first_name,plan,signed_up_at,verified_at,project_at,invited_at,active_at,paid_at,unsubscribed"
    )?;
    let start = chrono::NaiveDate::from_ymd_opt(2026, 5, 31)
        .and_then(|d| d.and_hms_opt(13, 0, 0))
        .unwrap_or_default();
    for i in 0..count {
        let h = mix(i);
        // Sign-ups over the 20 hours before the benchmark's first run at
        // 2026-06-01 09:00, so every welcome email is fresh, not stale.
        let minutes = (h % (20 * 60)) as i64;
        let signed_up = (start + chrono::TimeDelta::minutes(minutes)).format("%Y-%m-%d %H:%M");
        // `changed` percent of contacts, evenly spread: every (100 / P)th.
        let change = changed > 0 && (i * changed) % 100 < changed;
        let (verified, unsubscribed) = match (change, i * changed / 100 % 2) {
            (true, 0) => ("2026-06-01 09:01", "no"),
            (true, _) => ("", "yes"),
            (false, _) => ("", "no"),
        };
        writeln!(
            out,
            "c{i},c{i}@example.com,{},{},{signed_up},{verified},,,,,{unsubscribed}",
            NAMES[(h >> 20) as usize % NAMES.len()],
            PLANS[(h >> 30) as usize % PLANS.len()],
        )?;
    }
    out.flush()
}

/// splitmix64: a well-spread number for each index, with no dependency.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
