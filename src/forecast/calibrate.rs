//! Calibrated quantiles from a model's own rolling-backtest errors (conformal style).
//!
//! At several past origins the model is fitted on the history before the origin and its
//! forecast compared with what happened. Each error is divided by the level of the series
//! just before its origin, so errors from busy and quiet hours can be pooled; a quantile of
//! those scaled errors at each lead (pooled with neighbouring leads) times the current
//! level is added to the point forecast. The target of each error is the highest value
//! within the forecast step (from the native-resolution data when the model runs on a
//! coarser step), because that is what capacity has to meet.

use super::Forecaster;

/// Scaled errors at each lead, from a rolling backtest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    /// `errors[h]`: (actual − forecast) ÷ level, for lead `h`, from every origin.
    pub errors: Vec<Vec<f64>>,
    /// Per requested level, the per-step level whose path peak covers the realised peak
    /// over the planning window with the requested probability.
    pub peak_levels: Vec<(f64, f64)>,
}

/// One backtest window: the forecast and what happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Index in the model-step series where the forecast starts.
    pub origin: usize,
    /// The point forecast.
    pub forecast: Vec<f64>,
    /// The level (recent mean) before the origin.
    pub level: f64,
}

/// Level of a series before `origin`: the mean of the preceding `span` values, never 0.
pub fn level_before(values: &[f64], origin: usize, span: usize) -> f64 {
    let from = origin.saturating_sub(span.max(1));
    let slice = &values[from..origin];
    let mean = if slice.is_empty() {
        0.0
    } else {
        slice.iter().sum::<f64>() / slice.len() as f64
    };
    mean.max(1e-9)
}

/// Runs `model` at each origin of `values` for `horizon` steps. Windows whose fit fails
/// are left out.
pub fn backtest(
    model: &dyn Forecaster,
    values: &[f64],
    origins: &[usize],
    horizon: usize,
    level_span: usize,
) -> Vec<Window> {
    origins
        .iter()
        .filter(|&&o| o > 0 && o + horizon <= values.len())
        .filter_map(|&origin| {
            let forecast = model.fit_predict(&values[..origin], horizon).ok()?;
            Some(Window {
                origin,
                forecast,
                level: level_before(values, origin, level_span),
            })
        })
        .collect()
}

impl Calibration {
    /// The scaled errors of `windows` against `targets` (per model step, the value capacity
    /// must meet).
    pub fn from_windows(windows: &[Window], targets: &[f64], horizon: usize) -> Self {
        let mut errors = vec![Vec::with_capacity(windows.len()); horizon];
        for w in windows {
            for (h, f) in w.forecast.iter().enumerate().take(horizon) {
                if let Some(actual) = targets.get(w.origin + h) {
                    errors[h].push((actual - f) / w.level);
                }
            }
        }
        Self {
            errors,
            peak_levels: Vec::new(),
        }
    }

    /// Makes the `level` path a bound on the *peak*: a per-step quantile path under-covers the
    /// highest value of a window (each step may exceed its bound, and any one doing so breaks
    /// the peak), so the per-step level is raised until, on the backtest windows, the path's
    /// peak over steps `from_step..` is at or above the realised peak in a `level` fraction of
    /// them.
    pub fn fit_peak_level(
        &mut self,
        windows: &[Window],
        targets: &[f64],
        level: f64,
        from_step: usize,
    ) {
        let covered_at = |step_level: f64| -> f64 {
            let mut covered = 0usize;
            let mut total = 0usize;
            for w in windows {
                let path = self.raw_path(&w.forecast, step_level, w.level);
                let end = (w.origin + path.len()).min(targets.len());
                if w.origin + from_step >= end {
                    continue;
                }
                let realised = targets[w.origin + from_step..end]
                    .iter()
                    .copied()
                    .fold(f64::MIN, f64::max);
                let bound = path[from_step..end - w.origin]
                    .iter()
                    .copied()
                    .fold(f64::MIN, f64::max);
                total += 1;
                covered += usize::from(realised <= bound + 1e-12);
            }
            if total == 0 {
                1.0
            } else {
                covered as f64 / total as f64
            }
        };
        let (mut lo, mut hi) = (level, 0.999);
        if covered_at(lo) < level {
            for _ in 0..12 {
                let mid = 0.5 * (lo + hi);
                if covered_at(mid) >= level {
                    hi = mid
                } else {
                    lo = mid
                }
            }
            lo = hi;
        }
        self.peak_levels.retain(|(l, _)| (l - level).abs() > 1e-12);
        self.peak_levels.push((level, lo));
    }

    /// Number of windows behind the calibration.
    pub fn windows(&self) -> usize {
        self.errors.first().map_or(0, Vec::len)
    }

    /// The `level` quantile of the scaled error at lead `h`, pooling leads within ±2.
    pub fn error_quantile(&self, h: usize, level: f64) -> f64 {
        if self.errors.is_empty() {
            return 0.0;
        }
        let lo = h.saturating_sub(2);
        let hi = (h + 2).min(self.errors.len() - 1);
        let mut pooled: Vec<f64> = self.errors[lo.min(hi)..=hi]
            .iter()
            .flatten()
            .copied()
            .collect();
        quantile(&mut pooled, level)
    }

    /// Quantile path for `level` around `point`, at the current `level_now`, with the peak
    /// adjustment of [`Calibration::fit_peak_level`] when one was fitted for `level`.
    pub fn path(&self, point: &[f64], level: f64, level_now: f64) -> Vec<f64> {
        let step_level = self
            .peak_levels
            .iter()
            .find(|(l, _)| (l - level).abs() < 1e-12)
            .map_or(level, |(_, adjusted)| *adjusted);
        self.raw_path(point, step_level, level_now)
    }

    fn raw_path(&self, point: &[f64], level: f64, level_now: f64) -> Vec<f64> {
        point
            .iter()
            .enumerate()
            .map(|(h, p)| (p + self.error_quantile(h, level) * level_now).max(0.0))
            .collect()
    }
}

/// The `q` quantile (linear interpolation) of `values`; 0 for an empty slice.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = values[(i + 1).min(values.len() - 1)];
    values[i] + (next - values[i]) * frac
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
    fn path_adds_the_scaled_error_quantile() {
        let cal = Calibration {
            errors: vec![vec![-0.1, 0.0, 0.1, 0.2, 0.3]; 3],
            peak_levels: Vec::new(),
        };
        let path = cal.path(&[10.0, 10.0, 10.0], 0.5, 10.0);
        assert!(path.iter().all(|v| (v - 11.0).abs() < 1e-9), "{path:?}");
    }
}
