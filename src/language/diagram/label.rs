//! Edge labels: what fires a move, shortened so that a diagram stays
//! readable. The full text is in the funnel file; a label only has to
//! say which condition or event it is.

use crate::language::duration;
use crate::language::model::{Signal, TriggerKind};

/// Labels longer than this many characters are cut with `…`.
const MAX_CHARS: usize = 40;

/// What fires a transition: the event name, or the condition shortened.
pub fn signal(signal: &Signal) -> String {
    match signal {
        Signal::Event { name, filter: None } => short(name),
        Signal::Event {
            name,
            filter: Some(filter),
        } => short(&format!("{name} if {}", filter.source)),
        Signal::When(condition) => short(&condition.source),
    }
}

/// What enters a contact into the funnel.
pub fn entry(kind: &TriggerKind) -> String {
    match kind {
        TriggerKind::When(condition) => short(&condition.source),
        TriggerKind::Event {
            name, filter: None, ..
        } => short(name),
        TriggerKind::Event {
            name,
            filter: Some(filter),
            ..
        } => short(&format!("{name} if {}", filter.source)),
        TriggerKind::On(condition) => short(&format!("on {}", condition.source)),
        TriggerKind::Inactive { field, period, .. } => {
            short(&format!("no {field} for {}", duration::format(*period)))
        }
    }
}

/// A CEL text as a label: `contact.` dropped (every field is the
/// contact's), `duration('24h')` as `24h`, spaces collapsed, then cut to
/// [`MAX_CHARS`].
pub fn short(text: &str) -> String {
    let text = unwrap_durations(&text.replace("contact.", ""));
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `duration('24h')` or `duration("24h")` -> `24h`.
fn unwrap_durations(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("duration(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "duration(".len()..];
        let literal = after
            .chars()
            .next()
            .filter(|q| *q == '\'' || *q == '"')
            .and_then(|q| {
                let inner = &after[1..];
                let end = inner.find(q)?;
                inner[end + 1..]
                    .starts_with(')')
                    .then(|| (&inner[..end], &inner[end + 2..]))
            });
        match literal {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push_str("duration(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_drop_contact_and_unwrap_durations() {
        assert_eq!(
            short("has(contact.quote_requested_at)"),
            "has(quote_requested_at)"
        );
        assert_eq!(
            short("contact.meeting_at - duration('24h')"),
            "meeting_at - 24h"
        );
        assert_eq!(short("now > duration(\"1d\") + x"), "now > 1d + x");
        assert_eq!(short("duration(x)"), "duration(x)");
        assert_eq!(short("duration('1d'"), "duration('1d'");
    }

    #[test]
    fn long_conditions_are_cut_on_a_character() {
        let long = format!("contact.plan == '{}'", "é".repeat(60));
        let label = short(&long);
        assert_eq!(label.chars().count(), MAX_CHARS);
        assert!(label.starts_with("plan == 'é") && label.ends_with('…'));
    }
}
