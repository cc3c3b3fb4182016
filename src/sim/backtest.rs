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
use crate::forecast::engine::{Engine, EngineConfig, mase_scale};
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

/// Runs the backtest of every configured model on `series`.
pub fn run(series: &Series, config: &BacktestConfig) -> Vec<ModelReport> {
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
            let mut engine = Engine::new(EngineConfig {
                model,
                quantile: config.quantile,
                horizon: config.lead + config.horizon,
                window_start: config.lead,
                history: config.history,
                min_history: warmup.min(86_400),
                // Score every model, however poor: the gate belongs to the controller.
                max_error: f64::INFINITY,
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
