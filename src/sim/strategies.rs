//! The strategies `simulate` compares. All but the oracle go through [`crate::plan::decide`]:
//! they differ only in the forecast they feed it and the behavior they use.

use crate::forecast::models::HoltWinters;
use crate::forecast::{Engine, Forecast, Forecaster, Series};
use crate::plan::{Inputs, MetricInput, PlanState, Reading, Tolerance, decide};
use crate::policy::{Fallback, RatePolicy, ResolvedBehavior};

use super::workload::Load;

/// What every strategy shares: the policy's bounds and the per-replica target.
#[derive(Clone, Debug)]
pub struct Shared {
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
    /// Requests per second one replica should carry.
    pub target: f64,
    /// Headroom percent.
    pub headroom: f64,
    /// Lead time, seconds.
    pub lead: u64,
    /// Planning horizon after the lead, seconds.
    pub horizon: u64,
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
    /// The forecasting engine, refreshed every `refresh` seconds from the trace's history.
    Engine {
        /// The engine.
        engine: Box<Engine>,
        /// Its quantile.
        quantile: f64,
        /// Seconds between refreshes.
        refresh: u64,
        /// Seconds of history fed.
        history: u64,
        /// Seconds the metrics lag the truth.
        lag: u64,
        /// The current forecast and when it was made.
        current: Option<(i64, Forecast)>,
    },
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

/// A strategy: its decision memory, behavior and forecast source.
pub struct Strategy {
    /// Its name in the report.
    pub name: &'static str,
    behavior: ResolvedBehavior,
    state: PlanState,
    foresight: Foresight,
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
    /// A strategy.
    pub fn new(name: &'static str, behavior: ResolvedBehavior, foresight: Foresight) -> Self {
        Self {
            name,
            behavior,
            state: PlanState::default(),
            foresight,
        }
    }

    /// The replicas this strategy sets at `step`.
    pub fn decide(&mut self, step: Step, shared: &Shared, load: &Load, trace: &Series) -> i32 {
        let window_from = step.now + shared.lead as i64;
        let window_to = window_from + shared.horizon as i64;
        let reading = Some(Reading::Total {
            value: step.observed,
            target_per_replica: shared.target,
        });
        let forecast_peak = match &mut self.foresight {
            Foresight::Blind => None,
            Foresight::Perfect => Some(load.peak(window_from as f64, window_to as f64)),
            Foresight::Engine {
                engine,
                quantile,
                refresh,
                history,
                lag,
                current,
            } => {
                let stale = current
                    .as_ref()
                    .is_none_or(|(made, _)| step.now - made >= *refresh as i64);
                if stale {
                    let until = step.now - *lag as i64;
                    let past = load.history(trace, until - *history as i64, until);
                    *current = engine.forecast(&past).ok().map(|f| (step.now, f));
                }
                current
                    .as_ref()
                    .and_then(|(_, f)| f.peak(*quantile, window_from, window_to))
                    .map(|p| p.value)
            }
            Foresight::ReplicaHoltWinters {
                history,
                every,
                last,
                predicted,
            } => {
                if step.now.saturating_sub(*last) >= *every as i64 {
                    *last = step.now;
                    let proposal = reading.map_or(step.current, |r| {
                        r.replicas(step.current, step.ready, Tolerance::default())
                    });
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
                predicted.map(|replicas| replicas * shared.target)
            }
        };
        let metrics = [MetricInput {
            reading,
            forecast_peak,
            per_replica: shared.target,
        }];
        let headroom = if matches!(self.foresight, Foresight::ReplicaHoltWinters { .. }) {
            0.0
        } else {
            shared.headroom
        };
        let inputs = Inputs {
            now: step.now,
            current: step.current,
            ready: step.ready,
            min: shared.min,
            max: shared.max,
            metrics: &metrics,
            headroom_percent: headroom,
            behavior: &self.behavior,
            fallback: &Fallback::default(),
            tolerance: Tolerance::default(),
        };
        decide(&inputs, &mut self.state).replicas
    }
}
