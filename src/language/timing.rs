//! Timing: when a step falls due (`after`, `at`, `on`), and when a message
//! due then may go out (the send window's next opening in the contact's
//! timezone, pushed on by frequency caps). DST-correct through chrono-tz;
//! every addition is checked, an overflow meaning "never".

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::language::contact::Value;
use crate::language::model::{Action, Channel};
use crate::run::walk::Walk;
use crate::store::{self, StoreError};

impl Walk<'_, '_, '_, '_, '_> {
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
                let sent = store::marketing_sent_after(
                    self.tx,
                    &self.contact.id,
                    channels,
                    at.checked_sub_signed(cap.period).unwrap_or(at),
                )?;
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

/// `at` on the local day of `moment` in `tz`.
pub(crate) fn on_day_at(tz: &Tz, moment: DateTime<Utc>, at: NaiveTime) -> Option<DateTime<Utc>> {
    local_to_utc(tz, moment.with_timezone(tz).date_naive().and_time(at))
}

/// The `days`-th working day after `clock`'s local day in `tz`, at `at`
/// or else at `clock`'s local time of day. A working day comes at least
/// once a week (`working_days` is never empty), so the search is bounded.
pub(crate) fn working_day_after(
    tz: &Tz,
    working: &[bool; 7],
    clock: DateTime<Utc>,
    days: u32,
    at: Option<NaiveTime>,
) -> Option<DateTime<Utc>> {
    let local = clock.with_timezone(tz);
    let mut day = local.date_naive();
    let mut left = days;
    for _ in 0..days.checked_mul(7)?.checked_add(7)? {
        day = day.succ_opt()?;
        if working[day.weekday().num_days_from_monday() as usize] {
            left = left.saturating_sub(1);
            if left == 0 {
                let time = at.unwrap_or_else(|| local.time());
                return local_to_utc(tz, day.and_time(time)).map(|due| due.max(clock));
            }
        }
    }
    None
}

/// A local time in `tz` as UTC: the earlier of two in a DST fold, and the
/// first valid minute after a DST gap.
pub(crate) fn local_to_utc(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::offset::LocalResult;
    for minutes in 0..=120 {
        match local
            .checked_add_signed(TimeDelta::minutes(minutes))?
            .and_local_timezone(*tz)
        {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, _) => return Some(earlier.with_timezone(&Utc)),
            LocalResult::None => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn at_on_a_dst_day_moves_out_of_the_gap_and_takes_the_first_of_a_fold() {
        let tz: Tz = "Europe/Budapest".parse().unwrap();
        let at = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        // 02:30 is skipped on 2026-03-29: 03:00 CEST.
        let gap = on_day_at(&tz, utc("2026-03-29T10:00:00Z"), at).unwrap();
        assert_eq!(store::time(gap), "2026-03-29T01:00:00Z");
        // 02:30 comes twice on 2026-10-25: the first, still CEST.
        let fold = on_day_at(&tz, utc("2026-10-25T10:00:00Z"), at).unwrap();
        assert_eq!(store::time(fold), "2026-10-25T00:30:00Z");
        // The day is the local one: 23:30 UTC on the 14th is the 15th in Budapest.
        let evening = NaiveTime::from_hms_opt(18, 0, 0).unwrap();
        let day = on_day_at(&tz, utc("2026-06-14T23:30:00Z"), evening).unwrap();
        assert_eq!(store::time(day), "2026-06-15T16:00:00Z");
    }

    #[test]
    fn working_days_count_from_the_local_day() {
        let tz: Tz = "Europe/Budapest".parse().unwrap();
        let weekdays = [true, true, true, true, true, false, false];
        let nine = Some(NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        // Friday 23:30 UTC is Saturday in Budapest: the next working day is Monday.
        let friday_night = utc("2026-06-12T23:30:00Z");
        let due = working_day_after(&tz, &weekdays, friday_night, 1, nine).unwrap();
        assert_eq!(store::time(due), "2026-06-15T07:00:00Z");
        let due = working_day_after(&tz, &weekdays, friday_night, 5, nine).unwrap();
        assert_eq!(store::time(due), "2026-06-19T07:00:00Z");
        // Across the autumn change: Friday 10:00 CEST -> Monday 10:00 CET.
        let due = working_day_after(&tz, &weekdays, utc("2026-10-23T08:00:00Z"), 1, None).unwrap();
        assert_eq!(store::time(due), "2026-10-26T09:00:00Z");
    }

    #[test]
    fn local_times_across_dst_are_valid_instants() {
        let tz: Tz = "Europe/Budapest".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Budapest: the clock jumps to 03:00 (01:00 UTC).
        let gap = chrono::NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            store::time(local_to_utc(&tz, gap).unwrap()),
            "2026-03-29T01:00:00Z"
        );
        // 09:00 is 08:00 UTC before the change and 07:00 UTC after it.
        let before = chrono::NaiveDate::from_ymd_opt(2026, 3, 27)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let after = chrono::NaiveDate::from_ymd_opt(2026, 3, 30)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        assert_eq!(
            store::time(local_to_utc(&tz, before).unwrap()),
            "2026-03-27T08:00:00Z"
        );
        assert_eq!(
            store::time(local_to_utc(&tz, after).unwrap()),
            "2026-03-30T07:00:00Z"
        );
    }
}
