//! What every new sample teaches the engine between model choices: each forecast is checked
//! against the samples that come, which keeps two things honest.
//!
//! - **Adaptive levels** (adaptive conformal inference). A sample above the band a recent
//!   forecast gave for it raises that band's level a little, one inside lowers it a little:
//!   `level += RATE × (share of its bands it broke − (1 − level))`. Coverage so holds at the
//!   nominal quantile while the calibration made at the last model choice goes stale.
//! - **Rolling skill.** The pinball loss of the policy quantile's band over the plan's
//!   offsets, and of the same band around the last value, both exponentially averaged with a
//!   half-life of a day. Their ratio is the skill gate's measure: thousands of forecasts a
//!   day rather than the dozen backtest windows of a model choice, which start it.

use std::collections::VecDeque;

use super::calibrate::{LEVEL_GRID, pinball};
use super::series::Series;

/// How far one sample outside (or inside) its bands moves a level.
const ADAPT_RATE: f64 = 0.002;
/// The most a level may be shifted either way.
const MAX_SHIFT: f64 = 0.3;
/// Half-life of the rolling skill, in seconds.
const SKILL_HALF_LIFE_S: f64 = 86_400.0;

/// A forecast still waiting for its samples.
#[derive(Clone, Debug)]
struct Pending {
    /// Time of offset 0.
    start: i64,
    /// Per produced level, the band at each offset.
    bands: Vec<Vec<f64>>,
    /// The last value when the forecast was made.
    last: f64,
    /// The error unit then.
    scale: f64,
}

/// What a new forecast is checked with: the policy quantile's position among the levels,
/// the last value's calibrated band (scaled errors per offset) and the plan's offsets.
#[derive(Clone, Copy, Debug)]
pub struct Check<'a> {
    /// The levels produced, ascending.
    pub levels: &'a [f64],
    /// Index of the policy's quantile in `levels`.
    pub quantile: usize,
    /// The last value's error quantile at the policy's quantile, per offset.
    pub last_value_band: &'a [f64],
    /// Offsets the plan consumes.
    pub reach: usize,
}

/// The engine's per-sample memory.
#[derive(Clone, Debug, Default)]
pub struct Online {
    /// Per produced level: what is added to it when reading the calibration.
    shifts: Vec<f64>,
    pending: VecDeque<Pending>,
    /// Samples before this time have been checked.
    checked_until: i64,
    /// Rolling losses (model, last value), once started.
    loss: Option<(f64, f64)>,
}

impl Online {
    /// Starts (or restarts, after a new model choice) the rolling skill from a backtest's
    /// held-out losses.
    pub fn start_skill(&mut self, losses: (f64, f64)) {
        self.loss = Some(losses);
    }

    /// The rolling loss of the forecast ÷ the last value's (`None` before it starts).
    pub fn skill(&self) -> Option<f64> {
        self.loss.map(|(model, last)| model / last.max(1e-12))
    }

    /// The level to read from the calibration for the `k`-th produced level.
    pub fn level(&self, k: usize, level: f64) -> f64 {
        let shift = self.shifts.get(k).copied().unwrap_or(0.0);
        (level + shift).clamp(LEVEL_GRID[0], LEVEL_GRID[LEVEL_GRID.len() - 1])
    }

    /// Checks the samples of `history` not checked yet against the pending forecasts.
    pub fn observe(&mut self, history: &Series, check: Check<'_>) {
        self.shifts.resize(check.levels.len(), 0.0);
        let step = history.step.max(1) as i64;
        let decay = 0.5_f64.powf(step as f64 / SKILL_HALF_LIFE_S);
        let q = check.levels.get(check.quantile).copied().unwrap_or(0.5);
        let first = ((self.checked_until - history.start).max(0) / step) as usize;
        for (i, &value) in history.values.iter().enumerate().skip(first) {
            let t = history.start + i as i64 * step;
            let mut missed = vec![0usize; check.levels.len()];
            let mut checked = 0usize;
            let (mut ours, mut theirs, mut scored) = (0.0, 0.0, 0usize);
            for p in &self.pending {
                let Some(offset) = usize::try_from((t - p.start) / step)
                    .ok()
                    .filter(|&o| p.bands.first().is_some_and(|b| o < b.len()))
                else {
                    continue;
                };
                checked += 1;
                for (k, band) in p.bands.iter().enumerate() {
                    missed[k] += usize::from(value > band[offset]);
                }
                if offset < check.reach
                    && let Some(last_band) = check.last_value_band.get(offset)
                {
                    let scale = p.scale.max(1e-12);
                    ours += pinball(value, p.bands[check.quantile][offset], q) / scale;
                    theirs += pinball(value, p.last + last_band * scale, q) / scale;
                    scored += 1;
                }
            }
            if checked > 0 {
                for (k, level) in check.levels.iter().enumerate() {
                    let rate = missed[k] as f64 / checked as f64;
                    self.shifts[k] = (self.shifts[k] + ADAPT_RATE * (rate - (1.0 - level)))
                        .clamp(-MAX_SHIFT, MAX_SHIFT);
                }
            }
            if scored > 0
                && let Some((model, last)) = &mut self.loss
            {
                *model = decay * *model + (1.0 - decay) * ours / scored as f64;
                *last = decay * *last + (1.0 - decay) * theirs / scored as f64;
            }
        }
        self.checked_until = self.checked_until.max(history.end());
        let until = self.checked_until;
        self.pending
            .retain(|p| p.start + p.bands.first().map_or(0, Vec::len) as i64 * step > until);
    }

    /// Remembers a forecast made at `start` (its bands per level, the last value and the
    /// scale then) to check it against the samples to come.
    pub fn remember(&mut self, start: i64, bands: Vec<Vec<f64>>, last: f64, scale: f64) {
        self.pending.push_back(Pending {
            start,
            bands,
            last,
            scale,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(levels: &[f64]) -> Check<'_> {
        Check {
            levels,
            quantile: 0,
            last_value_band: &[0.0; 4],
            reach: 4,
        }
    }

    #[test]
    fn samples_above_the_band_raise_its_level_and_inside_lower_it() {
        let levels = [0.9];
        let mut online = Online::default();
        for t in 0..50 {
            online.remember(t * 60, vec![vec![10.0; 4]], 10.0, 1.0);
            let history = Series::new(0, 60, vec![20.0; t as usize + 1]);
            online.observe(&history, check(&levels));
        }
        assert!(online.level(0, 0.9) > 0.9, "{}", online.level(0, 0.9));
        let mut calm = Online::default();
        for t in 0..50 {
            calm.remember(t * 60, vec![vec![10.0; 4]], 10.0, 1.0);
            calm.observe(
                &Series::new(0, 60, vec![5.0; t as usize + 1]),
                check(&levels),
            );
        }
        assert!(calm.level(0, 0.9) < 0.9);
    }

    #[test]
    fn the_rolling_skill_compares_with_the_last_value() {
        let levels = [0.5];
        let mut online = Online::default();
        online.start_skill((1.0, 1.0));
        // The forecast said 12 where 12 came; the last value was 10.
        for t in 0..2_000 {
            online.remember(t * 60, vec![vec![12.0; 4]], 10.0, 1.0);
            online.observe(
                &Series::new(0, 60, vec![12.0; t as usize + 1]),
                check(&levels),
            );
        }
        assert!(online.skill().unwrap() < 0.5, "{:?}", online.skill());
    }
}
