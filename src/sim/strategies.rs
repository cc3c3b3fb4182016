//! The strategies `simulate` compares. All but the oracle go through [`crate::plan::decide`]:
//! they differ only in the forecast they feed it, their per-replica target and their
//! behavior.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::forecast::models::HoltWinters;
use crate::forecast::{Engine, Forecast, Forecaster, Series, Unreliable};
use crate::plan::{
    Inputs, MetricInput, Need, PlanState, Reading, Timing, Tolerance, decide, record_scale,
};
use crate::policy::{Fallback, RatePolicy, ResolvedBehavior};

use super::workload::Load;

/// What every strategy shares: the policy's bounds, headroom and timing.
#[derive(Clone, Debug)]
pub struct Shared {
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
    /// Headroom percent.
    pub headroom: f64,
    /// Lead time and sync period: the planning window.
    pub timing: Timing,
}

/// The history a policy's engine reads, as Prometheus would serve it — the load at the
/// policy's step, up to a metrics lag before now — and the engine's latest answer.
pub struct Feed {
    engine: Engine,
    /// The whole trace's load (req/s) at the policy's step.
    series: Series,
    /// Seconds of history read.
    history: u64,
    /// Seconds the metrics lag the truth.
    lag: u64,
    last: Option<(i64, Result<Forecast, Unreliable>)>,
}

impl Feed {
    /// A feed of `series` (the load at the policy's step) into `engine`.
    pub fn new(engine: Engine, series: Series, lag: u64) -> Self {
        let history = engine.config().history;
        Self {
            engine,
            series,
            history,
            lag,
            last: None,
        }
    }

    /// The engine's forecast from the history available at `now`.
    pub fn forecast(&mut self, now: i64) -> Result<&Forecast, &Unreliable> {
        let s = &self.series;
        let step = s.step.max(1) as i64;
        let until = now - self.lag as i64;
        let end_index = ((until - s.start).max(0) / step) as usize;
        let end_index = end_index.min(s.len());
        let end = s.start + end_index as i64 * step;
        // A new sample only arrives once a step has completed; building the history to let
        // the engine find that out would cost more than the forecast.
        let entry = match self.last.take() {
            Some(last) if last.0 == end => self.last.insert(last),
            _ => {
                let keep = (self.history / s.step.max(1)) as usize;
                let first = end_index.saturating_sub(keep);
                let past = Series {
                    start: s.start + first as i64 * step,
                    step: s.step,
                    values: s.values[first..end_index].to_vec(),
                    gaps: Vec::new(),
                };
                let result = self.engine.forecast(&past);
                self.last.insert((end, result))
            }
        };
        entry.1.as_ref()
    }
}

/// One sync period's view for a strategy.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Unix seconds.
    pub now: i64,
    /// Replicas requested.
    pub current: i32,
    /// Ready pods.
    pub ready: i32,
    /// The load as the metrics pipeline reports it now (lagged and averaged).
    pub observed: f64,
}

/// Where a strategy's forecast comes from.
pub enum Foresight {
    /// None: the HPA.
    Blind,
    /// The forecasting engine, asked at every decision with the history the metrics
    /// pipeline has by then, exactly as the controller asks it. Strategies that differ only
    /// in the quantile they provision share one feed.
    Engine(Rc<RefCell<Feed>>),
    /// The true future load.
    Perfect,
    /// PHPA-style: Holt-Winters (α = β = γ = 0.9, one-day season) on the history of the
    /// replica counts the HPA algorithm asked for, one step ahead.
    ReplicaHoltWinters {
        /// Replica proposals, one per `every` seconds.
        history: Vec<f64>,
        /// Seconds between history samples and forecasts.
        every: u64,
        /// Last sample time.
        last: i64,
        /// Last forecast, in replicas.
        predicted: Option<f64>,
    },
}

/// A strategy: its decision memory, per-replica target, behavior and forecast source.
pub struct Strategy {
    /// Its name in the report.
    pub name: &'static str,
    /// Requests per second one replica should carry.
    pub target: f64,
    /// The forecast quantile it provisions for.
    pub quantile: f64,
    /// Per decision, whether a forecast was used (`used`) or why not (the reason of
    /// ForecastReliable=False).
    pub outcomes: BTreeMap<&'static str, u64>,
    behavior: ResolvedBehavior,
    state: PlanState,
    foresight: Foresight,
    /// `spec.schedules`, for prescaler's own strategy; the baselines have none.
    schedules: Vec<crate::plan::schedule::Schedule>,
}

/// A behavior whose policies all use `period` seconds (PHPA evaluates once a minute).
pub fn with_period(mut behavior: ResolvedBehavior, period: i32) -> ResolvedBehavior {
    let set = |policies: &mut Vec<RatePolicy>| {
        policies.iter_mut().for_each(|p| p.period_seconds = period)
    };
    set(&mut behavior.scale_up.policies);
    set(&mut behavior.scale_down.policies);
    behavior
}

impl Strategy {
    /// A strategy whose replicas each carry `target` requests per second.
    pub fn new(
        name: &'static str,
        target: f64,
        behavior: ResolvedBehavior,
        foresight: Foresight,
    ) -> Self {
        Self {
            name,
            target,
            quantile: 0.5,
            outcomes: BTreeMap::new(),
            behavior,
            state: PlanState::default(),
            foresight,
            schedules: Vec::new(),
        }
    }

    /// The same strategy honouring the policy's scheduled capacity.
    pub fn with_schedules(mut self, schedules: Vec<crate::plan::schedule::Schedule>) -> Self {
        self.schedules = schedules;
        self
    }

    /// The same strategy provisioning for the `quantile` of the forecast.
    pub fn with_quantile(mut self, quantile: f64) -> Self {
        self.quantile = quantile;
        self
    }

    /// The replicas this strategy sets at `step`.
    pub fn decide(&mut self, step: Step, shared: &Shared, load: &Load) -> i32 {
        let window = shared.timing.window(step.now);
        let mut observed = step.observed;
        let forecast_need = match &mut self.foresight {
            Foresight::Blind => None,
            Foresight::Perfect => Some(Need {
                window: load.peak(window.from as f64, window.to as f64),
                hold: load.peak(window.from as f64, window.hold_to as f64),
            }),
            Foresight::Engine(feed) => {
                let mut feed = feed.borrow_mut();
                let need = match feed.forecast(step.now) {
                    Ok(f) => (|| {
                        Some(Need {
                            window: f.peak(self.quantile, window.from, window.to)?.value,
                            hold: f.peak(self.quantile, window.from, window.hold_to)?.value,
                        })
                    })()
                    .ok_or("ForecastTooShort"),
                    Err(why) => Err(why.reason()),
                };
                *self
                    .outcomes
                    .entry(need.err().unwrap_or("used"))
                    .or_default() += 1;
                need.ok()
            }
            Foresight::ReplicaHoltWinters {
                history,
                every,
                last,
                predicted,
            } => {
                if step.now.saturating_sub(*last) >= *every as i64 {
                    *last = step.now;
                    let reading = Reading::Total {
                        value: step.observed,
                        target_per_replica: self.target,
                    };
                    let proposal = reading.replicas(step.current, step.ready, Tolerance::default());
                    history.push(f64::from(proposal));
                    let season = (86_400 / *every) as usize;
                    let keep = 3 * season;
                    if history.len() > keep + season {
                        history.drain(..history.len() - keep);
                    }
                    *predicted = HoltWinters::phpa(Some(season))
                        .fit_predict(history, 1)
                        .ok()
                        .and_then(|p| p.first().copied());
                }
                // PHPA scales on the higher of the HPA's evaluation and its prediction, with
                // HPA's own stabilization: it is an HPA on a raised reading, not a plan.
                if let Some(replicas) = *predicted {
                    observed = observed.max(replicas * self.target);
                }
                None
            }
        };
        let metrics = [MetricInput {
            reading: Some(Reading::Total {
                value: observed,
                target_per_replica: self.target,
            }),
            forecast_need,
            per_replica: self.target,
        }];
        let inputs = Inputs {
            now: step.now,
            current: step.current,
            ready: step.ready,
            min: shared.min,
            max: shared.max,
            metrics: &metrics,
            headroom_percent: shared.headroom,
            behavior: &self.behavior,
            fallback: &Fallback::default(),
            tolerance: Tolerance::default(),
            schedules: &self.schedules,
            lead_s: shared.timing.lead,
        };
        decide(&inputs, &mut self.state).replicas
    }

    /// Remembers a change of the replicas this strategy asked for once the simulated target
    /// made it, as the controller does after its write.
    pub fn scaled(&mut self, now: i64, from: i32, to: i32) {
        record_scale(&mut self.state, now, from, to);
    }
}
