//! Timestamps and dates as exports write them: the export's own strftime
//! formats first, then RFC 3339 and the ISO shapes, a time without an
//! offset placed in the zone the style gives.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::format::Style;

/// The export's formats in order, then RFC 3339, then
/// `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]`. A time without an
/// offset is in the style's zone.
pub(super) fn parse_timestamp(text: &str, style: &Style) -> Option<DateTime<Utc>> {
    if let Some(at) = style
        .timestamps
        .iter()
        .find_map(|format| with_format(text, format, style.zone))
    {
        return Some(at);
    }
    if !starts_with_date(text) {
        return None;
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    if let Some(at) = iso_local(text) {
        return crate::language::timing::local_to_utc(&style.zone?, at);
    }
    const FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .and_then(|at| crate::language::timing::local_to_utc(&style.zone?, at))
}

/// `YYYY-MM-DD HH:MM[:SS[.f]]`, or with `T`, read by hand: nearly every
/// export writes this, and chrono's parser reads its format string again
/// on every call. Anything else (a leap second included) is `None` and
/// left to the formats above, which read the same text the same way.
fn iso_local(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':')];
    if b.len() < 16
        || !matches!(b[10], b' ' | b'T')
        || separators.iter().any(|(at, sep)| b[*at] != *sep)
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0_u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(number(0, 4)?).ok()?;
    let day = NaiveDate::from_ymd_opt(year, number(5, 7)?, number(8, 10)?)?;
    let (hour, minute) = (number(11, 13)?, number(14, 16)?);
    let (second, nano) = match b.get(16) {
        None => (0, 0),
        Some(b':') => {
            let second = number(17, 19)?;
            match b.get(19) {
                None => (second, 0),
                Some(b'.') if (21..=29).contains(&b.len()) => {
                    let digits = b.len() - 20;
                    let fraction = number(20, b.len())?;
                    (
                        second,
                        fraction * 10_u32.pow(9 - u32::try_from(digits).ok()?),
                    )
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    day.and_hms_nano_opt(hour, minute, second, nano)
}

/// One strftime format: with an offset (`%z`) the time is exact; without,
/// it is local to `zone`; a format with no time of day is midnight.
fn with_format(text: &str, format: &str, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_str(text, format) {
        return Some(at.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, format)
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, format)
                .ok()
                .map(|day| day.and_time(NaiveTime::MIN))
        })?;
    crate::language::timing::local_to_utc(&zone?, naive)
}

pub(super) fn parse_date(text: &str, style: &Style) -> Option<NaiveDate> {
    if let Some(day) = style
        .dates
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
    {
        return Some(day);
    }
    if text.len() != 10 || !starts_with_date(text) {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `YYYY-MM-DD` exactly, so chrono's lenient `%Y`/`%m` do not take `24-5-1`.
fn starts_with_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_read_timestamps_agree_with_chrono() {
        let formats = [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ];
        let chrono = |text: &str| {
            formats
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        };
        let mut texts = vec![
            "2024-05-01 09:30".to_string(),
            "2024-05-01T23:59:59".to_string(),
            "2024-02-29 00:00:00.5".to_string(),
            "2024-02-29 00:00:00.123456789".to_string(),
            "2023-02-29 10:00".to_string(),
            "2024-05-01 24:00".to_string(),
            "2024-05-01 09:60".to_string(),
            "2024-05-01 09:30:".to_string(),
            "2024-05-01 09:30:00.".to_string(),
            "2024-05-01 09:30x".to_string(),
            "2024-05-01 +9:30".to_string(),
            "2024-13-01 09:30".to_string(),
        ];
        // Every byte in every position of a valid time.
        let valid = b"2024-05-01 09:30:15.25";
        for at in 0..valid.len() {
            for byte in [b'0', b'9', b'-', b':', b'.', b' ', b'T', b'x', b'+'] {
                let mut text = valid.to_vec();
                text[at] = byte;
                texts.push(String::from_utf8(text).unwrap_or_default());
            }
        }
        for text in &texts {
            if let Some(fast) = iso_local(text) {
                assert_eq!(Some(fast), chrono(text), "{text}");
            }
        }
        assert!(iso_local("2024-05-01 09:30:15.25").is_some());
    }
}
