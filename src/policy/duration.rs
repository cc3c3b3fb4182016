//! Durations as users write them in YAML: a whole number and one unit (`30s`, `5m`, `2h`, `7d`).
//!
//! One unit per value keeps the format obvious and lets the CRD's CEL rules compare durations
//! (`history` ≥ 2 × the longest `seasonality`) without a parser of their own.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The schema pattern every duration field carries.
pub const DURATION_PATTERN: &str = "^[0-9]+(s|m|h|d)$";

/// A duration as written in a `ScalingPolicy`, kept as the user's text so that a bad value
/// reaches `validate()` (which names the field) instead of failing deserialisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(String);

/// Why a duration string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct DurationError(pub String);

fn describe(text: &str) -> String {
    let fix = "write a whole number and one unit of s, m, h or d, e.g. \"90s\", \"5m\", \"7d\"";
    if text.starts_with('-') {
        format!("{text:?} is negative; a duration is 0 or more: {fix}")
    } else {
        format!("{text:?} is not a duration; {fix}")
    }
}

/// Parses a one-unit duration that must be longer than zero, for a command-line flag.
pub fn parse_positive_seconds(text: &str) -> Result<u64, String> {
    match parse_seconds(text) {
        Ok(0) => Err(format!(
            "{text:?} is zero; give a duration longer than that, e.g. \"15s\""
        )),
        Ok(seconds) => Ok(seconds),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses a one-unit duration for a command-line flag, keeping the text as written.
pub fn parse_text(text: &str) -> Result<Duration, DurationError> {
    parse_seconds(text).map(|_| Duration::new(text))
}

impl Duration {
    /// A duration from its text; not checked until [`Duration::seconds`] is called.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// A duration of whole seconds, written in the largest unit that divides it.
    pub fn from_seconds(seconds: u64) -> Self {
        let text = match seconds {
            0 => "0s".to_string(),
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        Self(text)
    }

    /// The text as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The length in seconds.
    pub fn seconds(&self) -> Result<u64, DurationError> {
        parse_seconds(&self.0)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Duration {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

/// Parses `<digits><unit>` with unit one of `s`, `m`, `h`, `d` into seconds.
pub fn parse_seconds(text: &str) -> Result<u64, DurationError> {
    let err = || DurationError(text.to_string());
    let unit_at = text.len().checked_sub(1).ok_or_else(err)?;
    let (digits, unit) = text.split_at(unit_at);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(err)
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": 16,
        })
    }
}

/// A CEL expression that turns the duration string at `path` into whole seconds.
/// Its result matches [`parse_seconds`] for every string that passes [`DURATION_PATTERN`].
pub fn cel_seconds(path: &str) -> String {
    format!(
        "(int({path}.substring(0, size({path}) - 1)) * ({path}.endsWith('d') ? 86400 : {path}.endsWith('h') ? 3600 : {path}.endsWith('m') ? 60 : 1))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_that_must_be_positive_refuses_zero_with_an_example() {
        assert_eq!(parse_positive_seconds("2m"), Ok(120));
        let err = parse_positive_seconds("0s").unwrap_err();
        assert!(
            err.contains("\"0s\" is zero") && err.contains("15s"),
            "{err}"
        );
        assert!(parse_positive_seconds("soon").is_err());
    }

    #[test]
    fn reads_each_unit() {
        assert_eq!(parse_seconds("45s"), Ok(45));
        assert_eq!(parse_seconds("5m"), Ok(300));
        assert_eq!(parse_seconds("2h"), Ok(7_200));
        assert_eq!(parse_seconds("7d"), Ok(604_800));
        assert_eq!(parse_seconds("0s"), Ok(0));
    }

    #[test]
    fn rejects_what_the_pattern_rejects() {
        for bad in [
            "",
            "s",
            "5",
            "1h30m",
            "-5m",
            "5 m",
            "5ms",
            "1.5h",
            "5M",
            "99999999999999999999d",
        ] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn from_seconds_picks_the_largest_exact_unit() {
        assert_eq!(Duration::from_seconds(604_800).as_str(), "7d");
        assert_eq!(Duration::from_seconds(5_400).as_str(), "90m");
        assert_eq!(Duration::from_seconds(90).as_str(), "90s");
        assert_eq!(Duration::from_seconds(0).as_str(), "0s");
    }
}
