//! Calendar arithmetic of step timing: a time of day on a local day, the
//! n-th working day, a local time as UTC across DST changes (chrono-tz).
//! Every addition is checked, an overflow meaning "never". When a step of
//! a contact's walk falls due and when its message may go out (the send
//! window, the frequency caps, which read the state) is the runner's, in
//! `run/walk/timing.rs`.

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

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

    /// As the state writes a time (`store::time`, a layer above).
    fn time(at: DateTime<Utc>) -> String {
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn at_on_a_dst_day_moves_out_of_the_gap_and_takes_the_first_of_a_fold() {
        let tz: Tz = "Europe/Budapest".parse().unwrap();
        let at = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        // 02:30 is skipped on 2026-03-29: 03:00 CEST.
        let gap = on_day_at(&tz, utc("2026-03-29T10:00:00Z"), at).unwrap();
        assert_eq!(time(gap), "2026-03-29T01:00:00Z");
        // 02:30 comes twice on 2026-10-25: the first, still CEST.
        let fold = on_day_at(&tz, utc("2026-10-25T10:00:00Z"), at).unwrap();
        assert_eq!(time(fold), "2026-10-25T00:30:00Z");
        // The day is the local one: 23:30 UTC on the 14th is the 15th in Budapest.
        let evening = NaiveTime::from_hms_opt(18, 0, 0).unwrap();
        let day = on_day_at(&tz, utc("2026-06-14T23:30:00Z"), evening).unwrap();
        assert_eq!(time(day), "2026-06-15T16:00:00Z");
    }

    #[test]
    fn working_days_count_from_the_local_day() {
        let tz: Tz = "Europe/Budapest".parse().unwrap();
        let weekdays = [true, true, true, true, true, false, false];
        let nine = Some(NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        // Friday 23:30 UTC is Saturday in Budapest: the next working day is Monday.
        let friday_night = utc("2026-06-12T23:30:00Z");
        let due = working_day_after(&tz, &weekdays, friday_night, 1, nine).unwrap();
        assert_eq!(time(due), "2026-06-15T07:00:00Z");
        let due = working_day_after(&tz, &weekdays, friday_night, 5, nine).unwrap();
        assert_eq!(time(due), "2026-06-19T07:00:00Z");
        // Across the autumn change: Friday 10:00 CEST -> Monday 10:00 CET.
        let due = working_day_after(&tz, &weekdays, utc("2026-10-23T08:00:00Z"), 1, None).unwrap();
        assert_eq!(time(due), "2026-10-26T09:00:00Z");
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
            time(local_to_utc(&tz, gap).unwrap()),
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
            time(local_to_utc(&tz, before).unwrap()),
            "2026-03-27T08:00:00Z"
        );
        assert_eq!(
            time(local_to_utc(&tz, after).unwrap()),
            "2026-03-30T07:00:00Z"
        );
    }
}
