//! From a policy's metrics to the decision's inputs: read each metric's history, turn its
//! latest value into an HPA reading, and forecast its peak over the planning window.

use crate::forecast::{Engine, EngineConfig, Forecast, Series, Unreliable};

use super::state::PolicyStates;
use crate::metrics::{HistoryCache, MetricError, MetricSource, Pods, SeriesKey, queries};
use crate::plan::{MetricInput, Reading, Timing};
use crate::policy::{
    ConditionReason, MetricSpec, MetricStatus, MetricType, ScalingPolicySpec, TargetRef,
};

use super::report::time;
use super::target::ScaleView;

/// Seconds of history fetched for the CPU requests of a target's pods.
const REQUESTS_WINDOW: u64 = 600;

/// A sample older than this many steps (and at least [`STALE_MIN_S`]) counts as missing.
const STALE_STEPS: u64 = 3;
/// Lower bound of the staleness limit, seconds.
const STALE_MIN_S: u64 = 180;

/// Why a metric could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// CamelCase reason.
    pub reason: &'static str,
    /// What went wrong and how to fix it.
    pub message: String,
    /// True when Prometheus itself could not be reached.
    pub unavailable: bool,
}

/// One metric as observed this cycle, for status and the operator's metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Latest value, in the metric's workload-wide unit.
    pub value: Option<f64>,
    /// The point forecast at now + leadTime.
    pub forecast_at_lead: Option<f64>,
    /// The provisioned quantile at now + leadTime.
    pub upper_at_lead: Option<f64>,
    /// The provisioned-quantile peak over [now + leadTime, now + leadTime + horizon].
    pub peak: Option<f64>,
    /// Recent backtest MASE of the model.
    pub error: Option<f64>,
    /// The model's backtest loss over the plan's window ÷ the last value's.
    pub loss_ratio: Option<f64>,
    /// The last hour of history (at least leadTime + horizon), as (time, value).
    pub recent: Vec<(i64, f64)>,
    /// The forecast up to now + leadTime + horizon: (time, point, provisioned quantile).
    /// Also a forecast the plan did not use (`ForecastReliable=False`): then
    /// `peak` and `forecast_at_lead` stay empty.
    pub path: Vec<(i64, f64, Option<f64>)>,
}

/// Everything the decision needs from the metrics, plus what went wrong.
#[derive(Debug, Default)]
pub struct Observation {
    /// Inputs to `plan::decide`, in spec order.
    pub inputs: Vec<MetricInput>,
    /// Status per metric, in spec order.
    pub statuses: Vec<MetricStatus>,
    /// Numbers per metric, in spec order.
    pub observed: Vec<Observed>,
    /// The first metric that could not be read.
    pub metrics_problem: Option<Problem>,
    /// Why a forecast was not used (first such metric).
    pub forecast_problem: Option<Problem>,
    /// Each read from Prometheus this cycle: whether it worked and how long it took.
    pub reads: Vec<(bool, std::time::Duration)>,
}

fn metric_problem(metric: &str, error: &MetricError) -> Problem {
    Problem {
        reason: error.reason(),
        message: format!("metric {metric}: {error}"),
        unavailable: error.is_unavailable(),
    }
}

fn forecast_problem(metric: &str, why: &Unreliable) -> Problem {
    Problem {
        reason: why.reason(),
        message: format!("metric {metric}: {why}; scaling reactively"),
        unavailable: false,
    }
}

/// The last value of a series and its time.
fn latest(series: &Series) -> Option<(i64, f64)> {
    let last = series.values.len().checked_sub(1)?;
    Some((
        series.start + (last as u64 * series.step) as i64,
        series.values[last],
    ))
}

/// Reads one policy's metrics and forecasts them.
#[allow(clippy::too_many_arguments)]
pub async fn observe<S: MetricSource>(
    cache: &HistoryCache<S>,
    states: &PolicyStates,
    namespace: &str,
    policy: &str,
    spec: &ScalingPolicySpec,
    scale: &ScaleView,
    timing: Timing,
    now: i64,
    shown_before: &[MetricStatus],
) -> Observation {
    let mut out = Observation::default();
    let forecast = &spec.forecast;
    // Every default comes from the one place the simulator takes it from too.
    let config = EngineConfig::for_policy(forecast, timing);
    let step = config.step;
    let history = config.history;
    let (lead, horizon) = (timing.lead as i64, timing.horizon as i64);
    let stale_after = (STALE_STEPS * step).max(STALE_MIN_S) as i64;
    for metric in &spec.metrics {
        let name = metric.effective_name().to_string();
        let key = SeriesKey {
            namespace: namespace.to_string(),
            policy: policy.to_string(),
            metric: name.clone(),
        };
        let mut status = MetricStatus {
            name: name.clone(),
            unit: super::targets::unit(metric.kind).map(str::to_string),
            target: super::targets::target(metric),
            ..MetricStatus::default()
        };
        let mut observed = Observed::default();
        let mut input = MetricInput {
            reading: None,
            forecast_need: None,
            per_replica: 0.0,
        };
        let read = read_metric(
            cache,
            &key,
            metric,
            namespace,
            (&spec.target_ref, scale),
            (history, step, now),
            &mut out.reads,
        )
        .await;
        match read {
            Err(problem) => {
                out.metrics_problem.get_or_insert(problem);
            }
            Ok((series, reading, per_replica)) => {
                let (at, value) = latest(&series).unwrap_or((0, f64::NAN));
                if now - at > stale_after {
                    out.metrics_problem.get_or_insert(Problem {
                        reason: ConditionReason::StaleData.as_str(),
                        message: format!(
                            "metric {name}: the latest sample is {}s old (more than {stale_after}s); check that Prometheus still scrapes the workload",
                            now - at
                        ),
                        unavailable: false,
                    });
                } else {
                    status.current = Some(value);
                    status.average = Some(super::targets::average(
                        metric.kind,
                        &reading,
                        scale.replicas,
                    ));
                    observed.value = Some(value);
                    input.reading = Some(reading);
                    input.per_replica = per_replica;
                }
                let shown = (lead + horizon).max(3_600);
                observed.recent = (0..series.values.len())
                    .map(|i| {
                        (
                            series.start + (i as u64 * series.step) as i64,
                            series.values[i],
                        )
                    })
                    .filter(|(t, _)| now - t <= shown)
                    .collect();
                // The choice the status keeps, so that a new leader need not choose anew.
                let before = shown_before.iter().find(|m| m.name == name);
                let chosen = before.and_then(|m| m.model.as_deref()?.parse().ok());
                let kept = before.and_then(|m| m.choice.as_deref());
                let mut engine =
                    states.take_engine(namespace, policy, &name, &config, (chosen, kept));
                // Fitting and choosing take milliseconds to seconds: off the async workers.
                // Without a new sample the last forecast is reused, in place.
                let (mut engine, result) = if engine.is_current(&series) {
                    let result = engine.forecast(&series);
                    (engine, result)
                } else {
                    tokio::task::spawn_blocking(move || {
                        let result = engine.forecast(&series);
                        (engine, result)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        (
                            Engine::new(config.clone()),
                            Err(Unreliable::ModelFailed(format!(
                                "forecast task failed: {e}"
                            ))),
                        )
                    })
                };
                status.choice = engine.choice_text();
                if let Some(selection) = engine.selection() {
                    status.model = Some(selection.model.name().to_string());
                    status.backtest_error = Some(round3(selection.mase));
                    observed.error = Some(selection.mase);
                    observed.loss_ratio = engine.skill();
                }
                match result {
                    Ok(f) => use_forecast(
                        &f,
                        forecast.quantile,
                        (now + lead, now + lead + horizon),
                        timing.window(now),
                        input.reading.is_some(),
                        &mut input,
                        &mut status,
                        &mut observed,
                    ),
                    Err(why) => {
                        // What the model said, for `explain`; the plan does not use it.
                        if let Some(f) = engine.gated() {
                            observed.path = path(f, forecast.quantile, now + lead + horizon);
                        }
                        out.forecast_problem
                            .get_or_insert(forecast_problem(&name, &why));
                    }
                }
                states.put_engine(namespace, policy, &name, engine);
            }
        }
        out.inputs.push(input);
        out.statuses.push(status);
        out.observed.push(observed);
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The forecast up to `to`: (time, point, the provisioned quantile).
fn path(f: &Forecast, quantile: f64, to: i64) -> Vec<(i64, f64, Option<f64>)> {
    let upper = f.quantile(quantile);
    (0..f.point.len())
        .take_while(|&i| f.time_at(i) <= to)
        .map(|i| {
            (
                f.time_at(i),
                f.point[i],
                upper.and_then(|q| q.get(i)).copied(),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn use_forecast(
    f: &Forecast,
    quantile: f64,
    (from, to): (i64, i64),
    window: crate::plan::Window,
    fresh: bool,
    input: &mut MetricInput,
    status: &mut MetricStatus,
    observed: &mut Observed,
) {
    if let Some(i) = (0..f.point.len()).find(|&i| f.time_at(i) + f.step as i64 > from) {
        observed.forecast_at_lead = Some(f.point[i]);
        observed.upper_at_lead = f.quantile(quantile).and_then(|q| q.get(i)).copied();
    }
    observed.path = path(f, quantile, to);
    if let Some(peak) = f.peak(quantile, from, to) {
        status.expected_peak = Some(round3(peak.value));
        status.expected_peak_time = Some(time(peak.time));
        observed.peak = Some(peak.value);
    }
    // A forecast from stale data is reported but not acted on.
    if fresh
        && let (Some(near), Some(hold)) = (
            f.peak(quantile, window.from, window.to),
            f.peak(quantile, window.from, window.hold_to),
        )
    {
        input.forecast_need = Some(crate::plan::Need {
            window: near.value,
            hold: hold.value,
        });
    }
}

/// The metric's history, its current HPA reading and how much of it one replica carries.
async fn read_metric<S: MetricSource>(
    cache: &HistoryCache<S>,
    key: &SeriesKey,
    metric: &MetricSpec,
    namespace: &str,
    (target, scale): (&TargetRef, &ScaleView),
    (history, step, now): (u64, u64, i64),
    reads: &mut Vec<(bool, std::time::Duration)>,
) -> Result<(Series, Reading, f64), Problem> {
    let name = key.metric.as_str();
    let pods = Pods {
        kind: &target.kind,
        name: &target.name,
        selector: &scale.selector,
    };
    let q = queries(metric, namespace, &pods).map_err(|e| metric_problem(name, &e))?;
    let started = std::time::Instant::now();
    let series = cache.history(key, &q.value, history, step, now).await;
    reads.push((series.is_ok(), started.elapsed()));
    let series = series.map_err(|e| metric_problem(name, &q.explain(e)))?;
    let value = latest(&series).map_or(0.0, |(_, v)| v);
    let pods = scale.observed.max(0);
    let per_pod = |target: f64| -> Reading {
        if pods > 0 {
            Reading::PerPod {
                average: value / f64::from(pods),
                target,
            }
        } else {
            Reading::Total {
                value,
                target_per_replica: target,
            }
        }
    };
    let quantity = |q: &crate::policy::Quantity, field: &str| {
        q.value().map_err(|e| Problem {
            reason: ConditionReason::InvalidSpec.as_str(),
            message: format!("{field}: {e}"),
            unavailable: false,
        })
    };
    let (reading, per_replica) = match metric.kind {
        MetricType::RequestRate | MetricType::PromQl => {
            let target = metric
                .request_rate
                .as_ref()
                .or(metric.promql.as_ref())
                .map_or(0.0, |q| q.target_per_replica);
            (
                Reading::Total {
                    value,
                    target_per_replica: target,
                },
                target,
            )
        }
        MetricType::Cpu => {
            let cpu = metric.cpu.as_ref();
            if let Some(percent) = cpu.and_then(|c| c.target_utilization) {
                let requests_query = q.requests.as_deref().unwrap_or_default();
                let requests_key = SeriesKey {
                    metric: format!("{}/requests", key.metric),
                    ..key.clone()
                };
                let started = std::time::Instant::now();
                let requests = cache
                    .history(&requests_key, requests_query, REQUESTS_WINDOW, step, now)
                    .await;
                reads.push((requests.is_ok(), started.elapsed()));
                let requests = requests.map_err(|e| metric_problem(name, &q.explain(e)))?;
                let requests = latest(&requests).map_or(0.0, |(_, v)| v);
                let per_replica = if pods > 0 {
                    f64::from(percent) / 100.0 * requests / f64::from(pods)
                } else {
                    0.0
                };
                (
                    Reading::Utilization {
                        usage: value,
                        requests,
                        target_percent: f64::from(percent),
                    },
                    per_replica,
                )
            } else {
                let target = match cpu.and_then(|c| c.target_per_replica.as_ref()) {
                    Some(q) => quantity(q, "spec.metrics[].cpu.targetPerReplica")?,
                    None => 0.0,
                };
                (per_pod(target), target)
            }
        }
        MetricType::Memory => {
            let target = match metric.memory.as_ref() {
                Some(m) => quantity(
                    &m.target_average_value,
                    "spec.metrics[].memory.targetAverageValue",
                )?,
                None => 0.0,
            };
            (per_pod(target), target)
        }
    };
    Ok((series, reading, per_replica))
}
