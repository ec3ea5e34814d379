//! The funnel-wide settings: `timezone`, `locale`, `reentry`,
//! `send_window` and `caps`, each checked and given its default when
//! absent. `working_days` is with the step timing it serves (`timing`);
//! applying the settings to a contact is the runner's.

use chrono_tz::Tz;

use super::Compiler;
use crate::language::document::{Document, Text};
use crate::language::model::Caps;
use crate::language::schedule;
use crate::language::template::locale::Locale;
use crate::lint::diagnostic::suggest;
use crate::lint::rules;

impl Compiler<'_> {
    pub(super) fn timezone(&mut self, timezone: Option<&Text>) -> Tz {
        let Some(text) = timezone else { return Tz::UTC };
        text.value.parse::<Tz>().unwrap_or_else(|_| {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            let hint = suggest(&text.value, names);
            let hint = if hint.starts_with("did you mean") {
                hint
            } else {
                "use an IANA name such as Europe/Budapest or America/New_York".to_string()
            };
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                format!("`{}` is not a timezone", text.value),
                hint,
            );
            Tz::UTC
        })
    }

    pub(super) fn locale(&mut self, locale: Option<&Text>) -> Locale {
        let Some(text) = locale else {
            return Locale::default();
        };
        Locale::parse(&text.value).unwrap_or_else(|| {
            let known: Vec<&str> = Locale::known().collect();
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                format!("`{}` is not a locale funnel knows", text.value),
                format!(
                    "use one of {}, optionally with a region (`en-GB`)",
                    known.join(", ")
                ),
            );
            Locale::default()
        })
    }

    pub(super) fn reentry(&mut self, reentry: Option<&Text>) -> schedule::Reentry {
        let Some(text) = reentry else {
            return schedule::Reentry::Never;
        };
        schedule::reentry(&text.value).unwrap_or_else(|message| {
            self.report(
                &rules::invalid_value::RULE,
                text.span,
                message,
                "never | always | after 90d",
            );
            schedule::Reentry::Never
        })
    }

    pub(super) fn send_window(&mut self, doc: &Document) -> Option<schedule::SendWindow> {
        let window = &doc.send_window.as_ref()?.value;
        let days = match &window.days {
            Some(text) => schedule::days(&text.value).unwrap_or_else(|message| {
                self.report(
                    &rules::invalid_value::RULE,
                    text.span,
                    message,
                    "e.g. mon-fri, sat-sun, mon,wed,fri or every day",
                );
                [true; 7]
            }),
            None => [true; 7],
        };
        let midnight = chrono::NaiveTime::MIN;
        let last = chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(midnight);
        let (start, end) = match &window.hours {
            Some(text) => schedule::hours(&text.value).unwrap_or_else(|message| {
                self.report(
                    &rules::invalid_value::RULE,
                    text.span,
                    message,
                    "e.g. 09:00-18:00, in the contact's timezone",
                );
                (midnight, last)
            }),
            None => (midnight, last),
        };
        Some(schedule::SendWindow { days, start, end })
    }

    pub(super) fn caps(&mut self, doc: &Document) -> Caps {
        let Some(caps) = &doc.caps else {
            return Caps::default();
        };
        let mut one = |text: &Option<Text>| {
            let text = text.as_ref()?;
            schedule::cap(&text.value)
                .map_err(|message| {
                    self.report(
                        &rules::invalid_value::RULE,
                        text.span,
                        message,
                        "N per day | N per week | N per DURATION",
                    );
                })
                .ok()
        };
        Caps {
            email: one(&caps.value.email),
            sms: one(&caps.value.sms),
            messenger: one(&caps.value.messenger),
            messages: one(&caps.value.messages),
        }
    }
}
