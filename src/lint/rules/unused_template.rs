//! `unused-template`: a template file no funnel uses.

use super::{Check, Project, Rule};
use crate::language::source::Span;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "unused-template",
    severity: Severity::Warning,
    check: Check::Project(check),
    summary: "A file in `templates/` that no funnel beside it refers to (when checking a directory).",
    what: "Compares the `.hbs` files of each templates directory (an email's `NAME.html.hbs` belongs to `NAME`) with the templates named by the funnels beside it. Only when the funnels were found by checking a directory (`funnel check`, `funnel check funnels/`): `funnel check funnels/one.yaml` sees one funnel of a shared folder and cannot know what the others use.",
    why: "An unused template is usually a renamed one whose new name has a typo, or dead copy that someone will edit in vain.",
    example: "# templates/thanks-old.hbs exists, but every funnel says `template: thanks`",
};

fn check(project: &Project) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    // Checking single files leaves out the other funnels of a shared folder.
    let whole = project
        .dirs
        .iter()
        .filter(|(dir, _)| project.whole.contains(&dir.dir));
    for (dir, funnels) in whole {
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
