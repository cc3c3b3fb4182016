//! Models from augurs: AutoETS and MSTL.

use augurs::ets::AutoETS;
use augurs::ets::trend::AutoETSTrendModel;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};

use super::recent_mean;
use crate::forecast::{ForecastError, Forecaster, sanitize};

/// augurs AutoETS over the non-seasonal, additive-error ETS family (trend and damping chosen
/// by AICc), fitted on the most recent [`ETS_WINDOW`] points: a non-seasonal model follows the
/// recent level and trend, and older data only costs time. augurs has no seasonal ETS yet;
/// seasonal data is better served by [`Mstl`].
#[derive(Clone, Debug)]
pub struct Ets;

/// Points of history AutoETS is fitted on.
pub const ETS_WINDOW: usize = 288;

/// Seasons of history MSTL is fitted on.
pub const MSTL_SEASONS: usize = 3;

/// Fits an augurs model on `history` divided by its mean (so the optimisers see values near
/// 1 whatever the traffic's scale) and forecasts `horizon` steps in the original unit.
fn fit_scaled<M>(
    name: &'static str,
    model: &M,
    history: &[f64],
    horizon: usize,
) -> Result<Vec<f64>, ForecastError>
where
    M: Fit,
    M::Fitted: Predict,
{
    let scale = recent_mean(history, history.len()).max(1e-9);
    let scaled: Vec<f64> = history.iter().map(|v| v / scale).collect();
    let fitted = model.fit(&scaled).map_err(|e| failed(name, e))?;
    let mut point = fitted
        .predict(horizon, None)
        .map_err(|e| failed(name, e))?
        .point;
    point.iter_mut().for_each(|v| *v *= scale);
    sanitize(&mut point, history[history.len() - 1]);
    Ok(point)
}

fn auto_ets() -> AutoETS {
    AutoETS::new(1, "AZN").unwrap_or_else(|_| AutoETS::non_seasonal())
}

fn failed(model: &'static str, e: impl std::fmt::Display) -> ForecastError {
    ForecastError::FitFailed {
        model,
        reason: e.to_string(),
    }
}

impl Forecaster for Ets {
    fn name(&self) -> &'static str {
        "ets"
    }

    fn fit_predict(&self, history: &[f64], horizon: usize) -> Result<Vec<f64>, ForecastError> {
        if history.len() < 8 {
            return Err(ForecastError::TooShort {
                model: self.name(),
                needed: 8,
                got: history.len(),
            });
        }
        let history = &history[history.len().saturating_sub(ETS_WINDOW)..];
        fit_scaled(self.name(), &auto_ets(), history, horizon)
    }
}

/// augurs MSTL: the series is split into one seasonal part per period plus trend; the
/// seasonal parts are repeated and the trend forecast by AutoETS. Fitted on the last
/// [`MSTL_SEASONS`] longest seasons.
#[derive(Clone, Debug)]
pub struct Mstl {
    periods: Vec<usize>,
}

impl Mstl {
    /// MSTL over the given season lengths (in steps).
    pub fn new(periods: Vec<usize>) -> Self {
        Self { periods }
    }
}

impl Forecaster for Mstl {
    fn name(&self) -> &'static str {
        "mstl"
    }

    fn fit_predict(&self, history: &[f64], horizon: usize) -> Result<Vec<f64>, ForecastError> {
        let periods: Vec<usize> = self
            .periods
            .iter()
            .copied()
            .filter(|&p| p >= 2 && history.len() >= 2 * p)
            .collect();
        if periods.is_empty() {
            // Without a usable season MSTL is its trend model alone.
            return Ets.fit_predict(history, horizon).map_err(|e| match e {
                ForecastError::TooShort { needed, got, .. } => ForecastError::TooShort {
                    model: "mstl",
                    needed,
                    got,
                },
                ForecastError::FitFailed { reason, .. } => ForecastError::FitFailed {
                    model: "mstl",
                    reason,
                },
            });
        }
        let longest = periods.iter().copied().max().unwrap_or(1);
        let history = &history[history.len().saturating_sub(MSTL_SEASONS * longest)..];
        let model = MSTLModel::new(periods, AutoETSTrendModel::from(auto_ets()));
        fit_scaled(self.name(), &model, history, horizon)
    }
}
