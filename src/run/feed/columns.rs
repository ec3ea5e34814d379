//! Column names: which CSV header or JSON key is which field. An export
//! names its columns as its CRM does (`E-mail cím`, `Email`); funnels name
//! fields (`email`). A header is matched through `[feed.columns]` first,
//! then to a field of the same name in any case; a header close to a field
//! no header names gets a "did you mean" once, not a warning per row.

use super::Problem;
use crate::lint::diagnostic::suggest;

/// How the headers of one feed map to field names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Columns {
    /// `[feed.columns]`: an export's header and the field it holds, in
    /// file order; headers compare in any case.
    pub mapping: Vec<(String, String)>,
    /// The names the feed is read for: every funnel's fields and the id
    /// column. Headers that match one in another case take its spelling.
    pub known: Vec<String>,
}

impl Columns {
    /// The field `header` holds (trimmed): mapped, or a known name in any
    /// case, or the header itself.
    pub fn resolve(&self, header: &str, required: &[&str]) -> String {
        let header = header.trim();
        if let Some((_, field)) = self
            .mapping
            .iter()
            .find(|(from, _)| from.trim().to_lowercase() == header.to_lowercase())
        {
            return field.clone();
        }
        let known = self.names(required);
        if known.contains(&header) {
            return header.to_string();
        }
        let lower = header.to_lowercase();
        known
            .into_iter()
            .find(|name| name.to_lowercase() == lower)
            .unwrap_or(header)
            .to_string()
    }

    fn names<'a>(&'a self, required: &[&'a str]) -> Vec<&'a str> {
        let mut names: Vec<&str> = self.known.iter().map(String::as_str).collect();
        for name in required {
            if !names.contains(name) {
                names.push(name);
            }
        }
        names
    }

    /// One note per header that names no known field but is close to one
    /// that no header names: the likely mapping mistake.
    pub fn near_misses(&self, line: usize, headers: &[(String, String)]) -> Vec<Problem> {
        let names = self.names(&[]);
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !headers.iter().any(|(_, field)| field == name))
            .collect();
        headers
            .iter()
            .filter(|(raw, field)| !raw.is_empty() && !names.contains(&field.as_str()))
            .filter_map(|(raw, _)| {
                let hint = suggest(&normal(raw), missing.iter().copied());
                let field = hint.strip_prefix("did you mean `")?.strip_suffix("`?")?;
                Some(Problem {
                    line,
                    field: Some(raw.clone()),
                    message: format!(
                        "column `{raw}` is no funnel's field; did you mean `{field}`? Map it in funnel.toml: [feed.columns] \"{raw}\" = \"{field}\""
                    ),
                })
            })
            .collect()
    }
}

/// A header as a field name would be written: lowercase, `-` and spaces
/// as `_`, so `E-mail` and `Quote sent at` compare with `email` and
/// `quote_sent_at`.
fn normal(header: &str) -> String {
    header
        .trim()
        .to_lowercase()
        .replace(['-', ' '], "_")
        .replace("__", "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Columns {
        Columns {
            mapping: vec![("E-mail cím".into(), "email".into())],
            known: vec!["id".into(), "email".into(), "first_name".into()],
        }
    }

    #[test]
    fn headers_resolve_through_the_mapping_then_in_any_case() {
        let c = columns();
        assert_eq!(c.resolve(" e-mail CÍM ", &[]), "email");
        assert_eq!(c.resolve("First_Name", &[]), "first_name");
        assert_eq!(c.resolve("ID", &["id"]), "id");
        assert_eq!(c.resolve("Contact", &["contact"]), "contact");
        assert_eq!(c.resolve("Notes", &[]), "Notes");
    }

    #[test]
    fn a_near_miss_header_gets_one_did_you_mean() {
        let c = Columns {
            mapping: vec![],
            ..columns()
        };
        let headers: Vec<(String, String)> = ["id", "E-mail", "first_name", "Notes"]
            .iter()
            .map(|h| (h.to_string(), c.resolve(h, &[])))
            .collect();
        let notes = c.near_misses(1, &headers);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(
            notes[0].message,
            "column `E-mail` is no funnel's field; did you mean `email`? Map it in funnel.toml: [feed.columns] \"E-mail\" = \"email\""
        );
    }
}
