//! `prescaler simulate`: replay a trace through every strategy, side by side.
//!
//! Every `sync` seconds each strategy sees the load as a metrics pipeline would report it —
//! the mean over a [`RATE_WINDOW`] ending one [`SCRAPE_INTERVAL`] ago (a `rate()` over
//! freshly scraped counters) — and sets replicas. New pods are Ready `startup` seconds
//! later; removed pods go at once. Load above Ready capacity is unserved.
//!
//! Besides the HPA at the configured target, `hpa-matched` is the HPA with its target
//! lowered (by bisection) until it spends prescaler's pod-hours: the answer to "why not set
//! the HPA's target lower?".

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Serialize;

use super::strategies::{Feed, Foresight, Shared, Step, Strategy, with_period};
use super::trace::Trace;
use super::workload::{Load, Pods, Score, Scorer};
use crate::forecast::{Engine, EngineConfig, Series};
use crate::plan::Timing;
use crate::policy::{MetricType, ResolvedBehavior, ScalingPolicySpec};

/// Seconds between scrapes of the workload's counters.
pub const SCRAPE_INTERVAL: u64 = 15;
/// Seconds of the `rate()` window the metrics are averaged over.
pub const RATE_WINDOW: u64 = 60;
/// `hpa-matched` stops searching once its pod-hours are this close to prescaler's.
pub const MATCH_TOLERANCE: f64 = 0.01;

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
    /// For `hpa-matched` and the frontier's HPA points: the per-replica target (fraction
    /// of a pod's capacity) it ran at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_utilization: Option<f64>,
    /// For the frontier's prescaler points: the quantile it provisioned for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// For strategies with a forecast engine: the share of decisions that used a forecast
    /// (`used`) and, for the others, why not (the ForecastReliable reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_outcomes: Option<BTreeMap<&'static str, f64>>,
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
    /// The per-replica target as a fraction of a pod's capacity.
    pub target_utilization: f64,
    /// First simulated instant.
    pub start: i64,
    /// Per sync step: the true mean load (req/s).
    pub load: Vec<f64>,
    /// The strategies in order: prescaler, hpa, hpa-matched, holt-winters,
    /// perfect-forecast, oracle.
    pub runs: Vec<StrategyRun>,
}

impl SimReport {
    /// The run of the strategy called `name`.
    pub fn run(&self, name: &str) -> Option<&StrategyRun> {
        self.runs.iter().find(|r| r.name == name)
    }
}

/// Capacity per pod such that the trace's peak load needs `pods` pods.
pub fn capacity_for_peak(trace: &Trace, pods: f64) -> f64 {
    let load = Load::from_trace(&trace.series);
    load.rates().iter().copied().fold(0.0, f64::max) / pods
}

/// How many times the trace's 99th-percentile load its peak is (`None` when that is 0):
/// far above 1, one outlier row would set a capacity chosen from the peak.
pub fn peak_over_p99(trace: &Trace) -> Option<f64> {
    let load = Load::from_trace(&trace.series);
    let mut rates = load.rates().to_vec();
    let peak = rates.iter().copied().fold(0.0, f64::max);
    let p99 = crate::forecast::calibrate::quantile(&mut rates, 0.99);
    (p99 > 0.0).then(|| peak / p99)
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
        "the time range holds no sync period: trace runs {start}..{end}, simulated range {from}..{to}; set --from and --to inside the trace, with --sync shorter than the range"
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

/// The simulated range and workload, shared by every strategy's replay.
pub struct Replay<'a> {
    series: &'a Series,
    load: Load,
    /// Seconds between the history samples an engine reads (`spec.forecast.step`).
    metrics_step: u64,
    start: i64,
    end: i64,
    sync: i64,
    startup: u64,
    capacity_per_pod: f64,
    shared: Shared,
}

/// Seconds the reported metrics lag the truth: one scrape, and half the rate window.
pub const METRICS_LAG: u64 = SCRAPE_INTERVAL + RATE_WINDOW / 2;

impl Replay<'_> {
    /// Number of decisions in the range.
    pub fn steps(&self) -> u64 {
        ((self.end - self.start) / self.sync) as u64
    }

    fn instants(&self) -> impl Iterator<Item = i64> + use<> {
        (self.start..self.end - self.sync + 1).step_by(self.sync as usize)
    }

    /// The true mean load of each decision's sync period.
    pub fn truth(&self) -> Vec<f64> {
        let sync = self.sync as f64;
        self.instants()
            .map(|now| self.load.mean(now as f64, now as f64 + sync))
            .collect()
    }

    fn initial(&self, target: f64) -> i32 {
        ((self.load.at(self.start as f64) / target).ceil() as i32)
            .clamp(self.shared.min, self.shared.max)
    }

    /// Runs one strategy over the range; `progress` gets (steps done, steps total).
    pub fn run(&self, strategy: &mut Strategy, progress: &mut dyn FnMut(u64, u64)) -> StrategyRun {
        let mut runs = self.run_all(std::slice::from_mut(strategy), progress);
        runs.remove(0)
    }

    /// Runs strategies side by side over the range (those sharing a forecast feed must run
    /// together); `progress` gets (steps done, steps total).
    pub fn run_all(
        &self,
        strategies: &mut [Strategy],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Vec<StrategyRun> {
        let total = self.steps();
        struct Lane {
            pods: Pods,
            scorer: Scorer,
            capacity: Vec<f64>,
        }
        let mut lanes: Vec<Lane> = strategies
            .iter()
            .map(|s| Lane {
                pods: Pods::ready(self.initial(s.target), self.start),
                scorer: Scorer::default(),
                capacity: Vec::with_capacity(total as usize),
            })
            .collect();
        for (i, now) in self.instants().enumerate() {
            let observed = self.load.mean(
                (now - METRICS_LAG as i64 - RATE_WINDOW as i64 / 2) as f64,
                (now - SCRAPE_INTERVAL as i64) as f64,
            );
            let actual = self.load.mean(now as f64, (now + self.sync) as f64);
            for (strategy, lane) in strategies.iter_mut().zip(&mut lanes) {
                let step = Step {
                    now,
                    current: lane.pods.replicas(),
                    ready: lane.pods.ready_count(now),
                    observed,
                };
                let replicas = strategy.decide(step, &self.shared, &self.load);
                if replicas != step.current {
                    lane.scorer.scaled();
                    lane.pods.scale(replicas, now, self.startup);
                    strategy.scaled(now, step.current, replicas);
                }
                let ready_capacity = f64::from(lane.pods.ready_count(now)) * self.capacity_per_pod;
                lane.scorer.add(
                    self.sync as f64,
                    actual,
                    ready_capacity,
                    lane.pods.replicas(),
                );
                lane.capacity.push(ready_capacity);
            }
            progress(i as u64 + 1, total);
        }
        strategies
            .iter()
            .zip(lanes)
            .map(|(strategy, lane)| {
                let decisions: u64 = strategy.outcomes.values().sum();
                StrategyRun {
                    name: strategy.name,
                    score: lane.scorer.finish(),
                    target_utilization: None,
                    quantile: None,
                    forecast_outcomes: (decisions > 0).then(|| {
                        strategy
                            .outcomes
                            .iter()
                            .map(|(k, v)| (*k, *v as f64 / decisions as f64))
                            .collect()
                    }),
                    capacity: lane.capacity,
                }
            })
            .collect()
    }

    /// Capacity exactly equal to each sync period's load, in whole pods.
    pub fn oracle(&self) -> StrategyRun {
        let mut scorer = Scorer::default();
        let mut capacity = Vec::new();
        let mut last = None;
        for actual in self.truth() {
            let pods = (actual / self.capacity_per_pod).ceil() as i32;
            if last.is_some_and(|l| l != pods) {
                scorer.scaled();
            }
            last = Some(pods);
            let ready = f64::from(pods) * self.capacity_per_pod;
            scorer.add(self.sync as f64, actual, ready, pods);
            capacity.push(ready);
        }
        StrategyRun {
            name: "oracle",
            score: scorer.finish(),
            target_utilization: None,
            quantile: None,
            forecast_outcomes: None,
            capacity,
        }
    }

    /// The HPA with its per-replica target at `utilization` × a pod's capacity.
    pub fn hpa(&self, name: &'static str, utilization: f64) -> StrategyRun {
        let mut hpa = Strategy::new(
            name,
            self.capacity_per_pod * utilization,
            ResolvedBehavior::resolve(None),
            Foresight::Blind,
        );
        self.run(&mut hpa, &mut |_, _| {})
    }

    /// The HPA whose target was searched until its pod-hours are within
    /// [`MATCH_TOLERANCE`] of `pod_hours` (or as close as targets in 0.02–1 get).
    pub fn hpa_matched(&self, pod_hours: f64) -> StrategyRun {
        let run_at = |u: f64| {
            let mut run = self.hpa("hpa-matched", u);
            run.target_utilization = Some(u);
            run
        };
        let off = |run: &StrategyRun| (run.score.pod_hours - pod_hours) / pod_hours.max(1e-9);
        // Pod-hours fall as the target rises.
        let (mut lo, mut hi) = (0.02_f64, 1.0_f64);
        let mut best = run_at(hi);
        for _ in 0..30 {
            if off(&best).abs() <= MATCH_TOLERANCE {
                break;
            }
            let mid = 0.5 * (lo + hi);
            let run = run_at(mid);
            if off(&run) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if off(&run).abs() < off(&best).abs() {
                best = run;
            }
        }
        best
    }
}

/// Sets up the replay of `trace` under `policy`.
pub fn replay<'a>(
    trace: &'a Trace,
    policy: &ScalingPolicySpec,
    config: &SimConfig,
) -> Result<Replay<'a>, SimError> {
    if !policy
        .metrics
        .iter()
        .any(|m| matches!(m.kind, MetricType::RequestRate | MetricType::PromQl))
    {
        return Err(SimError::NoLoadMetric);
    }
    let series = &trace.series;
    let timing = Timing::from_policy(&policy.forecast, config.sync);
    let engine = EngineConfig::for_policy(&policy.forecast, timing);
    let history = engine.history;
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
    Ok(Replay {
        series,
        load: Load::from_trace(series),
        metrics_step: engine.step,
        start,
        end,
        sync,
        startup: config.startup,
        capacity_per_pod: config.capacity_per_pod,
        shared: Shared {
            min: policy.min_replicas,
            max: policy.max_replicas,
            headroom: f64::from(policy.forecast.headroom),
            timing,
        },
    })
}

impl Replay<'_> {
    /// A forecast feed for `policy`'s engine, producing `extra_levels` besides the policy's
    /// quantile.
    pub fn feed(&self, policy: &ScalingPolicySpec, extra_levels: &[f64]) -> Rc<RefCell<Feed>> {
        let mut config = EngineConfig::for_policy(&policy.forecast, self.shared.timing);
        config.extra_levels = extra_levels.to_vec();
        let series = self.load.at_step(self.series, self.metrics_step);
        // The history an engine reads ends with the newest whole step whose samples were
        // scraped: a range query's last point is the rate over the step before it, as the
        // controller's history cache reads it.
        Rc::new(RefCell::new(Feed::new(
            Engine::new(config),
            series,
            SCRAPE_INTERVAL,
        )))
    }

    /// prescaler's own strategy under `policy`, its replicas each carrying `target` req/s,
    /// provisioning the `quantile` of the forecast from `feed`.
    pub fn prescaler(
        &self,
        policy: &ScalingPolicySpec,
        target: f64,
        quantile: f64,
        feed: &Rc<RefCell<Feed>>,
    ) -> Strategy {
        Strategy::new(
            "prescaler",
            target,
            ResolvedBehavior::resolve(policy.behavior.as_ref()),
            Foresight::Engine(Rc::clone(feed)),
        )
        .with_quantile(quantile)
        .with_schedules(crate::plan::schedule::parse_all(&policy.schedules))
    }
}

/// Runs every strategy over the trace. `progress` is called with (steps done, steps total)
/// while prescaler's own strategy runs, which is most of the time.
pub fn run(
    trace: &Trace,
    policy: &ScalingPolicySpec,
    config: &SimConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SimReport, SimError> {
    let replay = replay(trace, policy, config)?;
    let target = config.capacity_per_pod * config.target_utilization;
    let behavior = ResolvedBehavior::resolve(policy.behavior.as_ref());
    let feed = replay.feed(policy, &[]);
    let mut ours = replay.prescaler(policy, target, policy.forecast.quantile, &feed);
    let ours = replay.run(&mut ours, progress);
    let hpa = replay.hpa("hpa", config.target_utilization);
    let matched = replay.hpa_matched(ours.score.pod_hours);
    let mut phpa = Strategy::new(
        "holt-winters",
        target,
        with_period(ResolvedBehavior::resolve(None), 60),
        Foresight::ReplicaHoltWinters {
            history: Vec::new(),
            every: 60,
            last: i64::MIN,
            predicted: None,
        },
    );
    let phpa = replay.run(&mut phpa, &mut |_, _| {});
    let mut perfect = Strategy::new("perfect-forecast", target, behavior, Foresight::Perfect);
    let perfect = replay.run(&mut perfect, &mut |_, _| {});
    let oracle = replay.oracle();
    Ok(SimReport {
        trace: trace.name.clone(),
        step_s: config.sync,
        capacity_per_pod: config.capacity_per_pod,
        startup_s: config.startup,
        target,
        target_utilization: config.target_utilization,
        start: replay.start,
        load: replay.truth(),
        runs: vec![ours, hpa, matched, phpa, perfect, oracle],
    })
}

/// The equal-cost comparison under the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The target `hpa-matched` was tuned to (fraction of a pod's capacity).
    pub matched_target_utilization: f64,
    /// prescaler's under-provisioned minutes ÷ `hpa-matched`'s (`None` when it has none).
    pub under_provisioned_minutes_ratio: Option<f64>,
    /// prescaler's unserved requests ÷ `hpa-matched`'s (`None` when it has none).
    pub unserved_ratio: Option<f64>,
    /// The HPA's configured target.
    pub hpa_target_utilization: f64,
    /// prescaler's pod-hours ÷ the HPA's at its configured target.
    pub pod_hours_vs_hpa: f64,
}

impl Verdict {
    /// The verdict of a report, when it has prescaler, hpa and hpa-matched runs.
    pub fn of(report: &SimReport) -> Option<Self> {
        let ours = &report.run("prescaler")?.score;
        let hpa = &report.run("hpa")?.score;
        let matched = report.run("hpa-matched")?;
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        Some(Self {
            matched_target_utilization: matched.target_utilization?,
            under_provisioned_minutes_ratio: ratio(
                ours.under_provisioned_minutes,
                matched.score.under_provisioned_minutes,
            ),
            unserved_ratio: ratio(ours.unserved_fraction, matched.score.unserved_fraction),
            hpa_target_utilization: report.target_utilization,
            pod_hours_vs_hpa: ours.pod_hours / hpa.pod_hours.max(1e-9),
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = |r: Option<f64>| {
            r.map_or_else(
                || "— (it has none) —".to_string(),
                |r| format!("{:.0} %", 100.0 * r),
            )
        };
        write!(
            f,
            "at equal cost (HPA at target {:.2}): prescaler has {} of its under-provisioned minutes and {} of its unserved requests; vs HPA at {:.2}: {:.2}× the pod-hours",
            self.matched_target_utilization,
            share(self.under_provisioned_minutes_ratio),
            share(self.unserved_ratio),
            self.hpa_target_utilization,
            self.pod_hours_vs_hpa
        )
    }
}
