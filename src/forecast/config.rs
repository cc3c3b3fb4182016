//! What a forecasting engine is asked to do: the model, the history, the cadence and the
//! gates, from a policy's `spec.forecast` or the defaults.

use super::models::ModelKind;
use crate::plan::Timing;
use crate::policy::ForecastSpec;

/// Seconds past the plan's window that the metrics may lag "now" (a scrape and half a rate
/// window); the choice rule and the skill gate score the offsets up to here.
pub const METRICS_LAG_ALLOWANCE_S: u64 = 60;

/// What an engine is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The model to use; `None` chooses one by backtest (`Auto`).
    pub model: Option<ModelKind>,
    /// Season lengths in seconds; empty means detect them.
    pub seasonality: Vec<u64>,
    /// The quantile the plan provisions for; `Auto` minimises the pinball loss at it.
    pub quantile: f64,
    /// More quantile levels to produce besides the median and `quantile` (for sweeps).
    pub extra_levels: Vec<f64>,
    /// Seconds past the end of the history that the forecast reaches.
    pub horizon: u64,
    /// Seconds past the end of the history that the plan consumes: the offsets the choice
    /// rule and the skill gate score.
    pub plan_reach: u64,
    /// Seconds of history to use at most.
    pub history: u64,
    /// Seconds between the history's samples (`spec.forecast.step`).
    pub step: u64,
    /// Seconds of history needed before any forecast is made.
    pub min_history: u64,
    /// Seconds between model choices (and calibrations).
    pub reselect_every: u64,
    /// Seconds between fits of the chosen model; samples in between update the tracker.
    pub refit_every: u64,
    /// Most points a model is fitted on; longer histories are coarsened.
    pub max_points: usize,
    /// Backtest origins used to choose and calibrate, at least; more where each origin
    /// yields few forecasts (coarse steps), up to [`MAX_ORIGINS`].
    pub origins: usize,
    /// Backtest error (MASE) above which the forecast is not trusted.
    pub max_error: f64,
    /// Skill gate: the forecast is used only while its held-out loss is below this fraction
    /// of the last value's. A forecast that is barely better than reacting does not pay for
    /// what forecast-aware scale-down risks, so the default asks for 10 % better.
    pub max_loss_ratio: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            model: None,
            seasonality: Vec::new(),
            quantile: 0.9,
            extra_levels: Vec::new(),
            horizon: 17 * 60,
            plan_reach: 2 * 60 + 15 + METRICS_LAG_ALLOWANCE_S,
            history: 14 * 86_400,
            step: 60,
            min_history: 86_400,
            reselect_every: 12 * 3_600,
            refit_every: 3_600,
            max_points: 2_100,
            origins: 24,
            max_error: 2.0,
            max_loss_ratio: 0.9,
        }
    }
}

impl EngineConfig {
    /// The engine settings a policy's `forecast` block asks for, for a policy decided with
    /// `timing`. Durations must already have passed validation; unreadable ones fall back to
    /// their defaults.
    pub fn for_policy(spec: &ForecastSpec, timing: Timing) -> Self {
        let defaults = ForecastSpec::default();
        let secs = |d: &crate::policy::Duration, fallback: &crate::policy::Duration| {
            d.seconds().or_else(|_| fallback.seconds()).unwrap_or(0)
        };
        let plan_reach = timing.reach() + METRICS_LAG_ALLOWANCE_S;
        let lead = secs(&spec.lead_time, &defaults.lead_time);
        Self {
            model: ModelKind::from_policy(spec.model),
            seasonality: spec
                .seasonality
                .iter()
                .filter_map(|d| d.seconds().ok())
                .collect(),
            quantile: spec.quantile,
            horizon: (lead + secs(&spec.horizon, &defaults.horizon)).max(timing.hold_reach())
                + METRICS_LAG_ALLOWANCE_S,
            plan_reach,
            history: secs(&spec.history, &defaults.history),
            step: secs(&spec.step, &defaults.step).max(1),
            min_history: secs(&spec.min_history, &defaults.min_history),
            ..Self::default()
        }
    }
}
