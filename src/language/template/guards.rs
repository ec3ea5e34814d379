//! Which `contact.<field>` reads of a template sit outside every block that
//! tests the field first. Rendering is strict, so an optional field a
//! contact has no value for fails the whole action where it is read bare;
//! inside `{{#if contact.x}}`, `{{#unless contact.x}}` or
//! `{{#with contact.x}}...{{else}}...{{/with}}` it is tested first. This scanner only follows
//! blocks; it does not know which fields are optional (the rule does).

use super::fields_in;
use crate::language::source::Span;

/// The helpers whose block tests their one parameter before the body runs.
const GUARDS: [&str; 3] = ["if", "unless", "with"];

/// A block open at some point of the scan.
struct Block {
    /// The field it tests, if it is a guard.
    guard: Option<String>,
    /// `{{#with contact.x}}`: its read, which fails in strict mode when the
    /// block has no `{{else}}`.
    with: Option<(String, Span)>,
    has_else: bool,
}

/// Every `contact.<field>` read in a plain expression (`{{contact.x}}`,
/// `{{{contact.x}}}`, `{{upper contact.x}}`) that no enclosing guard block
/// tests, and the field of a `{{#with contact.x}}` without `{{else}}`
/// (strict handlebars fails it when the field is missing; `#if` and
/// `#unless` do not). Other reads in a block's opening tag, and in an
/// `{{else ...}}`, are left out, so a guard is never reported as unguarded.
/// The `{{else}}` of a guard counts as guarded: never a false alarm, at the
/// price of missing `{{#if contact.x}}{{else}}{{contact.x}}{{/if}}`.
pub fn unguarded_reads(text: &str) -> Vec<(String, Span)> {
    let mut found: Vec<(String, Span)> = Vec::new();
    let add = |found: &mut Vec<(String, Span)>, field: String, span: Span| {
        if !found.iter().any(|(f, _)| *f == field) {
            found.push((field, span));
        }
    };
    let mut open: Vec<Block> = Vec::new();
    let mut rest = 0;
    while let Some(at) = text[rest..].find("{{") {
        let start = rest + at + 2;
        let comment = text[start..].starts_with("!--");
        let end_mark = if comment { "--}}" } else { "}}" };
        let Some(close) = text[start..].find(end_mark) else {
            break;
        };
        let inside = &text[start..start + close];
        rest = start + close + end_mark.len();
        let tag = inside.trim_start_matches(['{', '~']).trim_start();
        if tag.starts_with('!') {
            continue;
        } else if let Some(opening) = tag.strip_prefix('#') {
            let guard = guarded_field(opening);
            let with = match (&guard, opening.starts_with("with")) {
                (Some(field), true) => fields_in(inside, start)
                    .into_iter()
                    .find(|(f, _)| f == field),
                _ => None,
            };
            open.push(Block {
                guard,
                with,
                has_else: false,
            });
        } else if tag.starts_with('/') {
            if let Some(Block {
                with: Some((field, span)),
                has_else: false,
                ..
            }) = open.pop()
            {
                add(&mut found, field, span);
            }
        } else if is_else(tag) {
            if let Some(block) = open.last_mut() {
                block.has_else = true;
            }
        } else {
            for (field, span) in fields_in(inside, start) {
                if !open.iter().any(|b| b.guard.as_ref() == Some(&field)) {
                    add(&mut found, field, span);
                }
            }
        }
    }
    found.sort_by_key(|(_, span)| span.offset);
    found
}

/// `if contact.x` -> `x`: the field a guard block's opening tag tests.
fn guarded_field(tag: &str) -> Option<String> {
    let mut words = tag.trim_end_matches(['}', '~']).split_whitespace();
    let helper = words.next()?;
    let param = words.next()?;
    if !GUARDS.contains(&helper) || words.next().is_some() {
        return None;
    }
    let field = param.strip_prefix("contact.")?;
    let simple = !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    simple.then(|| field.to_string())
}

/// `{{else}}`, `{{else if ...}}`, `{{^}}`.
fn is_else(tag: &str) -> bool {
    let tag = tag.trim_end_matches(['}', '~']).trim_end();
    tag == "^" || tag == "else" || tag.starts_with("else ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        unguarded_reads(text).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn reads_inside_a_guard_of_their_field_are_guarded() {
        assert!(names("{{#if contact.code}}Code: {{contact.code}}{{/if}}").is_empty());
        assert!(
            names("{{#with contact.code}}{{this}} {{contact.code}}{{else}}-{{/with}}").is_empty()
        );
        assert!(
            names("{{#unless contact.code}}none{{else}}{{contact.code}}{{/unless}}").is_empty()
        );
        assert!(names("{{~#if contact.a ~}}{{#if x}}{{{contact.a}}}{{/if}}{{~/if~}}").is_empty());
        assert!(names("{{!-- {{contact.a}} --}}{{! contact.b }}").is_empty());
    }

    #[test]
    fn reads_outside_or_under_another_guard_are_not() {
        assert_eq!(names("Hi {{contact.a}} {{contact.a}}"), ["a"]);
        assert_eq!(names("{{#if contact.b}}{{/if}}{{contact.b}}"), ["b"]);
        assert_eq!(names("{{#if contact.b}}{{upper contact.c}}{{/if}}"), ["c"]);
        assert_eq!(names("{{#if (eq contact.b 1)}}{{contact.b}}{{/if}}"), ["b"]);
        // Strict `with` fails on a missing field unless it has an `else`.
        assert_eq!(names("{{#with contact.d}}{{this}}{{/with}}"), ["d"]);
        assert!(names("{{#if contact.a}}{{else if contact.b}}{{/if}}").is_empty());
        let text = "x {{contact.name}}";
        let (_, span) = &unguarded_reads(text)[0];
        assert_eq!(&text[span.offset..span.offset + span.len], "contact.name");
    }
}
