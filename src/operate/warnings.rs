//! The warnings of `funnel run` on stderr: bad feed rows and events, and
//! events for contacts the contacts feed does not have. Only rendering: the
//! tick decides what is a problem.

use std::io::{self, Write};

use crate::tick;

/// How many lines of one kind of warning are shown before "and N more".
const WARNINGS_SHOWN: usize = 5;

/// The run's warnings on stderr: bad rows and events, then events for
/// unknown contacts. Identical warnings (same feed, field and message; or
/// any unknown contact of one feed) show their first lines, then a count,
/// so a feed with ten thousand bad lines does not bury the summary.
pub(super) fn warn(
    problems: &[(String, crate::feed::Problem)],
    unknown: &[tick::UnknownContact],
    err: &mut dyn Write,
) -> io::Result<()> {
    let mut groups: indexmap::IndexMap<String, (Vec<String>, String)> = indexmap::IndexMap::new();
    for (feed, problem) in problems {
        // Most messages name their field already.
        let field = problem
            .field
            .as_ref()
            .filter(|_| !problem.message.starts_with("field `"))
            .map(|f| format!(" field `{f}`:"))
            .unwrap_or_default();
        let group = format!("{feed}\u{1f}{field}\u{1f}{}", problem.message);
        let line = format!(
            "warning: {feed}:{}:{field} {} (skipped)",
            problem.line, problem.message
        );
        let more = format!(
            "{feed}: and {{rest}} more lines like it:{field} {} (skipped)",
            problem.message
        );
        let entry = groups.entry(group).or_insert_with(|| (Vec::new(), more));
        entry.0.push(line);
    }
    for u in unknown {
        let line = format!(
            "warning: {}:{}: event `{}` for contact `{}`, who is not in the contacts feed (skipped)",
            u.feed, u.line, u.event, u.contact
        );
        let more = format!(
            "{}: and {{rest}} more events for contacts not in the contacts feed (skipped)",
            u.feed
        );
        let group = format!("{}\u{1f}unknown contact", u.feed);
        let entry = groups.entry(group).or_insert_with(|| (Vec::new(), more));
        entry.0.push(line);
    }
    for (lines, more) in groups.values() {
        for line in lines.iter().take(WARNINGS_SHOWN) {
            writeln!(err, "{line}")?;
        }
        if lines.len() > WARNINGS_SHOWN {
            let rest = lines.len() - WARNINGS_SHOWN;
            writeln!(
                err,
                "warning: {}",
                more.replacen("{rest}", &rest.to_string(), 1)
            )?;
        }
    }
    Ok(())
}
