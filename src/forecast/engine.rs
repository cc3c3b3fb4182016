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

use super::choice::{Fitting, choose, is_baseline, path_len, period_steps};
pub use super::choice::{MAX_ORIGINS, mase_scale};
pub use super::config::{EngineConfig, METRICS_LAG_ALLOWANCE_S};
use super::models::ModelKind;
use super::online::{Check, Online};
use super::output::{Forecast, QuantilePath};
pub use super::selection::{Selection, Unreliable};
use super::series::Series;
use super::tracker::Tracker;

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
    /// The forecast the last call computed but did not pass, because its error or its
    /// rolling skill closed the gate: shown to a user asking why, never planned on.
    gated: Option<Forecast>,
    /// A model chosen before (by another process, read back from the policy's status) to
    /// start from, and where in the re-choice cadence the full choice falls, 0 to 1.
    resume: Option<(ModelKind, f64)>,
    /// The current choice as status text, and the choice's time: encoded once per choice.
    kept: Option<(i64, String)>,
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
            gated: None,
            resume: None,
            kept: None,
        }
    }

    /// An engine that starts from `model`, chosen before by a full backtest (a new leader
    /// reads it from the policy's status): its first forecast backtests that model alone,
    /// to fit and calibrate it, and the full choice among every candidate follows at
    /// `jitter` (0 to 1) of the re-choice period, so that a fleet of engines started at
    /// once does not choose all at once. A model that is not a candidate is ignored, as is
    /// the hint when the policy names its model.
    pub fn resuming(config: EngineConfig, model: ModelKind, jitter: f64) -> Self {
        let usable = config.model.is_none() && ModelKind::CANDIDATES.contains(&model);
        Self {
            resume: usable.then_some((model, jitter.clamp(0.0, 1.0))),
            ..Self::new(config)
        }
    }

    /// Starts from `selection`, the choice a leader made and kept in the policy's status
    /// ([`super::resume`]): the first forecast fits the chosen model once and uses the
    /// kept bands, with no backtest. A choice the history no longer fits (another coarsening,
    /// or due again) is set aside as any due choice is.
    pub fn with_choice(mut self, selection: Selection) -> Self {
        let fits = match self.config.model {
            Some(model) => model == selection.model,
            None => ModelKind::CANDIDATES.contains(&selection.model),
        };
        if fits {
            self.online.start_skill(selection.held_out_losses);
            self.selection = Some(selection);
        }
        self
    }

    /// The current choice as the text a policy's status keeps ([`super::resume`]), encoded
    /// once per choice rather than on every call.
    pub fn choice_text(&mut self) -> Option<String> {
        let selection = self.selection.as_ref()?;
        if self
            .kept
            .as_ref()
            .is_none_or(|(at, _)| *at != selection.evaluated_at)
        {
            let text = super::resume::encode(selection, &self.config);
            self.kept = Some((selection.evaluated_at, text));
        }
        self.kept.as_ref().map(|(_, text)| text.clone())
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

    /// The forecast behind the last [`Engine::forecast`] call's [`Unreliable::ErrorTooHigh`]
    /// or [`Unreliable::NoSkill`]: what the model said, though the plan may not use it.
    pub fn gated(&self) -> Option<&Forecast> {
        self.gated.as_ref()
    }

    /// Whether [`Engine::forecast`] of `history` would return the last forecast again (the
    /// history has no new sample): a call that costs nothing.
    pub fn is_current(&self, history: &Series) -> bool {
        self.last
            .as_ref()
            .is_some_and(|(end, _)| *end == history.end())
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
        self.gated = None;
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
            let selection = match self.resume.take() {
                Some((model, jitter)) => {
                    let hinted = EngineConfig {
                        model: Some(model),
                        ..self.config.clone()
                    };
                    match choose(&hinted, history, factor, now) {
                        Ok(mut selection) => {
                            // Due again (a full choice) after `jitter` of the period.
                            let period = self.config.reselect_every as f64;
                            selection.evaluated_at = now - (period * (1.0 - jitter)) as i64;
                            selection
                        }
                        Err(_) => choose(&self.config, history, factor, now)?,
                    }
                }
                None => choose(&self.config, history, factor, now)?,
            };
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
        let forecast = Forecast {
            start: now,
            step,
            point,
            quantiles,
        };
        let skill = self.online.skill().unwrap_or(1.0);
        let gate = if selection.mase > self.config.max_error {
            Some(Unreliable::ErrorTooHigh {
                model: selection.model.name(),
                mase: selection.mase,
                threshold: self.config.max_error,
            })
        } else if skill >= self.config.max_loss_ratio {
            Some(Unreliable::NoSkill {
                model: selection.model.name(),
                ratio: skill,
                threshold: self.config.max_loss_ratio,
                reach_s: self.config.plan_reach,
            })
        } else {
            None
        };
        match gate {
            Some(why) => {
                self.gated = Some(forecast);
                Err(why)
            }
            None => Ok(forecast),
        }
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
