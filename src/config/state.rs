//! `[state]`: how long the state keeps what nobody acts on any more.

use chrono::TimeDelta;
use serde::Deserialize;

/// The state's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSettings {
    /// When set, every `funnel run` ends by pruning what is older than
    /// this (see `funnel prune`).
    pub retention: Option<TimeDelta>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct StateSection {
    retention: Option<String>,
}

/// The shortest retention: a week. Shorter would drop the history of
/// journeys a report over the last days still shows, for little space.
pub const MIN_RETENTION: TimeDelta = TimeDelta::days(7);

impl StateSection {
    pub(super) fn settings(self) -> Result<StateSettings, String> {
        let retention = match self.retention {
            None => None,
            Some(text) => {
                Some(retention(&text).map_err(|e| format!("[state] retention = \"{text}\": {e}"))?)
            }
        };
        Ok(StateSettings { retention })
    }
}

/// Parses a retention period (`90d`, `26w`), at least [`MIN_RETENTION`].
pub fn retention(text: &str) -> Result<TimeDelta, String> {
    let period = crate::language::duration::parse(text).map_err(|e| e.to_string())?;
    if period < MIN_RETENTION {
        return Err("keep at least 7d".to_string());
    }
    Ok(period)
}
