//! Status bookkeeping: conditions that keep their `lastTransitionTime`, the decision's memory
//! kept in status, and which changes deserve an Event.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::plan::PlanState;
use crate::plan::behavior::{Recommendation as PlanRecommendation, ScaleEvent as PlanEvent};
use crate::policy::{Recommendation, ScaleEvent, ScalingPolicyStatus};

/// Unix seconds as a Kubernetes `Time` (whole seconds, as the API server stores them).
pub fn time(unix: i64) -> Time {
    Time(Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A Kubernetes `Time` as Unix seconds.
pub fn unix(time: &Time) -> i64 {
    time.0.as_second()
}

/// The decision's memory as status keeps it.
pub fn plan_state(status: &ScalingPolicyStatus) -> PlanState {
    let mut state = PlanState {
        recommendations: status
            .recommendations
            .iter()
            .map(|r| PlanRecommendation {
                time: unix(&r.time),
                replicas: r.replicas,
            })
            .collect(),
        ..PlanState::default()
    };
    for event in &status.scale_events {
        let time = unix(&event.time);
        if event.change > 0 {
            state.up_events.push(PlanEvent {
                time,
                change: event.change,
            });
        } else if event.change < 0 {
            state.down_events.push(PlanEvent {
                time,
                change: -event.change,
            });
        }
    }
    state
}

/// Stores the decision's memory in status: recommendations, and scale events oldest first.
///
/// Of several recommendations with the same replica count only the newest is kept: every
/// stabilization window ends now, so a window that holds an older one holds the newest as
/// well, and the highest (scale-down) and lowest (scale-up) values over any window stay the
/// same. The list is then bounded by the number of distinct counts, not by the sync rate.
pub fn store_plan_state(status: &mut ScalingPolicyStatus, state: &PlanState) {
    let mut seen = std::collections::HashSet::new();
    let mut newest_first: Vec<&PlanRecommendation> = state
        .recommendations
        .iter()
        .rev()
        .filter(|r| seen.insert(r.replicas))
        .collect();
    newest_first.reverse();
    status.recommendations = newest_first
        .into_iter()
        .map(|r| Recommendation {
            time: time(r.time),
            replicas: r.replicas,
        })
        .collect();
    let mut events: Vec<(i64, i32)> = state
        .up_events
        .iter()
        .map(|e| (e.time, e.change))
        .chain(state.down_events.iter().map(|e| (e.time, -e.change)))
        .collect();
    events.sort_by_key(|(t, _)| *t);
    status.scale_events = events
        .into_iter()
        .map(|(t, change)| ScaleEvent {
            time: time(t),
            change,
        })
        .collect();
}

/// How far a stored recommendation's time may lag the leader's own before status is
/// written for that alone. The newest recommendation's time moves on every reconcile; a
/// write for it alone would patch every policy every sync period, so the leader keeps the
/// exact times in memory and the stored ones may be up to this much older.
pub const RECOMMENDATION_REFRESH_S: i64 = 60;

/// Whether `new` differs from `stored` only in recommendation times that moved forward by
/// less than [`RECOMMENDATION_REFRESH_S`]: the same counts in the same order, and nothing
/// else changed. Such a status is not written.
pub fn only_refreshed(stored: &ScalingPolicyStatus, new: &ScalingPolicyStatus) -> bool {
    let (a, b) = (&stored.recommendations, &new.recommendations);
    let close = a.len() == b.len()
        && a.iter().zip(b).all(|(s, n)| {
            let lag = unix(&n.time) - unix(&s.time);
            s.replicas == n.replicas && (0..RECOMMENDATION_REFRESH_S).contains(&lag)
        });
    close
        && ScalingPolicyStatus {
            recommendations: a.clone(),
            ..new.clone()
        } == *stored
}

/// A status read from the API by a leader with no memory of its own of the policy (after a
/// start or a failover): a recommendation's real time may be up to
/// [`RECOMMENDATION_REFRESH_S`] later than stored, so each counts as that much later (never
/// past `now`). A stabilization window then holds it at most that much longer, never
/// shorter: a new leader does not scale down early.
pub fn assume_refreshed(status: &mut ScalingPolicyStatus, now: i64) {
    for r in &mut status.recommendations {
        let at = unix(&r.time);
        r.time = time((at + RECOMMENDATION_REFRESH_S).min(now.max(at)));
    }
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`: changed values, and `null`
/// for every key `new` no longer has. A status serialised as it is cannot remove anything
/// (an absent key leaves the stored one in place), so a field that became empty — a
/// `predictedReplicas` once the forecast drops out, the last expired `scaleEvents` — would
/// stay stored as it was.
pub fn merge_patch(old: &serde_json::Value, new: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Map, Value};
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(before) if before == value => {}
                    Some(before) => {
                        patch.insert(key.clone(), merge_patch(before, value));
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// One condition as prescaler wants it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted<'a> {
    /// Its type.
    pub type_: &'a str,
    /// True or False.
    pub status: bool,
    /// CamelCase reason.
    pub reason: &'a str,
    /// Human message, naming the field and the fix where there is one.
    pub message: String,
}

/// Sets a condition, keeping `lastTransitionTime` while its status stays the same.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    wanted: Wanted<'_>,
    generation: Option<i64>,
    now: i64,
) {
    let status = if wanted.status { "True" } else { "False" };
    let existing = conditions.iter().position(|c| c.type_ == wanted.type_);
    let transition = existing
        .map(|i| &conditions[i])
        .filter(|c| c.status == status)
        .map_or_else(|| time(now), |c| c.last_transition_time.clone());
    let condition = Condition {
        type_: wanted.type_.to_string(),
        status: status.to_string(),
        reason: wanted.reason.to_string(),
        message: wanted.message,
        observed_generation: generation,
        last_transition_time: transition,
    };
    match existing {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

/// The condition of this type, if set.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition's status or reason differs between the two lists: the moments
/// worth an Event.
pub fn changed(before: &[Condition], after: &[Condition], type_: &str) -> bool {
    let key = |c: Option<&Condition>| c.map(|c| (c.status.clone(), c.reason.clone()));
    key(condition(before, type_)) != key(condition(after, type_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_keeps_transition_time_while_status_holds() {
        let mut conditions = Vec::new();
        let wanted = |status, reason: &'static str| Wanted {
            type_: "Ready",
            status,
            reason,
            message: String::new(),
        };
        set_condition(&mut conditions, wanted(true, "A"), Some(1), 100);
        set_condition(&mut conditions, wanted(true, "B"), Some(2), 200);
        assert_eq!(unix(&conditions[0].last_transition_time), 100);
        assert_eq!(conditions[0].reason, "B");
        set_condition(&mut conditions, wanted(false, "B"), Some(2), 300);
        assert_eq!(unix(&conditions[0].last_transition_time), 300);
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn the_status_patch_removes_what_the_new_status_no_longer_has() {
        use serde_json::json;
        let old = json!({
            "desiredReplicas": 5, "predictedReplicas": 7,
            "scaleEvents": [{"time": "t", "change": 2}],
            "leadTime": {"value": "2m", "source": "Pods", "message": "m"},
            "metrics": [{"name": "http", "expectedPeak": 1.0}]
        });
        let new = json!({
            "desiredReplicas": 6,
            "leadTime": {"value": "2m", "source": "Spec"},
            "metrics": [{"name": "http"}]
        });
        let patch = merge_patch(&old, &new);
        assert_eq!(
            patch,
            json!({
                "desiredReplicas": 6, "predictedReplicas": null, "scaleEvents": null,
                "leadTime": {"source": "Spec", "message": null},
                "metrics": [{"name": "http"}]
            })
        );
        // Applied as the API server applies a merge patch, it gives the new status.
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied, new);
        assert_eq!(merge_patch(&new, &new), json!({}), "nothing to change");
    }

    fn with_recommendations(recs: &[(i64, i32)]) -> ScalingPolicyStatus {
        ScalingPolicyStatus {
            desired_replicas: Some(5),
            recommendations: recs
                .iter()
                .map(|&(t, replicas)| Recommendation {
                    time: time(t),
                    replicas,
                })
                .collect(),
            ..ScalingPolicyStatus::default()
        }
    }

    #[test]
    fn a_newer_time_for_the_same_recommendations_waits_up_to_the_refresh_bound() {
        let stored = with_recommendations(&[(1_000, 7), (1_100, 5)]);
        let later = |t| with_recommendations(&[(1_000, 7), (t, 5)]);
        assert!(only_refreshed(&stored, &later(1_115)));
        assert!(only_refreshed(&stored, &later(1_159)));
        assert!(
            !only_refreshed(&stored, &later(1_160)),
            "stored times lag by less than the bound"
        );
        // A count that is newest again, a new count, or any other change is written.
        let reordered = with_recommendations(&[(1_100, 5), (1_115, 7)]);
        assert!(!only_refreshed(&stored, &reordered));
        let new_count = with_recommendations(&[(1_000, 7), (1_100, 5), (1_115, 6)]);
        assert!(!only_refreshed(&stored, &new_count));
        let mut desired = later(1_115);
        desired.desired_replicas = Some(6);
        assert!(!only_refreshed(&stored, &desired));
    }

    #[test]
    fn a_new_leader_counts_stored_recommendations_as_late_as_they_may_really_be() {
        let mut status = with_recommendations(&[(1_000, 7), (1_100, 5)]);
        assume_refreshed(&mut status, 1_130);
        assert_recs(&status, &[(1_060, 7), (1_130, 5)]);
    }

    fn assert_recs(status: &ScalingPolicyStatus, expected: &[(i64, i32)]) {
        let got: Vec<(i64, i32)> = status
            .recommendations
            .iter()
            .map(|r| (unix(&r.time), r.replicas))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn plan_state_round_trips_through_status() {
        let state = PlanState {
            recommendations: vec![
                PlanRecommendation {
                    time: 10,
                    replicas: 3,
                },
                PlanRecommendation {
                    time: 25,
                    replicas: 5,
                },
            ],
            up_events: vec![PlanEvent {
                time: 25,
                change: 2,
            }],
            down_events: vec![PlanEvent { time: 5, change: 1 }],
        };
        let mut status = ScalingPolicyStatus::default();
        store_plan_state(&mut status, &state);
        assert_eq!(status.scale_events[0].change, -1);
        assert_eq!(plan_state(&status), state);
    }

    #[test]
    fn stored_recommendations_keep_the_newest_of_each_count() {
        let rec = |time, replicas| PlanRecommendation { time, replicas };
        let state = PlanState {
            recommendations: vec![rec(1, 10), rec(2, 4), rec(3, 10), rec(4, 4), rec(5, 6)],
            ..PlanState::default()
        };
        let mut status = ScalingPolicyStatus::default();
        store_plan_state(&mut status, &state);
        let kept = plan_state(&status).recommendations;
        assert_eq!(kept, vec![rec(3, 10), rec(4, 4), rec(5, 6)]);
        // The same stabilized answers for any window ending at 5.
        for from in 0..=5 {
            let max = |recs: &[PlanRecommendation]| {
                recs.iter()
                    .filter(|r| r.time >= from)
                    .map(|r| r.replicas)
                    .max()
            };
            let min = |recs: &[PlanRecommendation]| {
                recs.iter()
                    .filter(|r| r.time >= from)
                    .map(|r| r.replicas)
                    .min()
            };
            assert_eq!(max(&kept), max(&state.recommendations), "from {from}");
            assert_eq!(min(&kept), min(&state.recommendations), "from {from}");
        }
    }
}
