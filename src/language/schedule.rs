//! Calendar values of a funnel: times of day, send windows, frequency caps
//! and the re-entry policy, parsed from the strings a marketer writes.

use chrono::{NaiveTime, TimeDelta, Weekday};

use crate::language::duration;

/// `HH:MM`, 24-hour.
pub fn time_of_day(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| format!("`{text}` is not a time of day; write HH:MM, e.g. 09:00"))
}

/// When messages may go out, in the contact's timezone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendWindow {
    /// Monday first.
    pub days: [bool; 7],
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl SendWindow {
    pub fn open_on(&self, day: Weekday) -> bool {
        self.days[day.num_days_from_monday() as usize]
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `mon-fri`, `mon,wed,fri`, `sat-sun`, `every day`.
pub fn days(text: &str) -> Result<[bool; 7], String> {
    let text = text.trim().to_ascii_lowercase();
    if text == "every day" || text == "daily" {
        return Ok([true; 7]);
    }
    let index = |name: &str| {
        let name = name.trim();
        DAYS.iter()
            .position(|d| name.starts_with(d) && name.len() >= 3)
            .ok_or_else(|| format!("`{name}` is not a day; use mon, tue, wed, thu, fri, sat, sun"))
    };
    let mut open = [false; 7];
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (index(from)?, index(to)?);
                let mut day = from;
                loop {
                    open[day] = true;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => open[index(part)?] = true,
        }
    }
    Ok(open)
}

/// `09:00-18:00`.
pub fn hours(text: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a range of hours; write e.g. 09:00-18:00"))?;
    let (start, end) = (time_of_day(start)?, time_of_day(end)?);
    if start >= end {
        return Err(format!("the window `{text}` closes before it opens"));
    }
    Ok((start, end))
}

/// The most working days `after:` may count (ten years of weekdays):
/// more is a typo, like a duration over 100 years.
pub const MAX_WORKING_DAYS: u32 = 2_600;

/// `after: 1 working day`, `after: 3 working days`: `None` when `text` is
/// not of that form (it is a duration then), else the count or what is
/// wrong with it.
pub fn working_days_after(text: &str) -> Option<Result<u32, String>> {
    let trimmed = text.trim();
    let count = trimmed
        .strip_suffix("working days")
        .or_else(|| trimmed.strip_suffix("working day"))?;
    let bad = || {
        format!(
            "`{text}` is not a count of working days; write e.g. `1 working day` or `3 working days`"
        )
    };
    Some(match count.trim().parse::<u32>() {
        Ok(0) => Err(format!(
            "`{text}` is no delay; leave `after` out (with `at`, the next such time of day)"
        )),
        Ok(n) if n > MAX_WORKING_DAYS => Err(format!(
            "`{text}` is more than {MAX_WORKING_DAYS} working days (ten years)"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(bad()),
    })
}

/// At most `count` messages in any `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    pub count: u32,
    pub period: TimeDelta,
}

impl Cap {
    /// The cap scaled to one week, rounded down: 1 per day = 7 per week.
    pub fn per_week(&self) -> u64 {
        let period = self.period.num_seconds().max(1) as u64;
        let week = TimeDelta::weeks(1).num_seconds() as u64;
        if period >= week {
            u64::from(self.count)
        } else {
            u64::from(self.count) * week.div_ceil(period)
        }
    }
}

/// `3 per week`, `1 per day`, `2 per 48h`.
pub fn cap(text: &str) -> Result<Cap, String> {
    let bad =
        || format!("`{text}` is not a cap; write e.g. `3 per week`, `1 per day` or `2 per 48h`");
    let (count, period) = text.split_once(" per ").ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let period = match period.trim() {
        "day" => TimeDelta::days(1),
        "week" => TimeDelta::weeks(1),
        other => duration::parse(other).map_err(|_| bad())?,
    };
    if period <= TimeDelta::zero() {
        return Err(bad());
    }
    if count == 0 {
        return Err(format!(
            "`{text}` would hold every message forever; remove the messages instead"
        ));
    }
    Ok(Cap { count, period })
}

/// Whether a contact who left the funnel may enter it again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reentry {
    #[default]
    Never,
    Always,
    After(TimeDelta),
}

/// `never`, `always`, `after 90d`.
pub fn reentry(text: &str) -> Result<Reentry, String> {
    match text.trim() {
        "never" => Ok(Reentry::Never),
        "always" => Ok(Reentry::Always),
        other => other
            .strip_prefix("after ")
            .and_then(|d| duration::parse(d).ok())
            .map(Reentry::After)
            .ok_or_else(|| {
                format!("`{text}` is not a re-entry policy; write never, always or `after 90d`")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_accept_ranges_lists_and_wraparound() {
        assert_eq!(
            days("mon-fri"),
            Ok([true, true, true, true, true, false, false])
        );
        assert_eq!(
            days("mon, wed,fri"),
            Ok([true, false, true, false, true, false, false])
        );
        assert_eq!(
            days("fri-mon"),
            Ok([true, false, false, false, true, true, true])
        );
        assert_eq!(days("every day"), Ok([true; 7]));
        assert!(days("funday").is_err());
    }

    #[test]
    fn hours_must_open_before_they_close() {
        assert!(hours("09:00-18:00").is_ok());
        assert!(hours("18:00-09:00").is_err());
        assert!(hours("9-18").is_err());
    }

    #[test]
    fn working_days_are_counted_whole_and_bounded() {
        assert_eq!(working_days_after("1 working day"), Some(Ok(1)));
        assert_eq!(working_days_after(" 3 working days "), Some(Ok(3)));
        assert_eq!(working_days_after("3d"), None);
        assert!(matches!(working_days_after("0 working days"), Some(Err(_))));
        assert!(matches!(
            working_days_after("one working day"),
            Some(Err(_))
        ));
        assert!(matches!(
            working_days_after("9999 working days"),
            Some(Err(_))
        ));
    }

    #[test]
    fn caps_scale_to_a_week() {
        assert_eq!(cap("1 per day").map(|c| c.per_week()), Ok(7));
        assert_eq!(cap("3 per week").map(|c| c.per_week()), Ok(3));
        assert_eq!(cap("2 per 48h").map(|c| c.per_week()), Ok(8));
        assert!(cap("lots").is_err());
        assert!(cap("0 per day").is_err());
    }

    #[test]
    fn reentry_policies() {
        assert_eq!(
            reentry("after 90d"),
            Ok(Reentry::After(TimeDelta::days(90)))
        );
        assert_eq!(reentry("always"), Ok(Reentry::Always));
        assert!(reentry("sometimes").is_err());
    }
}
