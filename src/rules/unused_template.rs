//! `unused-template`: a template file no funnel uses.

use super::{Check, Project, Rule};
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::Span;

pub const RULE: Rule = Rule {
    id: "unused-template",
    severity: Severity::Warning,
    check: Check::Project(check),
    summary: "A file in `templates/` that no checked funnel refers to.",
    what: "Compares the `.hbs` files of each templates directory (an email's `NAME.html.hbs` belongs to `NAME`) with the templates named by the funnels checked beside it.",
    why: "An unused template is usually a renamed one whose new name has a typo, or dead copy that someone will edit in vain.",
    example: "# templates/thanks-old.hbs exists, but every funnel says `template: thanks`",
};

fn check(project: &Project) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (dir, funnels) in &project.dirs {
        // A partial is used by the templates that include it.
        let used = |name: &str| {
            funnels
                .iter()
                .any(|f| f.templates.iter().any(|(n, _)| n == name))
                || dir
                    .all()
                    .any(|t| t.references.partials.iter().any(|(n, _)| n == name))
        };
        for template in dir.all().filter(|t| !used(&t.name)) {
            found.push(
                Diagnostic::new(
                    &RULE,
                    template.source,
                    Span::new(0, 0),
                    format!("template `{}` is not used by any funnel", template.name),
                )
                .help("delete it, or fix the `template:` that was meant to name it"),
            );
        }
    }
    found
}
