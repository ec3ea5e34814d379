//! One problem found in a funnel: which rule, how bad, where, and how to fix
//! it. Renderers in `report` turn a list of these into text, JSON, SARIF or
//! GitHub annotations; nothing here formats output.

use crate::language::source::{SourceId, Span};
use serde::Serialize;

/// How a rule's findings count. `Off` rules are not reported at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Off,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Off => "off",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule id, e.g. `dead-end`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub source: SourceId,
    pub span: Span,
    /// Short text shown under the pointed-at snippet.
    pub label: Option<String>,
    /// How to fix it, naming the known alternatives where there are some.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A finding of `rule` at its default severity; the linter applies the
    /// project's configuration afterwards.
    pub fn new(
        rule: &crate::lint::rules::Rule,
        source: SourceId,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: rule.id,
            severity: rule.severity,
            message: message.into(),
            source,
            span,
            label: None,
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// "did you mean `x`?" for a misspelt name, or the list of known names.
pub fn suggest<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(wrong, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, name)) => format!("did you mean `{name}`?"),
        None if known.is_empty() => "none are defined".to_string(),
        None => format!("known: {}", known.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggest_picks_the_closest_name_or_lists_them() {
        assert_eq!(suggest("lsot", ["lost", "won"]), "did you mean `lost`?");
        assert_eq!(suggest("zzz", ["lost", "won"]), "known: lost, won");
        assert_eq!(suggest("zzz", []), "none are defined");
    }
}
