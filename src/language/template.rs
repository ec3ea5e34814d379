//! Message templates: `templates/NAME.hbs` beside the funnel files, and
//! for an email an optional `templates/NAME.html.hbs` with its HTML body.
//! Loaded once per directory; each keeps the contact fields it reads so the
//! linter can check them against the funnel's declaration. Rendering is the
//! runner's job.

use std::io;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::language::source::{SourceId, Sources, Span};

mod format;
mod guards;
pub mod helpers;
pub mod locale;
pub mod references;

pub use format::urlencode;
pub use references::References;

/// The subject line that opens an email template, and the line that ends it.
const SUBJECT: &str = "subject:";
const HEADER_END: &str = "---";

#[derive(Debug)]
pub struct Template {
    pub name: String,
    pub source: SourceId,
    /// `contact.<field>` reads, with their span in the template file.
    pub fields: Vec<(String, Span)>,
    /// The reads no `{{#if}}`, `{{#unless}}` or `{{#with}}` of their field
    /// encloses (see [`guards`]).
    pub unguarded: Vec<(String, Span)>,
    /// A handlebars syntax error, if the template has one.
    pub error: Option<(String, Span)>,
    pub has_subject: bool,
    /// The helpers, decorators and partials it calls (none when it does
    /// not compile).
    pub references: References,
    /// Whether it shows `{{unsubscribe_url}}` (for `missing-unsubscribe-link`).
    pub shows_unsubscribe: bool,
}

/// The HTML body of an email sits beside its text template:
/// `NAME.html.hbs` next to `NAME.hbs`.
const HTML_SUFFIX: &str = ".html";

/// Which part of a message a template file renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `NAME.hbs`: an email's subject and plain text, or a whole SMS,
    /// webhook body, task brief or notification.
    Text,
    /// `NAME.html.hbs`: the HTML alternative of the email `NAME`.
    Html,
}

/// The template files of `dir` in name order, each with the template name
/// and part it holds. A missing directory has none.
pub fn files(dir: &Path) -> io::Result<Vec<(String, Part, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files: Vec<(String, Part, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hbs"))
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?;
            let (name, part) = match stem.strip_suffix(HTML_SUFFIX) {
                Some(name) => (name.to_string(), Part::Html),
                None => (stem.to_string(), Part::Text),
            };
            Some((name, part, path))
        })
        .collect();
    files.sort_by(|a, b| a.2.cmp(&b.2));
    // A template is a file inside the directory: a link out of it (to
    // /etc/passwd, say) would put that file into emails.
    let root = dir.canonicalize()?;
    for (_, _, path) in &files {
        let real = path.canonicalize()?;
        if !real.starts_with(&root) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} links outside the templates directory (to {}); a template must be a file inside it",
                    path.display(),
                    real.display()
                ),
            ));
        }
    }
    Ok(files)
}

/// The templates of one funnel directory.
#[derive(Debug, Default)]
pub struct TemplateDir {
    pub dir: PathBuf,
    /// `NAME.hbs` files by name.
    pub templates: IndexMap<String, Template>,
    /// `NAME.html.hbs` files by the name of the email they belong to.
    pub html: IndexMap<String, Template>,
}

impl TemplateDir {
    /// Reads `dir/*.hbs`. A missing directory is an empty catalogue: the
    /// funnels that name templates then get `missing-template`.
    pub fn load(dir: &Path, sources: &mut Sources) -> io::Result<Self> {
        let mut catalogue = TemplateDir {
            dir: dir.to_path_buf(),
            ..TemplateDir::default()
        };
        for (name, part, path) in files(dir)? {
            // The error names the file: the caller knows only the directory.
            let text = crate::input::read_text(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let template = Template::read(&name, &text, sources.add(&path, text.clone()));
            match part {
                Part::Text => catalogue.templates.insert(name, template),
                Part::Html => catalogue.html.insert(name, template),
            };
        }
        Ok(catalogue)
    }

    /// Every template file, text and HTML.
    pub fn all(&self) -> impl Iterator<Item = &Template> {
        self.templates.values().chain(self.html.values())
    }

    /// The files the template `name` renders from: its text, then its HTML.
    pub fn parts(&self, name: &str) -> impl Iterator<Item = &Template> {
        self.templates
            .get(name)
            .into_iter()
            .chain(self.html.get(name))
    }
}

impl Template {
    fn read(name: &str, text: &str, source: SourceId) -> Self {
        let has_subject =
            text.starts_with(SUBJECT) && text.lines().any(|line| line.trim_end() == HEADER_END);
        // Thousands of nested blocks compile in quadratic time and render
        // by recursion until the stack runs out: refused before either.
        if let Some(offset) = too_deep(text) {
            return Self {
                name: name.to_string(),
                source,
                fields: Vec::new(),
                unguarded: Vec::new(),
                error: Some((
                    format!("blocks are nested more than {MAX_NESTING} deep"),
                    Span::new(offset, 1),
                )),
                has_subject,
                references: References::default(),
                shows_unsubscribe: shows_unsubscribe(text),
            };
        }
        let (error, references) = match handlebars::Template::compile(text) {
            Ok(compiled) => (None, references::find(text, &compiled)),
            Err(e) => {
                let offset = e
                    .pos()
                    .map_or(0, |(line, column)| offset_of(text, line, column));
                // Errors "at the end" point past the last character: show the last line.
                let offset = offset.min(text.trim_end().len().saturating_sub(1));
                let error = (e.reason().to_string(), Span::new(offset, 1));
                (Some(error), References::default())
            }
        };
        Self {
            name: name.to_string(),
            source,
            fields: contact_reads(text),
            unguarded: guards::unguarded_reads(text),
            error,
            has_subject,
            references,
            shows_unsubscribe: shows_unsubscribe(text),
        }
    }
}

/// Whether a mustache of `text` reads `unsubscribe_url`.
fn shows_unsubscribe(text: &str) -> bool {
    text.split("{{")
        .skip(1)
        .filter_map(|tag| tag.split("}}").next())
        .any(|tag| {
            tag.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "unsubscribe_url")
        })
}

/// How deep `{{#...}}` blocks may nest in a template: far more than any
/// message needs, far less than what exhausts the renderer's stack.
pub const MAX_NESTING: usize = 64;

/// Where blocks first nest deeper than [`MAX_NESTING`], if they do: a scan
/// of `{{#` openings and `{{/` closings (the compiler reports mismatches).
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0_usize;
    for (offset, _) in text.match_indices("{{") {
        let rest = text[offset + 2..].trim_start_matches(['~', '{']);
        if rest.starts_with('#') {
            depth += 1;
            if depth > MAX_NESTING {
                return Some(offset);
            }
        } else if rest.starts_with('/') {
            depth = depth.saturating_sub(1);
        }
    }
    None
}

use references::offset_of;

/// Every `contact.<field>` inside `{{ ... }}`, in order, once each.
pub fn contact_reads(text: &str) -> Vec<(String, Span)> {
    let mut reads: Vec<(String, Span)> = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open + 2;
        let Some(close) = text[start..].find("}}") else {
            break;
        };
        for (name, span) in fields_in(&text[start..start + close], start) {
            if !reads.iter().any(|(n, _)| *n == name) {
                reads.push((name, span));
            }
        }
        rest = start + close + 2;
    }
    reads
}

/// The `contact.<field>` reads in the inside of one mustache, which starts
/// at `offset` in its file.
fn fields_in(inside: &str, offset: usize) -> Vec<(String, Span)> {
    let mut reads = Vec::new();
    let mut search = 0;
    while let Some(at) = inside[search..].find("contact.") {
        let begin = search + at;
        let name_start = begin + "contact.".len();
        let name: String = inside[name_start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let preceded_ok = inside[..begin]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
        if preceded_ok && !name.is_empty() {
            let span = Span::new(offset + begin, "contact.".len() + name.len());
            reads.push((name.clone(), span));
        }
        search = name_start + name.len();
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_contact_reads_inside_mustaches_only() {
        let text = "subject: Hi {{contact.first_name}}\n---\ncontact.nope {{#if contact.vip}}x{{/if}} {{contact.first_name}}";
        let reads = contact_reads(text);
        let names: Vec<&str> = reads.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["first_name", "vip"]);
        assert_eq!(
            &text[reads[0].1.offset..reads[0].1.offset + reads[0].1.len],
            "contact.first_name"
        );
    }

    #[test]
    fn syntax_errors_are_kept_with_a_position() {
        let t = Template::read("x", "hello\n{{#if contact.a}}\nno close", SourceId(0));
        assert!(t.error.is_some());
        assert!(!t.has_subject);
    }
}
