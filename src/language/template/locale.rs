//! The languages templates format dates, numbers and money for: a funnel's
//! `locale:` (or a contact's `locale` field) names one. Day and month names
//! come from chrono's locale data (glibc's); digit grouping, currency
//! placement and relative phrases ("in 2 days") are the small table below,
//! a documented simplification of CLDR, not all of it.

use std::fmt;

/// The languages whose numbers and relative phrases funnel knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    En,
    De,
    Fr,
    Hu,
    Ru,
    He,
}

/// Each language: its tag, and the region whose calendar names it uses
/// when the tag names none.
const LANGUAGES: [(Language, &str, &str); 6] = [
    (Language::En, "en", "US"),
    (Language::De, "de", "DE"),
    (Language::Fr, "fr", "FR"),
    (Language::Hu, "hu", "HU"),
    (Language::Ru, "ru", "RU"),
    (Language::He, "he", "IL"),
];

/// A language and the calendar names (chrono's locale) it formats with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locale {
    pub language: Language,
    pub calendar: chrono::Locale,
}

impl Default for Locale {
    fn default() -> Self {
        Locale {
            language: Language::En,
            calendar: chrono::Locale::en_US,
        }
    }
}

impl fmt::Display for Locale {
    /// `hu_HU`: what [`Locale::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.calendar.fmt(f)
    }
}

impl Locale {
    /// `hu`, `hu-HU` or `hu_HU` (any case); `None` for a language funnel has
    /// no table for, or a region chrono has no calendar names for.
    pub fn parse(tag: &str) -> Option<Locale> {
        let tag = tag.trim();
        let (language, region) = match tag.split_once(['-', '_']) {
            Some((language, region)) => (language, Some(region)),
            None => (tag, None),
        };
        let language = language.to_ascii_lowercase();
        let (language, _, default_region) = LANGUAGES.iter().find(|(_, t, _)| *t == language)?;
        let region = region.map_or_else(|| default_region.to_string(), str::to_ascii_uppercase);
        let calendar = format!("{}_{region}", language_tag(*language))
            .parse::<chrono::Locale>()
            .ok()?;
        Some(Locale {
            language: *language,
            calendar,
        })
    }

    /// The tags [`Locale::parse`] knows, for hints.
    pub fn known() -> impl Iterator<Item = &'static str> {
        LANGUAGES.iter().map(|(_, tag, _)| *tag)
    }

    /// `1234567.5` with 2 decimals: `1,234,567.50` in English,
    /// `1 234 567,50` in Hungarian (grouped from 1 000 up, by a
    /// no-break space where the language groups with a space).
    pub fn number(&self, value: f64, decimals: usize) -> String {
        let (group, decimal) = match self.language {
            Language::En | Language::He => (",", "."),
            Language::De => (".", ","),
            Language::Fr => ("\u{202F}", ","),
            Language::Hu | Language::Ru => ("\u{A0}", ","),
        };
        // Half away from zero, as prices are rounded (`{:.N}` alone rounds
        // half to even: 2.5 would be 2).
        let factor = 10_f64.powi(i32::try_from(decimals).unwrap_or(i32::MAX));
        let scaled = (value.abs() * factor).round() / factor;
        let rounded = if scaled.is_finite() {
            scaled
        } else {
            value.abs()
        };
        let text = format!("{rounded:.decimals$}");
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push_str(group);
            }
            grouped.push(digit);
        }
        // `-0.00` is zero: no sign.
        let negative = value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0');
        let sign = if negative { "-" } else { "" };
        match fraction {
            "" => format!("{sign}{grouped}"),
            fraction => format!("{sign}{grouped}{decimal}{fraction}"),
        }
    }

    /// `amount` in `currency` (checked by [`Currency::parse`]): English puts
    /// the symbol first (`€1,234.50`, `HUF 12,990`), the others after the
    /// number and a no-break space (`1.234,50 €`, `12 990 Ft`).
    pub fn money(&self, amount: f64, currency: &Currency, decimals: usize) -> String {
        let number = self.number(amount.abs(), decimals);
        let sign = if self.number(amount, decimals).starts_with('-') {
            "-"
        } else {
            ""
        };
        match self.language {
            Language::En if currency.symbol.chars().any(char::is_alphabetic) => {
                format!("{sign}{}\u{A0}{number}", currency.code)
            }
            Language::En => format!("{sign}{}{number}", currency.symbol),
            _ => format!("{sign}{number}\u{A0}{}", currency.symbol),
        }
    }

    /// "in 2 days", "tomorrow", "3 hours ago": `amount` of `unit`, in the
    /// future when positive. Zero of any unit is "now".
    pub fn relative(&self, amount: i64, unit: Unit) -> String {
        let n = amount.unsigned_abs();
        let future = amount > 0;
        if n == 0 {
            return self.word(Word::Now).to_string();
        }
        if unit == Unit::Day && n == 1 {
            return self
                .word(if future {
                    Word::Tomorrow
                } else {
                    Word::Yesterday
                })
                .to_string();
        }
        let counted = self.counted(n, unit, future);
        match (self.language, future) {
            (Language::En, true) => format!("in {counted}"),
            (Language::En, false) => format!("{counted} ago"),
            (Language::De, true) => format!("in {counted}"),
            (Language::De, false) => format!("vor {counted}"),
            (Language::Fr, true) => format!("dans {counted}"),
            (Language::Fr, false) => format!("il y a {counted}"),
            (Language::Hu, true) => format!("{counted} múlva"),
            // Hungarian marks the past on the noun ("2 napja"): `counted` did.
            (Language::Hu, false) => counted,
            (Language::Ru, true) => format!("через {counted}"),
            (Language::Ru, false) => format!("{counted} назад"),
            (Language::He, true) => format!("בעוד {counted}"),
            (Language::He, false) => format!("לפני {counted}"),
        }
    }

    fn word(&self, word: Word) -> &'static str {
        let words: [&'static str; 3] = match self.language {
            Language::En => ["now", "tomorrow", "yesterday"],
            Language::De => ["jetzt", "morgen", "gestern"],
            Language::Fr => ["maintenant", "demain", "hier"],
            Language::Hu => ["most", "holnap", "tegnap"],
            Language::Ru => ["сейчас", "завтра", "вчера"],
            Language::He => ["עכשיו", "מחר", "אתמול"],
        };
        words[word as usize]
    }

    /// "2 days", in the form the phrase around it needs.
    fn counted(&self, n: u64, unit: Unit, future: bool) -> String {
        let one = n == 1;
        let noun = match (self.language, unit) {
            (Language::En, Unit::Day) => plural(one, "day", "days"),
            (Language::En, Unit::Hour) => plural(one, "hour", "hours"),
            (Language::En, Unit::Minute) => plural(one, "minute", "minutes"),
            // "in"/"vor" take the dative.
            (Language::De, Unit::Day) => plural(one, "Tag", "Tagen"),
            (Language::De, Unit::Hour) => plural(one, "Stunde", "Stunden"),
            (Language::De, Unit::Minute) => plural(one, "Minute", "Minuten"),
            (Language::Fr, Unit::Day) => plural(one, "jour", "jours"),
            (Language::Fr, Unit::Hour) => plural(one, "heure", "heures"),
            (Language::Fr, Unit::Minute) => plural(one, "minute", "minutes"),
            (Language::Hu, Unit::Day) => plural(future, "nap", "napja"),
            (Language::Hu, Unit::Hour) => plural(future, "óra", "órája"),
            (Language::Hu, Unit::Minute) => plural(future, "perc", "perce"),
            (Language::Ru, Unit::Day) => russian(n, ["день", "дня", "дней"]),
            (Language::Ru, Unit::Hour) => russian(n, ["час", "часа", "часов"]),
            (Language::Ru, Unit::Minute) => russian(n, ["минуту", "минуты", "минут"]),
            (Language::He, unit) => return hebrew(n, unit),
        };
        format!("{n} {noun}")
    }
}

/// The units of a relative phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Day,
    Hour,
    Minute,
}

#[derive(Clone, Copy)]
enum Word {
    Now = 0,
    Tomorrow = 1,
    Yesterday = 2,
}

fn plural(one: bool, singular: &'static str, other: &'static str) -> &'static str {
    if one { singular } else { other }
}

/// Russian nouns after a number: 1, 21, 31 take the first form; 2-4,
/// 22-24 the second; 5-20, 25-30 and the rest the third.
fn russian(n: u64, forms: [&'static str; 3]) -> &'static str {
    match (n % 10, n % 100) {
        (1, rem) if rem != 11 => forms[0],
        (2..=4, rem) if !(12..=14).contains(&rem) => forms[1],
        _ => forms[2],
    }
}

/// Hebrew says one and two with the noun alone ("יום", "יומיים").
fn hebrew(n: u64, unit: Unit) -> String {
    let [one, two, many] = match unit {
        Unit::Day => ["יום", "יומיים", "ימים"],
        Unit::Hour => ["שעה", "שעתיים", "שעות"],
        Unit::Minute => ["דקה", "שתי דקות", "דקות"],
    };
    match n {
        1 => one.to_string(),
        2 => two.to_string(),
        n => format!("{n} {many}"),
    }
}

fn language_tag(language: Language) -> &'static str {
    LANGUAGES
        .iter()
        .find(|(l, ..)| *l == language)
        .map_or("en", |(_, tag, _)| *tag)
}

/// A currency: its ISO 4217 code, the symbol it is written with, and the
/// decimals it is shown with by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currency {
    pub code: String,
    pub symbol: String,
    pub decimals: usize,
}

/// The symbols funnel writes; any other code is written as itself.
const SYMBOLS: [(&str, &str); 11] = [
    ("EUR", "€"),
    ("USD", "$"),
    ("GBP", "£"),
    ("JPY", "¥"),
    ("ILS", "₪"),
    ("RUB", "₽"),
    ("UAH", "₴"),
    ("HUF", "Ft"),
    ("PLN", "zł"),
    ("CZK", "Kč"),
    ("CHF", "CHF"),
];

impl Currency {
    /// Three ASCII letters (`EUR`, `huf`); anything else is not a code.
    pub fn parse(code: &str) -> Option<Currency> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let symbol = SYMBOLS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(|| code.clone(), |(_, s)| (*s).to_string());
        // Forints and yen are priced in whole units.
        let decimals = if matches!(code.as_str(), "HUF" | "JPY") {
            0
        } else {
            2
        };
        Some(Currency {
            code,
            symbol,
            decimals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(tag: &str) -> Locale {
        Locale::parse(tag).unwrap_or_else(|| panic!("{tag}"))
    }

    #[test]
    fn tags_name_a_language_and_optionally_its_region() {
        assert_eq!(locale("hu").to_string(), "hu_HU");
        assert_eq!(locale("en-GB").to_string(), "en_GB");
        assert_eq!(locale("DE_at").to_string(), "de_AT");
        assert_eq!(Locale::parse("xx"), None);
        assert_eq!(Locale::parse("en-XX"), None);
        assert_eq!(Locale::parse(""), None);
        assert_eq!(locale(&locale("he").to_string()), locale("he"));
    }

    #[test]
    fn numbers_group_thousands_the_local_way() {
        assert_eq!(locale("en").number(1_234_567.5, 2), "1,234,567.50");
        assert_eq!(locale("de").number(1_234_567.5, 2), "1.234.567,50");
        assert_eq!(locale("hu").number(1234.0, 0), "1\u{A0}234");
        assert_eq!(locale("ru").number(-0.001, 2), "0,00");
        assert_eq!(locale("en").number(-999.5, 0), "-1,000");
        assert_eq!(locale("en").number(12.0, 0), "12");
        assert_eq!(locale("en").number(2.5, 0), "3");
        assert_eq!(locale("en").number(0.125, 2), "0.13");
    }

    #[test]
    fn money_puts_the_symbol_where_the_language_does() {
        let eur = Currency::parse("eur").unwrap();
        let huf = Currency::parse("HUF").unwrap();
        assert_eq!(locale("en").money(1234.5, &eur, 2), "€1,234.50");
        assert_eq!(locale("en").money(-5.0, &eur, 2), "-€5.00");
        assert_eq!(locale("en").money(12990.0, &huf, 0), "HUF\u{A0}12,990");
        assert_eq!(locale("hu").money(12990.0, &huf, 0), "12\u{A0}990\u{A0}Ft");
        assert_eq!(locale("de").money(1234.5, &eur, 2), "1.234,50\u{A0}€");
        assert_eq!(Currency::parse("EURO"), None);
        assert_eq!(Currency::parse("XBT").unwrap().symbol, "XBT");
    }

    #[test]
    fn relative_phrases_in_each_language() {
        assert_eq!(locale("en").relative(2, Unit::Day), "in 2 days");
        assert_eq!(locale("en").relative(1, Unit::Day), "tomorrow");
        assert_eq!(locale("en").relative(-3, Unit::Hour), "3 hours ago");
        assert_eq!(locale("en").relative(0, Unit::Minute), "now");
        assert_eq!(locale("hu").relative(2, Unit::Day), "2 nap múlva");
        assert_eq!(locale("hu").relative(-2, Unit::Day), "2 napja");
        assert_eq!(locale("ru").relative(2, Unit::Day), "через 2 дня");
        assert_eq!(locale("ru").relative(-5, Unit::Day), "5 дней назад");
        assert_eq!(locale("ru").relative(21, Unit::Minute), "через 21 минуту");
        assert_eq!(locale("de").relative(3, Unit::Day), "in 3 Tagen");
        assert_eq!(locale("he").relative(2, Unit::Day), "בעוד יומיים");
        assert_eq!(locale("fr").relative(-1, Unit::Day), "hier");
    }
}
