//! The warnings of `funnel run` on stderr: bad feed rows and events, and
//! events for contacts the contacts feed does not have. Only rendering: the
//! tick decides what is a problem.

use std::io::{self, Write};

use crate::run::tick;

/// How many lines of one kind of warning are shown before "and N more".
const WARNINGS_SHOWN: usize = 5;

/// How many line numbers one grouped bad-row warning names.
const LINES_NAMED: usize = 3;

/// The run's warnings on stderr: bad rows and events, then events for
/// unknown contacts. Identical bad-row warnings (same feed, field and
/// message) are one line naming their first lines and a count ("lines 3,
/// 4, 5 and 497 more: ..."); events for unknown contacts show their first
/// lines, then a count. A feed with ten thousand bad lines does not bury
/// the summary.
pub(super) fn warn(
    problems: &[(String, crate::run::feed::Problem)],
    unknown: &[tick::UnknownContact],
    err: &mut dyn Write,
) -> io::Result<()> {
    let mut alike: indexmap::IndexMap<(&str, String, &str), Vec<usize>> = indexmap::IndexMap::new();
    for (feed, problem) in problems {
        // Most messages name their field already.
        let field = problem
            .field
            .as_ref()
            .filter(|_| !problem.message.starts_with("field `"))
            .map(|f| format!(" field `{f}`:"))
            .unwrap_or_default();
        let key = (feed.as_str(), field, problem.message.as_str());
        alike.entry(key).or_default().push(problem.line);
    }
    for ((feed, field, message), lines) in &alike {
        // A note about a header column skipped nothing itself.
        let skipped = if message.starts_with("column `") {
            ""
        } else {
            " (skipped)"
        };
        writeln!(
            err,
            "warning: {feed}{}:{field} {message}{skipped}",
            where_(lines)
        )?;
    }
    let mut groups: indexmap::IndexMap<String, (Vec<String>, String)> = indexmap::IndexMap::new();
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

/// `:12` for one line; `: lines 3, 4 and 5` or `: lines 3, 4, 5 and 497
/// more` for several.
fn where_(lines: &[usize]) -> String {
    let named: Vec<String> = lines
        .iter()
        .take(LINES_NAMED)
        .map(|l| l.to_string())
        .collect();
    match (lines.len(), named.split_last()) {
        (1, _) => format!(":{}", named.join("")),
        (n, Some((last, first))) if n <= LINES_NAMED => {
            format!(": lines {} and {last}", first.join(", "))
        }
        (n, _) => format!(": lines {} and {} more", named.join(", "), n - LINES_NAMED),
    }
}
