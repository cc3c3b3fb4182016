//! `prescaler simulate`: replay a trace through every strategy, side by side.
//!
//! Every `sync` seconds each strategy sees the load as a metrics pipeline would report it —
//! the mean over a [`RATE_WINDOW`] ending one [`SCRAPE_INTERVAL`] ago (a `rate()` over
//! freshly scraped counters) — and sets replicas. New pods are Ready `startup` seconds
//! later; removed pods go at once. Load above Ready capacity is unserved.

use serde::Serialize;

use super::strategies::{Foresight, Shared, Step, Strategy, with_period};
use super::trace::Trace;
use super::workload::{Load, Pods, Score, Scorer};
use crate::forecast::{Engine, EngineConfig};
use crate::policy::{MetricType, ResolvedBehavior, ScalingPolicySpec};

/// Seconds between scrapes of the workload's counters.
pub const SCRAPE_INTERVAL: u64 = 15;
/// Seconds of the `rate()` window the metrics are averaged over.
pub const RATE_WINDOW: u64 = 60;
/// How often the forecast is refreshed — the controller's cadence too.
pub const FORECAST_REFRESH: u64 = 15 * 60;

/// How to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Requests per second one Ready pod serves.
    pub capacity_per_pod: f64,
    /// Seconds from requesting a pod to it being Ready.
    pub startup: u64,
    /// Seconds between decisions.
    pub sync: u64,
    /// Per-replica target as a fraction of capacity.
    pub target_utilization: f64,
    /// Simulate from this time (Unix seconds); default: once the policy's history (or half
    /// the trace, if shorter) is available.
    pub from: Option<i64>,
    /// Simulate until this time; default: the trace's end.
    pub to: Option<i64>,
}

/// One strategy's run.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyRun {
    /// Its name.
    pub name: &'static str,
    /// Its scores.
    #[serde(flatten)]
    pub score: Score,
    /// Per sync step: Ready capacity (req/s).
    #[serde(skip)]
    pub capacity: Vec<f64>,
}

/// A whole simulation.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Trace name.
    pub trace: String,
    /// Seconds per step.
    pub step_s: u64,
    /// Requests per second one pod serves.
    pub capacity_per_pod: f64,
    /// Startup seconds.
    pub startup_s: u64,
    /// Per-replica target, req/s.
    pub target: f64,
    /// First simulated instant.
    pub start: i64,
    /// Per sync step: the true mean load (req/s).
    pub load: Vec<f64>,
    /// The strategies in order: prescaler, hpa, holt-winters, perfect-forecast, oracle.
    pub runs: Vec<StrategyRun>,
}

/// Capacity per pod such that the trace's peak load needs `pods` pods.
pub fn capacity_for_peak(trace: &Trace, pods: f64) -> f64 {
    let load = Load::from_trace(&trace.series);
    load.rates().iter().copied().fold(0.0, f64::max) / pods
}

/// Capacity per pod such that the trace's 95th-percentile load needs `pods` pods.
pub fn capacity_for_p95(trace: &Trace, pods: f64) -> f64 {
    let load = Load::from_trace(&trace.series);
    let mut rates = load.rates().to_vec();
    crate::forecast::calibrate::quantile(&mut rates, 0.95) / pods
}

/// Why a simulation cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The policy has no metric the trace can stand for.
    #[error(
        "the policy has no RequestRate or PromQL metric for the trace to replay; add one under spec.metrics"
    )]
    NoLoadMetric,
    /// Nothing to simulate.
    #[error(
        "the time range holds no sync period: trace runs {start}..{end}, simulated range {from}..{to}"
    )]
    EmptyRange {
        /// Trace start.
        start: i64,
        /// Trace end.
        end: i64,
        /// Requested start.
        from: i64,
        /// Requested end.
        to: i64,
    },
}

/// Runs every strategy over the trace. `progress` is called with (steps done, steps total).
pub fn run(
    trace: &Trace,
    policy: &ScalingPolicySpec,
    config: &SimConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SimReport, SimError> {
    if !policy
        .metrics
        .iter()
        .any(|m| matches!(m.kind, MetricType::RequestRate | MetricType::PromQl))
    {
        return Err(SimError::NoLoadMetric);
    }
    let series = &trace.series;
    let load = Load::from_trace(series);
    let mut engine_config = EngineConfig::from_policy(&policy.forecast);
    let lead = engine_config.window_start;
    let horizon = engine_config.horizon - lead;
    engine_config.horizon += FORECAST_REFRESH;
    let history = engine_config.history;

    let warmup = history.min(series.span_seconds() / 2) as i64;
    let start = config
        .from
        .unwrap_or(series.start + warmup)
        .max(series.start);
    let end = config.to.unwrap_or(series.end()).min(series.end());
    let sync = config.sync.max(1) as i64;
    if end - start < sync {
        return Err(SimError::EmptyRange {
            start: series.start,
            end: series.end(),
            from: start,
            to: end,
        });
    }
    let shared = Shared {
        min: policy.min_replicas,
        max: policy.max_replicas,
        target: config.capacity_per_pod * config.target_utilization,
        headroom: f64::from(policy.forecast.headroom),
        lead,
        horizon,
    };
    let behavior = ResolvedBehavior::resolve(policy.behavior.as_ref());
    let lag = SCRAPE_INTERVAL + RATE_WINDOW / 2;
    let mut strategies = [
        Strategy::new(
            "prescaler",
            behavior.clone(),
            Foresight::Engine {
                engine: Box::new(Engine::new(engine_config)),
                quantile: policy.forecast.quantile,
                refresh: FORECAST_REFRESH,
                history,
                lag,
                current: None,
            },
        ),
        Strategy::new("hpa", ResolvedBehavior::resolve(None), Foresight::Blind),
        Strategy::new(
            "holt-winters",
            with_period(ResolvedBehavior::resolve(None), 60),
            Foresight::ReplicaHoltWinters {
                history: Vec::new(),
                every: 60,
                last: i64::MIN,
                predicted: None,
            },
        ),
        Strategy::new("perfect-forecast", behavior, Foresight::Perfect),
    ];

    let initial =
        ((load.at(start as f64) / shared.target).ceil() as i32).clamp(shared.min, shared.max);
    let mut pods: Vec<Pods> = strategies
        .iter()
        .map(|_| Pods::ready(initial, start))
        .collect();
    let mut scorers: Vec<Scorer> = (0..=strategies.len()).map(|_| Scorer::default()).collect();
    let mut capacity: Vec<Vec<f64>> = vec![Vec::new(); strategies.len() + 1];
    let mut truth = Vec::new();
    let mut oracle_last = 0;
    let total = ((end - start) / sync) as u64;

    for (i, now) in (start..end - sync + 1).step_by(sync as usize).enumerate() {
        let observed = load.mean(
            (now - lag as i64 - RATE_WINDOW as i64 / 2) as f64,
            (now - SCRAPE_INTERVAL as i64) as f64,
        );
        let actual = load.mean(now as f64, (now + sync) as f64);
        truth.push(actual);
        for (k, strategy) in strategies.iter_mut().enumerate() {
            let step = Step {
                now,
                current: pods[k].replicas(),
                ready: pods[k].ready_count(now),
                observed,
            };
            let replicas = strategy.decide(step, &shared, &load, series);
            if replicas != step.current {
                scorers[k].scaled();
                pods[k].scale(replicas, now, config.startup);
            }
            let ready_capacity = f64::from(pods[k].ready_count(now)) * config.capacity_per_pod;
            scorers[k].add(sync as f64, actual, ready_capacity, pods[k].replicas());
            capacity[k].push(ready_capacity);
        }
        let oracle = (actual / config.capacity_per_pod).ceil() as i32;
        if oracle != oracle_last && i > 0 {
            scorers[strategies.len()].scaled();
        }
        oracle_last = oracle;
        let oracle_capacity = f64::from(oracle) * config.capacity_per_pod;
        scorers[strategies.len()].add(sync as f64, actual, oracle_capacity, oracle);
        capacity[strategies.len()].push(oracle_capacity);
        progress(i as u64 + 1, total);
    }

    let names = strategies
        .iter()
        .map(|s| s.name)
        .chain(std::iter::once("oracle"));
    let runs = names
        .zip(scorers)
        .zip(capacity)
        .map(|((name, scorer), capacity)| StrategyRun {
            name,
            score: scorer.finish(),
            capacity,
        })
        .collect();
    Ok(SimReport {
        trace: trace.name.clone(),
        step_s: config.sync,
        capacity_per_pod: config.capacity_per_pod,
        startup_s: config.startup,
        target: shared.target,
        start,
        load: truth,
        runs,
    })
}
