//! A/B splits: each variant's contacts and conversions from the
//! `split_flow` counters, every variant compared with the first, and the
//! winner named in words by `scorecard::winner`.

use std::collections::{BTreeMap, HashMap};

use super::{Ending, MeasureResult, Measurer, ending, rated, round, step_place};
use crate::language::model::{Action, Funnel};
use crate::measure::scorecard::{Comparison, SplitFigures, VariantFigures};
use crate::measure::stats::{self, Proportion};

/// One variant of a split: contacts assigned, and how many of their visits
/// converted or ended otherwise.
#[derive(Clone, Copy, Debug, Default)]
struct Arm {
    assigned: u64,
    converted: u64,
    ended: u64,
}

impl Measurer<'_> {
    pub(super) fn splits(
        &self,
        funnel: &str,
        definition: Option<&Funnel>,
        selected: Option<&str>,
        goals: &HashMap<&str, Option<&str>>,
    ) -> MeasureResult<Vec<SplitFigures>> {
        let mut splits: BTreeMap<(String, String), BTreeMap<String, Arm>> = BTreeMap::new();
        for row in self.report.split_flow(funnel, selected)? {
            let (stage, step) = (row.stage, row.step);
            let (variant, outcome, to, n) = (row.variant, row.outcome, row.to_stage, row.contacts);
            let goal = goals.get(stage.as_str()).copied().flatten();
            let arm = splits
                .entry((stage, step))
                .or_default()
                .entry(variant)
                .or_default();
            match outcome.as_str() {
                "assigned" => arm.assigned += n,
                _ if ending(&outcome, &to, goal) == Ending::Converted => {
                    arm.converted += n;
                    arm.ended += n;
                }
                _ => arm.ended += n,
            }
        }
        let mut figures = Vec::new();
        for ((stage, step), arms) in splits {
            let order = definition
                .map(|f| variant_order(f, &step))
                .unwrap_or_default();
            let mut arms: Vec<(String, Arm)> = arms.into_iter().collect();
            arms.sort_by_key(|(name, _)| {
                order.iter().position(|o| o == name).unwrap_or(usize::MAX)
            });
            let variants: Vec<VariantFigures> = arms
                .into_iter()
                .map(|(variant, arm)| {
                    let (rate, rate_low, rate_high) =
                        rated(Proportion::new(arm.converted, arm.assigned));
                    VariantFigures {
                        variant,
                        contacts: arm.assigned,
                        converted: arm.converted,
                        still: arm.assigned.saturating_sub(arm.ended),
                        rate,
                        rate_low,
                        rate_high,
                    }
                })
                .collect();
            let comparisons = match variants.split_first() {
                Some((control, rest)) => rest.iter().map(|v| compare(control, v)).collect(),
                None => Vec::new(),
            };
            let (winner, verdict) = crate::measure::scorecard::winner(&comparisons);
            figures.push(SplitFigures {
                stage,
                step,
                variants,
                comparisons,
                winner,
                verdict,
            });
        }
        Ok(figures)
    }
}

fn variant_order(funnel: &Funnel, step: &str) -> Vec<String> {
    step_place(funnel, step)
        .and_then(|(s, i)| funnel.stages[s].steps[i].action.as_ref())
        .map(|action| match action {
            Action::Split(variants) => variants.iter().map(|v| v.name.clone()).collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
}

fn compare(control: &VariantFigures, variant: &VariantFigures) -> Comparison {
    let a = Proportion::new(control.converted, control.contacts);
    let b = Proportion::new(variant.converted, variant.contacts);
    let test = stats::two_proportion(a, b);
    let needed = match (a.rate(), b.rate()) {
        (Some(pa), Some(pb)) => stats::needed_per_arm(pa, pb),
        _ => None,
    };
    let smaller = control.contacts.min(variant.contacts);
    Comparison {
        control: control.variant.clone(),
        variant: variant.variant.clone(),
        difference: test.map(|t| round(t.difference, 4)),
        p_value: test.map(|t| round(t.p_value, 6)),
        significant: test.is_some_and(|t| t.significant()),
        needed_per_variant: needed,
        more_needed: needed.map(|n| n.saturating_sub(smaller)),
    }
}
