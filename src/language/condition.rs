//! CEL conditions and expressions, parsed at check time. A condition keeps
//! its compiled program for the runner and the list of `contact.*` fields it
//! reads for the linter.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedExpr};

use crate::language::source::Span;

/// Variables a condition may read besides `contact`.
pub const VARIABLES: [&str; 3] = ["contact", "tags", "now"];

/// The event that fired a move, readable only where one did: see
/// [`Scope`].
pub const EVENT: &str = "event";

/// What an expression may read where it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `contact`, `tags` and `now`: every condition.
    Contact,
    /// Those and `event`: a `when` beside `event:` (an entry, a goal or
    /// exit, a wait), which is decided on the event that fired it.
    Event,
    /// `event` and `now` only: a `create:` field, which makes the contact
    /// from the event before there is one to read.
    Create,
}

impl Scope {
    pub fn allows(self, variable: &str) -> bool {
        match self {
            Scope::Contact => VARIABLES.contains(&variable),
            Scope::Event => variable == EVENT || VARIABLES.contains(&variable),
            Scope::Create => variable == EVENT || variable == "now",
        }
    }

    /// The variables it allows, for a hint.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Scope::Contact => &VARIABLES,
            Scope::Event => &["contact", "tags", "now", EVENT],
            Scope::Create => &[EVENT, "now"],
        }
    }
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub source: String,
    pub span: Span,
    /// `None` only when the text did not parse; such a funnel fails `check`
    /// and is never run.
    pub program: Option<Arc<cel::Program>>,
    /// `contact.<field>` reads, each with its span in the funnel file.
    pub fields: Vec<(String, Span)>,
    /// Top-level identifiers that are not a known variable.
    pub unknown_variables: Vec<String>,
    /// The known variables it reads (`contact`, `tags`, `now`, `event`),
    /// for the compiler to check against where it is written.
    pub variables: Vec<String>,
}

/// A CEL syntax error, positioned in the funnel file.
#[derive(Debug)]
pub struct ConditionError {
    pub message: String,
    pub span: Span,
}

/// What parsing an expression's text yields, independent of where it was
/// written: the compiler parses each distinct text once and places it at
/// every use with [`Condition::place`].
#[derive(Clone, Debug)]
pub enum Parsed {
    Program {
        program: Arc<cel::Program>,
        fields: Vec<String>,
        unknown: Vec<String>,
        variables: Vec<String>,
    },
    /// The parser's message and the character column of the error.
    Error { message: String, column: usize },
}

impl Parsed {
    pub fn new(source: &str) -> Self {
        match cel::Program::compile(source) {
            Ok(program) => {
                let mut reads = Reads::default();
                reads.walk(program.expression());
                Parsed::Program {
                    program: Arc::new(program),
                    fields: reads.fields,
                    unknown: reads.unknown,
                    variables: reads.variables,
                }
            }
            Err(errors) => {
                let first = errors.errors.first();
                Parsed::Error {
                    column: first.map_or(0, |e| usize::try_from(e.pos.1).unwrap_or(0)),
                    message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
                }
            }
        }
    }
}

impl Condition {
    /// `span` is where the expression text was written; `file_text` is the
    /// whole file, used to place errors and field reads on the exact column.
    pub fn parse(source: &str, span: Span, file_text: &str) -> Result<Self, ConditionError> {
        Self::place(&Parsed::new(source), source, span, file_text)
    }

    /// A parsed expression at one place in the file.
    pub fn place(
        parsed: &Parsed,
        source: &str,
        span: Span,
        file_text: &str,
    ) -> Result<Self, ConditionError> {
        let start = expression_start(source, span, file_text);
        let (program, fields, unknown, variables) = match parsed {
            Parsed::Program {
                program,
                fields,
                unknown,
                variables,
            } => (program, fields, unknown, variables),
            Parsed::Error { message, column } => {
                return Err(ConditionError {
                    message: message.clone(),
                    span: start.map_or(span, |s| Span::new(s + char_offset(source, *column), 1)),
                });
            }
        };
        let fields = fields
            .iter()
            .map(|field| {
                let needle = format!("contact.{field}");
                let at = match (start, source.find(&needle)) {
                    (Some(s), Some(i)) => Span::new(s + i, needle.len()),
                    _ => span,
                };
                (field.clone(), at)
            })
            .collect();
        Ok(Self {
            source: source.to_string(),
            span,
            program: Some(Arc::clone(program)),
            fields,
            unknown_variables: unknown.clone(),
            variables: variables.clone(),
        })
    }
}

impl Condition {
    /// Stands in for an expression that failed to parse, so the rest of the
    /// funnel can still be compiled and checked.
    pub fn invalid(source: &str, span: Span) -> Self {
        Self {
            source: source.to_string(),
            span,
            program: None,
            fields: Vec::new(),
            unknown_variables: Vec::new(),
            variables: Vec::new(),
        }
    }
}

/// Byte offset of the expression text inside the file, when it is written on
/// one line as a plain or quoted scalar (almost always).
fn expression_start(source: &str, span: Span, file_text: &str) -> Option<usize> {
    let from = span.offset.min(file_text.len());
    let window = file_text.get(from..)?;
    let end = window.find('\n').unwrap_or(window.len());
    window[..end].find(source).map(|i| from + i)
}

fn char_offset(source: &str, chars: usize) -> usize {
    source
        .char_indices()
        .nth(chars)
        .map_or(source.len(), |(i, _)| i)
}

/// Collects `contact.<field>` selections, the variables read and unknown
/// identifiers.
#[derive(Default)]
struct Reads {
    fields: Vec<String>,
    unknown: Vec<String>,
    variables: Vec<String>,
    /// Comprehension variables in scope (`x` in `tags.exists(x, ...)`).
    bound: Vec<String>,
}

impl Reads {
    fn walk(&mut self, node: &IdedExpr) {
        match &node.expr {
            Expr::Select(select) => match &select.operand.expr {
                Expr::Ident(name) if name == "contact" => {
                    push_once(&mut self.variables, name);
                    push_once(&mut self.fields, &select.field)
                }
                _ => self.walk(&select.operand),
            },
            Expr::Ident(name) if self.bound.contains(name) => {}
            Expr::Ident(name) if VARIABLES.contains(&name.as_str()) || name == EVENT => {
                push_once(&mut self.variables, name);
            }
            Expr::Ident(name) => push_once(&mut self.unknown, name),
            Expr::Call(call) => {
                call.target.iter().for_each(|t| self.walk(t));
                call.args.iter().for_each(|a| self.walk(a));
            }
            Expr::List(list) => list.elements.iter().for_each(|e| self.walk(e)),
            Expr::Map(map) => map.entries.iter().for_each(|e| self.walk_entry(&e.expr)),
            Expr::Struct(st) => st.entries.iter().for_each(|e| self.walk_entry(&e.expr)),
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range);
                self.walk(&c.accu_init);
                let scope = self.bound.len();
                self.bound.push(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.bound.push(c.accu_var.clone());
                for part in [&c.loop_cond, &c.loop_step, &c.result] {
                    self.walk(part);
                }
                self.bound.truncate(scope);
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn walk_entry(&mut self, entry: &EntryExpr) {
        match entry {
            EntryExpr::StructField(field) => self.walk(&field.value),
            EntryExpr::MapEntry(pair) => {
                self.walk(&pair.key);
                self.walk(&pair.value);
            }
        }
    }
}

/// The `event` a condition reads: `name`, `at`, `contact` (the id it
/// names) and `data` (its JSON, nested maps and lists).
pub fn event_value(event: &crate::language::contact::Event) -> cel::Value {
    let mut fields: HashMap<String, cel::Value> = HashMap::new();
    fields.insert("name".into(), cel::Value::String(event.name.clone().into()));
    fields.insert("at".into(), cel::Value::Timestamp(event.at.fixed_offset()));
    let contact = cel::Value::String(event.contact.clone().into());
    fields.insert("contact".into(), contact);
    fields.insert("data".into(), json_value(&event.data));
    fields.into()
}

/// JSON as CEL reads it: whole numbers are `int` (so `score >= 9` compares
/// like with like), others `double`.
pub(crate) fn json_value(json: &serde_json::Value) -> cel::Value {
    use serde_json::Value as Json;
    match json {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cel::Value::String(s.clone().into()),
        Json::Array(items) => {
            cel::Value::List(items.iter().map(json_value).collect::<Vec<_>>().into())
        }
        Json::Object(map) => {
            let map: HashMap<String, cel::Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect();
            map.into()
        }
    }
}

fn push_once(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<Condition, ConditionError> {
        let file = format!("when: \"{source}\"\n");
        Condition::parse(source, Span::new(6, source.len() + 2), &file)
    }

    #[test]
    fn lists_contact_fields_with_their_position() {
        let c = parse("has(contact.paid_at) && contact.score >= 9 && 'vip' in tags").unwrap();
        let names: Vec<&str> = c.fields.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["paid_at", "score"]);
        // `contact.score` starts 24 characters into the expression, which starts at byte 7.
        assert_eq!(c.fields[1].1, Span::new(7 + 24, 13));
        assert!(c.unknown_variables.is_empty());
    }

    #[test]
    fn comprehension_variables_are_not_unknown() {
        let c = parse("tags.exists(t, t == 'vip') && customer.x").unwrap();
        assert_eq!(c.unknown_variables, ["customer"]);
    }

    #[test]
    fn event_is_a_variable_the_scope_decides_on() {
        let c = parse("event.data.score >= 9 && contact.vip").unwrap();
        assert!(c.unknown_variables.is_empty());
        assert_eq!(c.variables, ["event", "contact"]);
        assert!(Scope::Event.allows("event") && !Scope::Contact.allows("event"));
        assert!(Scope::Create.allows("now") && !Scope::Create.allows("contact"));
    }

    #[test]
    fn event_data_reads_whole_numbers_as_int() {
        let event = crate::language::contact::Event {
            line: 1,
            contact: "c".into(),
            name: "survey.answered".into(),
            at: chrono::DateTime::UNIX_EPOCH,
            data: serde_json::json!({ "score": 9, "tags": ["a"], "ratio": 0.5 }),
        };
        let program = cel::Program::compile(
            "event.data.score >= 9 && event.data.ratio < 1.0 && 'a' in event.data.tags && event.name == 'survey.answered'",
        )
        .unwrap();
        let mut context = cel::Context::default();
        context.add_variable_from_value(EVENT, event_value(&event));
        assert_eq!(program.execute(&context), Ok(cel::Value::Bool(true)));
    }

    #[test]
    fn syntax_error_points_into_the_expression() {
        let err = parse("contact.score >= ").unwrap_err();
        assert!(err.span.offset >= 7, "{err:?}");
        assert!(!err.message.is_empty());
    }
}
