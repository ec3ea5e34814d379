//! The rule table. Every problem `funnel check` can report has a stable
//! kebab-case id, a default severity and a doc with the same three sections
//! (what it does, why it is bad, an example), one rule per file.
//!
//! Parse rules come from the YAML reader and compile rules from the compiler
//! (they describe a value that cannot be understood at all); their files hold
//! the doc only. Funnel and project rules look at the compiled funnel and its
//! graph, and their files hold the check as well.

use std::path::PathBuf;

use crate::config::Delivery;
use crate::language::graph::FunnelGraph;
use crate::language::model::Funnel;
use crate::language::source::{SourceId, Sources};
use crate::language::template::TemplateDir;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub mod conflicting_keys;
pub mod dead_end;
pub mod duplicate_id;
pub mod duplicate_key;
pub mod invalid_condition;
pub mod invalid_duration;
pub mod invalid_entry;
pub mod invalid_template;
pub mod invalid_type;
pub mod invalid_value;
pub mod literal_secret;
pub mod missing_address;
pub mod missing_template;
pub mod missing_unsubscribe_link;
pub mod no_opt_out;
pub mod redundant_branch;
pub mod split_weights;
pub mod stale_migration;
pub mod trapped_stage;
pub mod unbounded_messages;
pub mod undefined_reference;
pub mod unguarded_optional_field;
pub mod unknown_channel;
pub mod unknown_field;
pub mod unknown_key;
pub mod unknown_migration_target;
pub mod unreachable_stage;
pub mod unreachable_step;
pub mod unused_template;
pub mod wait_longer_than_funnel;
pub mod yaml_limits;
pub mod yaml_syntax;
pub mod zero_delay_loop;

/// What one funnel rule looks at.
pub struct Context<'a> {
    pub funnel: &'a Funnel,
    pub graph: &'a FunnelGraph,
    pub templates: &'a TemplateDir,
}

/// What a rule that looks across funnels sees: each template directory with
/// the funnels that use it, and the project config.
pub struct Project<'a> {
    pub dirs: Vec<(&'a TemplateDir, Vec<&'a Funnel>)>,
    pub sources: &'a Sources,
    /// funnel.toml, when there is one.
    pub config: Option<SourceId>,
    /// Its channels, when there is a config.
    pub delivery: Option<&'a Delivery>,
    /// The template directories (`TemplateDir::dir`) beside which every
    /// funnel was checked: those of a directory argument, not of files
    /// named one by one.
    pub whole: &'a [PathBuf],
}

/// Where a rule's findings come from.
pub enum Check {
    /// The YAML reader; cannot be turned off, since nothing after it runs.
    Parse,
    /// The compiler.
    Compile,
    Funnel(fn(&Context) -> Vec<Diagnostic>),
    Project(fn(&Project) -> Vec<Diagnostic>),
}

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub check: Check,
    /// One line, shown in `funnel rules`.
    pub summary: &'static str,
    pub what: &'static str,
    pub why: &'static str,
    /// A funnel snippet that triggers the rule, and how to fix it.
    pub example: &'static str,
}

impl Rule {
    pub fn configurable(&self) -> bool {
        !matches!(self.check, Check::Parse)
    }
}

pub static RULES: &[&Rule] = &[
    &yaml_syntax::RULE,
    &yaml_limits::RULE,
    &unknown_key::RULE,
    &duplicate_key::RULE,
    &invalid_type::RULE,
    &undefined_reference::RULE,
    &duplicate_id::RULE,
    &invalid_entry::RULE,
    &invalid_duration::RULE,
    &invalid_condition::RULE,
    &invalid_value::RULE,
    &conflicting_keys::RULE,
    &unknown_field::RULE,
    &unguarded_optional_field::RULE,
    &missing_template::RULE,
    &invalid_template::RULE,
    &split_weights::RULE,
    &unreachable_stage::RULE,
    &unreachable_step::RULE,
    &dead_end::RULE,
    &trapped_stage::RULE,
    &zero_delay_loop::RULE,
    &redundant_branch::RULE,
    &no_opt_out::RULE,
    &missing_address::RULE,
    &missing_unsubscribe_link::RULE,
    &unbounded_messages::RULE,
    &wait_longer_than_funnel::RULE,
    &unused_template::RULE,
    &unknown_channel::RULE,
    &literal_secret::RULE,
    &unknown_migration_target::RULE,
    &stale_migration::RULE,
];

pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// Human name of a stage or step node for messages.
pub fn describe(funnel: &Funnel, node: crate::language::graph::Node) -> String {
    match node {
        crate::language::graph::Node::Entry => "entry".to_string(),
        crate::language::graph::Node::Stage(s) => format!("stage `{}`", funnel.stages[s].name),
        crate::language::graph::Node::Step(s, i) => {
            format!("step `{}`", funnel.stages[s].steps[i].id)
        }
    }
}

/// Where a stage or step node was written.
pub fn span_of(
    funnel: &Funnel,
    node: crate::language::graph::Node,
) -> crate::language::source::Span {
    match node {
        crate::language::graph::Node::Entry => funnel.name_span,
        crate::language::graph::Node::Stage(s) => funnel.stages[s].span,
        crate::language::graph::Node::Step(s, i) => funnel.stages[s].steps[i].span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_documented_and_unique() {
        let mut ids = std::collections::HashSet::new();
        for rule in RULES {
            assert!(ids.insert(rule.id), "{} is listed twice", rule.id);
            assert!(
                rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                rule.id
            );
            for (section, text) in [
                ("summary", rule.summary),
                ("what", rule.what),
                ("why", rule.why),
                ("example", rule.example),
            ] {
                assert!(text.trim().len() > 20, "{} has no {section}", rule.id);
            }
        }
    }

    #[test]
    fn every_rule_file_is_in_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lint/rules");
        let files = std::fs::read_dir(dir).unwrap().filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".rs")?.to_string();
            (stem != "mod").then(|| stem.replace('_', "-"))
        });
        for id in files {
            assert!(
                find(&id).is_some(),
                "src/lint/rules/{id}.rs is not in RULES"
            );
        }
    }
}
