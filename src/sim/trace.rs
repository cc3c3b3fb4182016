//! Traffic traces: CSV files with a `timestamp,value` header, one row per interval.

use std::path::Path;

use crate::forecast::Series;

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not `timestamp,value`.
    #[error(
        "{path}:{line}: expected `timestamp,value` with a whole-second timestamp and a number, got {text:?}"
    )]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// Too few rows, or timestamps not increasing.
    #[error("{path}: {reason}")]
    Shape {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A trace: its name (file stem) and values on a regular grid.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The file's stem, e.g. `nasa_http_jul1995_1min`.
    pub name: String,
    /// The values as recorded (per interval), regularised.
    pub series: Series,
}

impl Trace {
    /// Reads a trace file. The step is the most common spacing between timestamps (the shorter
    /// on a tie); missing
    /// rows are filled by interpolation (see [`Series::from_samples`]).
    pub fn load(path: &Path) -> Result<Self, TraceError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
            path: shown.clone(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&name, &shown, &text)
    }

    /// Parses trace text; `shown` names it in errors.
    pub fn parse(name: &str, shown: &str, text: &str) -> Result<Self, TraceError> {
        let mut samples = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (i == 0 && line.starts_with("timestamp")) {
                continue;
            }
            let bad = || TraceError::Line {
                path: shown.to_string(),
                line: i + 1,
                text: line.to_string(),
            };
            let (t, v) = line.split_once(',').ok_or_else(bad)?;
            let t: i64 = t.trim().parse().map_err(|_| bad())?;
            let v: f64 = v.trim().parse().map_err(|_| bad())?;
            samples.push((t, v));
        }
        let shape = |reason: &str| TraceError::Shape {
            path: shown.to_string(),
            reason: reason.to_string(),
        };
        if samples.len() < 2 {
            return Err(shape("a trace needs at least two rows"));
        }
        if samples.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err(shape("timestamps must be strictly increasing"));
        }
        let mut counts = std::collections::BTreeMap::new();
        for w in samples.windows(2) {
            *counts.entry(w[1].0 - w[0].0).or_insert(0usize) += 1;
        }
        let step = counts
            .iter()
            .max_by_key(|(d, n)| (**n, std::cmp::Reverse(**d)))
            .map_or(1, |(d, _)| *d as u64);
        Ok(Self {
            name: name.to_string(),
            series: Series::from_samples(&samples, step, 10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_the_step_and_fills_a_missing_row() {
        let t = Trace::parse("t", "t.csv", "timestamp,value\n0,1\n60,2\n180,4\n").unwrap();
        assert_eq!(t.series.step, 60);
        assert_eq!(t.series.values, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn a_bad_row_names_the_line() {
        let err = Trace::parse("t", "t.csv", "timestamp,value\n0,1\n60;2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv:3: expected `timestamp,value` with a whole-second timestamp and a number, got \"60;2\""
        );
    }
}
