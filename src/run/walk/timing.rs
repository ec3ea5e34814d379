//! When a step of the walk falls due (`after`, `at`, `on`), and when a
//! message due then may go out (the send window's next opening in the
//! contact's timezone, pushed on by frequency caps, which the state
//! counts). The calendar arithmetic under it is `language/timing.rs`.

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use chrono_tz::Tz;

use super::Walk;
use crate::language::contact::Value;
use crate::language::model::{Action, Channel};
use crate::language::timing::{local_to_utc, on_day_at, working_day_after};
use crate::run::runner::reading;
use crate::store::{self, StoreError};

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// When a step falls due, counting from `clock`; `None` when its `on`
    /// expression cannot be evaluated yet (an optional date not set).
    /// Times of day (`at`) and working days are the contact's local ones
    /// (see [`Walk::timezone`]).
    pub(crate) fn due(
        &self,
        step: &crate::language::model::Step,
        clock: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let tz = self.timezone();
        if let Some(on) = &step.on {
            let moment = self.timestamp_at(on, clock)?;
            // With `at`, `on` names the day: "the day before the meeting,
            // at 18:00" whatever time the meeting is.
            return match step.at {
                Some(at) => on_day_at(&tz, moment, at),
                None => Some(moment),
            };
        }
        if let Some(days) = step.after_working_days {
            return working_day_after(&tz, &self.funnel().working_days, clock, days, step.at);
        }
        let base = clock.checked_add_signed(step.after.unwrap_or_else(TimeDelta::zero))?;
        let Some(at) = step.at else { return Some(base) };
        let local = base.with_timezone(&tz);
        let mut day = local.date_naive();
        loop {
            if let Some(candidate) = local_to_utc(&tz, day.and_time(at))
                && candidate >= base
            {
                return Some(candidate);
            }
            day = day.succ_opt()?;
        }
    }

    /// The first moment at or after `due` inside the send window, in the
    /// contact's timezone (DST-correct through chrono-tz).
    /// When a message due at `due` may go: the send window's next opening,
    /// pushed on by the frequency caps until both agree.
    pub(crate) fn opening(
        &self,
        action: &Action,
        due: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let mut at = due;
        // Each pass can only move later, and a window opens at least weekly,
        // so a few passes settle it; the bound guards a pathological cap.
        for _ in 0..16 {
            let opens = self.next_opening(at);
            at = self.cap_opening(action, opens)?;
            if at == opens {
                break;
            }
        }
        Ok(at)
    }

    /// The earliest moment from `at` on when sending `action` keeps the
    /// contact within the funnel's caps. Marketing messages to the contact
    /// from every funnel count; transactional ones neither count nor wait.
    pub(crate) fn cap_opening(
        &self,
        action: &Action,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let caps = &self.funnel().caps;
        let mut opening = at;
        for (channel, transactional) in action.messages() {
            if transactional {
                continue;
            }
            let own = match channel {
                Channel::Email => caps.email,
                Channel::Sms => caps.sms,
                Channel::Messenger => caps.messenger,
            };
            let own_channel = [channel.name()];
            let limits = [
                own.map(|cap| (cap, &own_channel[..])),
                caps.messages
                    .map(|cap| (cap, &["email", "sms", "messenger"][..])),
            ];
            for (cap, channels) in limits.into_iter().flatten() {
                let count = usize::try_from(cap.count).unwrap_or(usize::MAX);
                let after = at.checked_sub_signed(cap.period).unwrap_or(at);
                // A run that began with an empty outbox holds the contact's
                // messages itself (`Runner::capped`): the same rows, unread.
                let sent = match &self.runner.capped {
                    Some(capped) => {
                        let mut sent: Vec<DateTime<Utc>> = (capped.iter())
                            .filter(|(channel, due)| {
                                channels.contains(&channel.as_str()) && *due > after
                            })
                            .map(|(_, due)| *due)
                            .collect();
                        sent.sort();
                        sent
                    }
                    None => {
                        let tx = reading(self.tx, "the messages a cap counts read")?;
                        store::marketing_sent_after(tx, &self.contact.id, channels, after)?
                    }
                };
                // Once the oldest of the last `count` leaves the period,
                // there is room for one more.
                if let Some(oldest) = sent.len().checked_sub(count).and_then(|i| sent.get(i)) {
                    let room = oldest.checked_add_signed(cap.period);
                    opening = opening.max(room.unwrap_or(DateTime::<Utc>::MAX_UTC));
                }
            }
        }
        Ok(opening)
    }

    fn next_opening(&self, due: DateTime<Utc>) -> DateTime<Utc> {
        let Some(window) = &self.funnel().send_window else {
            return due;
        };
        let tz = self.timezone();
        let local = due.with_timezone(&tz);
        let mut day = local.date_naive();
        for _ in 0..8 {
            if window.open_on(day.weekday()) {
                let start = local_to_utc(&tz, day.and_time(window.start));
                let end = local_to_utc(&tz, day.and_time(window.end));
                if let (Some(start), Some(end)) = (start, end) {
                    if due < start {
                        return start;
                    }
                    if due < end {
                        return due;
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        due
    }

    pub(crate) fn timezone(&self) -> Tz {
        self.funnel()
            .timezone_field()
            .and_then(|field| match self.contact.fields.get(field) {
                Some(Value::String(name)) => name.parse::<Tz>().ok(),
                _ => None,
            })
            .unwrap_or(self.funnel().timezone)
    }
}
