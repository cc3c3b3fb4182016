//! The engine's model choice, and why there may be no forecast to use.

use super::calibrate::Calibration;
use super::models::ModelKind;

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
    /// The forecast does too little better than reacting to the last value.
    #[error(
        "{model} forecasts the next {reach_s}s of this metric too little better than its last value does: its rolling loss is {ratio:.2}× the last value's, and a forecast is used below {threshold:.2}×"
    )]
    NoSkill {
        /// The model.
        model: &'static str,
        /// Its rolling loss ÷ the last value's.
        ratio: f64,
        /// The gate.
        threshold: f64,
        /// Seconds scored.
        reach_s: u64,
    },
}

impl Unreliable {
    /// The reason the ForecastReliable condition gives.
    pub fn reason(&self) -> &'static str {
        match self {
            Unreliable::TooLittleHistory { .. } => "InsufficientHistory",
            Unreliable::ModelFailed(_) => "ModelFailed",
            Unreliable::ErrorTooHigh { .. } => "ForecastErrorTooHigh",
            Unreliable::NoSkill { .. } => "NoSkill",
        }
    }
}

/// The engine's current choice and what it is based on.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// The model in use.
    pub model: ModelKind,
    /// Half-life of its level correction in samples (`None`: an uncorrected baseline).
    pub half_life: Option<f64>,
    /// Seasons in seconds.
    pub periods: Vec<u64>,
    /// Coarsening factor from the input step to the model step.
    pub factor: usize,
    /// Per-offset error quantiles of the model run as in production.
    pub calibration: Calibration,
    /// The last value's error quantile at the policy's quantile, per offset: the band the
    /// skill gate compares with.
    pub last_value_band: Vec<f64>,
    /// Pinball losses over the plan's window of the model and of the last value at the
    /// held-out origins: where the rolling skill starts.
    pub held_out_losses: (f64, f64),
    /// When the choice was made (Unix seconds).
    pub evaluated_at: i64,
    /// Backtest MASE of the point forecast.
    pub mase: f64,
    /// Pinball loss (scaled) over the plan's window per candidate tried, best first.
    pub scores: Vec<(ModelKind, f64)>,
}
