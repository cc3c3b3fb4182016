//! The model choice: every candidate run as production runs it on the metric's own recent
//! history (a rolling backtest), the best kept, its bands calibrated on origins the choice
//! never saw, and its skill over the last value measured there.

use super::calibrate::{Calibration, pinball};
use super::config::EngineConfig;
use super::models::ModelKind;
use super::seasons;
use super::selection::{Selection, Unreliable};
use super::series::{Series, coarsen_values};
use super::tracker::{LEVEL_HALF_LIVES, Tracker, to_native};

/// Seconds of newest history the tracker's scale starts from at a fit.
const SCALE_WARMUP_S: u64 = 3_600;

/// Forecasts per offset the rolling backtest aims for (half choose, half calibrate).
const FORECASTS_WANTED: usize = 600;

/// Most backtest origins, whatever the step.
pub const MAX_ORIGINS: usize = 64;

/// Newest samples held back from each fit (at least one coarse step) and fed through the
/// tracker instead, so that a forecast made right at a fit is corrected like any other.
const WARM_SAMPLES: usize = 3;

/// Mean absolute seasonal difference of `values` at lag `m` (the MASE scale), never below
/// a hundredth of their mean: on a perfectly periodic series the seasonal difference is 0
/// and any error would read as infinitely bad.
pub fn mase_scale(values: &[f64], m: usize) -> f64 {
    let m = if m >= 1 && values.len() > m { m } else { 1 };
    let mean = values.iter().map(|v| v.abs()).sum::<f64>() / values.len().max(1) as f64;
    let floor = (0.01 * mean).max(1e-9);
    if values.len() <= m {
        return floor;
    }
    let sum: f64 = (m..values.len())
        .map(|t| (values[t] - values[t - m]).abs())
        .sum();
    (sum / (values.len() - m) as f64).max(floor)
}

/// Baseline models are run as published: refitted at every sample, never corrected.
pub fn is_baseline(kind: ModelKind) -> bool {
    matches!(kind, ModelKind::SeasonalNaive | ModelKind::Phpa)
}

/// How a model is fitted on one series: its seasons, coarsening and path length.
pub struct Fitting<'a> {
    /// The model.
    pub kind: ModelKind,
    /// Season lengths in native steps.
    pub periods: &'a [usize],
    /// Native steps per model step.
    pub factor: usize,
    /// Native values the path must reach past the fit.
    pub len: usize,
    /// The native step, seconds.
    pub step: u64,
}

impl Fitting<'_> {
    /// The level-correction half-lives worth trying for this model (`None`: uncorrected).
    fn half_lives(&self) -> Vec<Option<f64>> {
        if is_baseline(self.kind) {
            vec![None]
        } else {
            LEVEL_HALF_LIVES.iter().map(|h| Some(*h)).collect()
        }
    }

    /// Fits on `history` (native values ending at `end`) and returns one tracker per
    /// half-life, all on the same fitted path.
    pub fn trackers(
        &self,
        history: &[f64],
        end: i64,
        half_lives: &[Option<f64>],
    ) -> Option<Vec<Tracker>> {
        let factor = if is_baseline(self.kind) {
            1
        } else {
            self.factor
        };
        // The newest samples are held back from the fit and fed through the tracker, so a
        // fresh fit starts with its level correction already warm.
        let held = if is_baseline(self.kind) {
            0
        } else {
            factor.max(WARM_SAMPLES).min(history.len() / 2)
        };
        let (fitted, newest) = history.split_at(history.len() - held);
        let coarse = coarsen_values(fitted, factor);
        let last = *coarse.last()?;
        let len = self.len + held;
        let steps = len.div_ceil(factor) + 1;
        let periods: Vec<usize> = self
            .periods
            .iter()
            .map(|p| p / factor)
            .filter(|&p| p >= 2)
            .collect();
        let path = self.kind.build(&periods).fit_predict(&coarse, steps).ok()?;
        let native = to_native(last, &path, factor, len);
        let warm = (SCALE_WARMUP_S / self.step.max(1)).max(2) as usize;
        let recent = &fitted[fitted.len().saturating_sub(warm)..];
        let start = end - (held as u64 * self.step) as i64;
        Some(
            half_lives
                .iter()
                .map(|hl| {
                    let mut tracker = Tracker::new(native.clone(), start, self.step, recent, *hl);
                    for &value in newest {
                        tracker.update(value);
                    }
                    tracker
                })
                .collect(),
        )
    }
}

/// Scaled errors per offset, of the model and of the last value, at one set of origins.
#[derive(Default)]
struct Errors {
    model: Vec<Vec<f64>>,
    last: Vec<Vec<f64>>,
}

impl Errors {
    fn new(offsets: usize) -> Self {
        Self {
            model: vec![Vec::new(); offsets],
            last: vec![Vec::new(); offsets],
        }
    }

    /// Mean pinball loss at `q` over the first `reach` offsets of the model's band and of
    /// the last value's, each calibrated on these errors.
    fn losses(&self, q: f64, reach: usize) -> (f64, f64) {
        (
            band_loss(&self.model, q, reach),
            band_loss(&self.last, q, reach),
        )
    }
}

/// One candidate's rolling backtest, run as production runs it.
struct Trial {
    /// The level correction's half-life it was run with, in samples.
    half_life: Option<f64>,
    /// At the origins the choice is made on.
    choice: Errors,
    /// At the other origins: the chosen model's bands are calibrated on these, which the
    /// choice never saw (split conformal), so that picking the best of many candidates does
    /// not make its bands too narrow; the skill gate starts from them too.
    held_out: Errors,
    /// Sum of absolute point errors, and their count (for MASE).
    abs: f64,
    count: usize,
}

impl Trial {
    /// The backtest of `fitting` at every half-life it tries.
    fn run(fitting: &Fitting<'_>, values: &[f64], origins: &[usize], updates: usize) -> Vec<Self> {
        let offsets = fitting.len - updates;
        let half_lives = fitting.half_lives();
        let mut trials: Vec<Trial> = half_lives
            .iter()
            .map(|&half_life| Trial {
                half_life,
                choice: Errors::new(offsets),
                held_out: Errors::new(offsets),
                abs: 0.0,
                count: 0,
            })
            .collect();
        let mut fitted = 0;
        let step = fitting.step as i64;
        for (i, &origin) in origins.iter().enumerate() {
            let Some(mut trackers) =
                fitting.trackers(&values[..origin], origin as i64 * step, &half_lives)
            else {
                continue;
            };
            fitted += 1;
            for u in 0..updates {
                let t = origin + u;
                if t + offsets > values.len() {
                    break;
                }
                if u > 0 && is_baseline(fitting.kind) {
                    match fitting.trackers(&values[..t], t as i64 * step, &half_lives) {
                        Some(refit) => trackers = refit,
                        None => break,
                    }
                }
                for (trial, tracker) in trials.iter_mut().zip(&mut trackers) {
                    let scale = tracker.scale();
                    let errors = if i % 2 == 1 {
                        &mut trial.held_out
                    } else {
                        &mut trial.choice
                    };
                    for h in 0..offsets {
                        let actual = values[t + h];
                        let forecast = tracker.point(h);
                        errors.model[h].push((actual - forecast) / scale);
                        errors.last[h].push((actual - tracker.last()) / scale);
                        trial.abs += (actual - forecast).abs();
                        trial.count += 1;
                    }
                    tracker.update(values[t]);
                }
            }
        }
        if fitted * 2 >= origins.len() {
            trials
        } else {
            Vec::new()
        }
    }
}

/// Mean pinball loss at `q` of a band calibrated on `errors` itself, over the first
/// `reach` offsets.
fn band_loss(errors: &[Vec<f64>], q: f64, reach: usize) -> f64 {
    let cal = Calibration::fit_levels(errors, &[q]);
    let (mut sum, mut n) = (0.0, 0usize);
    for (h, e) in errors.iter().enumerate().take(reach.max(1)) {
        let band = cal.error_quantile(q, h).unwrap_or(0.0);
        sum += e.iter().map(|x| pinball(*x, band, q)).sum::<f64>();
        n += e.len();
    }
    sum / n.max(1) as f64
}

/// Native values a model's path must reach past a fit, and the updates between fits.
pub fn path_len(config: &EngineConfig, step: u64) -> (usize, usize) {
    let offsets = config.horizon.div_ceil(step.max(1)).max(1) as usize;
    let updates = (config.refit_every / step.max(1)).max(1) as usize;
    (offsets, updates)
}

/// Chooses (or, with a fixed model, evaluates) the model for `history` coarsened by
/// `factor`, at `now`.
pub fn choose(
    config: &EngineConfig,
    history: &Series,
    factor: usize,
    now: i64,
) -> Result<Selection, Unreliable> {
    let step = history.step.max(1);
    let periods = if config.seasonality.is_empty() {
        let coarse = history.coarsen(factor);
        seasons::detect(&coarse.values, coarse.step)
    } else {
        config.seasonality.clone()
    };
    let native_periods = period_steps(&periods, step);
    let (offsets, updates) = path_len(config, step);
    let wanted = config
        .origins
        .max(FORECASTS_WANTED.div_ceil(updates))
        .min(MAX_ORIGINS);
    let origins = origins(history.len(), updates + offsets, wanted);
    if origins.len() < 4 {
        return Err(Unreliable::TooLittleHistory {
            have_s: history.span_seconds(),
            need_s: history.span_seconds() + (4 * (updates + offsets)) as u64 * step,
        });
    }
    // The same scale `backtest` reports MASE in: the first season, else one day.
    let day = (86_400 / step).max(1) as usize;
    let scale = mase_scale(
        &history.values,
        native_periods.first().copied().unwrap_or(day),
    );
    let candidates: Vec<ModelKind> = match config.model {
        Some(model) => vec![model],
        None => ModelKind::CANDIDATES.to_vec(),
    };
    let q = config.quantile;
    let reach = config.plan_reach.div_ceil(step).max(1) as usize;
    let mut scored: Vec<(ModelKind, f64, Trial)> = Vec::new();
    let mut failures = Vec::new();
    for kind in candidates {
        let fitting = Fitting {
            kind,
            periods: &native_periods,
            factor,
            len: updates + offsets,
            step,
        };
        let trials = Trial::run(&fitting, &history.values, &origins, updates);
        if trials.is_empty() {
            failures.push(format!("{kind}: failed on most backtest windows"));
        }
        for trial in trials {
            let (loss, _) = trial.choice.losses(q, reach);
            scored.push((kind, loss, trial));
        }
    }
    scored.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut scores: Vec<(ModelKind, f64)> = Vec::new();
    for (kind, loss, _) in &scored {
        if !scores.iter().any(|(k, _)| k == kind) {
            scores.push((*kind, *loss));
        }
    }
    let Some((model, _, trial)) = scored.into_iter().next() else {
        return Err(Unreliable::ModelFailed(failures.join("; ")));
    };
    let held_out_losses = trial.held_out.losses(q, reach);
    let last_value = Calibration::fit_levels(&trial.held_out.last, &[q]);
    Ok(Selection {
        model,
        half_life: trial.half_life,
        periods,
        factor,
        calibration: Calibration::fit(&trial.held_out.model),
        last_value_band: (0..offsets)
            .map(|h| last_value.error_quantile(q, h).unwrap_or(0.0))
            .collect(),
        held_out_losses,
        evaluated_at: now,
        mase: trial.abs / trial.count.max(1) as f64 / scale,
        scores,
    })
}

/// Season lengths in steps (rounded), ascending, without duplicates or sub-2 lengths.
pub fn period_steps(periods: &[u64], step: u64) -> Vec<usize> {
    let mut out: Vec<usize> = periods
        .iter()
        .map(|p| ((*p as f64) / step.max(1) as f64).round() as usize)
        .filter(|&p| p >= 2)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Up to `count` backtest origins spread over the most recent part of a series of `n`
/// points, each with at least half the series before it and `steps` after it.
fn origins(n: usize, steps: usize, count: usize) -> Vec<usize> {
    let last = n.saturating_sub(steps);
    let first = n / 2;
    if last <= first || count == 0 {
        return Vec::new();
    }
    let spacing = ((last - first) / count).max(1);
    (0..count)
        .filter_map(|i| last.checked_sub(i * spacing))
        .filter(|&o| o > first)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_stay_inside_the_newer_half() {
        assert_eq!(origins(100, 10, 4), vec![90, 80, 70, 60]);
        let many = origins(30, 5, 64);
        assert!(many.iter().all(|&o| o > 15 && o <= 25), "{many:?}");
        assert!(origins(10, 8, 4).is_empty());
    }

    #[test]
    fn a_periodic_series_has_a_usable_mase_scale() {
        let periodic: Vec<f64> = (0..100).map(|i| f64::from(i % 10)).collect();
        assert!((mase_scale(&periodic, 10) - 0.045).abs() < 1e-12);
    }
}
