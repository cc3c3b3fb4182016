//! HPA v2 behavior, as kube-controller-manager applies it: stabilization windows over the
//! recommendation history, then scale-up/scale-down policies counted against recent scale
//! events, then minReplicas/maxReplicas.
//!
//! Time is whole seconds. An entry is inside a window of `w` seconds when it is younger than
//! `w` (`now − time < w`), so a window of 0 holds nothing.

use crate::policy::{RatePolicyType, ResolvedRules, SelectPolicy};

/// A past raw recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recommendation {
    /// When it was made, Unix seconds.
    pub time: i64,
    /// The replicas recommended.
    pub replicas: i32,
}

/// A past rescale: pods added (up) or removed (down), always positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    /// When it happened, Unix seconds.
    pub time: i64,
    /// Pods added or removed.
    pub change: i32,
}

/// Why the behavior step ended where it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReason {
    /// Nothing cut the recommendation.
    DesiredWithinRange,
    /// A scale-up policy cut it.
    ScaleUpLimit,
    /// A scale-down policy cut it.
    ScaleDownLimit,
    /// maxReplicas cut it.
    TooManyReplicas,
    /// minReplicas cut it.
    TooFewReplicas,
}

impl LimitReason {
    /// The HPA reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "DesiredWithinRange",
            LimitReason::ScaleUpLimit => "ScaleUpLimit",
            LimitReason::ScaleDownLimit => "ScaleDownLimit",
            LimitReason::TooManyReplicas => "TooManyReplicas",
            LimitReason::TooFewReplicas => "TooFewReplicas",
        }
    }
}

fn inside(time: i64, now: i64, window: i64) -> bool {
    now - time < window
}

/// Stabilizes `recommended` against `history` and stores it there.
///
/// The result is `current`, raised to the lowest recommendation within the scale-up window
/// (the new one included) if below it, then lowered to the highest within the scale-down
/// window if above it. The new recommendation overwrites the last history entry outside
/// both windows, or is appended.
pub fn stabilize(
    history: &mut Vec<Recommendation>,
    now: i64,
    current: i32,
    recommended: i32,
    up_window: u32,
    down_window: u32,
) -> i32 {
    let (up_window, down_window) = (i64::from(up_window), i64::from(down_window));
    let mut up_floor = recommended;
    let mut down_ceiling = recommended;
    let mut reusable = None;
    for (i, r) in history.iter().enumerate() {
        let in_up = inside(r.time, now, up_window);
        let in_down = inside(r.time, now, down_window);
        if in_up {
            up_floor = up_floor.min(r.replicas);
        }
        if in_down {
            down_ceiling = down_ceiling.max(r.replicas);
        }
        if !in_up && !in_down {
            reusable = Some(i);
        }
    }
    let entry = Recommendation {
        time: now,
        replicas: recommended,
    };
    match reusable {
        Some(i) => history[i] = entry,
        None => history.push(entry),
    }
    let mut result = current;
    if result < up_floor {
        result = up_floor;
    }
    if result > down_ceiling {
        result = down_ceiling;
    }
    result
}

fn change_in_period(events: &[ScaleEvent], now: i64, period: i32) -> i32 {
    events
        .iter()
        .filter(|e| inside(e.time, now, i64::from(period)))
        .map(|e| e.change)
        .sum()
}

/// The replica count at the start of a policy period: current, less the pods added and
/// plus the pods removed within it.
fn period_start(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    period: i32,
    now: i64,
) -> i32 {
    current - change_in_period(up, now, period) + change_in_period(down, now, period)
}

/// The most replicas the scale-up rules allow now (before maxReplicas).
pub fn scale_up_limit(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ResolvedRules,
    now: i64,
) -> i32 {
    if rules.select_policy == SelectPolicy::Disabled {
        return current;
    }
    let proposals = rules.policies.iter().map(|p| {
        let start = period_start(current, up, down, p.period_seconds, now);
        match p.kind {
            RatePolicyType::Pods => start.saturating_add(p.value),
            RatePolicyType::Percent => {
                let v = (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil();
                v.min(f64::from(i32::MAX)) as i32
            }
        }
    });
    match rules.select_policy {
        SelectPolicy::Min => proposals.min(),
        _ => proposals.max(),
    }
    .unwrap_or(current)
}

/// The fewest replicas the scale-down rules allow now (before minReplicas).
pub fn scale_down_limit(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ResolvedRules,
    now: i64,
) -> i32 {
    if rules.select_policy == SelectPolicy::Disabled {
        return current;
    }
    let proposals = rules.policies.iter().map(|p| {
        let start = period_start(current, up, down, p.period_seconds, now);
        match p.kind {
            RatePolicyType::Pods => start - p.value,
            RatePolicyType::Percent => {
                (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
            }
        }
    });
    match rules.select_policy {
        SelectPolicy::Min => proposals.max(),
        _ => proposals.min(),
    }
    .unwrap_or(current)
}

/// The event history and bounds the rate limit needs.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits<'a> {
    /// Recent scale-up events.
    pub up_events: &'a [ScaleEvent],
    /// Recent scale-down events.
    pub down_events: &'a [ScaleEvent],
    /// Scale-up rules.
    pub scale_up: &'a ResolvedRules,
    /// Scale-down rules.
    pub scale_down: &'a ResolvedRules,
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
}

/// Applies the rate policies and the replica bounds to a stabilized `desired`.
pub fn rate_limit(
    current: i32,
    desired: i32,
    limits: &RateLimits<'_>,
    now: i64,
) -> (i32, LimitReason) {
    if desired > current {
        let policy = scale_up_limit(
            current,
            limits.up_events,
            limits.down_events,
            limits.scale_up,
            now,
        )
        .max(current);
        let (allowed, reason) = if limits.max > policy {
            (policy, LimitReason::ScaleUpLimit)
        } else {
            (limits.max, LimitReason::TooManyReplicas)
        };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let policy = scale_down_limit(
            current,
            limits.up_events,
            limits.down_events,
            limits.scale_down,
            now,
        )
        .min(current);
        let (allowed, reason) = if limits.min < policy {
            (policy, LimitReason::ScaleDownLimit)
        } else {
            (limits.min, LimitReason::TooFewReplicas)
        };
        if desired < allowed {
            return (allowed, reason);
        }
    }
    (desired, LimitReason::DesiredWithinRange)
}

/// Drops events older than the longest policy period; they can no longer count.
pub fn prune_events(events: &mut Vec<ScaleEvent>, now: i64, rules: &ResolvedRules) {
    let longest = rules
        .policies
        .iter()
        .map(|p| p.period_seconds)
        .max()
        .unwrap_or(0);
    events.retain(|e| inside(e.time, now, i64::from(longest)));
}

/// HPA without `behavior` (the legacy path): the highest recommendation within the
/// downscale window, the new one included; the new one is stored as [`stabilize`] does.
pub fn legacy_stabilize(
    history: &mut Vec<Recommendation>,
    now: i64,
    recommended: i32,
    window: u32,
) -> i32 {
    let window = i64::from(window);
    let mut highest = recommended;
    let mut reusable = None;
    for (i, r) in history.iter().enumerate() {
        if inside(r.time, now, window) {
            highest = highest.max(r.replicas);
        } else {
            reusable = Some(i);
        }
    }
    let entry = Recommendation {
        time: now,
        replicas: recommended,
    };
    match reusable {
        Some(i) => history[i] = entry,
        None => history.push(entry),
    }
    highest
}

/// HPA without `behavior`: clamp to minReplicas and min(maxReplicas, max(factor × current,
/// minimum)).
pub fn legacy_clamp(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    factor: f64,
    minimum: f64,
) -> (i32, LimitReason) {
    let up_limit = (f64::from(current) * factor).max(minimum).ceil() as i32;
    let (ceiling, reason) = if up_limit < max {
        (up_limit, LimitReason::ScaleUpLimit)
    } else {
        (max, LimitReason::TooManyReplicas)
    };
    if desired < min {
        (min, LimitReason::TooFewReplicas)
    } else if desired > ceiling {
        (ceiling, reason)
    } else {
        (desired, LimitReason::DesiredWithinRange)
    }
}
