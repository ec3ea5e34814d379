//! The compiler's half of step timing: `after` (a duration or `N working
//! days`), `at`, `on`, the funnel's `working_days`, and the combinations
//! that cannot work (`on` with `after`; a message due at a time of day or
//! on days its send window never opens). When a step then falls due is
//! the runner's (`run/walk/timing.rs`, over `language/timing.rs`).

use chrono::{NaiveTime, TimeDelta};

use super::Compiler;
use crate::language::document::{Document, StepDoc, Text};
use crate::language::model::Funnel;
use crate::language::schedule::{self, SendWindow};
use crate::lint::rules;

/// A step's compiled timing keys.
pub(super) struct Timing {
    pub after: Option<TimeDelta>,
    pub after_working_days: Option<u32>,
    pub at: Option<NaiveTime>,
}

/// Monday to Friday: the working week when a funnel names none.
const WEEKDAYS: [bool; 7] = [true, true, true, true, true, false, false];

impl Compiler<'_> {
    pub(super) fn step_timing(&mut self, doc: &StepDoc) -> Timing {
        if doc.on.is_some()
            && let Some(after) = &doc.after
        {
            self.report(
                &rules::conflicting_keys::RULE,
                after.span,
                format!("step `{}` has `on` together with `after`", doc.id.value),
                "`on` gives the due moment (with `at`, the day); fold any offset into it, e.g. contact.meeting_at - duration('24h')",
            );
        }
        let at = doc.at.as_ref().and_then(|t| {
            schedule::time_of_day(&t.value)
                .map_err(|message| {
                    self.report(
                        &rules::invalid_value::RULE,
                        t.span,
                        message,
                        "e.g. at: \"09:00\"",
                    )
                })
                .ok()
        });
        let (after, after_working_days) = match &doc.after {
            None => (None, None),
            Some(text) => match schedule::working_days_after(&text.value) {
                None => (self.duration(text), None),
                Some(Ok(days)) => (None, Some(days)),
                Some(Err(message)) => {
                    self.report(
                        &rules::invalid_duration::RULE,
                        text.span,
                        message,
                        "e.g. `after: 1 working day` with `at: \"09:00\"`: the next working day at 09:00",
                    );
                    (None, None)
                }
            },
        };
        Timing {
            after,
            after_working_days,
            at,
        }
    }

    /// `working_days:`, Monday to Friday when not given.
    pub(super) fn working_days(&mut self, text: Option<&Text>) -> [bool; 7] {
        let Some(text) = text else { return WEEKDAYS };
        schedule::days(&text.value).unwrap_or_else(|message| {
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                message,
                "e.g. mon-fri, sun-thu or mon,tue,wed,thu,fri,sat",
            );
            WEEKDAYS
        })
    }

    /// Reports a message step whose timing its send window can never
    /// honour: due at a time of day the window is closed, or on working
    /// days the window never opens. Such a message always goes out at
    /// another time than the funnel says, which is a mistake, not a plan.
    pub(super) fn check_timing(&mut self, doc: &Document, funnel: &Funnel) {
        let Some(window) = &funnel.send_window else {
            return;
        };
        let docs = doc.stages.values().flat_map(|s| &s.steps);
        let steps = funnel.stages.iter().flat_map(|s| &s.steps);
        for (doc, step) in docs.zip(steps) {
            let sends = step
                .action
                .as_ref()
                .is_some_and(|a| !a.messages().is_empty());
            if !sends || step.anytime {
                continue;
            }
            if let (Some(at), Some(text)) = (step.at, &doc.at)
                && !(window.start <= at && at < window.end)
            {
                self.report(
                    &rules::conflicting_keys::RULE,
                    text.span,
                    format!(
                        "step `{}` is due at {}, when the send window ({}) is closed: it could never go out then",
                        step.id,
                        at.format("%H:%M"),
                        hours(window)
                    ),
                    "move `at` into the window, widen `send_window.hours`, or add `anytime: true`",
                );
            }
            if let (Some(_), Some(text)) = (step.after_working_days, &doc.after)
                && !(0..7).any(|d| funnel.working_days[d] && window.days[d])
            {
                self.report(
                    &rules::conflicting_keys::RULE,
                    text.span,
                    format!(
                        "step `{}` is due on a working day, but the send window never opens on one",
                        step.id
                    ),
                    "make `working_days` and `send_window.days` share a day",
                );
            }
        }
    }
}

fn hours(window: &SendWindow) -> String {
    format!(
        "{}-{}",
        window.start.format("%H:%M"),
        window.end.format("%H:%M")
    )
}
