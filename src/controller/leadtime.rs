//! `leadTimeMode: Auto`: the lead time learned from the target's own pods — how long its
//! new pods really take from creation to Ready — instead of the number in the spec.
//!
//! The operator lists the target's pods through its `/scale` selector when it has not
//! looked for five minutes, when the replicas changed since it last looked, or while a pod
//! it saw was still starting; otherwise it keeps what `status.leadTime` says. The value
//! reaches the plan at the next reconcile, through [`effective`].

use std::borrow::Cow;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::policy::validate::MAX_LEAD_TIME_S;
use crate::policy::{Duration, LeadTimeMode, LeadTimeStatus, ScalingPolicySpec};

/// New pods measured before the learned value replaces `spec.forecast.leadTime`.
pub const MIN_PODS: usize = 5;
/// The newest Ready pods measured; older ones say less about today's image and nodes.
pub const NEWEST_PODS: usize = 20;
/// Longest time between two looks at the pods, seconds.
pub const LOOK_EVERY_S: u64 = 300;
/// How `status.leadTime.message` begins when the pods could not be listed.
pub const UNREADABLE: &str = "cannot list pods";
/// The source names `status.leadTime.source` uses.
pub const FROM_SPEC: &str = "Spec";
/// See [`FROM_SPEC`].
pub const FROM_PODS: &str = "Pods";

/// What one look at the pods found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Creation to Ready, seconds, of the newest Ready pods, newest first.
    pub seconds: Vec<i64>,
    /// A pod created within the last hour is not Ready yet: look again next sync.
    pub starting: bool,
}

/// Creation to Ready of each of the newest Ready pods. A pod whose Ready condition last
/// changed more than an hour after it was created tells of a readiness flap, not of its
/// start-up, and is left out; so are pods being deleted.
pub fn measure(pods: &[Pod], now: i64) -> Measured {
    let mut ready = Vec::new();
    let mut starting = false;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(created) = pod.metadata.creation_timestamp.as_ref() else {
            continue;
        };
        let created = created.0.as_second();
        let condition = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        match condition {
            Some(c) if c.status == "True" => {
                let Some(at) = c.last_transition_time.as_ref() else {
                    continue;
                };
                let took = at.0.as_second() - created;
                if (0..=MAX_LEAD_TIME_S as i64).contains(&took) {
                    ready.push((created, took.max(1)));
                }
            }
            _ => starting |= now - created < MAX_LEAD_TIME_S as i64,
        }
    }
    ready.sort_by_key(|r| std::cmp::Reverse(r.0));
    ready.truncate(NEWEST_PODS);
    Measured {
        seconds: ready.into_iter().map(|(_, took)| took).collect(),
        starting,
    }
}

/// The 90th percentile (nearest rank) of `seconds`.
pub fn p90(seconds: &[i64]) -> Option<i64> {
    let mut sorted = seconds.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * 9).div_ceil(10);
    sorted.get(rank.checked_sub(1)?).copied()
}

/// `status.leadTime` for a policy whose lead time is `spec.forecast.leadTime`.
pub fn from_spec(spec: &ScalingPolicySpec, message: String) -> LeadTimeStatus {
    LeadTimeStatus {
        value: spec.forecast.lead_time.to_string(),
        source: FROM_SPEC.to_string(),
        message,
        ..LeadTimeStatus::default()
    }
}

/// `status.leadTime` after a look that measured `measured`, given what it said before. The
/// value in use moves only when the measurement differs from it by more than 10 % (at least
/// 5 s), so that pods a second slower or faster do not rebuild the forecast each time.
pub fn learned(
    spec: &ScalingPolicySpec,
    before: Option<&LeadTimeStatus>,
    measured: &Measured,
) -> LeadTimeStatus {
    let pods = measured.seconds.len();
    let Some(p) = p90(&measured.seconds) else {
        return from_spec(
            spec,
            format!(
                "no Ready pod of the target measured yet; using spec.forecast.leadTime until {MIN_PODS} are"
            ),
        );
    };
    if pods < MIN_PODS {
        return LeadTimeStatus {
            pods_measured: pods as i32,
            measured_seconds: Some(p),
            ..from_spec(
                spec,
                format!(
                    "{pods} of {MIN_PODS} new pods measured (90th percentile {p}s from creation to Ready); using spec.forecast.leadTime until {MIN_PODS} are"
                ),
            )
        };
    }
    let in_use = before
        .filter(|b| b.source == FROM_PODS)
        .and_then(|b| Duration::new(&b.value).seconds().ok())
        .map(|s| s as i64);
    let value = match in_use {
        Some(v) if (p - v).abs() <= (v / 10).max(5) => v,
        _ => p,
    };
    LeadTimeStatus {
        value: Duration::from_seconds(value.max(1) as u64).to_string(),
        source: FROM_PODS.to_string(),
        pods_measured: pods as i32,
        measured_seconds: Some(p),
        message: format!(
            "90th percentile of creation to Ready over the newest {pods} Ready pods: {p}s"
        ),
    }
}

/// The spec the plan runs on: `spec` itself, or with `leadTimeMode: Auto` and a lead time
/// learned from pods, that lead time in place of `spec.forecast.leadTime`.
pub fn effective<'a>(
    spec: &'a ScalingPolicySpec,
    learned: Option<&LeadTimeStatus>,
) -> Cow<'a, ScalingPolicySpec> {
    match learned {
        Some(l) if spec.forecast.lead_time_mode == LeadTimeMode::Auto && l.source == FROM_PODS => {
            let mut spec = spec.clone();
            spec.forecast.lead_time = Duration::new(&l.value);
            Cow::Owned(spec)
        }
        _ => Cow::Borrowed(spec),
    }
}

/// Lists the pods the `/scale` selector selects.
pub async fn list_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<Pod>, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items)
}

/// What to say when the pods could not be listed; the spec's lead time stays in use unless
/// one was already learned.
pub fn unreadable(
    spec: &ScalingPolicySpec,
    before: Option<&LeadTimeStatus>,
    namespace: &str,
    error: &kube::Error,
) -> LeadTimeStatus {
    let why = match error {
        kube::Error::Api(s) if s.code == 403 => format!(
            "{UNREADABLE} in namespace {namespace} (forbidden): leadTimeMode Auto needs list on pods, which the chart grants with rbac.readPods=true"
        ),
        other => format!("{UNREADABLE} in namespace {namespace}: {other}"),
    };
    match before.filter(|b| b.source == FROM_PODS) {
        Some(b) => LeadTimeStatus {
            message: format!("{why}; keeping the value learned before"),
            ..b.clone()
        },
        None => from_spec(spec, format!("{why}; using spec.forecast.leadTime")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn time(s: i64) -> Time {
        crate::controller::report::time(s)
    }

    fn pod(created: i64, ready_at: Option<i64>) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.creation_timestamp = Some(time(created));
        pod.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready_at.is_some() { "True" } else { "False" }.into(),
                last_transition_time: Some(time(ready_at.unwrap_or(created))),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        pod
    }

    fn auto() -> ScalingPolicySpec {
        let mut spec: ScalingPolicySpec = serde_norway::from_str(
            "targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\nminReplicas: 1\nmaxReplicas: 10\nmetrics: [{type: RequestRate, requestRate: {query: 'sum(rate(x[1m]))', targetPerReplica: 10}}]",
        )
        .unwrap();
        spec.forecast.lead_time_mode = LeadTimeMode::Auto;
        spec
    }

    #[test]
    fn measures_the_newest_ready_pods_and_notices_starting_ones() {
        let now = 100_000;
        let mut pods: Vec<Pod> = (0..30)
            .map(|i| pod(now - 5_000 + i * 100, Some(now - 5_000 + i * 100 + 40 + i)))
            .collect();
        pods.push(pod(now - 10, None));
        let m = measure(&pods, now);
        assert_eq!(m.seconds.len(), NEWEST_PODS);
        assert_eq!(m.seconds[0], 40 + 29, "newest first");
        assert!(m.starting);
        // A pod that has been starting for more than an hour is not waited for.
        let m = measure(&[pod(now - 4_000, None)], now);
        assert!(!m.starting);
        // A readiness flap long after creation is not a start-up.
        assert!(
            measure(&[pod(now - 8_000, Some(now - 100))], now)
                .seconds
                .is_empty()
        );
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        assert_eq!(p90(&[]), None);
        assert_eq!(p90(&[7]), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(p90(&ten), Some(9));
        let twenty: Vec<i64> = (1..=20).rev().collect();
        assert_eq!(p90(&twenty), Some(18));
    }

    #[test]
    fn the_spec_value_holds_until_enough_pods_were_measured() {
        let spec = auto();
        let few = Measured {
            seconds: vec![30, 31, 32],
            starting: false,
        };
        let status = learned(&spec, None, &few);
        assert_eq!(
            (status.value.as_str(), status.source.as_str()),
            ("2m", FROM_SPEC)
        );
        assert_eq!(status.pods_measured, 3);
        assert!(status.message.contains("3 of 5"), "{}", status.message);
        assert!(matches!(effective(&spec, Some(&status)), Cow::Borrowed(_)));

        let enough = Measured {
            seconds: vec![30, 31, 32, 33, 47],
            starting: false,
        };
        let status = learned(&spec, None, &enough);
        assert_eq!(
            (status.value.as_str(), status.source.as_str()),
            ("47s", FROM_PODS)
        );
        assert_eq!(
            effective(&spec, Some(&status))
                .forecast
                .lead_time
                .seconds()
                .unwrap(),
            47
        );
        // Fixed ignores what was learned.
        let mut fixed = spec.clone();
        fixed.forecast.lead_time_mode = LeadTimeMode::Fixed;
        assert_eq!(
            effective(&fixed, Some(&status))
                .forecast
                .lead_time
                .seconds()
                .unwrap(),
            120
        );
    }

    #[test]
    fn small_changes_keep_the_value_in_use() {
        let spec = auto();
        let at = |s: Vec<i64>| Measured {
            seconds: s,
            starting: false,
        };
        let first = learned(&spec, None, &at(vec![100; 6]));
        assert_eq!(first.value, "100s");
        let near = learned(&spec, Some(&first), &at(vec![108; 6]));
        assert_eq!(near.value, "100s");
        assert_eq!(near.measured_seconds, Some(108));
        let far = learned(&spec, Some(&first), &at(vec![180; 6]));
        assert_eq!(far.value, "3m");
    }

    #[test]
    fn forbidden_pods_name_the_chart_value_and_keep_a_learned_value() {
        let spec = auto();
        let forbidden = kube::Error::Api(
            kube::core::Status::failure("pods is forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        );
        let status = unreadable(&spec, None, "shop", &forbidden);
        assert_eq!(status.source, FROM_SPEC);
        assert!(
            status.message.contains("rbac.readPods=true"),
            "{}",
            status.message
        );
        let learned_before = learned(
            &spec,
            None,
            &Measured {
                seconds: vec![40; 5],
                starting: false,
            },
        );
        let kept = unreadable(&spec, Some(&learned_before), "shop", &forbidden);
        assert_eq!(
            (kept.value.as_str(), kept.source.as_str()),
            ("40s", FROM_PODS)
        );
    }
}
