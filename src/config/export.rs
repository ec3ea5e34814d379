//! How an operator's export writes its values (`[feed]` of `funnel.toml`):
//! formats of times and dates, yes/no words, the decimal comma, the zone of
//! times without an offset, the encoding, and how many bad rows make it a
//! broken export. Plain settings, read here from the file and by the run's
//! feed readers (`run/feed/format.rs` types the values by them).

use std::collections::BTreeMap;

use chrono_tz::Tz;
pub use encoding_rs::Encoding;

/// How one export writes its values: `[feed]` and `[feed.fields.NAME]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Formats {
    /// Feed-wide: `[feed]`.
    pub feed: Writing,
    /// Per field (`[feed.fields.NAME]`), overriding the feed's.
    pub fields: BTreeMap<String, Writing>,
    /// The zone of times written without an offset.
    pub naive_times: NaiveTimes,
}

/// What an export writes besides the built-in shapes. Empty lists and
/// `None` defer to the feed's setting (for a field) or to the built-ins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writing {
    /// strftime formats of timestamps (`%Y.%m.%d. %H:%M`), tried in order.
    pub timestamps: Vec<String>,
    /// strftime formats of dates (`%d/%m/%Y`), tried in order.
    pub dates: Vec<String>,
    /// Words for true besides true/yes/y/1, lowercase (`igen`, `да`).
    pub truths: Vec<String>,
    /// Words for false besides false/no/n/0, lowercase (`nem`, `нет`).
    pub falsehoods: Vec<String>,
    /// Numbers written `3,5` (and `1 234,5`) instead of `3.5`.
    pub decimal_comma: Option<bool>,
}

/// Which zone a time without an offset (`2026-03-02 09:30`) is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NaiveTimes {
    /// The contact's own timezone field if the funnel declares one and the
    /// row sets it, else the funnel's `timezone`: what a CRM showing local
    /// times means.
    #[default]
    Funnel,
    /// UTC (`naive-times = "utc"`), as funnel read them before 0.2.
    Utc,
    /// One zone for the whole export (`naive-times = "Europe/Budapest"`).
    Zone(Tz),
}

impl NaiveTimes {
    /// `utc`, `funnel` or an IANA zone name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "funnel" => Some(NaiveTimes::Funnel),
            "utc" | "UTC" => Some(NaiveTimes::Utc),
            zone => zone.parse::<Tz>().ok().map(NaiveTimes::Zone),
        }
    }

    /// The zone for a contact of a funnel in `funnel`, whose own timezone
    /// field holds `contact` (if any).
    pub fn zone(self, funnel: Tz, contact: Option<Tz>) -> Tz {
        match self {
            NaiveTimes::Funnel => contact.unwrap_or(funnel),
            NaiveTimes::Utc => Tz::UTC,
            NaiveTimes::Zone(zone) => zone,
        }
    }
}

impl Formats {
    /// What `funnel` did before export formats: built-ins only, naive
    /// times in UTC. For values funnel wrote itself (stored rows).
    pub fn utc() -> Self {
        Formats {
            naive_times: NaiveTimes::Utc,
            ..Formats::default()
        }
    }
}

/// Whether `format` is a strftime format chrono can parse with; the error
/// names the first bad specifier.
pub fn check_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("`{format}` is not a strftime format"));
    }
    Ok(())
}

/// The encoding a WHATWG label names (`windows-1250`, `cp1251`,
/// `iso-8859-2`, `utf-8`), or why not.
pub fn encoding(label: &str) -> Result<&'static Encoding, String> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        format!(
            "`{label}` is not an encoding label; use a WHATWG label such as utf-8, windows-1250, windows-1251, windows-1255 or iso-8859-2"
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn strftime_formats_are_checked() {
        assert!(check_format("%Y.%m.%d. %H:%M").is_ok());
        assert!(
            check_format("%Y-%Q")
                .unwrap_err()
                .contains("not a strftime format")
        );
    }
}
