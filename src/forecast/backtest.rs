//! Scoring forecasts against what happened: MASE, sMAPE, pinball loss and peak coverage
//! over rolling-origin windows.

use super::calibrate::pinball;
use super::output::Forecast;

/// Accumulated errors of one model over many windows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    mase_sum: f64,
    smape_sum: f64,
    pinball_sum: f64,
    points: usize,
    windows: usize,
    covered: usize,
}

/// The summary a backtest reports per model.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Mean absolute error ÷ the in-sample mean absolute seasonal difference (1 day).
    pub mase: f64,
    /// Symmetric mean absolute percentage error, in percent (0–200).
    pub smape: f64,
    /// Pinball loss at the quantile, ÷ the same scale as MASE.
    pub pinball: f64,
    /// Fraction of scored points at or below the forecast's quantile at their offset: the
    /// per-offset band the plan provisions from.
    pub coverage: f64,
    /// Windows scored.
    pub windows: usize,
}

impl Scores {
    /// Scores one window: `actual` holds the native values at `step` seconds from
    /// `actual_start`, and every one whose step overlaps [`from`, `to`) is scored; `scale`
    /// is the MASE denominator.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        forecast: &Forecast,
        actual: &[f64],
        actual_start: i64,
        step: u64,
        from: i64,
        to: i64,
        q: f64,
        scale: f64,
    ) {
        let Some(quantile) = forecast.quantile(q) else {
            return;
        };
        let at = |path: &[f64], t: i64| -> Option<f64> {
            let i = (t - forecast.start).div_euclid(forecast.step as i64);
            usize::try_from(i).ok().and_then(|i| path.get(i).copied())
        };
        let (mut abs, mut smape, mut loss, mut n, mut covered) = (0.0, 0.0, 0.0, 0usize, 0usize);
        for (i, &a) in actual.iter().enumerate() {
            let t = actual_start + (i as u64 * step) as i64;
            // Every step that overlaps the window counts: at an hourly step, a 15-minute
            // window is scored on the hour it falls in.
            if t + step as i64 <= from || t >= to {
                continue;
            }
            let (Some(p), Some(qv)) = (at(&forecast.point, t), at(quantile, t)) else {
                continue;
            };
            abs += (a - p).abs();
            let denom = a.abs() + p.abs();
            smape += if denom > 0.0 {
                2.0 * (a - p).abs() / denom
            } else {
                0.0
            };
            loss += pinball(a, qv, q);
            covered += usize::from(a <= qv + 1e-9);
            n += 1;
        }
        if n == 0 {
            return;
        }
        let scale = scale.max(1e-9);
        self.mase_sum += abs / n as f64 / scale;
        self.smape_sum += smape;
        self.pinball_sum += loss / scale;
        self.points += n;
        self.windows += 1;
        self.covered += covered;
    }

    /// The averages over every window scored.
    pub fn summary(&self) -> Summary {
        let w = self.windows.max(1) as f64;
        Summary {
            mase: self.mase_sum / w,
            smape: 100.0 * self.smape_sum / self.points.max(1) as f64,
            pinball: self.pinball_sum / self.points.max(1) as f64,
            coverage: self.covered as f64 / self.points.max(1) as f64,
            windows: self.windows,
        }
    }
}
