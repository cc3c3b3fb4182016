//! The forecasting models. Each takes history at a regular step and season lengths in steps.

mod augurs_models;
mod holt_winters;
mod linear;
mod naive;
mod optimize;

use std::fmt;
use std::str::FromStr;

pub use augurs_models::{Ets, Mstl};
pub use holt_winters::HoltWinters;
pub use linear::Linear;
pub use naive::SeasonalNaive;

use super::Forecaster;
use crate::policy::Model;

/// Every model prescaler can run, including the comparison peer `phpa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Repeat the last season (or the last value without seasons).
    SeasonalNaive,
    /// Holt-Winters with parameters fitted by optimisation.
    HoltWinters,
    /// augurs AutoETS (non-seasonal ETS family, chosen by AICc).
    Ets,
    /// augurs MSTL decomposition with an AutoETS trend.
    Mstl,
    /// Ridge regression on season terms, seasonal lags and trend, with error correction.
    Linear,
    /// Holt-Winters with α = β = γ = 0.9 fixed, as the predictive-horizontal-pod-autoscaler
    /// project configures it; a comparison peer only.
    Phpa,
}

impl ModelKind {
    /// The candidates `Auto` chooses from.
    pub const CANDIDATES: [ModelKind; 5] = [
        ModelKind::SeasonalNaive,
        ModelKind::HoltWinters,
        ModelKind::Ets,
        ModelKind::Mstl,
        ModelKind::Linear,
    ];

    /// Every model, peers included.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::SeasonalNaive,
        ModelKind::HoltWinters,
        ModelKind::Ets,
        ModelKind::Mstl,
        ModelKind::Linear,
        ModelKind::Phpa,
    ];

    /// The name used by `--models`, reports and status.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::SeasonalNaive => "seasonal-naive",
            ModelKind::HoltWinters => "holt-winters",
            ModelKind::Ets => "ets",
            ModelKind::Mstl => "mstl",
            ModelKind::Linear => "linear",
            ModelKind::Phpa => "phpa",
        }
    }

    /// The model a policy's `forecast.model` names; `None` for `Auto`.
    pub fn from_policy(model: Model) -> Option<ModelKind> {
        match model {
            Model::Auto => None,
            Model::SeasonalNaive => Some(ModelKind::SeasonalNaive),
            Model::HoltWinters => Some(ModelKind::HoltWinters),
            Model::Ets => Some(ModelKind::Ets),
            Model::Mstl => Some(ModelKind::Mstl),
            Model::Linear => Some(ModelKind::Linear),
        }
    }

    /// A model instance for season lengths `periods` (in steps, ascending).
    pub fn build(self, periods: &[usize]) -> Box<dyn Forecaster> {
        let periods = periods.to_vec();
        match self {
            ModelKind::SeasonalNaive => Box::new(SeasonalNaive::new(periods)),
            ModelKind::HoltWinters => Box::new(HoltWinters::fitted(periods.first().copied())),
            ModelKind::Ets => Box::new(Ets),
            ModelKind::Mstl => Box::new(Mstl::new(periods)),
            ModelKind::Linear => Box::new(Linear::new(periods)),
            ModelKind::Phpa => Box::new(HoltWinters::phpa(periods.first().copied())),
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ModelKind::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown model {s:?}; choose from auto, {}",
                    names.join(", ")
                )
            })
    }
}

/// The mean of the last `n` values (or of all when fewer).
pub(crate) fn recent_mean(values: &[f64], n: usize) -> f64 {
    let tail = &values[values.len().saturating_sub(n.max(1))..];
    if tail.is_empty() {
        0.0
    } else {
        tail.iter().sum::<f64>() / tail.len() as f64
    }
}
