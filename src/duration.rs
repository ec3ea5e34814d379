//! Durations as marketers write them: `30m`, `4h`, `1d`, `2w`, `1d12h`.

use chrono::TimeDelta;

/// Parses `<number><unit>` repeated; units s, m, h, d (24 h), w (7 d).
pub fn parse(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_string());
    }
    let mut total = TimeDelta::zero();
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
            _ => return Err(format!("`{c}` is not a unit")),
        };
        let count: i64 = digits
            .parse()
            .map_err(|_| format!("a number must come before `{c}`"))?;
        digits.clear();
        let part = count
            .checked_mul(seconds_per_unit)
            .and_then(TimeDelta::try_seconds)
            .ok_or("duration too large")?;
        total = total.checked_add(&part).ok_or("duration too large")?;
    }
    if !digits.is_empty() {
        return Err(format!("`{digits}` needs a unit"));
    }
    Ok(total)
}

/// The shortest spelling of a duration, for messages: `1w2d`, `36h` -> `1d12h`.
pub fn format(delta: TimeDelta) -> String {
    let mut seconds = delta.num_seconds();
    if seconds == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if seconds < 0 {
        out.push('-');
        seconds = -seconds;
    }
    for (unit, size) in [
        ('w', 604_800),
        ('d', 86_400),
        ('h', 3_600),
        ('m', 60),
        ('s', 1),
    ] {
        if seconds >= size {
            out.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    out
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
        assert_eq!(format(TimeDelta::hours(36)), "1d12h");
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        assert_eq!(parse("3"), Err("`3` needs a unit".to_string()));
        assert_eq!(parse("3 days"), Err("` ` is not a unit".to_string()));
        assert_eq!(parse("d"), Err("a number must come before `d`".to_string()));
        assert!(parse("99999999999999w").is_err());
        assert!(parse("").is_err());
    }
}
