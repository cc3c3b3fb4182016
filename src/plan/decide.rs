//! `decide`: clamp(max(reactive, predictive), min, max), then stabilization and rate limits.

use std::fmt;

use super::behavior::{self, LimitReason, RateLimits, Recommendation, ScaleEvent};
use super::reactive::{Reading, Tolerance, reactive};
use super::window::FORECAST_SCALE_DOWN_WINDOW_S;
use crate::policy::{Fallback, FallbackType, ResolvedBehavior};

/// Most recommendations kept; the window bounds make fewer necessary in practice.
pub const MAX_RECOMMENDATIONS: usize = 256;

/// One metric as the decision sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricInput {
    /// The current reading; `None` when it could not be read.
    pub reading: Option<Reading>,
    /// What the forecast says the planning windows need ([`super::window`]), in the
    /// metric's workload-wide unit; `None` when there is no reliable forecast.
    pub forecast_need: Option<Need>,
    /// How much of the metric one replica should carry, in the same unit.
    pub per_replica: f64,
}

/// The forecast's provisioned quantile at its highest over the two planning windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Need {
    /// Over [now, now + leadTime + sync]: what must be Ready by then.
    pub window: f64,
    /// Over the window extended by the hold time: what a lower count must still carry
    /// before pods are removed.
    pub hold: f64,
}

impl Need {
    /// A need that is the same over both windows.
    pub fn flat(value: f64) -> Self {
        Self {
            window: value,
            hold: value,
        }
    }
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
    /// `spec.schedules`, parsed.
    pub schedules: &'a [super::schedule::Schedule],
    /// `spec.forecast.leadTime`, seconds: scheduled capacity arrives this early.
    pub lead_s: u64,
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
    /// A window of `spec.schedules` asked for more than load and forecast.
    Scheduled,
}

impl Reason {
    /// The CamelCase word used in status, Events and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ForecastAhead => "ForecastAhead",
            Reason::CurrentLoad => "CurrentLoad",
            Reason::ReactiveOnly => "ReactiveOnly",
            Reason::MetricsUnavailableHold => "MetricsUnavailableHold",
            Reason::Scheduled => "Scheduled",
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

/// Replicas for `value` of a metric: ceil(value × (1 + headroom) ÷ per-replica target).
fn replicas_for(value: f64, per_replica: f64, headroom_percent: f64) -> Option<i32> {
    if per_replica <= 0.0 || per_replica.is_nan() || !value.is_finite() {
        return None;
    }
    let needed = (value.max(0.0) * (1.0 + headroom_percent.max(0.0) / 100.0) / per_replica).ceil();
    Some(needed.min(f64::from(i32::MAX)) as i32)
}

/// What one metric asks for on its own: (on its current value, by the HPA algorithm; on
/// its forecast over the planning window).
pub fn metric_replicas(inputs: &Inputs<'_>, m: &MetricInput) -> (Option<i32>, Option<i32>) {
    let reactive = m
        .reading
        .map(|r| r.replicas(inputs.current, inputs.ready, inputs.tolerance));
    let predicted = m
        .forecast_need
        .and_then(|n| replicas_for(n.window, m.per_replica, inputs.headroom_percent));
    (reactive, predicted)
}

/// The forecast's proposal for the planning window: per metric, replicas for its need; the
/// highest over metrics. `None` when no metric has a forecast.
pub fn predictive(metrics: &[MetricInput], headroom_percent: f64) -> Option<i32> {
    metrics
        .iter()
        .filter_map(|m| replicas_for(m.forecast_need?.window, m.per_replica, headroom_percent))
        .max()
}

/// The count the forecast says must stay until the hold window has passed.
fn hold(metrics: &[MetricInput], headroom_percent: f64) -> Option<i32> {
    metrics
        .iter()
        .filter_map(|m| replicas_for(m.forecast_need?.hold, m.per_replica, headroom_percent))
        .max()
}

/// Decides the replica count and updates the memory of recommendations. A change it asks
/// for is remembered by [`record_scale`] once it was made.
pub fn decide(inputs: &Inputs<'_>, state: &mut PlanState) -> ScaleDecision {
    bring_forward(state, inputs.now);
    let readings: Vec<Option<Reading>> = inputs.metrics.iter().map(|m| m.reading).collect();
    let reactive = reactive(&readings, inputs.current, inputs.ready, inputs.tolerance);
    let Some(reactive_replicas) = reactive.replicas() else {
        return fallback(inputs);
    };
    let predicted = predictive(inputs.metrics, inputs.headroom_percent);
    let mut reason = match predicted {
        None => Reason::ReactiveOnly,
        Some(p) if p > reactive_replicas => Reason::ForecastAhead,
        Some(_) => Reason::CurrentLoad,
    };
    let base = predicted.map_or(reactive_replicas, |p| p.max(reactive_replicas));
    let mut raw = base;
    if raw < inputs.current
        && let Some(hold) = hold(inputs.metrics, inputs.headroom_percent)
    {
        // Pods are removed only when the forecast says they stay unneeded for the hold time,
        // and, as HPA does, not for a change within its tolerance.
        raw = raw.max(hold.min(inputs.current));
        let floor = (f64::from(inputs.current) * (1.0 - inputs.tolerance.scale_down)).ceil() as i32;
        if raw >= floor {
            raw = inputs.current;
        }
    }
    if let Some((n, _)) =
        super::schedule::floor(inputs.schedules, inputs.now, inputs.lead_s, Some(base))
        && n > raw
    {
        raw = n;
        reason = Reason::Scheduled;
    }
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
        scale_down_window(inputs),
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
    forget_old(state, inputs);
    ScaleDecision {
        replicas,
        reactive: Some(reactive_replicas),
        predictive: predicted,
        limited_by,
        reason,
    }
}

/// The scale-down stabilization window in force. HPA's window is blind: it holds the highest
/// recommendation of the last five minutes because it cannot know whether load that fell
/// will come back. While every metric has a reliable forecast, each recommendation already
/// covers the time a removed pod would need to return, so only a short flap guard
/// ([`FORECAST_SCALE_DOWN_WINDOW_S`]) remains — or the policy's own window, if shorter.
/// Without a forecast for every metric, the policy's (HPA's) window applies unchanged.
pub fn scale_down_window(inputs: &Inputs<'_>) -> u32 {
    let configured = inputs.behavior.scale_down.stabilization_window_seconds;
    let all_forecast =
        !inputs.metrics.is_empty() && inputs.metrics.iter().all(|m| m.forecast_need.is_some());
    if all_forecast {
        configured.min(FORECAST_SCALE_DOWN_WINDOW_S)
    } else {
        configured
    }
}

/// The replicas held while metrics are missing: `spec.fallback.replicas` within maxReplicas
/// for `type: Replicas`, none for `HoldCurrent`. A floor only ever raises replicas.
pub fn fallback_floor(fallback: &Fallback, max: i32) -> Option<i32> {
    match fallback.kind {
        FallbackType::Replicas => fallback.replicas.map(|r| r.min(max)),
        FallbackType::HoldCurrent => None,
    }
}

fn fallback(inputs: &Inputs<'_>) -> ScaleDecision {
    let floor = fallback_floor(inputs.fallback, inputs.max).unwrap_or(inputs.current);
    let (mut held, mut reason) = if floor > inputs.current {
        (floor, Reason::MetricsUnavailableFloor)
    } else {
        (inputs.current, Reason::MetricsUnavailableHold)
    };
    // A launch is known without metrics: its floor still holds (it only raises).
    if let Some((n, _)) = super::schedule::floor(inputs.schedules, inputs.now, inputs.lead_s, None)
        && n > held
    {
        held = n;
        reason = Reason::Scheduled;
    }
    // The bounds hold even without metrics, as HPA's do: a maxReplicas lowered below the
    // current count is a user's order, not a guess from missing data.
    let (replicas, limited_by) = if held > inputs.max {
        (inputs.max, Some(Limit::MaxReplicas))
    } else if held < inputs.min {
        (inputs.min, Some(Limit::MinReplicas))
    } else {
        (held, None)
    };
    ScaleDecision {
        replicas,
        reactive: None,
        predictive: None,
        limited_by,
        reason,
    }
}

/// Records a change of the replicas from `from` to `to` made at `now`, for the rate limits
/// of later decisions. The controller calls it once its write went through and the
/// simulator once it set the replicas: a decision that was not carried out must not count.
pub fn record_scale(state: &mut PlanState, now: i64, from: i32, to: i32) {
    let change = to - from;
    if change > 0 {
        state.up_events.push(ScaleEvent { time: now, change });
    } else if change < 0 {
        state.down_events.push(ScaleEvent {
            time: now,
            change: -change,
        });
    }
}

/// Entries stamped after `now` (the clock went back, or status came from a node whose clock
/// runs ahead) count as made now, so they hold a window or a rate limit for its length, not
/// for its length plus the jump.
fn bring_forward(state: &mut PlanState, now: i64) {
    for r in &mut state.recommendations {
        r.time = r.time.min(now);
    }
    for e in state.up_events.iter_mut().chain(&mut state.down_events) {
        e.time = e.time.min(now);
    }
}

/// Drops what no window or period looks back on any more.
fn forget_old(state: &mut PlanState, inputs: &Inputs<'_>) {
    let now = inputs.now;
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
            schedules: &[],
            lead_s: 0,
        }
    }

    fn metric_with(load: f64, need: Option<Need>) -> MetricInput {
        MetricInput {
            reading: Some(Reading::Total {
                value: load,
                target_per_replica: 10.0,
            }),
            forecast_need: need,
            per_replica: 10.0,
        }
    }

    /// Runs decisions every 15 s from `now` with `load` and `need` each step, starting at
    /// `current` replicas; returns the replicas after each.
    fn run(current: i32, steps: &[(f64, Option<Need>)], behavior: &ResolvedBehavior) -> Vec<i32> {
        let fallback = Fallback::default();
        let mut state = PlanState::default();
        let mut current = current;
        let mut out = Vec::new();
        for (i, (load, need)) in steps.iter().enumerate() {
            let metrics = [metric_with(*load, *need)];
            let mut inputs = inputs(&metrics, behavior, &fallback, current);
            inputs.now = 1_000 + 15 * i as i64;
            let replicas = decide(&inputs, &mut state).replicas;
            record_scale(&mut state, inputs.now, current, replicas);
            current = replicas;
            out.push(current);
        }
        out
    }

    #[test]
    fn with_a_forecast_load_that_fell_is_followed_within_a_minute_not_five() {
        let behavior = ResolvedBehavior::resolve(None);
        // Load needs 10 replicas, then falls to what 5 carry; the forecast agrees over both
        // windows from the fall on.
        let mut steps = vec![(100.0, Some(Need::flat(100.0))); 4];
        steps.extend(vec![(50.0, Some(Need::flat(50.0))); 12]);
        let with = run(10, &steps, &behavior);
        let blind: Vec<(f64, Option<Need>)> = steps.iter().map(|(l, _)| (*l, None)).collect();
        let hpa = run(10, &blind, &behavior);
        let first_low = |r: &[i32]| r.iter().position(|&n| n == 5);
        assert_eq!(
            first_low(&with),
            Some(4 + 3),
            "down once the lower count was recommended for the 60 s window: {with:?}"
        );
        assert_eq!(first_low(&hpa), None, "HPA waits 300 s: {hpa:?}");
    }

    #[test]
    fn pods_stay_while_the_forecast_needs_them_within_the_horizon() {
        let behavior = ResolvedBehavior::resolve(None);
        // Load fell, but the forecast expects it back within the hold window.
        let need = Need {
            window: 50.0,
            hold: 100.0,
        };
        let replicas = run(10, &vec![(50.0, Some(need)); 30], &behavior);
        assert!(replicas.iter().all(|&r| r == 10), "{replicas:?}");
    }

    #[test]
    fn a_scale_down_within_the_tolerance_is_not_made() {
        let behavior = ResolvedBehavior::resolve(None);
        // 20 replicas; load and forecast need 19 (5 % less): HPA's tolerance holds.
        let replicas = run(20, &vec![(190.0, Some(Need::flat(190.0))); 30], &behavior);
        assert!(replicas.iter().all(|&r| r == 20), "{replicas:?}");
        let replicas = run(20, &vec![(170.0, Some(Need::flat(170.0))); 30], &behavior);
        assert_eq!(
            replicas.last(),
            Some(&17),
            "15 % less is a change: {replicas:?}"
        );
    }

    #[test]
    fn never_below_the_current_reactive_recommendation() {
        let behavior = ResolvedBehavior::resolve(None);
        let fallback = Fallback::default();
        let mut state = PlanState::default();
        let mut current = 12;
        // A forecast far below what current load needs, over a sequence of decisions.
        for i in 0..40 {
            let load = if i % 7 < 3 { 120.0 } else { 80.0 };
            let metrics = [metric_with(load, Some(Need::flat(10.0)))];
            let mut inputs = inputs(&metrics, &behavior, &fallback, current);
            inputs.now = 1_000 + 15 * i;
            let d = decide(&inputs, &mut state);
            record_scale(&mut state, inputs.now, current, d.replicas);
            let reactive = d.reactive.unwrap_or_default();
            assert!(
                d.replicas >= reactive,
                "step {i}: {d:?} below the HPA's recommendation {reactive} (current {current})"
            );
            current = d.replicas;
        }
    }

    fn metric(load: Option<f64>, peak: Option<f64>) -> MetricInput {
        MetricInput {
            reading: load.map(|value| Reading::Total {
                value,
                target_per_replica: 10.0,
            }),
            forecast_need: peak.map(Need::flat),
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

    #[test]
    fn without_metrics_a_lowered_max_replicas_still_holds() {
        let behavior = ResolvedBehavior::resolve(None);
        let hold = Fallback::default();
        let metrics = [metric(None, None)];
        let d = decide(
            &inputs(&metrics, &behavior, &hold, 80),
            &mut PlanState::default(),
        );
        assert_eq!(
            (d.replicas, d.limited_by, d.reason),
            (50, Some(Limit::MaxReplicas), Reason::MetricsUnavailableHold)
        );
    }

    #[test]
    fn a_clock_jumped_back_an_hour_holds_the_window_for_its_length_not_an_hour_more() {
        let behavior = ResolvedBehavior::resolve(None);
        let fallback = Fallback::default();
        let metrics = [metric_with(20.0, None)];
        let mut state = PlanState::default();
        // Made at 1,000 + 3,600 by a clock an hour ahead; the clock now reads 1,000.
        state.recommendations.push(Recommendation {
            time: 4_600,
            replicas: 10,
        });
        let mut at = |now: i64| {
            let mut i = inputs(&metrics, &behavior, &fallback, 10);
            i.now = now;
            decide(&i, &mut state).replicas
        };
        assert_eq!(at(1_000), 10, "inside the 300 s window: held");
        assert_eq!(
            at(1_301),
            2,
            "the window has passed since the clock said 1,000"
        );
    }
}
