//! The first pass of `funnel run` over a contacts feed: every row read and
//! typed for every funnel, the bad ones counted, before anything runs, so
//! a broken export can be refused whole (see [`super::MaxBadRows`]). The
//! run itself reads the feed again, one row at a time; what it needs from
//! this pass is small (the ids seen twice, see `ids.rs`), so neither pass
//! holds the feed.

use std::collections::HashSet;
use std::io::Read;

use super::{FeedError, FeedOptions, Problem, contacts_from, types_in};
use crate::language::model::Funnel;

/// What the first pass found.
#[derive(Debug, Default)]
pub struct Screened {
    /// Rows read; blank lines are not rows.
    pub rows: usize,
    /// Rows that could not be read, or did not type for some funnel.
    pub bad: usize,
    /// Every problem, with the funnel a typing problem is about.
    pub problems: Vec<(Option<String>, Problem)>,
    /// Notes about the header ("did you mean").
    pub notes: Vec<Problem>,
    /// The last line a row was on.
    pub lines: usize,
    /// Hashes of the ids seen more than once, for the run's pass.
    pub repeated: HashSet<u64>,
    /// Rows whose id sorts before the id of the row read before them: how
    /// far the feed is from id order (see `tick/order.rs`).
    pub descents: usize,
}

/// Reads and types every row of the contacts feed for `funnels`.
pub fn screen(
    reader: Box<dyn Read + '_>,
    options: &FeedOptions,
    funnels: &[&Funnel],
) -> Result<Screened, FeedError> {
    let mut rows = contacts_from(reader, options)?.hashing_ids();
    let mut screened = Screened {
        notes: std::mem::take(&mut rows.notes),
        ..Screened::default()
    };
    let mut previous = String::new();
    for row in rows.by_ref() {
        screened.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(problem) => {
                screened.lines = screened.lines.max(problem.line);
                screened.bad += 1;
                screened.problems.push((None, problem));
                continue;
            }
        };
        screened.lines = row.line;
        screened.descents += usize::from(row.id < previous);
        previous.clear();
        previous.push_str(&row.id);
        let mut bad = false;
        for funnel in funnels {
            let typed = types_in(&row, &funnel.fields, funnel.timezone, &options.formats);
            if let Err(problem) = typed {
                bad = true;
                screened.problems.push((Some(funnel.name.clone()), problem));
            }
        }
        screened.bad += usize::from(bad);
    }
    rows.finish()?;
    screened.repeated = rows.repeated();
    Ok(screened)
}
