//! The first pass of `funnel run` over a contacts feed: every row read and
//! typed for every funnel, the bad ones counted, before anything runs, so
//! a broken export can be refused whole (see [`super::MaxBadRows`]). The
//! run itself reads the feed again, one row at a time.

use super::{Contacts, FeedError, FeedOptions, Problem, contacts, typed_in};
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
}

/// Reads and types every row of the contacts feed for `funnels`.
pub fn screen(
    bytes: &[u8],
    options: &FeedOptions,
    funnels: &[&Funnel],
) -> Result<Screened, FeedError> {
    let mut rows: Contacts = contacts(bytes, options)?;
    let mut screened = Screened {
        notes: std::mem::take(&mut rows.notes),
        ..Screened::default()
    };
    for row in rows {
        screened.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(problem) => {
                screened.bad += 1;
                screened.problems.push((None, problem));
                continue;
            }
        };
        let mut bad = false;
        for funnel in funnels {
            let typed = typed_in(&row, &funnel.fields, funnel.timezone, &options.formats);
            if let Err(problem) = typed {
                bad = true;
                screened.problems.push((Some(funnel.name.clone()), problem));
            }
        }
        screened.bad += usize::from(bad);
    }
    Ok(screened)
}
