//! Holt-Winters exponential smoothing: level, damped trend and one season, additive or
//! multiplicative, with parameters fitted by minimising the one-step-ahead squared error.

use super::optimize::nelder_mead;
use crate::forecast::{ForecastError, Forecaster, sanitize};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Season {
    None,
    Additive,
    Multiplicative,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Params {
    /// Fit α, β, γ and the damping φ per call.
    Fitted,
    /// Fixed smoothing parameters, no damping, additive season.
    Fixed { alpha: f64, beta: f64, gamma: f64 },
}

/// Holt-Winters with one season of `period` steps (or none).
#[derive(Clone, Debug)]
pub struct HoltWinters {
    period: Option<usize>,
    params: Params,
    name: &'static str,
}

impl HoltWinters {
    /// Parameters fitted by optimisation; additive and (for positive data) multiplicative
    /// seasons are both fitted and the one with the lower error is used.
    pub fn fitted(period: Option<usize>) -> Self {
        Self {
            period,
            params: Params::Fitted,
            name: "holt-winters",
        }
    }

    /// α = β = γ = 0.9 fixed, additive: the configuration the predictive-horizontal-pod-
    /// autoscaler project documents, kept as a comparison peer.
    pub fn phpa(period: Option<usize>) -> Self {
        Self {
            period,
            params: Params::Fixed {
                alpha: 0.9,
                beta: 0.9,
                gamma: 0.9,
            },
            name: "phpa",
        }
    }
}

struct Run {
    sse: f64,
    forecast: Vec<f64>,
}

/// Runs the recursions over `y` with the given parameters; returns the in-sample one-step
/// squared error and the `horizon`-step forecast from the end.
fn run(y: &[f64], m: usize, season: Season, p: [f64; 4], horizon: usize) -> Run {
    let [alpha, beta, gamma, phi] = p;
    let m = if season == Season::None { 1 } else { m };
    let init = if season == Season::None { 1 } else { m };
    let first_mean = y[..init].iter().sum::<f64>() / init as f64;
    let mut level = first_mean;
    let mut trend = if season != Season::None && y.len() >= 2 * m {
        (y[m..2 * m].iter().sum::<f64>() / m as f64 - first_mean) / m as f64
    } else {
        0.0
    };
    let mut seasonal: Vec<f64> = match season {
        Season::None => vec![0.0],
        Season::Additive => y[..m].iter().map(|v| v - first_mean).collect(),
        Season::Multiplicative => y[..m].iter().map(|v| v / first_mean.max(1e-9)).collect(),
    };
    let mut sse = 0.0;
    for (t, &obs) in y.iter().enumerate().skip(init) {
        let s = seasonal[t % m];
        let base = level + phi * trend;
        let predicted = match season {
            Season::Multiplicative => base * s,
            _ => base + s,
        };
        sse += (obs - predicted).powi(2);
        let new_level = match season {
            Season::Multiplicative => alpha * obs / s.max(1e-9) + (1.0 - alpha) * base,
            _ => alpha * (obs - s) + (1.0 - alpha) * base,
        };
        trend = beta * (new_level - level) + (1.0 - beta) * phi * trend;
        level = new_level;
        match season {
            Season::None => {}
            Season::Additive => seasonal[t % m] = gamma * (obs - level) + (1.0 - gamma) * s,
            Season::Multiplicative => {
                seasonal[t % m] = gamma * obs / level.max(1e-9) + (1.0 - gamma) * s
            }
        }
    }
    let n = y.len();
    let mut damp = 0.0;
    let mut phi_h = 1.0;
    let forecast = (1..=horizon)
        .map(|h| {
            phi_h *= phi;
            damp += phi_h;
            let s = seasonal[(n + h - 1) % m];
            let base = level + damp * trend;
            match season {
                Season::Multiplicative => base * s,
                _ => base + s,
            }
        })
        .collect();
    Run { sse, forecast }
}

impl Forecaster for HoltWinters {
    fn name(&self) -> &'static str {
        self.name
    }

    fn fit_predict(&self, history: &[f64], horizon: usize) -> Result<Vec<f64>, ForecastError> {
        if history.len() < 3 {
            return Err(ForecastError::TooShort {
                model: self.name,
                needed: 3,
                got: history.len(),
            });
        }
        let period = self.period.filter(|&m| m >= 2 && history.len() >= 2 * m);
        let m = period.unwrap_or(1);
        let mut result = match self.params {
            Params::Fixed { alpha, beta, gamma } => {
                let season = if period.is_some() {
                    Season::Additive
                } else {
                    Season::None
                };
                run(history, m, season, [alpha, beta, gamma, 1.0], horizon).forecast
            }
            Params::Fitted => {
                let mut seasons = vec![];
                if period.is_some() {
                    seasons.push(Season::Additive);
                    if history.iter().all(|v| *v > 0.0) {
                        seasons.push(Season::Multiplicative);
                    }
                } else {
                    seasons.push(Season::None);
                }
                let lo = [0.001, 0.0001, 0.0001, 0.8];
                let hi = [0.999, 0.5, 0.999, 1.0];
                seasons
                    .into_iter()
                    .map(|season| {
                        let best = nelder_mead(
                            |x| run(history, m, season, [x[0], x[1], x[2], x[3]], 0).sse,
                            &[0.3, 0.01, 0.1, 0.95],
                            &lo,
                            &hi,
                            300,
                        );
                        run(
                            history,
                            m,
                            season,
                            [best[0], best[1], best[2], best[3]],
                            horizon,
                        )
                    })
                    .min_by(|a, b| a.sse.total_cmp(&b.sse))
                    .map(|r| r.forecast)
                    .unwrap_or_default()
            }
        };
        let last = history[history.len() - 1];
        sanitize(&mut result, last);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal(n: usize, m: usize) -> Vec<f64> {
        (0..n)
            .map(|t| {
                100.0
                    + 0.1 * t as f64
                    + 20.0 * (2.0 * std::f64::consts::PI * t as f64 / m as f64).sin()
            })
            .collect()
    }

    #[test]
    fn fitted_model_follows_a_clean_season_and_trend() {
        let m = 24;
        let data = seasonal(24 * 10, m);
        let truth = seasonal(24 * 10 + 12, m);
        let forecast = HoltWinters::fitted(Some(m)).fit_predict(&data, 12).unwrap();
        for (f, t) in forecast.iter().zip(&truth[data.len()..]) {
            assert!((f - t).abs() < 2.0, "forecast {f} vs truth {t}");
        }
    }

    #[test]
    fn phpa_runs_with_fixed_parameters() {
        let data = seasonal(24 * 4, 24);
        let forecast = HoltWinters::phpa(Some(24)).fit_predict(&data, 6).unwrap();
        assert_eq!(forecast.len(), 6);
        assert!(forecast.iter().all(|v| v.is_finite() && *v >= 0.0));
    }
}
