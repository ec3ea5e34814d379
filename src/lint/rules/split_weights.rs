//! `split-weights`: an A/B split whose weights do not add up to 100.

use super::{Check, Context, Rule};
use crate::language::model::Action;
use crate::lint::diagnostic::{Diagnostic, Severity};

pub const RULE: Rule = Rule {
    id: "split-weights",
    severity: Severity::Error,
    check: Check::Funnel(check),
    summary: "An A/B split has fewer than two variants, a zero weight, or weights that do not add up to 100.",
    what: "Adds the `weight` of every variant of each `split` step and checks the total is 100, that no weight is 0, and that there are at least two variants.",
    why: "Weights are percentages of contacts; if they do not add up, the share each variant gets is a guess and the A/B comparison in `funnel report` means nothing.",
    example: "split:\n  - { variant: coupon, weight: 50, email: { template: coupon } }\n  - { variant: discount, weight: 40, email: { template: discount } }   # 90, not 100",
};

fn check(cx: &Context) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for step in cx.funnel.stages.iter().flat_map(|s| &s.steps) {
        let Some(Action::Split(variants)) = &step.action else {
            continue;
        };
        let span = variants.first().map_or(step.span, |v| v.span);
        let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
        let problem = if variants.len() < 2 {
            Some(format!(
                "split in step `{}` has {} variant(s); a split needs at least two",
                step.id,
                variants.len()
            ))
        } else if total != 100 {
            Some(format!(
                "the weights of the split in step `{}` add up to {total}, not 100",
                step.id
            ))
        } else {
            variants.iter().find(|v| v.weight == 0).map(|v| {
                format!(
                    "variant `{}` has weight 0 and would never be chosen",
                    v.name
                )
            })
        };
        if let Some(message) = problem {
            let shares: Vec<String> = variants
                .iter()
                .map(|v| format!("{} {}", v.name, v.weight))
                .collect();
            found.push(
                Diagnostic::new(&RULE, cx.funnel.source, span, message).help(format!(
                    "weights are percentages that add up to 100 (now: {})",
                    shares.join(", ")
                )),
            );
        }
    }
    found
}
