//! Durations as marketers write them: `30m`, `4h`, `1d`, `2w`, `1d12h`.
//!
//! Every duration is bounded here, at check time, to [`MAX_DAYS`]: the
//! runner adds durations to dates, and a wait of fifteen million weeks would
//! run past the last date the calendar can hold. All arithmetic is checked,
//! so no text a user writes can overflow.

use std::fmt;

use chrono::TimeDelta;

/// The longest duration a funnel may hold: 100 years of 365.25 days.
pub const MAX_DAYS: i64 = 36_525;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not a number and a unit: the reason, for the message.
    Malformed(String),
    /// A duration, but longer than [`MAX_DAYS`].
    TooLong,
}

impl Error {
    /// How to fix it, for a diagnostic's help.
    pub fn help(&self) -> &'static str {
        match self {
            Error::Malformed(_) => HELP,
            Error::TooLong => {
                "durations are at most 100 years (36525d or 5217w); check the number and the unit"
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(reason) => f.write_str(reason),
            Error::TooLong => f.write_str("longer than 100 years"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses `<number><unit>` repeated; units s, m, h, d (24 h), w (7 d).
pub fn parse(text: &str) -> Result<TimeDelta, Error> {
    let malformed = |reason: String| Error::Malformed(reason);
    let text = text.trim();
    if text.is_empty() {
        return Err(malformed("empty duration".to_string()));
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let seconds_per_unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(malformed(format!("`{c}` is not a unit"))),
        };
        if digits.is_empty() {
            return Err(malformed(format!("a number must come before `{c}`")));
        }
        // All digits: a number that does not parse is only too large.
        let count: i64 = digits.parse().map_err(|_| Error::TooLong)?;
        digits.clear();
        total = count
            .checked_mul(seconds_per_unit)
            .and_then(|part| total.checked_add(part))
            .ok_or(Error::TooLong)?;
    }
    if !digits.is_empty() {
        return Err(malformed(format!("`{digits}` needs a unit")));
    }
    if total > MAX_DAYS * 86_400 {
        return Err(Error::TooLong);
    }
    TimeDelta::try_seconds(total).ok_or(Error::TooLong)
}

/// A duration in one unit, the largest that divides it exactly, as people
/// write them: `120d` (not `17w1d`), `36h`, `2w`, `90m`. Messages, history
/// and diagrams all spell durations this way.
pub fn format(delta: TimeDelta) -> String {
    let seconds = delta.num_seconds();
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.unsigned_abs();
    let (unit, size) = [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60)]
        .into_iter()
        .find(|(_, size)| seconds >= *size && seconds.is_multiple_of(*size))
        .unwrap_or(('s', 1));
    format!("{sign}{}{unit}", seconds / size)
}

pub const HELP: &str =
    "write a number and a unit, e.g. 30m, 4h, 1d, 2w or 1d12h (units: s, m, h, d, w)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse("30m"), Ok(TimeDelta::minutes(30)));
        assert_eq!(parse("1d12h"), Ok(TimeDelta::hours(36)));
        assert_eq!(parse("2w"), Ok(TimeDelta::days(14)));
    }

    /// `funnel graph` drew `expire: { after: 120d }` as `17w1d`: one unit,
    /// the largest that divides the duration, is what people write.
    #[test]
    fn format_uses_one_unit() {
        assert_eq!(format(TimeDelta::days(120)), "120d");
        assert_eq!(format(TimeDelta::days(14)), "2w");
        assert_eq!(format(TimeDelta::hours(36)), "36h");
        assert_eq!(format(TimeDelta::minutes(90)), "90m");
        assert_eq!(format(TimeDelta::seconds(61)), "61s");
        assert_eq!(format(TimeDelta::zero()), "0s");
        assert_eq!(format(TimeDelta::days(-3)), "-3d");
        for text in ["120d", "2w", "36h", "90m", "61s"] {
            assert_eq!(
                parse(&format(parse(text).unwrap())).unwrap(),
                parse(text).unwrap()
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        let malformed = |s: &str| Err(Error::Malformed(s.to_string()));
        assert_eq!(parse("3"), malformed("`3` needs a unit"));
        assert_eq!(parse("3 days"), malformed("` ` is not a unit"));
        assert_eq!(parse("d"), malformed("a number must come before `d`"));
        assert!(parse("").is_err());
    }

    /// `within: 15000000w` passed check and then panicked the runner when
    /// it added the wait to a date: durations stop at 100 years.
    #[test]
    fn durations_beyond_100_years_are_too_long() {
        assert_eq!(parse("5217w"), Ok(TimeDelta::weeks(5217)));
        assert_eq!(parse("5218w"), Err(Error::TooLong));
        assert_eq!(
            parse(&format!("{MAX_DAYS}d")),
            Ok(TimeDelta::days(MAX_DAYS))
        );
        assert_eq!(parse("15000000w"), Err(Error::TooLong));
        assert_eq!(parse("36526d"), Err(Error::TooLong));
        assert_eq!(parse("99999999999999w"), Err(Error::TooLong));
        assert_eq!(parse("99999999999999999999999s"), Err(Error::TooLong));
        assert_eq!(parse("9223372036854775807s1s"), Err(Error::TooLong));
    }

    #[test]
    fn format_never_overflows() {
        assert_eq!(format(TimeDelta::MIN).chars().next(), Some('-'));
        assert!(!format(TimeDelta::MAX).is_empty());
    }
}
