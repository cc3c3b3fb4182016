//! Traffic traces: CSV files with a `timestamp,value` header, one row per interval.

use std::path::Path;

use crate::forecast::Series;

/// Largest trace file read: over a year of one-second rows.
pub const MAX_TRACE_BYTES: u64 = 512 * 1024 * 1024;

/// Most steps a trace may span once regularised (about 19 years at one minute): a single
/// mistyped timestamp must be an error, not an allocation of the whole gap.
pub const MAX_TRACE_STEPS: u64 = 10_000_000;

/// Timestamps from here on are read as milliseconds by mistake (the year 5138 in seconds).
const MILLISECONDS_FROM: i64 = 100_000_000_000;

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
    /// Too few rows, timestamps not increasing, or a span no trace has.
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
        let io = |source| TraceError::Io {
            path: shown.clone(),
            source,
        };
        let too_large = || {
            format!(
                "larger than {} MiB; is it a trace (`timestamp,value` rows)?",
                MAX_TRACE_BYTES >> 20
            )
        };
        let text = crate::policy::read_text_capped(path, MAX_TRACE_BYTES, too_large).map_err(
            |source| match source.kind() {
                std::io::ErrorKind::FileTooLarge => TraceError::Shape {
                    path: shown.clone(),
                    reason: source.to_string(),
                },
                _ => io(source),
            },
        )?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&name, &shown, &text)
    }

    /// Parses trace text; `shown` names it in errors.
    pub fn parse(name: &str, shown: &str, text: &str) -> Result<Self, TraceError> {
        let shape = |reason: String| TraceError::Shape {
            path: shown.to_string(),
            reason,
        };
        // A byte-order mark and old Mac line endings are read as what they mean.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = if text.contains('\r') {
            std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        let mut samples = Vec::new();
        let mut lines = Vec::new();
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
            if !v.is_finite() {
                return Err(shape(format!(
                    "line {}: the value {v} is not a finite number; leave the row out instead",
                    i + 1
                )));
            }
            if v < 0.0 {
                return Err(shape(format!(
                    "line {}: the value {v} is negative; a load (requests, cores, bytes) is 0 or more",
                    i + 1
                )));
            }
            if t >= MILLISECONDS_FROM {
                return Err(shape(format!(
                    "line {}: timestamp {t} is far in the future as seconds; are the timestamps in milliseconds? Divide them by 1000",
                    i + 1
                )));
            }
            samples.push((t, v));
            lines.push(i + 1);
        }
        if samples.len() < 2 {
            return Err(shape("a trace needs at least two rows".to_string()));
        }
        if let Some(k) = samples.windows(2).position(|w| w[1].0 <= w[0].0) {
            let (a, b) = (samples[k].0, samples[k + 1].0);
            let what = if a == b { "repeats" } else { "goes back from" };
            return Err(shape(format!(
                "line {}: timestamp {b} {what} {a} on line {}; timestamps must be strictly increasing",
                lines[k + 1],
                lines[k]
            )));
        }
        let mut counts = std::collections::BTreeMap::new();
        for w in samples.windows(2) {
            *counts.entry(w[1].0 - w[0].0).or_insert(0usize) += 1;
        }
        let step = counts
            .iter()
            .max_by_key(|(d, n)| (**n, std::cmp::Reverse(**d)))
            .map_or(1, |(d, _)| *d as u64);
        let span = (samples[samples.len() - 1].0 - samples[0].0) as u64 / step;
        if span > MAX_TRACE_STEPS {
            let (k, gap) = samples
                .windows(2)
                .enumerate()
                .map(|(k, w)| (k, w[1].0 - w[0].0))
                .max_by_key(|(_, g)| *g)
                .unwrap_or((0, 0));
            return Err(shape(format!(
                "the rows span {span} steps of {step}s, more than {MAX_TRACE_STEPS}; the largest gap is {gap}s, between line {} and line {} — a mistyped timestamp?",
                lines[k],
                lines[k + 1]
            )));
        }
        Ok(Self {
            name: name.to_string(),
            series: Series::from_samples(&samples, step, 10),
        })
    }
}

impl Trace {
    /// A warning when rows are missing in runs longer than ten steps: such gaps are filled
    /// by interpolation and then simulated and scored as if they had been recorded.
    pub fn gap_warning(&self) -> Option<String> {
        let gaps = &self.series.gaps;
        let longest = gaps.iter().max_by_key(|g| g.len())?;
        let missing: usize = gaps.iter().map(|g| g.len()).sum();
        let step = self.series.step;
        let from = self.series.start + (longest.start as u64 * step) as i64;
        Some(format!(
            "warning: {} misses {missing} rows in {} gap(s) longer than ten rows (the longest {:.1} h, from Unix time {from}); they are filled by interpolation and then simulated and scored as if recorded",
            self.name,
            gaps.len(),
            (longest.len() as u64 * step) as f64 / 3_600.0
        ))
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

    fn shape_error(text: &str) -> String {
        Trace::parse("t", "t.csv", text).unwrap_err().to_string()
    }

    #[test]
    fn one_far_off_timestamp_is_an_error_naming_its_line_not_an_allocation() {
        let err = shape_error("timestamp,value\n0,1\n60,2\n120,3\n60000000000,4\n");
        assert!(
            err.contains("between line 4 and line 5") && err.contains("mistyped timestamp"),
            "{err}"
        );
    }

    #[test]
    fn millisecond_timestamps_are_named() {
        let err = shape_error("timestamp,value\n804571200000,1\n804571260000,2\n");
        assert!(
            err.contains("line 2") && err.contains("milliseconds"),
            "{err}"
        );
    }

    #[test]
    fn a_timestamp_out_of_order_names_both_lines() {
        let err = shape_error("timestamp,value\n0,1\n60,2\n60,3\n");
        assert!(
            err.contains("line 4: timestamp 60 repeats 60 on line 3"),
            "{err}"
        );
        let err = shape_error("timestamp,value\n0,1\n60,2\n30,3\n");
        assert!(err.contains("goes back from 60 on line 3"), "{err}");
    }

    #[test]
    fn non_finite_values_are_refused_by_line() {
        let err = shape_error("timestamp,value\n0,1\n60,NaN\n");
        assert!(
            err.contains("line 3") && err.contains("not a finite number"),
            "{err}"
        );
    }

    #[test]
    fn a_byte_order_mark_and_carriage_returns_are_read() {
        let t = Trace::parse("t", "t.csv", "\u{feff}timestamp,value\r0,1\r60,2\r").unwrap();
        assert_eq!(t.series.values, vec![1.0, 2.0]);
        let t = Trace::parse("t", "t.csv", "timestamp,value\r\n0,1\r\n60,2\r\n").unwrap();
        assert_eq!(t.series.values, vec![1.0, 2.0]);
    }

    #[test]
    fn long_gaps_are_warned_about() {
        let mut text = String::from("timestamp,value\n");
        for t in (0..30).chain(60..90) {
            text.push_str(&format!("{},{}\n", t * 60, t));
        }
        let t = Trace::parse("t", "t.csv", &text).unwrap();
        let warning = t.gap_warning().expect("a 30-row gap");
        assert!(warning.contains("misses 30 rows in 1 gap(s)"), "{warning}");
        let short = Trace::parse("t", "t.csv", "timestamp,value\n0,1\n60,2\n180,4\n").unwrap();
        assert_eq!(short.gap_warning(), None, "one missing row is no news");
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
