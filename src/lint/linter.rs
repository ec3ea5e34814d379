//! Linter: paths -> every diagnostic. Finds the funnel files, parses and
//! compiles each, builds its graph, runs the rule table, then applies the
//! project config and inline `# funnel-ignore` comments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::language::compiler::Compiler;
use crate::language::graph::FunnelGraph;
use crate::language::model::Funnel;
use crate::language::parser::Parser;
use crate::language::source::Sources;
use crate::language::template::TemplateDir;
use crate::lint::diagnostic::{Diagnostic, Severity};
use crate::lint::rules::{self, Check, Context, Project};

/// The comment that silences rules on its line: `# funnel-ignore` (all) or
/// `# funnel-ignore: dead-end, redundant-branch`.
pub const IGNORE: &str = "funnel-ignore";

/// The result of checking a set of files.
#[derive(Debug, Default)]
pub struct Checked {
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
    /// Funnels that parsed (possibly with compile errors).
    pub funnels: Vec<Funnel>,
    /// Funnel files read, parsed or not.
    pub files: usize,
}

impl Checked {
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

pub struct Linter<'a> {
    config: &'a Config,
}

impl<'a> Linter<'a> {
    pub fn new(config: &'a Config) -> Self {
        Self { config }
    }

    pub fn check(&self, paths: &[PathBuf]) -> Result<Checked> {
        let files = find(paths)?;
        let mut checked = Checked {
            files: files.len(),
            ..Checked::default()
        };
        // Template directories, each with the funnels that use it.
        let mut dirs: BTreeMap<PathBuf, (TemplateDir, Vec<usize>)> = BTreeMap::new();
        // Those beside a funnel found by walking a directory argument: the
        // walk read every funnel there, so only these can tell that a
        // template is unused (`check one.yaml` sees one funnel of many).
        let mut whole = Vec::new();
        let mut graphs = Vec::new();
        for (path, walked) in &files {
            let dir = path.parent().unwrap_or(Path::new(".")).join("templates");
            if *walked && !whole.contains(&dir) {
                whole.push(dir.clone());
            }
            let Some(funnel) = compile(&mut checked, path, read(path)?) else {
                continue;
            };
            if !dirs.contains_key(&dir) {
                let templates =
                    TemplateDir::load(&dir, &mut checked.sources).map_err(|source| {
                        Error::Read {
                            path: dir.clone(),
                            source,
                        }
                    })?;
                dirs.insert(dir.clone(), (templates, Vec::new()));
            }
            if let Some((_, users)) = dirs.get_mut(&dir) {
                users.push(checked.funnels.len());
            }
            graphs.push((FunnelGraph::build(&funnel), dir));
            checked.funnels.push(funnel);
        }
        for (funnel, (graph, dir)) in checked.funnels.iter().zip(&graphs) {
            let Some((templates, _)) = dirs.get(dir) else {
                continue;
            };
            let cx = Context {
                funnel,
                graph,
                templates,
            };
            checked.diagnostics.extend(funnel_rules(&cx));
        }
        let config = match (&self.config.path, &self.config.text) {
            (Some(path), Some(text)) => Some(checked.sources.add(path, text.clone())),
            _ => None,
        };
        let project = Project {
            sources: &checked.sources,
            config,
            delivery: config.map(|_| &self.config.delivery),
            dirs: dirs
                .values()
                .map(|(templates, users)| {
                    (
                        templates,
                        users.iter().map(|&i| &checked.funnels[i]).collect(),
                    )
                })
                .collect(),
            whole: &whole,
        };
        for rule in rules::RULES {
            if let Check::Project(check) = rule.check {
                checked.diagnostics.extend(check(&project));
            }
        }
        self.settle(&mut checked);
        Ok(checked)
    }

    /// Applies configured severities and inline suppressions, then orders
    /// the findings by file and position.
    fn settle(&self, checked: &mut Checked) {
        let sources = &checked.sources;
        checked.diagnostics.retain_mut(|d| {
            let default = rules::find(d.code).map_or(d.severity, |r| r.severity);
            d.severity = self.config.severity(d.code, default);
            d.severity != Severity::Off && !suppressed(sources, d)
        });
        checked.diagnostics.sort_by(|a, b| {
            let key = |d: &Diagnostic| (sources.get(d.source).path.clone(), d.span.offset, d.code);
            key(a).cmp(&key(b))
        });
        checked.diagnostics.dedup();
    }
}

/// Adds a funnel file to `checked`, parses and compiles it, and keeps the
/// diagnostics; `None` when it does not parse.
fn compile(checked: &mut Checked, path: &Path, text: String) -> Option<Funnel> {
    let id = checked.sources.add(path, text);
    let file = checked.sources.get(id);
    match Parser::parse(id, file) {
        Ok(document) => {
            let (funnel, diagnostics) = Compiler::compile(&document, id, &file.text);
            checked.diagnostics.extend(diagnostics);
            Some(funnel)
        }
        Err(diagnostic) => {
            checked.diagnostics.push(diagnostic);
            None
        }
    }
}

/// Every funnel rule's findings for one funnel.
fn funnel_rules(cx: &Context) -> Vec<Diagnostic> {
    rules::RULES
        .iter()
        .filter_map(|rule| match rule.check {
            Check::Funnel(check) => Some(check(cx)),
            _ => None,
        })
        .flatten()
        .collect()
}

fn suppressed(sources: &Sources, diagnostic: &Diagnostic) -> bool {
    if !rules::find(diagnostic.code).is_some_and(|r| r.configurable()) {
        return false;
    }
    let file = sources.get(diagnostic.source);
    let (line, _) = file.line_col(diagnostic.span.offset);
    ignores(file.line(line), diagnostic.code)
}

/// Whether a line's `# funnel-ignore` comment covers `code`.
fn ignores(line: &str, code: &str) -> bool {
    let Some(at) = line.find(&format!("# {IGNORE}")) else {
        return false;
    };
    let rest = &line[at + 2 + IGNORE.len()..];
    match rest.trim_start().strip_prefix(':') {
        Some(list) => list.split([',', ' ']).map(str::trim).any(|c| c == code),
        None => rest.trim().is_empty(),
    }
}

/// Funnel files named directly, or found under a directory (recursively,
/// skipping hidden and `templates` directories), in a stable order.
pub(crate) fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    Ok(find(paths)?.into_iter().map(|(path, _)| path).collect())
}

/// Like [`discover`], with whether each file was found by walking a
/// directory (`true`) or named directly.
fn find(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            if found.is_empty() {
                return Err(Error::NoFunnels { path: path.clone() });
            }
            files.extend(found.into_iter().map(|file| (file, true)));
        } else {
            files.push((path.clone(), false));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "templates" {
                walk(&path, files)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push(path);
        }
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<String> {
    crate::input::read_text(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Diagnostics of a single funnel given as text, for tests and benchmarks.
pub fn check_text(path: &Path, text: &str, templates: TemplateDir) -> Checked {
    let mut checked = Checked {
        files: 1,
        ..Checked::default()
    };
    if let Some(funnel) = compile(&mut checked, path, text.to_string()) {
        let graph = FunnelGraph::build(&funnel);
        let cx = Context {
            funnel: &funnel,
            graph: &graph,
            templates: &templates,
        };
        checked.diagnostics.extend(funnel_rules(&cx));
        checked.funnels.push(funnel);
    }
    Linter::new(&Config::default()).settle(&mut checked);
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_comments_name_rules_or_cover_all() {
        assert!(ignores(
            "  a: b  # funnel-ignore: dead-end, redundant-branch",
            "dead-end"
        ));
        assert!(ignores("  a: b  # funnel-ignore", "dead-end"));
        assert!(!ignores(
            "  a: b  # funnel-ignore: redundant-branch",
            "dead-end"
        ));
        assert!(!ignores("  a: b  # a comment", "dead-end"));
    }
}
