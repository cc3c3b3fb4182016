//! Regular-step series: what every model is fed.
//!
//! Raw samples (timestamp, value) are put on a regular grid by [`Series::from_samples`]:
//! - a sample that is NaN or ±Inf counts as missing;
//! - a negative value is clamped to 0 (loads are rates and levels; negatives are noise from
//!   counter resets or subtraction artefacts);
//! - several samples in one step are averaged;
//! - a gap of up to `max_gap` steps is filled by linear interpolation between its neighbours;
//!   a longer gap is filled the same way but recorded in [`Series::gaps`] so callers can say
//!   the history is incomplete;
//! - missing steps before the first sample are not invented: the series starts at it.
//!
//! Values arrive as rates (the Prometheus queries use `rate()`), so a counter reset never
//! reaches the models.

use std::ops::Range;

/// Values at a fixed step from a start time (Unix seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Time of the first value, Unix seconds.
    pub start: i64,
    /// Seconds between values; at least 1.
    pub step: u64,
    /// The values; finite and non-negative.
    pub values: Vec<f64>,
    /// Index ranges that were longer gaps than allowed and were interpolated.
    pub gaps: Vec<Range<usize>>,
}

impl Series {
    /// A series from values already on a grid. Non-finite values are treated as missing and
    /// interpolated; negatives are clamped to 0.
    pub fn new(start: i64, step: u64, values: Vec<f64>) -> Self {
        let step = step.max(1);
        let samples: Vec<(i64, f64)> = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (start + (i as u64 * step) as i64, v))
            .collect();
        Self::from_samples(&samples, step, usize::MAX)
    }

    /// Regularises raw samples onto a grid of `step` seconds starting at the first finite
    /// sample. See the module docs for the rules.
    pub fn from_samples(samples: &[(i64, f64)], step: u64, max_gap: usize) -> Self {
        let step = step.max(1);
        let finite: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite())
            .collect();
        let Some(&(first, _)) = finite.iter().min_by_key(|(t, _)| *t) else {
            return Self {
                start: 0,
                step,
                values: Vec::new(),
                gaps: Vec::new(),
            };
        };
        let last = finite.iter().map(|(t, _)| *t).max().unwrap_or(first);
        let len = ((last - first) as u64 / step) as usize + 1;
        let mut sums = vec![0.0; len];
        let mut counts = vec![0u32; len];
        for &(t, v) in &finite {
            let i = ((t - first) as u64 / step) as usize;
            sums[i] += v.max(0.0);
            counts[i] += 1;
        }
        let mut values: Vec<Option<f64>> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| (c > 0).then(|| s / c as f64))
            .collect();
        let gaps = fill_gaps(&mut values, max_gap);
        Self {
            start: first,
            step,
            values: values.into_iter().map(|v| v.unwrap_or(0.0)).collect(),
            gaps,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Time just after the last value: where a forecast starts.
    pub fn end(&self) -> i64 {
        self.start + (self.values.len() as u64 * self.step) as i64
    }

    /// Seconds of history covered.
    pub fn span_seconds(&self) -> u64 {
        self.values.len() as u64 * self.step
    }

    /// The same data averaged into steps of `factor` × the current step. The newest values
    /// are kept aligned: a partial bucket is dropped at the old end, not the new one.
    pub fn coarsen(&self, factor: usize) -> Series {
        if factor <= 1 {
            return self.clone();
        }
        let skip = self.values.len() % factor;
        Series {
            start: self.start + (skip as u64 * self.step) as i64,
            step: self.step * factor as u64,
            values: coarsen_values(&self.values, factor),
            gaps: Vec::new(),
        }
    }

    /// The last `n` values as a series.
    pub fn tail(&self, n: usize) -> Series {
        let skip = self.values.len().saturating_sub(n);
        Series {
            start: self.start + (skip as u64 * self.step) as i64,
            step: self.step,
            values: self.values[skip..].to_vec(),
            gaps: Vec::new(),
        }
    }
}

/// `values` averaged in buckets of `factor`, aligned to the newest value (a partial bucket
/// is dropped at the old end).
pub fn coarsen_values(values: &[f64], factor: usize) -> Vec<f64> {
    let factor = factor.max(1);
    if factor == 1 {
        return values.to_vec();
    }
    values[values.len() % factor..]
        .chunks(factor)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect()
}

/// Interpolates every missing run; returns the runs longer than `max_gap`.
fn fill_gaps(values: &mut [Option<f64>], max_gap: usize) -> Vec<Range<usize>> {
    let mut gaps = Vec::new();
    let mut i = 0;
    while i < values.len() {
        if values[i].is_some() {
            i += 1;
            continue;
        }
        let begin = i;
        while i < values.len() && values[i].is_none() {
            i += 1;
        }
        let before = begin.checked_sub(1).and_then(|b| values[b]);
        let after = values.get(i).copied().flatten();
        let run = i - begin;
        for (k, slot) in values[begin..i].iter_mut().enumerate() {
            let frac = (k + 1) as f64 / (run + 1) as f64;
            *slot = Some(match (before, after) {
                (Some(a), Some(b)) => a + (b - a) * frac,
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => 0.0,
            });
        }
        if run > max_gap {
            gaps.push(begin..i);
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_gaps_are_interpolated_and_long_ones_recorded() {
        let samples = [(0, 1.0), (60, 2.0), (180, 4.0), (600, 4.0)];
        let s = Series::from_samples(&samples, 60, 2);
        assert_eq!(s.values[..4], [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.gaps, vec![4..10]);
        assert_eq!(s.len(), 11);
    }

    #[test]
    fn nan_inf_and_negative_samples_follow_the_rules() {
        let samples = [
            (0, 5.0),
            (10, f64::NAN),
            (20, f64::INFINITY),
            (30, -3.0),
            (40, 2.0),
        ];
        let s = Series::from_samples(&samples, 10, 5);
        assert_eq!(s.values.len(), 5);
        assert!(s.values.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert_eq!(s.values[3], 0.0, "a negative value is clamped to zero");
        assert!(
            (s.values[1] - 5.0 * 2.0 / 3.0).abs() < 1e-9,
            "NaN is interpolated towards 0"
        );
    }

    #[test]
    fn coarsen_keeps_the_newest_values_aligned() {
        let s = Series::new(0, 60, (0..7).map(f64::from).collect());
        let c = s.coarsen(3);
        assert_eq!(c.values, vec![2.0, 5.0]);
        assert_eq!(c.start, 60);
        assert_eq!(c.end(), s.end());
    }
}
