//! How many bad rows a feed may have before `funnel run` refuses it. A
//! broken export (a renamed column, a changed date format, the wrong file)
//! makes most rows bad at once; running the few that still read would
//! treat everyone else as gone, so past the limit nothing runs.

use std::fmt;

/// `--max-bad-rows` / `[feed] max-bad-rows`: a count (`25`) or a
/// percentage of the feed's rows (`10%`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxBadRows {
    Count(usize),
    Percent(f64),
}

impl Default for MaxBadRows {
    fn default() -> Self {
        MaxBadRows::Percent(10.0)
    }
}

impl fmt::Display for MaxBadRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxBadRows::Count(n) => write!(f, "{n}"),
            MaxBadRows::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl MaxBadRows {
    /// `25` or `10%` (0 to 100).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a number of rows (`25`) or a percentage from 0% to 100% (`10%`)"
            )
        };
        match text.strip_suffix('%') {
            Some(percent) => percent
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(MaxBadRows::Percent)
                .ok_or_else(bad),
            None => text.parse().map(MaxBadRows::Count).map_err(|_| bad()),
        }
    }

    /// The bad rows allowed among `rows`. A percentage rounds up, so one
    /// typo in a feed of five rows is not a broken export.
    pub fn allowed(self, rows: usize) -> usize {
        match self {
            MaxBadRows::Count(n) => n,
            MaxBadRows::Percent(p) => {
                // Feeds are far below 2^52 rows, where f64 counts exactly.
                let allowed = (rows as f64 * p / 100.0).ceil();
                if allowed >= rows as f64 {
                    rows
                } else {
                    allowed as usize
                }
            }
        }
    }

    /// Whether `bad` of `rows` is too many: more than allowed, or every
    /// row of a feed that has rows, whatever the limit short of `100%`
    /// (which says on purpose that anything goes).
    pub fn exceeded(self, bad: usize, rows: usize) -> bool {
        let anything_goes = matches!(self, MaxBadRows::Percent(p) if p >= 100.0);
        let everything = rows > 0 && bad >= rows && !anything_goes;
        everything || bad > self.allowed(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_percentages() {
        assert_eq!(MaxBadRows::parse("25"), Ok(MaxBadRows::Count(25)));
        assert_eq!(MaxBadRows::parse(" 2.5% "), Ok(MaxBadRows::Percent(2.5)));
        assert!(MaxBadRows::parse("110%").is_err());
        assert!(MaxBadRows::parse("-1").is_err());
        assert!(MaxBadRows::parse("ten").unwrap_err().contains("10%"));
    }

    #[test]
    fn the_default_allows_one_typo_in_a_small_feed_but_not_a_broken_export() {
        let limit = MaxBadRows::default();
        assert!(!limit.exceeded(1, 5));
        assert!(limit.exceeded(2, 5));
        assert!(!limit.exceeded(10, 100));
        assert!(limit.exceeded(11, 100));
        assert!(limit.exceeded(1, 1), "every row bad");
        assert!(!limit.exceeded(0, 0));
        assert!(!MaxBadRows::Percent(100.0).exceeded(40, 40));
        assert!(MaxBadRows::Count(40).exceeded(40, 40));
        assert!(!MaxBadRows::Count(40).exceeded(39, 40));
        assert!(MaxBadRows::Count(0).exceeded(1, 40));
    }
}
