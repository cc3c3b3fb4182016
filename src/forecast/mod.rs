//! Forecasting: regular series, models behind one [`Forecaster`] trait, seasonality
//! detection, calibrated quantiles, rolling-origin backtests and automatic model choice.
//!
//! Pure code: no I/O and no clock. Callers pass history and "now".

pub mod backtest;
pub mod calibrate;
pub mod choice;
pub mod config;
pub mod engine;
pub mod models;
pub mod online;
pub mod output;
pub mod resume;
pub mod seasons;
pub mod selection;
pub mod series;
pub mod tracker;

pub use engine::{Engine, EngineConfig, Unreliable};
pub use models::ModelKind;
pub use output::{Forecast, Peak, QuantilePath};
pub use series::Series;

/// Why a model could not forecast.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// The history is shorter than the model needs.
    #[error("{model} needs at least {needed} points of history, got {got}")]
    TooShort {
        /// The model's name.
        model: &'static str,
        /// Points needed.
        needed: usize,
        /// Points available.
        got: usize,
    },
    /// The model's fit failed.
    #[error("{model} could not be fitted: {reason}")]
    FitFailed {
        /// The model's name.
        model: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// A forecasting model: given history at a regular step, the next `horizon` values.
///
/// Implementations must return exactly `horizon` finite, non-negative values or an error,
/// never NaN and never a panic, whatever the input.
pub trait Forecaster: Send + Sync {
    /// The model's name as `--models` and status spell it.
    fn name(&self) -> &'static str;

    /// Fits the model to `history` and forecasts the next `horizon` steps.
    fn fit_predict(&self, history: &[f64], horizon: usize) -> Result<Vec<f64>, ForecastError>;
}

/// Replaces non-finite values by `fallback` and clamps negatives to 0.
pub(crate) fn sanitize(values: &mut [f64], fallback: f64) {
    let fallback = if fallback.is_finite() {
        fallback.max(0.0)
    } else {
        0.0
    };
    for v in values {
        *v = if v.is_finite() { v.max(0.0) } else { fallback };
    }
}
