//! Parser: YAML text -> [`Document`], or one diagnostic saying where and why
//! the text is not a funnel. YAML stops at the first structural error, so a
//! file gets at most one parse diagnostic; everything after parsing reports
//! every problem.
//!
//! A file is first read by the [`Builder`], a fast path over the YAML events
//! that only takes what it can build exactly as serde-saphyr would; whatever
//! it declines, serde-saphyr reads, and gives every diagnostic.

use serde_saphyr::Error as YamlError;

use crate::language::builder::Builder;
use crate::language::document::Document;
use crate::language::source::{SourceFile, SourceId, Span};
use crate::lint::diagnostic::{Diagnostic, suggest};
use crate::lint::rules;

pub struct Parser;

impl Parser {
    pub fn parse(id: SourceId, file: &SourceFile) -> Result<Document, Diagnostic> {
        match Self::build(&file.text) {
            Some(document) => Ok(document),
            None => Self::parse_with_serde(id, file),
        }
    }

    /// The fast path alone: the document, or `None` where serde-saphyr must
    /// read the file. Public so tests can hold it to [`Self::parse_with_serde`].
    pub fn build(text: &str) -> Option<Document> {
        let budget = Self::options().budget?;
        Builder::build(text, &budget)
    }

    /// The reference reading, through serde-saphyr alone.
    pub fn parse_with_serde(id: SourceId, file: &SourceFile) -> Result<Document, Diagnostic> {
        serde_saphyr::from_str_with_options(&file.text, Self::options())
            .map_err(|error| Self::diagnose(id, file, &error))
    }

    /// Limits that keep hostile input (alias bombs, deep nesting) from hanging
    /// or exhausting memory. A real funnel is far below all of them: the
    /// generated 2,000-stage benchmark funnel needs about 60,000 events.
    fn options() -> serde_saphyr::Options {
        serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_events: 2_000_000,
                max_aliases: 1_000,
                max_anchors: 1_000,
                max_depth: 64,
            },
            alias_limits: serde_saphyr::alias_limits! {
                max_total_replayed_events: 10_000,
                max_replay_stack_depth: 16,
                max_alias_expansions_per_anchor: 100,
            },
        }
    }

    fn diagnose(id: SourceId, file: &SourceFile, error: &YamlError) -> Diagnostic {
        let inner = error.without_snippet();
        let span = error
            .location()
            .and_then(|l| l.span().byte_offset())
            .and_then(|o| usize::try_from(o).ok())
            .map_or_else(
                || Self::span_of_line_col(file, error),
                |offset| Span::new(offset, 1),
            );
        let message = strip_location(&inner.to_string());
        let (rule, help) = match inner {
            YamlError::SerdeUnknownField {
                field, expected, ..
            } => (
                &rules::unknown_key::RULE,
                Some(suggest(field, expected.iter().copied())),
            ),
            YamlError::SerdeUnknownVariant {
                variant, expected, ..
            } => (
                &rules::invalid_type::RULE,
                Some(suggest(variant, expected.iter().copied())),
            ),
            YamlError::DuplicateMappingKey { .. } => (
                &rules::duplicate_key::RULE,
                Some("each key may appear once in a mapping; merge the two entries".to_string()),
            ),
            YamlError::Budget { .. }
            | YamlError::AliasReplayCounterOverflow { .. }
            | YamlError::AliasReplayLimitExceeded { .. }
            | YamlError::AliasExpansionLimitExceeded { .. }
            | YamlError::AliasReplayStackDepthExceeded { .. } => (
                &rules::yaml_limits::RULE,
                Some(
                    "a funnel needs no deep nesting or repeated aliases; write the values out"
                        .to_string(),
                ),
            ),
            YamlError::SerdeInvalidType { .. }
            | YamlError::SerdeInvalidValue { .. }
            | YamlError::SerdeInvalidLength { .. }
            | YamlError::SerdeMissingField { .. }
            | YamlError::NullIntoString { .. }
            | YamlError::InvalidScalar { .. }
            | YamlError::InvalidBooleanStrict { .. }
            | YamlError::Unexpected { .. }
            | YamlError::Message { .. } => (&rules::invalid_type::RULE, Self::type_help(inner)),
            _ => (&rules::yaml_syntax::RULE, None),
        };
        let diagnostic = Diagnostic::new(rule, id, span, message);
        match help {
            Some(help) => diagnostic.help(help),
            None => diagnostic,
        }
    }

    fn type_help(error: &YamlError) -> Option<String> {
        match error {
            YamlError::SerdeMissingField { field, .. } => {
                Some(format!("add `{field}:`; see docs/language.md"))
            }
            YamlError::NullIntoString { .. } => {
                Some("write a value, or quote it if it is meant as text".to_string())
            }
            _ => Some("see docs/language.md or `funnel schema` for the expected shape".to_string()),
        }
    }

    /// Reader errors carry line and column but no byte offset.
    fn span_of_line_col(file: &SourceFile, error: &YamlError) -> Span {
        let Some(location) = error.location() else {
            return Span::default();
        };
        let line = usize::try_from(location.line()).unwrap_or(0);
        let column = usize::try_from(location.column()).unwrap_or(1);
        let start: usize = (1..line).map(|l| file.line(l).len() + 1).sum();
        Span::new((start + column.saturating_sub(1)).min(file.text.len()), 1)
    }
}

/// serde-saphyr appends " at line L, column C" (the renderers add their
/// own) and, for duplicate keys, advice about its API that means nothing to
/// a funnel author.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let first = first.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let first = first.as_str();
    match first.rfind(" at line ") {
        Some(at) => first[..at].to_string(),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(text: &str) -> Result<Document, Diagnostic> {
        let file = SourceFile::new(PathBuf::from("t.yaml"), text.to_string());
        Parser::parse(SourceId(0), &file)
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let err = parse("funnel: x\nstages:\n  a:\n    stepz: []\n").unwrap_err();
        assert_eq!(err.code, "unknown-key");
        assert_eq!(
            err.message,
            "unknown field `stepz`, expected one of description, terminal, goal, goals, exit, steps, exhausted"
        );
        assert_eq!(err.help.as_deref(), Some("did you mean `steps`?"));
        assert_eq!(err.span.offset, 27);
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let err = parse("funnel: x\nfunnel: y\nstages: {}\n").unwrap_err();
        assert_eq!(err.code, "duplicate-key");
        assert_eq!(err.span.offset, 10);
    }

    #[test]
    fn billion_laughs_stops_with_a_limit_error() {
        let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            let list = [prev.as_str(); 10].join(", ");
            yaml.push_str(&format!("a{i}: &a{i} [{list}]\n"));
        }
        yaml.push_str("funnel: x\nstages: {}\ndescription: *a11\n");
        // Whatever stops it first, it must stop with an error, not expand 10^12 nodes.
        assert!(parse(&yaml).is_err());
    }

    #[test]
    fn too_many_aliases_hit_the_budget() {
        let mut yaml = String::from("funnel: x\nstages: {}\ncontact: &c {}\nstaff:\n");
        for i in 0..1_500 {
            yaml.push_str(&format!("  s{i}: *c\n"));
        }
        let err = parse(&yaml).unwrap_err();
        assert_eq!(err.code, "yaml-limits", "{err:?}");
    }

    #[test]
    fn strip_location_keeps_the_message() {
        assert_eq!(strip_location("bad at line 3, column 4"), "bad");
    }
}
