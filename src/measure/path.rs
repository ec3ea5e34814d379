//! The main path of a funnel and its overall conversion, from the stage
//! figures alone. The main path starts at the stage the first `enter:`
//! leads to (the first stage listed without a definition) and follows each
//! stage's goal; its end, when terminal, is the funnel's final goal.
//! Stages off the path (a detour like `unreachable`, an end like `lost`)
//! are not part of the sequence a funnel chart draws.

use super::rated;
use crate::measure::scorecard::{Overall, StageFigures};
use crate::measure::stats::Proportion;

pub(super) fn main_path(stages: &[StageFigures], start: Option<&str>) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    let mut next = start.or_else(|| stages.first().map(|s| s.stage.as_str()));
    while let Some(name) = next {
        // Goals may lead back (a re-engagement loop): each stage once.
        if path.iter().any(|p| p == name) {
            break;
        }
        let Some(stage) = stages.iter().find(|s| s.stage == name) else {
            break;
        };
        path.push(stage.stage.clone());
        next = stage.goal.as_deref();
    }
    path
}

/// Entered the path's first stage -> reached its final goal; none when
/// the path does not end in a terminal stage or nothing entered.
pub(super) fn overall(stages: &[StageFigures], path: &[String]) -> Option<Overall> {
    let stage = |name: &String| stages.iter().find(|s| &s.stage == name);
    let (first, goal) = match path {
        [first, .., last] => (stage(first)?, stage(last)?),
        _ => return None,
    };
    if !goal.terminal || first.entered == 0 {
        return None;
    }
    // Arrivals of journeys begun before the window can outnumber its entries.
    let (rate, rate_low, rate_high) = if goal.entered <= first.entered {
        rated(Proportion::new(goal.entered, first.entered))
    } else {
        (None, None, None)
    };
    Some(Overall {
        goal: goal.stage.clone(),
        entered: first.entered,
        reached: goal.entered,
        rate,
        rate_low,
        rate_high,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, goal: Option<&str>, terminal: bool, entered: u64) -> StageFigures {
        StageFigures {
            stage: name.into(),
            terminal,
            goal: goal.map(String::from),
            entered,
            converted: 0,
            negative: 0,
            exhausted: 0,
            exited: 0,
            other: 0,
            still: 0,
            rate: None,
            rate_low: None,
            rate_high: None,
            median_seconds: None,
        }
    }

    #[test]
    fn the_path_follows_goals_and_leaves_side_stages_out() {
        let stages = [
            stage("requested", Some("quoted"), false, 12),
            stage("quoted", Some("meeting"), false, 8),
            stage("unreachable", Some("meeting"), false, 3),
            stage("meeting", Some("customer"), false, 3),
            stage("customer", None, true, 1),
            stage("lost", None, true, 5),
        ];
        let path = main_path(&stages, Some("requested"));
        assert_eq!(path, ["requested", "quoted", "meeting", "customer"]);
        let o = overall(&stages, &path).unwrap();
        assert_eq!((o.goal.as_str(), o.entered, o.reached), ("customer", 12, 1));
        assert_eq!(o.rate, Some(0.0833));
    }

    #[test]
    fn a_goal_loop_or_an_open_end_has_no_final_goal() {
        let stages = [
            stage("a", Some("b"), false, 4),
            stage("b", Some("a"), false, 2),
        ];
        let path = main_path(&stages, None);
        assert_eq!(path, ["a", "b"]);
        assert_eq!(overall(&stages, &path), None);
    }
}
