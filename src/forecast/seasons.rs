//! Seasonality detection among plausible periods (1 hour to 7 days).
//!
//! Traffic seasons sit at round periods (hourly jobs, the working day, the week), so rather
//! than reading periods off a periodogram — whose resolution at the Welch segment lengths
//! cannot tell 1,440 minutes from 1,365 — the autocorrelation is measured exactly at each
//! candidate period and the clearly seasonal ones are kept.

/// Candidate periods in seconds.
pub const CANDIDATES: [u64; 9] = [
    3_600, 7_200, 10_800, 14_400, 21_600, 28_800, 43_200, 86_400, 604_800,
];

/// Least autocorrelation at a period for it to count as a season.
pub const THRESHOLD: f64 = 0.3;

/// How much more the series must resemble itself one period later than half a period later.
/// Smooth series correlate strongly at any short lag; a real season shows a peak at its
/// period and a trough in between.
pub const CONTRAST: f64 = 0.1;

/// Autocorrelation of `values` at `lag` (0 when undefined), each lagged pair weighted
/// alike: the sum of products is divided by the `n - lag` pairs it has, not by `n`. The
/// usual estimator divides by `n` and so halves the autocorrelation of a period that fits
/// twice into the history — two weeks could never show a weekly season next to a daily one
/// that fits fourteen times.
pub fn autocorrelation(values: &[f64], lag: usize) -> f64 {
    let n = values.len();
    if lag == 0 || lag >= n {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= f64::EPSILON {
        return 0.0;
    }
    let cov: f64 = (lag..n)
        .map(|t| (values[t] - mean) * (values[t - lag] - mean))
        .sum();
    (cov / (n - lag) as f64) / (var / n as f64)
}

/// The seasons of `values` (sampled every `step` seconds), in seconds, ascending.
///
/// A candidate needs two full periods of data, an autocorrelation above [`THRESHOLD`] and
/// [`CONTRAST`] more than at half its period. The strongest such candidate is kept; a
/// longer candidate that is a multiple of it is added when its autocorrelation is higher
/// still (a weekly rhythm on top of a daily one), and so is the strongest shorter one that
/// divides it (the days of a week that is the strongest rhythm).
pub fn detect(values: &[f64], step: u64) -> Vec<u64> {
    let step = step.max(1);
    let mut scored: Vec<(u64, f64)> = CANDIDATES
        .iter()
        .filter(|&&p| p % step == 0 && p / step >= 2 && values.len() as u64 >= 2 * (p / step))
        .map(|&p| {
            let lag = (p / step) as usize;
            (
                p,
                autocorrelation(values, lag),
                autocorrelation(values, lag / 2),
            )
        })
        .filter(|(_, acf, half)| *acf > THRESHOLD && *acf - *half > CONTRAST)
        .map(|(p, acf, _)| (p, acf))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some(&(best, best_acf)) = scored.first() else {
        return Vec::new();
    };
    let mut kept = vec![best];
    for &(p, acf) in &scored[1..] {
        if p > best && p % best == 0 && acf > best_acf {
            kept.push(p);
        }
    }
    // A week can be the strongest rhythm and still be made of days: the strongest shorter
    // season that divides it is kept with it.
    if let Some(&(shorter, _)) = scored[1..].iter().find(|(p, _)| *p < best && best % p == 0) {
        kept.push(shorter);
    }
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_daily_season_at_five_minutes() {
        let values: Vec<f64> = (0..288 * 4)
            .map(|t| {
                10.0 + (2.0 * std::f64::consts::PI * t as f64 / 288.0).sin()
                    + 0.1 * ((t * 7919) % 13) as f64
            })
            .collect();
        assert_eq!(detect(&values, 300), vec![86_400]);
    }

    #[test]
    fn two_weeks_show_the_week_on_top_of_the_day() {
        // Hourly samples; weekends carry 0.6 of a weekday's traffic.
        let values: Vec<f64> = (0..24 * 14)
            .map(|t| {
                let day = (t / 24) % 7;
                let level = if day >= 5 { 0.6 } else { 1.0 };
                level * (10.0 + 5.0 * (2.0 * std::f64::consts::PI * t as f64 / 24.0).sin())
            })
            .collect();
        assert_eq!(detect(&values, 3_600), vec![86_400, 604_800]);
        assert_eq!(
            detect(&values[..24 * 13], 3_600),
            vec![86_400],
            "a week needs two of them"
        );
    }

    #[test]
    fn noise_and_constants_have_no_season() {
        let constant = vec![5.0; 2_000];
        assert!(detect(&constant, 300).is_empty());
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<f64> = (0..2_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 1000) as f64
            })
            .collect();
        assert!(detect(&noise, 300).is_empty());
    }
}
