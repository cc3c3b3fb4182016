//! A forecast: a point path and quantile paths at the series' step.

/// A forecast from `start` (Unix seconds) at `step` seconds for `point.len()` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// Time of the first forecast value.
    pub start: i64,
    /// Seconds between values.
    pub step: u64,
    /// The point (central) forecast.
    pub point: Vec<f64>,
    /// Quantile paths, one per requested level, ascending by level.
    pub quantiles: Vec<QuantilePath>,
}

/// The forecast's `level` quantile at each step.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantilePath {
    /// The level, strictly between 0 and 1.
    pub level: f64,
    /// One value per step, never below 0.
    pub values: Vec<f64>,
}

/// The highest value of a path within a window, and when it occurs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// Time of the peak, Unix seconds.
    pub time: i64,
    /// The value there.
    pub value: f64,
}

impl Forecast {
    /// The path for `level`, if it was requested.
    pub fn quantile(&self, level: f64) -> Option<&[f64]> {
        self.quantiles
            .iter()
            .find(|q| (q.level - level).abs() < 1e-9)
            .map(|q| q.values.as_slice())
    }

    /// Time of step `i`.
    pub fn time_at(&self, i: usize) -> i64 {
        self.start + (i as u64 * self.step) as i64
    }

    /// The peak of the `level` quantile over the steps whose interval overlaps [`from`, `to`)
    /// (Unix seconds): "the 0.9-quantile peak between now+2m and now+17m".
    /// `None` when the level was not requested or the window is outside the forecast.
    pub fn peak(&self, level: f64, from: i64, to: i64) -> Option<Peak> {
        let path = self.quantile(level)?;
        peak_of(path, self.start, self.step, from, to)
    }
}

fn peak_of(path: &[f64], start: i64, step: u64, from: i64, to: i64) -> Option<Peak> {
    let step = step as i64;
    path.iter()
        .enumerate()
        .map(|(i, v)| (start + i as i64 * step, *v))
        .filter(|(t, _)| *t + step > from && *t < to)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(time, value)| Peak { time, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_looks_only_inside_the_window() {
        let f = Forecast {
            start: 1000,
            step: 60,
            point: vec![1.0; 5],
            quantiles: vec![QuantilePath {
                level: 0.9,
                values: vec![9.0, 2.0, 5.0, 3.0, 8.0],
            }],
        };
        assert_eq!(
            f.peak(0.9, 1060, 1240),
            Some(Peak {
                time: 1120,
                value: 5.0
            })
        );
        assert_eq!(
            f.peak(0.9, 1030, 1061),
            Some(Peak {
                time: 1000,
                value: 9.0
            })
        );
        assert_eq!(f.peak(0.5, 1000, 2000), None);
        assert_eq!(f.peak(0.9, 5000, 6000), None);
    }
}
