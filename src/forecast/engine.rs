//! The forecasting engine one metric of one policy owns: it picks the model (or uses the
//! policy's), calibrates its quantiles, re-evaluates both on a schedule, and says plainly
//! when it has no forecast worth using.
//!
//! Cost control: history longer than [`EngineConfig::max_points`] is averaged into a coarser
//! step before fitting (a 7-day, 1-minute series is fitted at 5 minutes), and the expensive
//! part — the rolling backtest that chooses and calibrates the model — runs only every
//! [`EngineConfig::reselect_every`] seconds; in between each call refits the chosen model once.

use super::calibrate::{self, Calibration};
use super::models::ModelKind;
use super::output::{Forecast, QuantilePath};
use super::seasons;
use super::series::Series;
use crate::policy::ForecastSpec;

/// What an engine is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The model to use; `None` chooses one by backtest (`Auto`).
    pub model: Option<ModelKind>,
    /// Season lengths in seconds; empty means detect them.
    pub seasonality: Vec<u64>,
    /// The quantile the plan provisions for; `Auto` minimises the pinball loss at it.
    pub quantile: f64,
    /// Seconds ahead to forecast (the policy's leadTime + horizon).
    pub horizon: u64,
    /// Seconds after "now" where the planning window starts (the policy's leadTime);
    /// quantile paths are calibrated to bound the peak from there to `horizon`.
    pub window_start: u64,
    /// Seconds of history to use at most.
    pub history: u64,
    /// Seconds of history needed before any forecast is made.
    pub min_history: u64,
    /// Seconds between model re-evaluations.
    pub reselect_every: u64,
    /// Most points a model is fitted on; longer histories are coarsened.
    pub max_points: usize,
    /// Backtest windows used to choose and calibrate.
    pub origins: usize,
    /// Backtest error (MASE) above which the forecast is not trusted.
    pub max_error: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            model: None,
            seasonality: Vec::new(),
            quantile: 0.9,
            horizon: 17 * 60,
            window_start: 2 * 60,
            history: 7 * 86_400,
            min_history: 86_400,
            reselect_every: 12 * 3_600,
            max_points: 2_100,
            origins: 24,
            max_error: 2.0,
        }
    }
}

impl EngineConfig {
    /// The engine settings a policy's `forecast` block asks for. Durations must already
    /// have passed validation; unreadable ones fall back to their defaults.
    pub fn from_policy(spec: &ForecastSpec) -> Self {
        let defaults = ForecastSpec::default();
        let secs = |d: &crate::policy::Duration, fallback: &crate::policy::Duration| {
            d.seconds().or_else(|_| fallback.seconds()).unwrap_or(0)
        };
        Self {
            model: ModelKind::from_policy(spec.model),
            seasonality: spec
                .seasonality
                .iter()
                .filter_map(|d| d.seconds().ok())
                .collect(),
            quantile: spec.quantile,
            horizon: secs(&spec.lead_time, &defaults.lead_time)
                + secs(&spec.horizon, &defaults.horizon),
            window_start: secs(&spec.lead_time, &defaults.lead_time),
            history: secs(&spec.history, &defaults.history),
            min_history: secs(&spec.min_history, &defaults.min_history),
            ..Self::default()
        }
    }
}

/// Why there is no forecast to use; the decision is then reactive.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Unreliable {
    /// Not enough history yet.
    #[error(
        "only {have_s}s of history; forecasts start after {need_s}s (spec.forecast.minHistory)"
    )]
    TooLittleHistory {
        /// Seconds available.
        have_s: u64,
        /// Seconds needed.
        need_s: u64,
    },
    /// Every candidate model failed.
    #[error("no model could be fitted: {0}")]
    ModelFailed(String),
    /// The chosen model's recent backtest error is too high.
    #[error("{model} backtest error MASE {mase:.2} is above {threshold:.2}")]
    ErrorTooHigh {
        /// The model.
        model: &'static str,
        /// Its error.
        mase: f64,
        /// The threshold.
        threshold: f64,
    },
}

/// The engine's current choice and what it is based on.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// The model in use.
    pub model: ModelKind,
    /// Seasons in seconds.
    pub periods: Vec<u64>,
    /// Coarsening factor from the input step to the model step.
    pub factor: usize,
    /// Residual calibration of the model.
    pub calibration: Calibration,
    /// When the choice was made (Unix seconds).
    pub evaluated_at: i64,
    /// Backtest MASE of the model.
    pub mase: f64,
    /// Pinball loss (scaled) per candidate tried, best first.
    pub scores: Vec<(ModelKind, f64)>,
}

/// One metric's forecaster with its memory of the last model choice.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    selection: Option<Selection>,
}

/// Pinball (quantile) loss of `forecast` against `actual` at quantile `q`.
pub fn pinball(actual: f64, forecast: f64, q: f64) -> f64 {
    let d = actual - forecast;
    if d >= 0.0 { q * d } else { (q - 1.0) * d }
}

/// Mean absolute seasonal difference of `values` at lag `m` (the MASE scale), never 0.
pub fn mase_scale(values: &[f64], m: usize) -> f64 {
    let m = if m >= 1 && values.len() > m { m } else { 1 };
    if values.len() <= m {
        return 1e-9;
    }
    let sum: f64 = (m..values.len())
        .map(|t| (values[t] - values[t - m]).abs())
        .sum();
    (sum / (values.len() - m) as f64).max(1e-9)
}

/// Per model step, the highest native value inside it: what capacity has to meet.
fn bucket_max(native: &Series, factor: usize) -> Vec<f64> {
    let skip = native.values.len() % factor.max(1);
    native.values[skip..]
        .chunks(factor.max(1))
        .map(|c| c.iter().copied().fold(0.0, f64::max))
        .collect()
}

impl Engine {
    /// An engine with no choice made yet.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            selection: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current model choice, once one was made.
    pub fn selection(&self) -> Option<&Selection> {
        self.selection.as_ref()
    }

    /// Forecasts `config.horizon` seconds beyond the end of `history` (which ends "now").
    pub fn forecast(&mut self, history: &Series) -> Result<Forecast, Unreliable> {
        let keep = (self.config.history / history.step.max(1)) as usize;
        let history = history.tail(keep.max(1));
        let span = history.span_seconds();
        if span < self.config.min_history.max(1) || history.len() < 8 {
            return Err(Unreliable::TooLittleHistory {
                have_s: span,
                need_s: self.config.min_history,
            });
        }
        let now = history.end();
        let factor = self.factor(&history);
        let coarse = history.coarsen(factor);
        let targets = bucket_max(&history, factor);
        let steps = self.config.horizon.div_ceil(coarse.step).max(1) as usize;
        let level_span = (3_600 / coarse.step).max(1) as usize;

        let stale = match &self.selection {
            None => true,
            Some(s) => {
                s.factor != factor || now - s.evaluated_at >= self.config.reselect_every as i64
            }
        };
        if stale {
            self.selection = Some(self.select(&coarse, &targets, steps, level_span, factor, now)?);
        }
        let Some(selection) = &self.selection else {
            return Err(Unreliable::ModelFailed("no model was selected".into()));
        };
        if selection.mase > self.config.max_error {
            return Err(Unreliable::ErrorTooHigh {
                model: selection.model.name(),
                mase: selection.mase,
                threshold: self.config.max_error,
            });
        }
        let periods = period_steps(&selection.periods, coarse.step);
        let point = selection
            .model
            .build(&periods)
            .fit_predict(&coarse.values, steps)
            .map_err(|e| Unreliable::ModelFailed(e.to_string()))?;
        let level_now = calibrate::level_before(&coarse.values, coarse.len(), level_span);
        let quantiles = self
            .levels()
            .into_iter()
            .map(|level| QuantilePath {
                level,
                values: selection.calibration.path(&point, level, level_now),
            })
            .collect();
        Ok(Forecast {
            start: coarse.end(),
            step: coarse.step,
            point,
            quantiles,
        })
    }

    /// The quantile paths produced: the median and the policy's quantile.
    fn levels(&self) -> Vec<f64> {
        let mut levels = vec![0.5, self.config.quantile];
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        levels
    }

    fn factor(&self, history: &Series) -> usize {
        let by_points = history.len().div_ceil(self.config.max_points.max(1)).max(1);
        // Keep at least four model steps across the forecast.
        let by_horizon = (self.config.horizon / (4 * history.step.max(1))).max(1) as usize;
        by_points.min(by_horizon)
    }

    fn select(
        &self,
        coarse: &Series,
        targets: &[f64],
        steps: usize,
        level_span: usize,
        factor: usize,
        now: i64,
    ) -> Result<Selection, Unreliable> {
        let periods = if self.config.seasonality.is_empty() {
            seasons::detect(&coarse.values, coarse.step)
        } else {
            self.config.seasonality.clone()
        };
        let period_steps = period_steps(&periods, coarse.step);
        let n = coarse.len();
        let origins = origins(n, steps, self.config.origins);
        if origins.len() < 4 {
            return Err(Unreliable::TooLittleHistory {
                have_s: coarse.span_seconds(),
                need_s: coarse.span_seconds() + (4 * steps) as u64 * coarse.step,
            });
        }
        let scale = mase_scale(&coarse.values, period_steps.first().copied().unwrap_or(1));
        let candidates: Vec<ModelKind> = match self.config.model {
            Some(model) => vec![model],
            None => ModelKind::CANDIDATES.to_vec(),
        };
        let q = self.config.quantile;
        let mut scored: Vec<(ModelKind, f64, f64, Calibration)> = Vec::new();
        let mut failures = Vec::new();
        for kind in candidates {
            let model = kind.build(&period_steps);
            let windows =
                calibrate::backtest(model.as_ref(), &coarse.values, &origins, steps, level_span);
            if windows.len() * 2 < origins.len() {
                failures.push(format!(
                    "{kind}: failed on {} of {} windows",
                    origins.len() - windows.len(),
                    origins.len()
                ));
                continue;
            }
            let mut calibration = Calibration::from_windows(&windows, targets, steps);
            let from_step = (self.config.window_start / coarse.step) as usize;
            for level in self.levels() {
                calibration.fit_peak_level(&windows, targets, level, from_step.min(steps - 1));
            }
            let (mut loss, mut abs_err, mut count) = (0.0, 0.0, 0usize);
            for w in &windows {
                let path = calibration.path(&w.forecast, q, w.level);
                for (h, (f, qv)) in w.forecast.iter().zip(&path).enumerate() {
                    loss += pinball(targets[w.origin + h], *qv, q) / w.level;
                    abs_err += (coarse.values[w.origin + h] - f).abs();
                    count += 1;
                }
            }
            let count = count.max(1) as f64;
            scored.push((kind, loss / count, abs_err / count / scale, calibration));
        }
        scored.sort_by(|a, b| a.1.total_cmp(&b.1));
        let scores = scored.iter().map(|(k, loss, _, _)| (*k, *loss)).collect();
        let Some((model, _, mase, calibration)) = scored.into_iter().next() else {
            return Err(Unreliable::ModelFailed(failures.join("; ")));
        };
        Ok(Selection {
            model,
            periods,
            factor,
            calibration,
            evaluated_at: now,
            mase,
            scores,
        })
    }
}

/// Season lengths in model steps (rounded), ascending, without duplicates or sub-2 lengths.
fn period_steps(periods: &[u64], step: u64) -> Vec<usize> {
    let mut out: Vec<usize> = periods
        .iter()
        .map(|p| ((*p as f64) / step.max(1) as f64).round() as usize)
        .filter(|&p| p >= 2)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Up to `count` backtest origins spread over the most recent part of a series of `n`
/// points, each with at least half the series before it and `steps` after it.
fn origins(n: usize, steps: usize, count: usize) -> Vec<usize> {
    let last = n.saturating_sub(steps);
    let first = n / 2;
    if last <= first || count == 0 {
        return Vec::new();
    }
    let spacing = ((last - first) / count).max(1);
    (0..count)
        .map(|i| last - i * spacing)
        .filter(|&o| o > first)
        .collect()
}
