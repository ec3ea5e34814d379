//! Compiler: [`Document`] -> [`Funnel`]. Resolves every name, parses every
//! duration, time and condition, and reports each malformed or undefined one
//! with its location. It is lenient: a broken part is reported and replaced
//! by a placeholder so the linter can still look at the rest of the funnel.
//! Graph-level problems (dead ends, loops, reachability) are the linter's.
//!
//! This file holds the entry point, the state every part shares and the
//! names the others resolve against; each submodule compiles one part of
//! the document: `declarations` (contact fields, staff), `settings`
//! (timezone, locale, reentry, send window, caps), `entries` (triggers and
//! the transitions of goals and exits), `stages` (stages, steps, waits,
//! branches), `actions` (what a step or variant does), `references` (stage,
//! step and staff names), `events` and `timing`.

use std::collections::HashMap;

use chrono::TimeDelta;

use crate::language::condition::{Condition, Parsed, Scope};
use crate::language::document::{Document, Text};
use crate::language::duration;
use crate::language::model::*;
use crate::language::parser::Parser;
use crate::language::source::{SourceFile, SourceId, Span};
use crate::lint::diagnostic::Diagnostic;
use crate::lint::rules::{self, Rule};

mod actions;
mod declarations;
mod entries;
mod events;
mod references;
mod settings;
mod stages;
mod timing;

pub type CompileResult = (Funnel, Vec<Diagnostic>);

/// Parses and compiles one version of a funnel file on its own, for
/// callers that read structure rather than check it (`funnel diff`, a run
/// migrating journeys, `funnel report`). Compile problems are `funnel
/// check`'s to report: the compiler is lenient, and these read what they
/// can. Templates are not read: only the structure is wanted. A parse error
/// is its message with the line and column, as a diff shows it.
pub fn compile_file(file: &SourceFile) -> Result<Funnel, String> {
    let id = SourceId(0);
    match Parser::parse(id, file) {
        Ok(document) => Ok(Compiler::compile(&document, id, &file.text).0),
        Err(diagnostic) => {
            let (line, column) = file.line_col(diagnostic.span.offset);
            Err(format!("{} at {line}:{column}", diagnostic.message))
        }
    }
}

pub struct Compiler<'a> {
    source: SourceId,
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
    stages: HashMap<&'a str, StageId>,
    /// Step id -> (stage, index).
    steps: HashMap<&'a str, (StageId, usize)>,
    staff: Vec<&'a str>,
    terminal: Vec<bool>,
    parsed: HashMap<String, Parsed>,
    reads: Vec<(String, Span)>,
    templates: Vec<(String, Span)>,
}

impl<'a> Compiler<'a> {
    pub fn compile(document: &'a Document, source: SourceId, text: &'a str) -> CompileResult {
        let mut compiler = Compiler {
            source,
            text,
            diagnostics: Vec::new(),
            stages: HashMap::new(),
            steps: HashMap::new(),
            staff: document.staff.keys().map(Text::as_str).collect(),
            terminal: document
                .stages
                .values()
                .map(|s| s.terminal.as_ref().is_some_and(|t| t.value))
                .collect(),
            parsed: HashMap::new(),
            reads: Vec::new(),
            templates: Vec::new(),
        };
        let funnel = compiler.funnel(document);
        compiler.check_timing(document, &funnel);
        (funnel, compiler.diagnostics)
    }

    fn report(
        &mut self,
        rule: &Rule,
        span: Span,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let diagnostic = Diagnostic::new(rule, self.source, span, message).help(help);
        self.diagnostics.push(diagnostic);
    }

    fn funnel(&mut self, doc: &'a Document) -> Funnel {
        self.check_name(&doc.funnel);
        self.index(doc);
        let fields = self.fields(doc);
        let staff = self.staff(doc);
        let stages = doc
            .stages
            .iter()
            .enumerate()
            .map(|(id, (name, stage))| self.stage(id, name, stage))
            .collect();
        let entries = self.entries(doc);
        self.check_created(&fields, &entries);
        let exits = doc.exit.iter().map(|t| self.transition(t)).collect();
        Funnel {
            name: doc.funnel.value.clone(),
            name_span: doc.funnel.span,
            source: self.source,
            description: doc.description.clone(),
            timezone: self.timezone(doc.timezone.as_ref()),
            locale: self.locale(doc.locale.as_ref()),
            fields,
            staff,
            entries,
            reentry: self.reentry(doc.reentry.as_ref()),
            exits,
            send_window: self.send_window(doc),
            working_days: self.working_days(doc.working_days.as_ref()),
            caps: self.caps(doc),
            caps_span: doc.caps.as_ref().map(|c| c.span),
            expire: doc.expire.as_ref().map(|e| Expire {
                after: self.duration(&e.value.after).unwrap_or(TimeDelta::MAX),
                to: self.stage_target(&e.value.to),
                span: e.span,
            }),
            stages,
            templates: std::mem::take(&mut self.templates),
            reads: std::mem::take(&mut self.reads),
            migrate: self.migrations(doc),
        }
    }

    /// Resolves `migrate:` targets by name; unknown ones stay unresolved for
    /// the `unknown-migration-target` rule, which lists the close names.
    fn migrations(&self, doc: &Document) -> Vec<Migration> {
        doc.migrate
            .iter()
            .map(|(from, to)| {
                let name = to.as_str();
                let target = match name {
                    "next" => MigrationTarget::Next,
                    "stay" => MigrationTarget::Stay,
                    _ if self.stages.contains_key(name) => MigrationTarget::Stage(to.value.clone()),
                    _ if self.steps.contains_key(name) => MigrationTarget::Step(to.value.clone()),
                    _ => MigrationTarget::Unresolved(to.value.clone()),
                };
                Migration {
                    from: from.value.clone(),
                    from_span: from.span,
                    to: target,
                    to_span: to.span,
                }
            })
            .collect()
    }

    fn check_name(&mut self, name: &Text) {
        let ok = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            self.report(
                &rules::invalid_value::RULE,
                name.span,
                format!("`{}` is not a valid funnel name", name.value),
                "use lowercase letters, digits and `-`, e.g. quote-follow-up",
            );
        }
    }

    /// Names every stage and step, reporting ids used twice.
    fn index(&mut self, doc: &'a Document) {
        for (id, name) in doc.stages.keys().enumerate() {
            self.stages.insert(name.as_str(), id);
        }
        for (stage_id, stage) in doc.stages.values().enumerate() {
            for (index, step) in stage.steps.iter().enumerate() {
                let id = step.id.as_str();
                if self.stages.contains_key(id) {
                    self.report(
                        &rules::duplicate_id::RULE,
                        step.id.span,
                        format!("step id `{id}` is also the name of a stage"),
                        "targets name steps and stages alike; rename the step",
                    );
                } else if let Some((other_stage, _)) = self.steps.get(id) {
                    let other = doc
                        .stages
                        .get_index(*other_stage)
                        .map_or("", |(n, _)| n.as_str());
                    self.report(
                        &rules::duplicate_id::RULE,
                        step.id.span,
                        format!("step id `{id}` is used twice"),
                        format!("the other `{id}` is in stage `{other}`; step ids are unique in a funnel"),
                    );
                } else {
                    self.steps.insert(id, (stage_id, index));
                }
            }
        }
    }

    fn duration(&mut self, text: &Text) -> Option<TimeDelta> {
        match duration::parse(&text.value) {
            Ok(delta) => Some(delta),
            Err(error) => {
                self.report(
                    &rules::invalid_duration::RULE,
                    text.span,
                    format!("`{}` is not a duration: {error}", text.value),
                    error.help(),
                );
                None
            }
        }
    }

    fn condition(&mut self, text: &Text) -> Condition {
        self.condition_in(text, Scope::Contact)
    }
}
