//! `decide`: clamp(max(reactive, predictive), min, max), then stabilization and rate limits.

use std::fmt;

use super::behavior::{self, LimitReason, RateLimits, Recommendation, ScaleEvent};
use super::reactive::{Reading, Tolerance, reactive};
use crate::policy::{Fallback, FallbackType, ResolvedBehavior};

/// Most recommendations kept; the window bounds make fewer necessary in practice.
pub const MAX_RECOMMENDATIONS: usize = 256;

/// One metric as the decision sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricInput {
    /// The current reading; `None` when it could not be read.
    pub reading: Option<Reading>,
    /// The forecast's provisioned quantile peak over the planning window, in the metric's
    /// workload-wide unit; `None` when there is no reliable forecast.
    pub forecast_peak: Option<f64>,
    /// How much of the metric one replica should carry, in the same unit.
    pub per_replica: f64,
}

/// Everything one decision depends on besides its memory.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// Unix seconds.
    pub now: i64,
    /// The target's replicas (`/scale` `spec.replicas`).
    pub current: i32,
    /// Its ready pods.
    pub ready: i32,
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
    /// The metrics, in spec order.
    pub metrics: &'a [MetricInput],
    /// Extra capacity on top of the forecast, percent.
    pub headroom_percent: f64,
    /// Behavior with defaults applied.
    pub behavior: &'a ResolvedBehavior,
    /// What to do without metrics.
    pub fallback: &'a Fallback,
    /// HPA tolerance.
    pub tolerance: Tolerance,
}

/// The decision's memory: what stabilization and rate limits look back on. The controller
/// keeps it in status; the simulator in memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanState {
    /// Past raw recommendations.
    pub recommendations: Vec<Recommendation>,
    /// Recent scale-ups.
    pub up_events: Vec<ScaleEvent>,
    /// Recent scale-downs.
    pub down_events: Vec<ScaleEvent>,
}

/// Why the replica count is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The forecast asked for more than current load: capacity ahead of the traffic.
    ForecastAhead,
    /// Current load asked for at least as much as the forecast.
    CurrentLoad,
    /// No reliable forecast; the HPA algorithm alone decided.
    ReactiveOnly,
    /// Metrics unavailable: replicas held (`fallback: HoldCurrent`, or already above the floor).
    MetricsUnavailableHold,
    /// Metrics unavailable: raised to the fallback floor.
    MetricsUnavailableFloor,
}

impl Reason {
    /// The CamelCase word used in status, Events and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ForecastAhead => "ForecastAhead",
            Reason::CurrentLoad => "CurrentLoad",
            Reason::ReactiveOnly => "ReactiveOnly",
            Reason::MetricsUnavailableHold => "MetricsUnavailableHold",
            Reason::MetricsUnavailableFloor => "MetricsUnavailableFloor",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What cut the recommendation, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// maxReplicas.
    MaxReplicas,
    /// minReplicas.
    MinReplicas,
    /// A scale-up policy.
    ScaleUpPolicy,
    /// A scale-down policy.
    ScaleDownPolicy,
    /// A stabilization window held the count.
    Stabilization,
}

/// The outcome of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleDecision {
    /// Replicas to set.
    pub replicas: i32,
    /// The HPA algorithm's proposal, if metrics were readable.
    pub reactive: Option<i32>,
    /// The forecast's proposal, if a forecast was reliable.
    pub predictive: Option<i32>,
    /// What cut the recommendation.
    pub limited_by: Option<Limit>,
    /// Why.
    pub reason: Reason,
}

/// The forecast's proposal: per metric, ceil(peak × (1 + headroom) ÷ per-replica target);
/// the highest over metrics. `None` when no metric has a forecast.
pub fn predictive(metrics: &[MetricInput], headroom_percent: f64) -> Option<i32> {
    metrics
        .iter()
        .filter_map(|m| {
            let peak = m.forecast_peak?;
            if m.per_replica <= 0.0 || m.per_replica.is_nan() || !peak.is_finite() {
                return None;
            }
            let needed =
                (peak.max(0.0) * (1.0 + headroom_percent.max(0.0) / 100.0) / m.per_replica).ceil();
            Some(needed.min(f64::from(i32::MAX)) as i32)
        })
        .max()
}

/// Decides the replica count and updates the memory.
pub fn decide(inputs: &Inputs<'_>, state: &mut PlanState) -> ScaleDecision {
    let readings: Vec<Option<Reading>> = inputs.metrics.iter().map(|m| m.reading).collect();
    let reactive = reactive(&readings, inputs.current, inputs.ready, inputs.tolerance);
    let Some(reactive_replicas) = reactive.replicas() else {
        return fallback(inputs);
    };
    let predicted = predictive(inputs.metrics, inputs.headroom_percent);
    let reason = match predicted {
        None => Reason::ReactiveOnly,
        Some(p) if p > reactive_replicas => Reason::ForecastAhead,
        Some(_) => Reason::CurrentLoad,
    };
    let raw = predicted.map_or(reactive_replicas, |p| p.max(reactive_replicas));
    let (clamped, mut limited_by) = if raw > inputs.max {
        (inputs.max, Some(Limit::MaxReplicas))
    } else if raw < inputs.min {
        (inputs.min, Some(Limit::MinReplicas))
    } else {
        (raw, None)
    };
    let now = inputs.now;
    let b = inputs.behavior;
    let stabilized = behavior::stabilize(
        &mut state.recommendations,
        now,
        inputs.current,
        clamped,
        b.scale_up.stabilization_window_seconds,
        b.scale_down.stabilization_window_seconds,
    );
    if stabilized != clamped {
        limited_by = Some(Limit::Stabilization);
    }
    let limits = RateLimits {
        up_events: &state.up_events,
        down_events: &state.down_events,
        scale_up: &b.scale_up,
        scale_down: &b.scale_down,
        min: inputs.min,
        max: inputs.max,
    };
    let (replicas, why) = behavior::rate_limit(inputs.current, stabilized, &limits, now);
    limited_by = match why {
        LimitReason::DesiredWithinRange => limited_by,
        LimitReason::ScaleUpLimit => Some(Limit::ScaleUpPolicy),
        LimitReason::ScaleDownLimit => Some(Limit::ScaleDownPolicy),
        LimitReason::TooManyReplicas => Some(Limit::MaxReplicas),
        LimitReason::TooFewReplicas => Some(Limit::MinReplicas),
    };
    record(state, inputs, replicas);
    ScaleDecision {
        replicas,
        reactive: Some(reactive_replicas),
        predictive: predicted,
        limited_by,
        reason,
    }
}

fn fallback(inputs: &Inputs<'_>) -> ScaleDecision {
    let floor = match inputs.fallback.kind {
        FallbackType::Replicas => inputs
            .fallback
            .replicas
            .unwrap_or(inputs.current)
            .min(inputs.max),
        FallbackType::HoldCurrent => inputs.current,
    };
    let (replicas, reason) = if floor > inputs.current {
        (floor, Reason::MetricsUnavailableFloor)
    } else {
        (inputs.current, Reason::MetricsUnavailableHold)
    };
    ScaleDecision {
        replicas,
        reactive: None,
        predictive: None,
        limited_by: None,
        reason,
    }
}

fn record(state: &mut PlanState, inputs: &Inputs<'_>, replicas: i32) {
    let now = inputs.now;
    let change = replicas - inputs.current;
    if change > 0 {
        state.up_events.push(ScaleEvent { time: now, change });
    } else if change < 0 {
        state.down_events.push(ScaleEvent {
            time: now,
            change: -change,
        });
    }
    behavior::prune_events(&mut state.up_events, now, &inputs.behavior.scale_up);
    behavior::prune_events(&mut state.down_events, now, &inputs.behavior.scale_down);
    let window = i64::from(inputs.behavior.longest_window_seconds());
    state.recommendations.retain(|r| now - r.time <= window);
    let excess = state
        .recommendations
        .len()
        .saturating_sub(MAX_RECOMMENDATIONS);
    state.recommendations.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(
        metrics: &'a [MetricInput],
        behavior: &'a ResolvedBehavior,
        fallback: &'a Fallback,
        current: i32,
    ) -> Inputs<'a> {
        Inputs {
            now: 1_000,
            current,
            ready: current,
            min: 1,
            max: 50,
            metrics,
            headroom_percent: 0.0,
            behavior,
            fallback,
            tolerance: Tolerance::default(),
        }
    }

    fn metric(load: Option<f64>, peak: Option<f64>) -> MetricInput {
        MetricInput {
            reading: load.map(|value| Reading::Total {
                value,
                target_per_replica: 10.0,
            }),
            forecast_peak: peak,
            per_replica: 10.0,
        }
    }

    #[test]
    fn the_forecast_never_undercuts_the_reactive_answer() {
        let behavior = ResolvedBehavior::resolve(None);
        let fallback = Fallback::default();
        for current in [1, 3, 10, 40] {
            for load in [0.0, 5.0, 95.0, 200.0, 1_000.0] {
                for peak in [0.0, 10.0, 150.0, 190.0, 2_000.0] {
                    let with = [metric(Some(load), Some(peak))];
                    let without = [metric(Some(load), None)];
                    let d = decide(
                        &inputs(&with, &behavior, &fallback, current),
                        &mut PlanState::default(),
                    );
                    let hpa = decide(
                        &inputs(&without, &behavior, &fallback, current),
                        &mut PlanState::default(),
                    );
                    assert!(
                        d.replicas >= hpa.replicas,
                        "current {current}, load {load}, peak {peak}: {d:?} below the HPA's {hpa:?}"
                    );
                    assert_eq!(d.reactive, hpa.reactive);
                    if d.predictive.is_some_and(|p| p <= hpa.reactive.unwrap_or(0)) {
                        assert_eq!(
                            d.replicas, hpa.replicas,
                            "a low forecast changes nothing: {d:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_forecast_peak_raises_replicas_and_says_so() {
        let behavior = ResolvedBehavior::resolve(None);
        let fallback = Fallback::default();
        let metrics = [metric(Some(100.0), Some(130.0))];
        let d = decide(
            &inputs(&metrics, &behavior, &fallback, 10),
            &mut PlanState::default(),
        );
        assert_eq!(
            (d.replicas, d.reactive, d.predictive, d.reason),
            (13, Some(10), Some(13), Reason::ForecastAhead)
        );
    }

    #[test]
    fn missing_metrics_never_scale_down() {
        let behavior = ResolvedBehavior::resolve(None);
        let hold = Fallback::default();
        let metrics = [metric(None, Some(10.0))];
        let d = decide(
            &inputs(&metrics, &behavior, &hold, 8),
            &mut PlanState::default(),
        );
        assert_eq!((d.replicas, d.reason), (8, Reason::MetricsUnavailableHold));
        let floor = Fallback {
            kind: FallbackType::Replicas,
            replicas: Some(12),
        };
        let d = decide(
            &inputs(&metrics, &behavior, &floor, 8),
            &mut PlanState::default(),
        );
        assert_eq!(
            (d.replicas, d.reason),
            (12, Reason::MetricsUnavailableFloor)
        );
        let d = decide(
            &inputs(&metrics, &behavior, &floor, 20),
            &mut PlanState::default(),
        );
        assert_eq!(d.replicas, 20, "the floor never lowers replicas");
    }
}
