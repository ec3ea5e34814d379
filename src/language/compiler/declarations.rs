//! What a funnel declares up front: the `contact:` fields (name and type,
//! `?` for optional) and the `staff:` people tasks and notifications go to.
//! Whether a field a condition reads is declared is the linter's
//! (`unknown-field`); resolving a staff name where one is used is
//! `references`.

use indexmap::IndexMap;

use super::Compiler;
use crate::language::document::Document;
use crate::language::model::{Field, FieldType, Staff};
use crate::lint::diagnostic::suggest;
use crate::lint::rules;

impl Compiler<'_> {
    pub(super) fn fields(&mut self, doc: &Document) -> IndexMap<String, Field> {
        let mut fields = IndexMap::new();
        for (name, kind) in &doc.contact {
            let (type_name, optional) = match kind.value.strip_suffix('?') {
                Some(base) => (base.trim(), true),
                None => (kind.value.trim(), false),
            };
            let valid_name = name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name
                    .value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !valid_name {
                self.report(
                    &rules::invalid_value::RULE,
                    name.span,
                    format!("`{}` is not a valid field name", name.value),
                    "field names are letters, digits and `_`, so CEL can read them as contact.NAME",
                );
            }
            match FieldType::parse(type_name) {
                Some(kind_parsed) => {
                    fields.insert(
                        name.value.clone(),
                        Field {
                            kind: kind_parsed,
                            optional,
                            span: name.span,
                        },
                    );
                }
                None => self.report(
                    &rules::invalid_value::RULE,
                    kind.span,
                    format!("`{}` is not a field type", kind.value),
                    format!(
                        "{} (add `?` for an optional field)",
                        suggest(type_name, FieldType::NAMES)
                    ),
                ),
            }
        }
        fields
    }

    pub(super) fn staff(&mut self, doc: &Document) -> IndexMap<String, Staff> {
        let mut staff = IndexMap::new();
        for (name, person) in &doc.staff {
            if let Some(supervisor) = &person.supervisor {
                self.staff_name(supervisor);
            }
            staff.insert(
                name.value.clone(),
                Staff {
                    supervisor: person.supervisor.as_ref().map(|s| s.value.clone()),
                    span: name.span,
                },
            );
        }
        staff
    }
}
