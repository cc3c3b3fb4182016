//! HPA fidelity: every case of `tests/conformance/hpa_cases.json` (taken as data from the
//! Kubernetes HPA controller's own tests; the README beside it explains each field) runs
//! through `plan`'s reactive and behavior code, stage by stage.

use prescaler::plan::Reading;
use prescaler::plan::Tolerance;
use prescaler::plan::behavior::{
    self, LimitReason, RateLimits, Recommendation, ScaleEvent, legacy_clamp, legacy_stabilize,
    rate_limit, stabilize,
};
use prescaler::policy::{RatePolicy, RatePolicyType, ResolvedRules, SelectPolicy};
use serde_json::Value;

/// "Now" for every case; ages are `secondsAgo` before it.
const NOW: i64 = 1_000_000;
/// The controller's `--horizontal-pod-autoscaler-downscale-stabilization` default.
const DOWNSCALE_WINDOW: u32 = 300;

/// Cases whose stage models upstream's storage of scale events. prescaler counts events
/// the same way when limiting (`change_in_period` over events younger than the period) but
/// stores them differently: every event is kept with its time and pruned once older than the
/// longest policy period, instead of overwriting "outdated" slots and summing a 60 s window
/// before storing. The stored layout is not observable in a decision, so these cases are
/// deliberate differences.
const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[(
    "event_store",
    "event storage layout differs; see the comment above",
)];

fn int(v: &Value) -> i32 {
    v.as_i64().map_or(0, |n| n as i32)
}

fn events(v: &Value) -> Vec<ScaleEvent> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| ScaleEvent {
                    time: NOW - e["secondsAgo"].as_i64().unwrap_or(0),
                    change: int(&e["replicaChange"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn history(v: &Value) -> Vec<Recommendation> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| Recommendation {
                    time: NOW - e["secondsAgo"].as_i64().unwrap_or(0),
                    replicas: int(&e["replicas"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn default_policies(up: bool) -> Vec<RatePolicy> {
    if up {
        vec![
            RatePolicy {
                kind: RatePolicyType::Pods,
                value: 4,
                period_seconds: 15,
            },
            RatePolicy {
                kind: RatePolicyType::Percent,
                value: 100,
                period_seconds: 15,
            },
        ]
    } else {
        vec![RatePolicy {
            kind: RatePolicyType::Percent,
            value: 100,
            period_seconds: 15,
        }]
    }
}

fn rules(v: &Value, up: bool, downscale_window: u32) -> ResolvedRules {
    let select_policy = match v["selectPolicy"].as_str() {
        Some("Min") => SelectPolicy::Min,
        Some("Disabled") => SelectPolicy::Disabled,
        _ => SelectPolicy::Max,
    };
    let policies = v["policies"].as_array().map_or_else(
        || default_policies(up),
        |a| {
            a.iter()
                .map(|p| RatePolicy {
                    kind: if p["type"] == "Pods" {
                        RatePolicyType::Pods
                    } else {
                        RatePolicyType::Percent
                    },
                    value: int(&p["value"]),
                    period_seconds: int(&p["periodSeconds"]),
                })
                .collect()
        },
    );
    let window = v["stabilizationWindowSeconds"]
        .as_u64()
        .map_or(if up { 0 } else { downscale_window }, |w| w as u32);
    ResolvedRules {
        stabilization_window_seconds: window,
        select_policy,
        policies,
    }
}

fn reason(r: LimitReason) -> &'static str {
    r.as_str()
}

fn tolerance(input: &Value) -> Tolerance {
    Tolerance {
        scale_up: input["tolerance"]["scaleUp"].as_f64().unwrap_or(0.1),
        scale_down: input["tolerance"]["scaleDown"].as_f64().unwrap_or(0.1),
    }
}

/// The raw proposal of a calculation case's single metric.
fn proposal(input: &Value) -> i32 {
    let metric = &input["metric"];
    let target = &metric["target"];
    let current = int(&input["currentReplicas"]);
    let ready = input["readyPodCount"]
        .as_i64()
        .map_or(current, |n| n as i32);
    let tol = tolerance(input);
    let milli = |v: &Value| v.as_f64().unwrap_or(0.0);
    let reading = match (
        metric["sourceType"].as_str().unwrap_or(""),
        target["type"].as_str().unwrap_or(""),
    ) {
        ("Resource" | "ContainerResource", "Utilization") => {
            let pods = input["pods"].as_array().cloned().unwrap_or_default();
            Reading::Utilization {
                usage: pods.iter().map(|p| milli(&p["usageMilli"])).sum(),
                requests: pods.iter().map(|p| milli(&p["requestMilli"])).sum(),
                target_percent: milli(&target["averageUtilizationPercent"]),
            }
        }
        ("Resource" | "ContainerResource", "AverageValue") => {
            let pods = input["pods"].as_array().cloned().unwrap_or_default();
            let total: f64 = pods.iter().map(|p| milli(&p["usageMilli"])).sum();
            Reading::PerPod {
                average: (total / pods.len().max(1) as f64).trunc(),
                target: milli(&target["averageValueMilli"]),
            }
        }
        ("Pods", "AverageValue") => {
            let values = input["podValuesMilli"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total: f64 = values.iter().map(milli).sum();
            Reading::PerPod {
                average: (total / values.len().max(1) as f64).trunc(),
                target: milli(&target["averageValueMilli"]),
            }
        }
        (source, kind) => {
            let value = if source == "External" {
                let sum: f64 = input["externalValuesMilli"]
                    .as_array()
                    .map(|a| a.iter().map(milli).sum())
                    .unwrap_or(0.0);
                sum.min(i64::MAX as f64)
            } else {
                milli(&input["objectValueMilli"])
            };
            if kind == "Value" {
                Reading::Value {
                    value,
                    target: milli(&target["valueMilli"]),
                }
            } else {
                let status = input["statusReplicas"]
                    .as_i64()
                    .map_or(current, |n| n as i32);
                return Reading::Total {
                    value,
                    target_per_replica: milli(&target["averageValueMilli"]),
                }
                .replicas(status, ready, tol);
            }
        }
    };
    reading.replicas(current, ready, tol)
}

/// Runs one case; returns a description of the mismatch, if any.
fn run(case: &Value) -> Option<String> {
    let input = &case["input"];
    let expected = &case["expected"];
    let stage = case["stage"].as_str().unwrap_or("");
    let downscale = input["downscaleStabilizationWindowSeconds"]
        .as_u64()
        .map_or(DOWNSCALE_WINDOW, |w| w as u32);
    let current = int(&input["currentReplicas"]);
    let desired = int(&input["prenormalizedDesiredReplicas"]);
    let min = input["minReplicas"].as_i64().map_or(i32::MIN, |n| n as i32);
    let max = input["maxReplicas"].as_i64().map_or(i32::MAX, |n| n as i32);
    let up_events = events(&input["scaleUpEvents"]);
    let down_events = events(&input["scaleDownEvents"]);
    let mismatch =
        |what: &str, got: String, want: &Value| Some(format!("{what}: got {got}, expected {want}"));

    match stage {
        "rate_limit" | "full_behavior" => {
            let up = rules(&input["scaleUp"], true, downscale);
            let down = rules(&input["scaleDown"], false, downscale);
            let mut stabilized = desired;
            if stage == "full_behavior" {
                let mut h = history(&input["recommendationHistory"]);
                stabilized = stabilize(
                    &mut h,
                    NOW,
                    current,
                    desired,
                    up.stabilization_window_seconds,
                    down.stabilization_window_seconds,
                );
            }
            let limits = RateLimits {
                up_events: &up_events,
                down_events: &down_events,
                scale_up: &up,
                scale_down: &down,
                min,
                max,
            };
            let (replicas, why) = rate_limit(current, stabilized, &limits, NOW);
            if replicas != int(&expected["desiredReplicas"]) {
                return mismatch(
                    "desiredReplicas",
                    replicas.to_string(),
                    &expected["desiredReplicas"],
                );
            }
            if let Some(want) = expected["reason"].as_str()
                && reason(why) != want
            {
                return mismatch("reason", reason(why).to_string(), &expected["reason"]);
            }
        }
        "scale_limit" => {
            let up = input["direction"] == "up";
            let r = rules(&input["rules"], up, downscale);
            if up {
                let got = behavior::scale_up_limit(current, &up_events, &down_events, &r, NOW);
                if got != int(&expected["scaleUpLimit"]) {
                    return mismatch("scaleUpLimit", got.to_string(), &expected["scaleUpLimit"]);
                }
            } else {
                let got = behavior::scale_down_limit(current, &up_events, &down_events, &r, NOW);
                if got != int(&expected["scaleDownLimit"]) {
                    return mismatch(
                        "scaleDownLimit",
                        got.to_string(),
                        &expected["scaleDownLimit"],
                    );
                }
            }
        }
        "stabilization" => {
            let up = rules(&input["scaleUp"], true, downscale);
            let down = rules(&input["scaleDown"], false, downscale);
            let mut h = history(&input["recommendationHistory"]);
            let got = stabilize(
                &mut h,
                NOW,
                current,
                desired,
                up.stabilization_window_seconds,
                down.stabilization_window_seconds,
            );
            if got != int(&expected["desiredReplicas"]) {
                return mismatch(
                    "desiredReplicas",
                    got.to_string(),
                    &expected["desiredReplicas"],
                );
            }
            if let Some(after) = expected["recommendationsAfter"].as_array() {
                let want: Vec<i32> = after.iter().map(int).collect();
                let got: Vec<i32> = h.iter().map(|r| r.replicas).collect();
                if got != want {
                    return Some(format!(
                        "recommendationsAfter: got {got:?}, expected {want:?}"
                    ));
                }
            }
        }
        "legacy_stabilization" => {
            let mut h = history(&input["recommendationHistory"]);
            let got = legacy_stabilize(&mut h, NOW, desired, downscale);
            if got != int(&expected["desiredReplicas"]) {
                return mismatch(
                    "desiredReplicas",
                    got.to_string(),
                    &expected["desiredReplicas"],
                );
            }
            if let Some(count) = expected["recommendationCountAfter"].as_u64()
                && h.len() as u64 != count
            {
                return Some(format!(
                    "recommendationCountAfter: got {}, expected {count}",
                    h.len()
                ));
            }
        }
        "legacy_clamp" => {
            let factor = input["scaleUpLimitFactor"].as_f64().unwrap_or(2.0);
            let minimum = input["scaleUpLimitMinimum"].as_f64().unwrap_or(4.0);
            let (got, why) = legacy_clamp(current, desired, min, max, factor, minimum);
            if got != int(&expected["desiredReplicas"])
                || expected["reason"]
                    .as_str()
                    .is_some_and(|r| r != reason(why))
            {
                return Some(format!("got ({got}, {}), expected {expected}", reason(why)));
            }
        }
        "replica_calc" => {
            let got = proposal(input);
            if got != int(&expected["replicas"]) {
                return mismatch("replicas", got.to_string(), &expected["replicas"]);
            }
        }
        "controller" => {
            let got = if current == 0 && min > 0 {
                0
            } else if current > max {
                max
            } else if current < min {
                min
            } else {
                let raw = proposal(input);
                let mut h = if input["recommendationHistory"].is_null() {
                    vec![Recommendation {
                        time: NOW,
                        replicas: current,
                    }]
                } else {
                    history(&input["recommendationHistory"])
                };
                if input["behavior"].is_null() {
                    let stabilized = legacy_stabilize(&mut h, NOW, raw, downscale);
                    let factor = input["legacyScaleUpLimitFactor"].as_f64().unwrap_or(2.0);
                    let minimum = input["legacyScaleUpLimitMinimum"].as_f64().unwrap_or(4.0);
                    legacy_clamp(current, stabilized, min, max, factor, minimum).0
                } else {
                    let up = rules(&input["behavior"]["scaleUp"], true, downscale);
                    let down = rules(&input["behavior"]["scaleDown"], false, downscale);
                    let stabilized = stabilize(
                        &mut h,
                        NOW,
                        current,
                        raw,
                        up.stabilization_window_seconds,
                        down.stabilization_window_seconds,
                    );
                    let limits = RateLimits {
                        up_events: &[],
                        down_events: &[],
                        scale_up: &up,
                        scale_down: &down,
                        min,
                        max,
                    };
                    rate_limit(current, stabilized, &limits, NOW).0
                }
            };
            if got != int(&expected["desiredReplicas"]) {
                return mismatch(
                    "desiredReplicas",
                    got.to_string(),
                    &expected["desiredReplicas"],
                );
            }
        }
        other => return Some(format!("unknown stage {other}")),
    }
    None
}

#[test]
fn every_kubernetes_hpa_case_passes_or_is_a_listed_deliberate_difference() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/hpa_cases.json"
    ))
    .expect("the conformance cases are bundled");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("the cases are JSON");
    assert_eq!(cases.len(), 160);
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let stage = case["stage"].as_str().unwrap_or("");
        if DELIBERATE_DIFFERENCES.iter().any(|(s, _)| *s == stage) {
            continue;
        }
        ran += 1;
        if let Some(problem) = run(case) {
            failures.push(format!("[{stage}] {}: {problem}", case["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ran, 152, "every case but the deliberate differences runs");
}
