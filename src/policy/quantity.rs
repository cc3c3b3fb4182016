//! Kubernetes quantities (`512Mi`, `1.5Gi`, `250m`, `1e9`) in a policy, read as plain numbers.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The schema pattern every quantity field carries (non-negative; zero is caught by CEL).
pub const QUANTITY_PATTERN: &str =
    r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$";

/// A quantity as written in a `ScalingPolicy` (`"512Mi"`, `"500m"`), kept as text so that a bad
/// value reaches `validate()` with its field name instead of failing deserialisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(String);

impl Quantity {
    /// A quantity from its text; not checked until [`Quantity::value`] is called.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The quantity as a number in base units (bytes, cores).
    pub fn value(&self) -> Result<f64, QuantityError> {
        parse_quantity(&self.0)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": QUANTITY_PATTERN,
            "maxLength": 32,
        })
    }
}

/// Why a quantity string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a Kubernetes quantity; write a number with an optional suffix, e.g. \"512Mi\", \"2Gi\", \"500m\""
)]
pub struct QuantityError(pub String);

/// The value of a Kubernetes quantity as a float (`"512Mi"` → 536870912.0, `"250m"` → 0.25).
pub fn parse_quantity(text: &str) -> Result<f64, QuantityError> {
    let err = || QuantityError(text.to_string());
    let number_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-'))))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(number_end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(err());
    }
    let value: f64 = number.parse().map_err(|_| err())?;
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exp if exp.starts_with(['e', 'E']) => {
            let power: i32 = exp[1..].parse().map_err(|_| err())?;
            10f64.powi(power)
        }
        _ => return Err(err()),
    };
    Ok(value * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_binary_decimal_and_exponent_forms() {
        assert_eq!(parse_quantity("512Mi"), Ok(536_870_912.0));
        assert_eq!(parse_quantity("1.5Gi"), Ok(1_610_612_736.0));
        assert_eq!(parse_quantity("250m"), Ok(0.25));
        assert_eq!(parse_quantity("2"), Ok(2.0));
        assert_eq!(parse_quantity("1e3"), Ok(1000.0));
        assert_eq!(parse_quantity("-1k"), Ok(-1000.0));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "Mi", "12XB", "1..2", "abc", "1e", "--1"] {
            assert!(parse_quantity(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
