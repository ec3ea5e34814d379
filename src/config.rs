//! The project config, `funnel.toml` at the repository root: rule severities
//! and check settings. Found by walking up from the current directory, or
//! named with `--config`. Channel settings will live here too; secrets never
//! do (they come from environment variables).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::{Severity, suggest};
use crate::error::{Error, Result};
use crate::rules;

pub const FILE_NAME: &str = "funnel.toml";

#[derive(Debug, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    /// Severity overrides by rule id.
    pub rules: HashMap<String, Severity>,
    pub max_warnings: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    check: CheckSection,
    #[serde(default)]
    rules: HashMap<String, String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CheckSection {
    max_warnings: Option<usize>,
}

impl Config {
    /// `explicit` if given, else the nearest `funnel.toml` from `start` up;
    /// no file at all means the defaults.
    pub fn discover(explicit: Option<&Path>, start: &Path) -> Result<Self> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => start
                .ancestors()
                .map(|d| d.join(FILE_NAME))
                .find(|p| p.is_file()),
        };
        match path {
            Some(path) => Self::load(&path),
            None => Ok(Self::default()),
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let mut rules_by_id = HashMap::new();
        for (id, level) in file.rules {
            let Some(rule) = rules::find(&id) else {
                return Err(bad(format!(
                    "unknown rule `{id}` in [rules]: {}",
                    suggest(&id, rules::RULES.iter().map(|r| r.id))
                )));
            };
            let severity = match level.as_str() {
                "off" => Severity::Off,
                "warn" | "warning" => Severity::Warning,
                "error" => Severity::Error,
                other => {
                    return Err(bad(format!(
                        "rule `{id}`: `{other}` is not a severity; use off, warn or error"
                    )));
                }
            };
            if !rule.configurable() && severity != Severity::Error {
                return Err(bad(format!(
                    "rule `{id}` reports unreadable YAML and cannot be turned down"
                )));
            }
            rules_by_id.insert(id, severity);
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            rules: rules_by_id,
            max_warnings: file.check.max_warnings,
        })
    }

    pub fn severity(&self, rule: &str, default: Severity) -> Severity {
        self.rules.get(rule).copied().unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_severities_and_max_warnings() {
        let config = Config::parse(
            Path::new("funnel.toml"),
            "[check]\nmax-warnings = 3\n[rules]\nunused-template = \"off\"\nno-opt-out = \"error\"\n",
        )
        .unwrap();
        assert_eq!(config.max_warnings, Some(3));
        assert_eq!(
            config.severity("unused-template", Severity::Warning),
            Severity::Off
        );
        assert_eq!(
            config.severity("no-opt-out", Severity::Warning),
            Severity::Error
        );
        assert_eq!(
            config.severity("dead-end", Severity::Error),
            Severity::Error
        );
    }

    #[test]
    fn unknown_rules_and_levels_are_errors() {
        let err =
            Config::parse(Path::new("funnel.toml"), "[rules]\ndead-ends = \"off\"\n").unwrap_err();
        assert!(
            err.to_string().contains("did you mean `dead-end`?"),
            "{err}"
        );
        let err =
            Config::parse(Path::new("funnel.toml"), "[rules]\ndead-end = \"loud\"\n").unwrap_err();
        assert!(err.to_string().contains("not a severity"), "{err}");
        let err = Config::parse(Path::new("funnel.toml"), "[rules]\nyaml-syntax = \"off\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("cannot be turned down"), "{err}");
    }
}
