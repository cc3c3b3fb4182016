//! Calibrated quantiles per lead offset, from a model's own rolling backtest (conformal
//! style).
//!
//! At several past origins the model is fitted on the history before the origin, and then
//! run exactly as in production: the [`super::tracker::Tracker`] consumes the following
//! samples one by one, and before each it forecasts the next few. Each error (actual −
//! forecast) is divided by the tracker's scale at that moment, so errors from busy and quiet
//! hours pool. For each lead offset the requested quantile of those scaled errors, times the
//! current scale, is added to the point forecast: a band that covers the actual value at
//! that offset the requested fraction of the time. That per-offset band is what the plan
//! consumes, and what `backtest` reports the coverage of.

/// The levels a calibration keeps; any level in between is interpolated.
pub const LEVEL_GRID: [f64; 22] = [
    0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94,
    0.96, 0.97, 0.98, 0.99, 0.995,
];

/// Per-offset error quantiles on [`LEVEL_GRID`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    /// Per level (ascending): the quantile of the scaled error at each offset.
    pub levels: Vec<(f64, Vec<f64>)>,
    /// Scaled errors behind each offset.
    pub samples: usize,
}

impl Calibration {
    /// The calibration of scaled `errors[h]` (one list per offset). Each offset pools its
    /// neighbours' errors (±1) so that few windows still give smooth bands.
    pub fn fit(errors: &[Vec<f64>]) -> Self {
        Self::fit_levels(errors, &LEVEL_GRID)
    }

    /// [`Calibration::fit`] at the given levels only.
    pub fn fit_levels(errors: &[Vec<f64>], levels: &[f64]) -> Self {
        let pooled: Vec<Vec<f64>> = (0..errors.len())
            .map(|h| {
                let lo = h.saturating_sub(1);
                let hi = (h + 1).min(errors.len() - 1);
                let mut all: Vec<f64> = errors[lo..=hi].iter().flatten().copied().collect();
                all.sort_by(f64::total_cmp);
                all
            })
            .collect();
        let mut levels: Vec<f64> = levels.to_vec();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        Self {
            levels: levels
                .into_iter()
                .map(|level| {
                    (
                        level,
                        pooled.iter().map(|e| sorted_quantile(e, level)).collect(),
                    )
                })
                .collect(),
            samples: errors.first().map_or(0, Vec::len),
        }
    }

    /// The `level` quantile of the scaled error at offset `h` (the last offset's beyond),
    /// interpolated between the kept levels; `None` outside them.
    pub fn error_quantile(&self, level: f64, h: usize) -> Option<f64> {
        let at = |by_offset: &Vec<f64>| by_offset.get(h).or(by_offset.last()).copied();
        let upper = self.levels.iter().position(|(l, _)| *l >= level - 1e-12)?;
        let (hi_level, hi) = &self.levels[upper];
        if (hi_level - level).abs() < 1e-12 || upper == 0 {
            return ((hi_level - level).abs() < 1e-12).then(|| at(hi)).flatten();
        }
        let (lo_level, lo) = &self.levels[upper - 1];
        let frac = (level - lo_level) / (hi_level - lo_level);
        Some(at(lo)? + (at(hi)? - at(lo)?) * frac)
    }

    /// The `level` band around `point` at the current `scale`, never below 0.
    pub fn path(&self, point: &[f64], level: f64, scale: f64) -> Option<Vec<f64>> {
        point
            .iter()
            .enumerate()
            .map(|(h, p)| Some((p + self.error_quantile(level, h)? * scale).max(0.0)))
            .collect()
    }
}

/// Pinball (quantile) loss of `forecast` against `actual` at quantile `q`.
pub fn pinball(actual: f64, forecast: f64, q: f64) -> f64 {
    let d = actual - forecast;
    if d >= 0.0 { q * d } else { (q - 1.0) * d }
}

/// The `q` quantile (linear interpolation) of already sorted `values`; 0 when empty.
pub fn sorted_quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = values[(i + 1).min(values.len() - 1)];
    values[i] + (next - values[i]) * frac
}

/// The `q` quantile (linear interpolation) of `values`; 0 for an empty slice.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    sorted_quantile(values, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&mut [3.0, 1.0, 2.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(quantile(&mut [1.0, 2.0], 0.9), 1.9);
        assert_eq!(quantile(&mut [], 0.9), 0.0);
    }

    #[test]
    fn the_band_adds_each_offsets_error_quantile_times_the_scale() {
        let errors = vec![vec![-1.0, 0.0, 1.0]; 3];
        let cal = Calibration::fit_levels(&errors, &[0.5, 1.0]);
        assert_eq!(cal.path(&[10.0, 10.0, 10.0], 0.5, 2.0), Some(vec![10.0; 3]));
        assert_eq!(cal.path(&[10.0, 10.0, 10.0], 1.0, 2.0), Some(vec![12.0; 3]));
        assert_eq!(
            cal.path(&[10.0], 0.75, 2.0),
            Some(vec![11.0]),
            "between kept levels the band is interpolated"
        );
        assert_eq!(cal.path(&[10.0], 0.4, 2.0), None, "below the kept levels");
    }
}
