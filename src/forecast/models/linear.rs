//! Linear: ridge regression (linfa) of the load on season terms, seasonal lags and trend,
//! with the recent regression error carried forward and decaying (regression with AR(1)
//! errors).

use linfa::prelude::*;
use linfa_elasticnet::ElasticNet;
use ndarray::{Array1, Array2};

use super::recent_mean;
use crate::forecast::{ForecastError, Forecaster, sanitize};

/// Fourier harmonics per season.
const HARMONICS: usize = 3;
/// Ridge penalty.
const PENALTY: f64 = 1e-3;
/// Seasons of history the regression is fitted on (beyond the lag it needs).
const SEASONS: usize = 3;
/// Points fitted on when there is no season.
const PLAIN_WINDOW: usize = 288;

/// Ridge regression on Fourier terms of each period, the value one season ago for each
/// period, and a linear trend.
#[derive(Clone, Debug)]
pub struct Linear {
    periods: Vec<usize>,
}

impl Linear {
    /// A regression over the given season lengths (in steps).
    pub fn new(periods: Vec<usize>) -> Self {
        Self { periods }
    }
}

fn features(t: usize, n: usize, periods: &[usize], value_at: &dyn Fn(usize) -> f64) -> Vec<f64> {
    let mut row = Vec::with_capacity(1 + periods.len() * (2 * HARMONICS + 1));
    row.push(t as f64 / n.max(1) as f64);
    for &p in periods {
        for k in 1..=HARMONICS {
            let angle = 2.0 * std::f64::consts::PI * k as f64 * (t % p) as f64 / p as f64;
            row.push(angle.sin());
            row.push(angle.cos());
        }
        row.push(value_at(t - p));
    }
    row
}

impl Forecaster for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn fit_predict(&self, history: &[f64], horizon: usize) -> Result<Vec<f64>, ForecastError> {
        let periods: Vec<usize> = self
            .periods
            .iter()
            .copied()
            .filter(|&p| p >= 2 && history.len() >= 2 * p)
            .collect();
        let longest = periods.iter().copied().max().unwrap_or(0);
        let window = if longest > 0 {
            (SEASONS + 1) * longest
        } else {
            PLAIN_WINDOW
        };
        let history = &history[history.len().saturating_sub(window)..];
        let n = history.len();
        let needed = (longest + 16).max(16);
        if n < needed {
            return Err(ForecastError::TooShort {
                model: self.name(),
                needed,
                got: n,
            });
        }
        let scale = recent_mean(history, n).max(1e-9);
        let y: Vec<f64> = history.iter().map(|v| v / scale).collect();
        let rows: Vec<Vec<f64>> = (longest..n)
            .map(|t| features(t, n, &periods, &|i| y[i]))
            .collect();
        let width = rows[0].len();
        let x = Array2::from_shape_vec((rows.len(), width), rows.concat()).map_err(|e| {
            ForecastError::FitFailed {
                model: self.name(),
                reason: e.to_string(),
            }
        })?;
        let target = Array1::from_vec(y[longest..].to_vec());
        let model = ElasticNet::ridge()
            .penalty(PENALTY)
            .max_iterations(200)
            .tolerance(1e-4)
            .fit(&Dataset::new(x.clone(), target.clone()))
            .map_err(|e| ForecastError::FitFailed {
                model: self.name(),
                reason: e.to_string(),
            })?;
        let fitted = model.predict(&x);
        let residuals: Vec<f64> = target
            .iter()
            .zip(fitted.iter())
            .map(|(a, f)| a - f)
            .collect();
        let rho = lag_one_autocorrelation(&residuals).clamp(0.0, 0.99);
        let carried = recent_mean(&residuals, 3);

        let mut extended = y.clone();
        let mut out = Vec::with_capacity(horizon);
        let mut correction = carried;
        for h in 0..horizon {
            let t = n + h;
            let row = features(t, n, &periods, &|i| extended[i]);
            let x =
                Array2::from_shape_vec((1, width), row).map_err(|e| ForecastError::FitFailed {
                    model: self.name(),
                    reason: e.to_string(),
                })?;
            correction *= rho;
            let value = model.predict(&x)[0] + correction;
            extended.push(value);
            out.push(value * scale);
        }
        sanitize(&mut out, history[n - 1]);
        Ok(out)
    }
}

fn lag_one_autocorrelation(r: &[f64]) -> f64 {
    if r.len() < 3 {
        return 0.0;
    }
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let var: f64 = r.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return 0.0;
    }
    let cov: f64 = r.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    cov / var
}
