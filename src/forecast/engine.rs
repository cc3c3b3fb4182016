//! The forecasting engine one metric of one policy owns: it picks the model (or uses the
//! policy's), calibrates its quantiles per lead offset, keeps the forecast on the newest
//! data, and says plainly when it has no forecast worth using.
//!
//! Cadence — the same in the controller and in `simulate`, because both only call
//! [`Engine::forecast`] with the history they have:
//! - a call whose history ends where the last one did returns the last forecast (no work);
//! - each new sample updates the [`Tracker`] in constant time (level correction and scale);
//! - every [`EngineConfig::refit_every`] the chosen model is fitted again (on history
//!   coarsened to at most [`EngineConfig::max_points`] values);
//! - every [`EngineConfig::reselect_every`] the model is chosen again by a rolling backtest
//!   that runs each candidate exactly as production does ([`super::choice`]), and that
//!   backtest also calibrates the bands;
//! - every sample checks the recent forecasts it falls in ([`super::online`]): the bands'
//!   levels adapt, and the forecast's rolling loss is set against the last value's.
//!
//! The forecast is used only while it has skill: when the policy quantile's band over the
//! plan's window does not beat the same band around the last value by 10 % (rolling
//! pinball loss), the engine answers [`Unreliable::NoSkill`] and scaling is reactive — an
//! unpredictable metric costs what the HPA costs, no more.

use super::calibrate::Calibration;
use super::choice::{Fitting, choose, is_baseline, path_len, period_steps};
pub use super::choice::{MAX_ORIGINS, mase_scale};
use super::models::ModelKind;
use super::online::{Check, Online};
use super::output::{Forecast, QuantilePath};
use super::series::Series;
use super::tracker::Tracker;
use crate::plan::Timing;
use crate::policy::ForecastSpec;

/// Seconds past the plan's window that the metrics may lag "now" (a scrape and half a rate
/// window); the choice rule and the skill gate score the offsets up to here.
pub const METRICS_LAG_ALLOWANCE_S: u64 = 60;

/// What an engine is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The model to use; `None` chooses one by backtest (`Auto`).
    pub model: Option<ModelKind>,
    /// Season lengths in seconds; empty means detect them.
    pub seasonality: Vec<u64>,
    /// The quantile the plan provisions for; `Auto` minimises the pinball loss at it.
    pub quantile: f64,
    /// More quantile levels to produce besides the median and `quantile` (for sweeps).
    pub extra_levels: Vec<f64>,
    /// Seconds past the end of the history that the forecast reaches.
    pub horizon: u64,
    /// Seconds past the end of the history that the plan consumes: the offsets the choice
    /// rule and the skill gate score.
    pub plan_reach: u64,
    /// Seconds of history to use at most.
    pub history: u64,
    /// Seconds between the history's samples (`spec.forecast.step`).
    pub step: u64,
    /// Seconds of history needed before any forecast is made.
    pub min_history: u64,
    /// Seconds between model choices (and calibrations).
    pub reselect_every: u64,
    /// Seconds between fits of the chosen model; samples in between update the tracker.
    pub refit_every: u64,
    /// Most points a model is fitted on; longer histories are coarsened.
    pub max_points: usize,
    /// Backtest origins used to choose and calibrate, at least; more where each origin
    /// yields few forecasts (coarse steps), up to [`MAX_ORIGINS`].
    pub origins: usize,
    /// Backtest error (MASE) above which the forecast is not trusted.
    pub max_error: f64,
    /// Skill gate: the forecast is used only while its held-out loss is below this fraction
    /// of the last value's. A forecast that is barely better than reacting does not pay for
    /// what forecast-aware scale-down risks, so the default asks for 10 % better.
    pub max_loss_ratio: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            model: None,
            seasonality: Vec::new(),
            quantile: 0.9,
            extra_levels: Vec::new(),
            horizon: 17 * 60,
            plan_reach: 2 * 60 + 15 + METRICS_LAG_ALLOWANCE_S,
            history: 14 * 86_400,
            step: 60,
            min_history: 86_400,
            reselect_every: 12 * 3_600,
            refit_every: 3_600,
            max_points: 2_100,
            origins: 24,
            max_error: 2.0,
            max_loss_ratio: 0.9,
        }
    }
}

impl EngineConfig {
    /// The engine settings a policy's `forecast` block asks for, for a policy decided with
    /// `timing`. Durations must already have passed validation; unreadable ones fall back to
    /// their defaults.
    pub fn for_policy(spec: &ForecastSpec, timing: Timing) -> Self {
        let defaults = ForecastSpec::default();
        let secs = |d: &crate::policy::Duration, fallback: &crate::policy::Duration| {
            d.seconds().or_else(|_| fallback.seconds()).unwrap_or(0)
        };
        let plan_reach = timing.reach() + METRICS_LAG_ALLOWANCE_S;
        let lead = secs(&spec.lead_time, &defaults.lead_time);
        Self {
            model: ModelKind::from_policy(spec.model),
            seasonality: spec
                .seasonality
                .iter()
                .filter_map(|d| d.seconds().ok())
                .collect(),
            quantile: spec.quantile,
            horizon: (lead + secs(&spec.horizon, &defaults.horizon)).max(timing.hold_reach())
                + METRICS_LAG_ALLOWANCE_S,
            plan_reach,
            history: secs(&spec.history, &defaults.history),
            step: secs(&spec.step, &defaults.step).max(1),
            min_history: secs(&spec.min_history, &defaults.min_history),
            ..Self::default()
        }
    }
}

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

/// The fitted model between fits.
#[derive(Clone, Debug)]
struct Fit {
    tracker: Tracker,
    fitted_at: i64,
}

/// One metric's forecaster with its memory of the last model choice and fit.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    selection: Option<Selection>,
    fit: Option<Fit>,
    online: Online,
    last: Option<(i64, Result<Forecast, Unreliable>)>,
}

impl Engine {
    /// An engine with no choice made yet.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            selection: None,
            fit: None,
            online: Online::default(),
            last: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current model choice, once one was made.
    pub fn selection(&self) -> Option<&Selection> {
        self.selection.as_ref()
    }

    /// The quantile levels produced: the median, the policy's quantile and any extra.
    pub fn levels(&self) -> Vec<f64> {
        let mut levels = vec![0.5, self.config.quantile];
        levels.extend(&self.config.extra_levels);
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        levels
    }

    /// The forecast's rolling loss over the plan's window ÷ the last value's: below
    /// [`EngineConfig::max_loss_ratio`] the forecast is used.
    pub fn skill(&self) -> Option<f64> {
        self.online.skill()
    }

    /// Forecasts `config.horizon` seconds beyond the end of `history` (which ends "now").
    pub fn forecast(&mut self, history: &Series) -> Result<Forecast, Unreliable> {
        let keep = (self.config.history / history.step.max(1)) as usize;
        if let Some((end, result)) = &self.last
            && *end == history.end()
        {
            return result.clone();
        }
        let history = history.tail(keep.max(1));
        let result = self.compute(&history);
        self.last = Some((history.end(), result.clone()));
        result
    }

    fn compute(&mut self, history: &Series) -> Result<Forecast, Unreliable> {
        let span = history.span_seconds();
        if span < self.config.min_history.max(1) || history.len() < 8 {
            return Err(Unreliable::TooLittleHistory {
                have_s: span,
                need_s: self.config.min_history,
            });
        }
        let now = history.end();
        let step = history.step.max(1);
        let factor = history.len().div_ceil(self.config.max_points.max(1)).max(1);
        let stale = match &self.selection {
            None => true,
            Some(s) => {
                s.factor != factor || now - s.evaluated_at >= self.config.reselect_every as i64
            }
        };
        if stale {
            let previous = self.selection.take();
            let selection = choose(&self.config, history, factor, now)?;
            let same = previous
                .as_ref()
                .is_some_and(|p| p.model == selection.model && p.half_life == selection.half_life);
            if !same || self.online.skill().is_none() {
                self.online.start_skill(selection.held_out_losses);
            }
            self.fit = None;
            self.selection = Some(selection);
        }
        let Some(selection) = &self.selection else {
            return Err(Unreliable::ModelFailed("no model was selected".into()));
        };
        let (model, half_life, periods) = (
            selection.model,
            selection.half_life,
            selection.periods.clone(),
        );
        // The fit and the per-sample checks go on while a gate is closed, so that the
        // rolling skill can open it again.
        self.advance(history, model, half_life, &periods, factor, now)?;
        let (Some(selection), Some(fit)) = (&self.selection, &self.fit) else {
            return Err(Unreliable::ModelFailed("no fit".into()));
        };
        let (offsets, _) = path_len(&self.config, step);
        let tracker = &fit.tracker;
        let point: Vec<f64> = (0..offsets).map(|h| tracker.point(h)).collect();
        let levels = self.levels();
        let quantile = levels
            .iter()
            .position(|l| (l - self.config.quantile).abs() < 1e-12)
            .unwrap_or(0);
        let reach = self.config.plan_reach.div_ceil(step).max(1) as usize;
        self.online.observe(
            history,
            Check {
                levels: &levels,
                quantile,
                last_value_band: &selection.last_value_band,
                reach,
            },
        );
        let online = &self.online;
        let quantiles: Vec<QuantilePath> = levels
            .iter()
            .enumerate()
            .filter_map(|(k, &level)| {
                let values =
                    selection
                        .calibration
                        .path(&point, online.level(k, level), tracker.scale())?;
                Some(QuantilePath { level, values })
            })
            .collect();
        if quantiles.len() == levels.len() {
            let bands = quantiles.iter().map(|q| q.values.clone()).collect();
            let (last, scale) = (tracker.last(), tracker.scale());
            self.online.remember(now, bands, last, scale);
        }
        if selection.mase > self.config.max_error {
            return Err(Unreliable::ErrorTooHigh {
                model: selection.model.name(),
                mase: selection.mase,
                threshold: self.config.max_error,
            });
        }
        let skill = self.online.skill().unwrap_or(1.0);
        if skill >= self.config.max_loss_ratio {
            return Err(Unreliable::NoSkill {
                model: selection.model.name(),
                ratio: skill,
                threshold: self.config.max_loss_ratio,
                reach_s: self.config.plan_reach,
            });
        }
        Ok(Forecast {
            start: now,
            step,
            point,
            quantiles,
        })
    }

    /// Brings the fit up to `now`: consumes new samples, or fits again when the fit is due,
    /// too old to extend, or the history no longer lines up with it.
    fn advance(
        &mut self,
        history: &Series,
        model: ModelKind,
        half_life: Option<f64>,
        periods: &[u64],
        factor: usize,
        now: i64,
    ) -> Result<(), Unreliable> {
        let step = history.step.max(1);
        let (offsets, updates) = path_len(&self.config, step);
        let refit_every = self.config.refit_every as i64;
        let usable = self.fit.as_ref().is_some_and(|fit| {
            let end = fit.tracker.end();
            let new = (now - end) / step as i64;
            end <= now
                && (now - end) % step as i64 == 0
                && end >= history.start
                && now - fit.fitted_at < refit_every
                && (!is_baseline(model) || new == 0)
                && fit.tracker.reaches(new as usize + offsets)
        });
        if usable {
            if let Some(fit) = &mut self.fit {
                let first = ((fit.tracker.end() - history.start) / step as i64) as usize;
                for &value in &history.values[first..] {
                    fit.tracker.update(value);
                }
            }
            return Ok(());
        }
        let periods = period_steps(periods, step);
        let fitting = Fitting {
            kind: model,
            periods: &periods,
            factor,
            len: updates + offsets,
            step,
        };
        let tracker = fitting
            .trackers(&history.values, now, &[half_life])
            .and_then(|mut t| t.pop())
            .ok_or_else(|| Unreliable::ModelFailed(format!("{model} could not be fitted")))?;
        self.fit = Some(Fit {
            tracker,
            fitted_at: now,
        });
        Ok(())
    }
}
