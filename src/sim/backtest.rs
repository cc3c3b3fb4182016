//! `prescaler backtest`: rolling-origin evaluation of the forecasting models on a trace.
//!
//! An origin every `origin_every` seconds, once `warm-up` = min(history, half the trace) of
//! data is available. At each origin every model's engine forecasts from the history before
//! it; the window scored is [origin + lead, origin + lead + horizon), where capacity is
//! planned. Engines keep their state between origins exactly as in the controller (model
//! choice and calibration re-evaluated every 6 hours of trace time).

use std::time::Instant;

use serde::Serialize;

use crate::forecast::backtest::{Scores, Summary};
use crate::forecast::engine::{Engine, EngineConfig, METRICS_LAG_ALLOWANCE_S, mase_scale};
use crate::plan::Timing;

/// The sync period the backtest's engines are configured for (the operator's default).
const BACKTEST_SYNC: u64 = 15;
use crate::forecast::{ModelKind, Series};

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct BacktestConfig {
    /// Seconds of planning window scored.
    pub horizon: u64,
    /// Seconds between an origin and the start of the scored window.
    pub lead: u64,
    /// Seconds of history each forecast may use.
    pub history: u64,
    /// The quantile for pinball loss and coverage.
    pub quantile: f64,
    /// Seconds between origins.
    pub origin_every: u64,
    /// Models; `None` is `auto`.
    pub models: Vec<Option<ModelKind>>,
}

/// One model's line in the report.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    /// `auto` or a model name.
    pub name: String,
    /// See [`Summary`].
    #[serde(flatten)]
    pub summary: Summary,
    /// Mean wall time of one forecast (fit + predict, re-evaluations included), ms.
    pub fit_ms: f64,
    /// Origins where the engine gave no forecast (too little history, failures).
    pub skipped: usize,
}

/// Name of a model option as `--models` spells it.
pub fn model_name(model: Option<ModelKind>) -> &'static str {
    model.map_or("auto", ModelKind::name)
}

/// Why a backtest has nothing to report.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// No origin had both the warm-up history before it and the window after it.
    #[error(
        "no window could be scored: the trace covers {span_s}s, forecasts start after {warmup_s}s of history (min(--history, half the trace)) and each needs the {window_s}s after it (--lead + --horizon); use a longer trace, or a shorter --history or --horizon"
    )]
    NothingScored {
        /// Seconds the trace covers.
        span_s: u64,
        /// Seconds of history before the first origin.
        warmup_s: u64,
        /// Seconds each scored window needs.
        window_s: u64,
    },
}

/// Runs the backtest of every configured model on `series`; an error when no model could
/// score a single window (a score over nothing would read as perfect).
pub fn run(series: &Series, config: &BacktestConfig) -> Result<Vec<ModelReport>, BacktestError> {
    let reports = run_models(series, config);
    if reports.iter().all(|r| r.summary.windows == 0) {
        return Err(BacktestError::NothingScored {
            span_s: series.span_seconds(),
            warmup_s: config.history.min(series.span_seconds() / 2),
            window_s: config.lead + config.horizon,
        });
    }
    Ok(reports)
}

fn run_models(series: &Series, config: &BacktestConfig) -> Vec<ModelReport> {
    let step = series.step.max(1);
    let warmup = config.history.min(series.span_seconds() / 2);
    let first = (warmup / step) as usize;
    let every = (config.origin_every / step).max(1) as usize;
    let window_steps = (config.lead + config.horizon).div_ceil(step) as usize;
    let origins: Vec<usize> = (first..series.len().saturating_sub(window_steps))
        .step_by(every)
        .collect();
    let day = (86_400 / step) as usize;

    config
        .models
        .iter()
        .map(|&model| {
            let timing = Timing {
                lead: config.lead,
                horizon: config.horizon,
                sync: BACKTEST_SYNC,
            };
            let mut engine = Engine::new(EngineConfig {
                model,
                quantile: config.quantile,
                horizon: config.lead + config.horizon,
                plan_reach: timing.reach() + METRICS_LAG_ALLOWANCE_S,
                history: config.history,
                min_history: warmup.min(86_400),
                // Score every model, however poor: the gates belong to the controller.
                max_error: f64::INFINITY,
                max_loss_ratio: f64::INFINITY,
                ..EngineConfig::default()
            });
            let mut scores = Scores::default();
            let (mut elapsed, mut calls, mut skipped) = (0.0, 0usize, 0usize);
            for &origin in &origins {
                let keep = (config.history / step) as usize;
                let from = origin.saturating_sub(keep);
                let history = Series {
                    start: series.start + (from as u64 * step) as i64,
                    step,
                    values: series.values[from..origin].to_vec(),
                    gaps: Vec::new(),
                };
                let started = Instant::now();
                let result = engine.forecast(&history);
                elapsed += started.elapsed().as_secs_f64() * 1e3;
                calls += 1;
                let Ok(forecast) = result else {
                    skipped += 1;
                    continue;
                };
                let now = history.end();
                let window_from = now + config.lead as i64;
                let window_to = window_from + config.horizon as i64;
                let actual = &series.values[origin..(origin + window_steps).min(series.len())];
                let scale = mase_scale(&history.values, day);
                scores.add(
                    &forecast,
                    actual,
                    now,
                    step,
                    window_from,
                    window_to,
                    config.quantile,
                    scale,
                );
            }
            ModelReport {
                name: model_name(model).to_string(),
                summary: scores.summary(),
                fit_ms: elapsed / calls.max(1) as f64,
                skipped,
            }
        })
        .collect()
}
