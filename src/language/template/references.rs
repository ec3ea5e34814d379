//! What a template calls by name: helpers, decorators and partials, found
//! by walking the compiled handlebars template (blocks, `{{else}}` chains,
//! partial-block fallbacks and subexpressions included), each with where
//! it is written, so `funnel check` can resolve them before any contact is
//! rendered. Whether a name is known is the rule's question, not this one.

use handlebars::template::{
    DecoratorTemplate, HelperTemplate, Parameter, Subexpression, TemplateElement,
};
use serde_json::Value as Json;

use super::helpers::HELPERS;
use crate::language::source::Span;

/// One helper call: `{{name params... key=value}}`, `{{#name}}` or
/// `(name ...)`, with its literal arguments (`None` for a path or a
/// subexpression, whose value is known only when rendering).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub span: Span,
    pub params: Vec<Option<Json>>,
    pub hash: Vec<(String, Option<Json>)>,
}

/// Everything a template names.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct References {
    pub helpers: Vec<Call>,
    pub decorators: Vec<(String, Span)>,
    /// `{{> name}}`: each must be another template of the same part.
    /// `{{#> name}}...{{/name}}` is left out: its body renders when the
    /// partial is missing.
    pub partials: Vec<(String, Span)>,
    /// `{{#*inline "name"}}`: partials the template defines for itself.
    pub inline: Vec<String>,
}

/// Walks `template`, compiled from `text`.
pub fn find(text: &str, template: &handlebars::Template) -> References {
    let mut walker = Walker {
        text,
        found: References::default(),
    };
    walker.template(template, 0);
    walker.found
}

struct Walker<'a> {
    text: &'a str,
    found: References,
}

impl Walker<'_> {
    /// `base` is where the enclosing element starts: the parts of an
    /// `{{else}}` chain carry no position of their own.
    fn template(&mut self, template: &handlebars::Template, base: usize) {
        for (index, element) in template.elements.iter().enumerate() {
            let at = template
                .mapping
                .get(index)
                .map_or(base, |m| offset_of(self.text, m.0, m.1));
            self.element(element, at);
        }
    }

    fn element(&mut self, element: &TemplateElement, at: usize) {
        match element {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                // `{{name}}` alone is a value unless a helper has that name;
                // ours are recorded so a call without arguments is caught.
                let bare = h.params.is_empty() && h.hash.is_empty();
                let ours = name_of(&h.name).is_some_and(|n| {
                    HELPERS.iter().any(|s| s.name == n) || super::helpers::LINKS.contains(&n)
                });
                if !bare || ours {
                    self.call(h, at);
                }
                self.arguments(&h.params, h.hash.values(), at);
            }
            TemplateElement::HelperBlock(h) => {
                self.call(h, at);
                self.arguments(&h.params, h.hash.values(), at);
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    self.template(inner, at);
                }
            }
            TemplateElement::DecoratorExpression(d) | TemplateElement::DecoratorBlock(d) => {
                self.decorator(d, at);
            }
            TemplateElement::PartialExpression(d) => {
                match &d.name {
                    Parameter::Subexpression(sub) => self.subexpression(sub, at),
                    name => {
                        if let Some(name) = partial_name(name).filter(|n| !n.starts_with('@')) {
                            let span = self.span_of(&name, at);
                            self.found.partials.push((name, span));
                        }
                    }
                }
                self.arguments(&d.params, d.hash.values(), at);
            }
            TemplateElement::PartialBlock(d) => {
                self.arguments(&d.params, d.hash.values(), at);
                if let Some(inner) = &d.template {
                    self.template(inner, at);
                }
            }
            // Text, comments, and whatever a later handlebars adds.
            _ => {}
        }
    }

    fn call(&mut self, h: &HelperTemplate, at: usize) {
        let Some(name) = name_of(&h.name) else { return };
        let span = self.span_of(name, at);
        self.found.helpers.push(Call {
            name: name.to_string(),
            span,
            params: h.params.iter().map(literal).collect(),
            hash: sorted_hash(h.hash.iter()),
        });
    }

    fn subexpression(&mut self, sub: &Subexpression, at: usize) {
        let name = sub.name().to_string();
        let span = self.span_of(&name, at);
        let params = sub.params().map(Vec::as_slice).unwrap_or_default();
        self.found.helpers.push(Call {
            name,
            span,
            params: params.iter().map(literal).collect(),
            hash: sub
                .hash()
                .map(|h| sorted_hash(h.iter()))
                .unwrap_or_default(),
        });
        let hash: Vec<&Parameter> = sub.hash().map(|h| h.values().collect()).unwrap_or_default();
        self.arguments(params, hash, at);
    }

    fn decorator(&mut self, d: &DecoratorTemplate, at: usize) {
        if let Some(name) = name_of(&d.name) {
            if let ("inline", Some(Parameter::Literal(Json::String(partial)))) =
                (name, d.params.first())
            {
                self.found.inline.push(partial.clone());
            }
            let span = self.span_of(name, at);
            self.found.decorators.push((name.to_string(), span));
        }
        self.arguments(&d.params, d.hash.values(), at);
        if let Some(inner) = &d.template {
            self.template(inner, at);
        }
    }

    /// The subexpressions among a call's arguments.
    fn arguments<'p>(
        &mut self,
        params: &'p [Parameter],
        hash: impl IntoIterator<Item = &'p Parameter>,
        at: usize,
    ) {
        for parameter in params.iter().chain(hash) {
            if let Parameter::Subexpression(sub) = parameter {
                self.subexpression(sub, at);
            }
        }
    }

    /// Where `name` is written at or after `at`, as the name of a call (after
    /// `{{`, `#`, `(`, `>`, `*` or `else`); the element's start when not found.
    fn span_of(&self, name: &str, at: usize) -> Span {
        let rest = self.text.get(at..).unwrap_or_default();
        let found = rest.match_indices(name).map(|(i, _)| at + i).find(|&i| {
            let before = self.text[..i].trim_end_matches([' ', '\t', '\r', '\n', '~']);
            let after = self.text[i + name.len()..].chars().next();
            let ends = after.is_none_or(|c| !(c.is_alphanumeric() || "_-.".contains(c)));
            let opens = before.ends_with(['{', '#', '(', '>', '*', '^', '"', '\''])
                || before.ends_with("else");
            ends && opens
        });
        match found {
            Some(offset) => Span::new(offset, name.len()),
            None => Span::new(at, 2.min(self.text.len().saturating_sub(at))),
        }
    }
}

fn name_of(parameter: &Parameter) -> Option<&str> {
    match parameter {
        Parameter::Name(name) => Some(name),
        Parameter::Path(
            handlebars::Path::Relative((_, raw)) | handlebars::Path::Local((_, _, raw)),
        ) => Some(raw),
        _ => None,
    }
}

/// `{{> footer}}`, `{{> "footer"}}`, `{{> ../footer}}`: the name a partial
/// is looked up by.
fn partial_name(parameter: &Parameter) -> Option<String> {
    match parameter {
        Parameter::Literal(Json::String(name)) => Some(name.clone()),
        other => name_of(other).map(str::to_string),
    }
}

fn literal(parameter: &Parameter) -> Option<Json> {
    match parameter {
        Parameter::Literal(value) => Some(value.clone()),
        _ => None,
    }
}

/// A hash in key order: handlebars keeps it in a `HashMap`.
fn sorted_hash<'a>(
    hash: impl Iterator<Item = (&'a String, &'a Parameter)>,
) -> Vec<(String, Option<Json>)> {
    let mut pairs: Vec<(String, Option<Json>)> =
        hash.map(|(k, v)| (k.clone(), literal(v))).collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

/// The byte offset of 1-based `line` and `column`, the column counted in
/// characters as handlebars' parser counts it.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line_text = text.get(start..).unwrap_or_default();
    let within = line_text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_text.len(), |(i, _)| i);
    (start + within).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> References {
        find(text, &handlebars::Template::compile(text).unwrap())
    }

    fn at(text: &str, span: Span) -> &str {
        &text[span.offset..span.offset + span.len]
    }

    #[test]
    fn finds_helpers_in_blocks_chains_and_subexpressions() {
        let text = "Szép nap, {{contact.name}}!\n{{#if (gt contact.n 1)}}\n  {{#each contact.items}}{{frob this}}{{/each}}\n{{else if (quux contact.n)}}{{time contact.at \"%H\"}}{{else}}{{#zork}}{{/zork}}{{/if}}";
        let found = refs(text);
        let names: Vec<&str> = found.helpers.iter().map(|c| c.name.as_str()).collect();
        for name in ["if", "gt", "each", "frob", "quux", "time", "zork"] {
            assert!(names.contains(&name), "{name}: {names:?}");
        }
        assert!(!names.contains(&"contact.name"), "{names:?}");
        for call in &found.helpers {
            assert_eq!(at(text, call.span), call.name, "{call:?}");
        }
        let time = found.helpers.iter().find(|c| c.name == "time").unwrap();
        assert_eq!(time.params, [None, Some(Json::String("%H".into()))]);
    }

    #[test]
    fn finds_partials_and_inline_definitions() {
        let text = "{{#*inline \"sig\"}}Bye{{/inline}}\nÁ {{> footer}} {{> ../../etc/passwd}}\n{{#> layout}}fallback {{> inner}}{{/layout}}{{> @partial-block}}";
        let found = refs(text);
        let partials: Vec<&str> = found.partials.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(partials, ["footer", "../../etc/passwd", "inner"]);
        for (name, span) in &found.partials {
            assert_eq!(at(text, *span), name);
        }
        assert_eq!(found.inline, ["sig"]);
        assert_eq!(found.decorators[0].0, "inline");
    }

    #[test]
    fn a_bare_name_is_a_value_unless_it_is_our_helper() {
        let found = refs("{{frob}} {{relative}}");
        let names: Vec<&str> = found.helpers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["relative"]);
    }

    #[test]
    fn columns_count_characters() {
        let text = "ő\nxő{{a}}";
        assert_eq!(&text[offset_of(text, 2, 3)..], "{{a}}");
        assert_eq!(offset_of(text, 9, 9), text.len());
    }
}
