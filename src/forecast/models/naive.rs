//! Seasonal naive: tomorrow looks like today.

use crate::forecast::{ForecastError, Forecaster};

/// Repeats the values one season ago, for the longest season the history covers; with no
/// season (or too little history for one), repeats the last value.
#[derive(Clone, Debug)]
pub struct SeasonalNaive {
    periods: Vec<usize>,
}

impl SeasonalNaive {
    /// A seasonal naive model over the given season lengths (in steps).
    pub fn new(periods: Vec<usize>) -> Self {
        Self { periods }
    }
}

impl Forecaster for SeasonalNaive {
    fn name(&self) -> &'static str {
        "seasonal-naive"
    }

    fn fit_predict(&self, history: &[f64], horizon: usize) -> Result<Vec<f64>, ForecastError> {
        let n = history.len();
        if n == 0 {
            return Err(ForecastError::TooShort {
                model: self.name(),
                needed: 1,
                got: 0,
            });
        }
        let period = self
            .periods
            .iter()
            .copied()
            .filter(|&p| p >= 1 && p <= n)
            .max()
            .unwrap_or(1);
        Ok((0..horizon)
            .map(|h| history[n - period + h % period])
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_last_season() {
        let m = SeasonalNaive::new(vec![3]);
        assert_eq!(
            m.fit_predict(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 4).unwrap(),
            vec![4.0, 5.0, 6.0, 4.0]
        );
    }

    #[test]
    fn without_a_full_season_repeats_the_last_value() {
        let m = SeasonalNaive::new(vec![10]);
        assert_eq!(m.fit_predict(&[1.0, 7.0], 2).unwrap(), vec![7.0, 7.0]);
    }
}
