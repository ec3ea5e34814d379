//! `[feed]` of `funnel.toml`: how this operator's export is written (its
//! encoding, date formats, yes/no words, decimal comma, column names) and
//! how many bad rows make it a broken export. The funnels say what a field
//! means; this says how one CRM writes it, so funnels move between CRMs.
//!
//! ```toml
//! [feed]
//! encoding = "windows-1250"
//! timestamp-formats = ["%Y.%m.%d. %H:%M"]
//! true = ["igen"]
//! false = ["nem"]
//! [feed.columns]
//! "E-mail cím" = "email"
//! [feed.fields.born]
//! formats = ["%d/%m/%Y"]
//! ```

use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::export::{Encoding, Formats, NaiveTimes, Writing, check_format, encoding};
use super::located::Located;
use super::threshold::MaxBadRows;

/// `[feed]`, validated.
#[derive(Debug, Clone, Default)]
pub struct FeedSettings {
    /// The feeds' text encoding; UTF-8 (checked) when `None`.
    pub encoding: Option<&'static Encoding>,
    pub formats: Formats,
    /// `[feed.columns]`: export header -> field name.
    pub columns: Vec<(String, String)>,
    /// The bad-row limit; `--max-bad-rows` wins over it.
    pub max_bad_rows: Option<MaxBadRows>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct FeedSection {
    encoding: Option<Spanned<String>>,
    naive_times: Option<Spanned<String>>,
    #[serde(default)]
    timestamp_formats: Vec<Spanned<String>>,
    #[serde(default)]
    date_formats: Vec<Spanned<String>>,
    #[serde(default, rename = "true")]
    truths: Vec<String>,
    #[serde(default, rename = "false")]
    falsehoods: Vec<String>,
    decimal_comma: Option<bool>,
    max_bad_rows: Option<Spanned<Limit>>,
    #[serde(default)]
    columns: IndexMap<String, String>,
    #[serde(default)]
    fields: IndexMap<String, FieldSection>,
}

/// `[feed.fields.NAME]`: one field's writing, over the feed's.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FieldSection {
    /// Timestamp or date formats, whichever the field is.
    #[serde(default)]
    formats: Vec<Spanned<String>>,
    #[serde(default, rename = "true")]
    truths: Vec<String>,
    #[serde(default, rename = "false")]
    falsehoods: Vec<String>,
    decimal_comma: Option<bool>,
}

/// `max-bad-rows = 25` or `"10%"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Limit {
    Count(u64),
    Text(String),
}

impl FeedSection {
    /// Checks every value, pointing at the one that is wrong.
    pub(super) fn settings(self, path: &Path, text: &str) -> Result<FeedSettings, Box<Located>> {
        let at = |span: std::ops::Range<usize>, message: String, help: &str| {
            Box::new(Located::new(
                path,
                text,
                span,
                message,
                Some(help.to_string()),
            ))
        };
        let encoding = match &self.encoding {
            None => None,
            Some(label) => Some(encoding(label.get_ref()).map_err(|message| {
                at(
                    label.span(),
                    message,
                    "the encoding the CRM saves its export in",
                )
            })?),
        };
        let naive_times = match &self.naive_times {
            None => NaiveTimes::default(),
            Some(value) => NaiveTimes::parse(value.get_ref()).ok_or_else(|| {
                at(
                    value.span(),
                    format!("`{}` is not \"funnel\", \"utc\" or an IANA timezone", value.get_ref()),
                    "\"funnel\" (the default: the contact's or the funnel's timezone), \"utc\", or a zone like \"Europe/Budapest\"",
                )
            })?,
        };
        let max_bad_rows = match &self.max_bad_rows {
            None => None,
            Some(limit) => Some(
                match limit.get_ref() {
                    Limit::Count(n) => usize::try_from(*n)
                        .map(MaxBadRows::Count)
                        .map_err(|_| format!("{n} is not a number of rows")),
                    Limit::Text(text) => MaxBadRows::parse(text),
                }
                .map_err(|message| {
                    at(
                        limit.span(),
                        message,
                        "max-bad-rows = 25, or max-bad-rows = \"10%\"",
                    )
                })?,
            ),
        };
        let formats = |list: &[Spanned<String>]| -> Result<Vec<String>, Box<Located>> {
            list.iter()
                .map(|format| {
                    check_format(format.get_ref())
                        .map(|()| format.get_ref().clone())
                        .map_err(|message| {
                            at(
                                format.span(),
                                message,
                                "a chrono strftime format, e.g. \"%Y.%m.%d. %H:%M\", \"%d/%m/%Y\" or \"%d.%m.%Y %H:%M\"",
                            )
                        })
                })
                .collect()
        };
        let mut fields = std::collections::BTreeMap::new();
        for (name, field) in &self.fields {
            let own = formats(&field.formats)?;
            fields.insert(
                name.clone(),
                Writing {
                    timestamps: own.clone(),
                    dates: own,
                    truths: lowercase(&field.truths),
                    falsehoods: lowercase(&field.falsehoods),
                    decimal_comma: field.decimal_comma,
                },
            );
        }
        Ok(FeedSettings {
            encoding,
            formats: Formats {
                feed: Writing {
                    timestamps: formats(&self.timestamp_formats)?,
                    dates: formats(&self.date_formats)?,
                    truths: lowercase(&self.truths),
                    falsehoods: lowercase(&self.falsehoods),
                    decimal_comma: self.decimal_comma,
                },
                fields,
                naive_times,
            },
            columns: self.columns.into_iter().collect(),
            max_bad_rows,
        })
    }
}

fn lowercase(words: &[String]) -> Vec<String> {
    words.iter().map(|w| w.trim().to_lowercase()).collect()
}
