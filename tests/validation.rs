//! `validate()` names the field and the fix for every malformed spec, all problems at once.

#[allow(dead_code)] // shared harness: this crate uses the policy builders only
mod support;

use prescaler::policy::{
    Behavior, Duration, Fallback, FallbackType, MetricType, PrometheusOverride, RatePolicy,
    RatePolicyType, ScalingRules, validate,
};
use support::policy::{
    Policy, bare, cpu_cores, cpu_utilization, memory, promql, query, request_rate,
};

fn messages(policy: Policy) -> Vec<String> {
    match validate(&policy.spec()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn rate(kind: RatePolicyType, value: i32, period_seconds: i32) -> RatePolicy {
    RatePolicy {
        kind,
        value,
        period_seconds,
    }
}

#[test]
fn the_base_fixture_is_valid() {
    assert_eq!(messages(Policy::test()), Vec::<String>::new());
}

#[test]
fn every_malformed_spec_gets_its_own_exact_message() {
    let cases: Vec<(&str, Policy, &str)> = vec![
        (
            "empty target name",
            Policy::test().edit(|s| s.target_ref.name = String::new()),
            "spec.targetRef.name must not be empty; e.g. the Deployment's name",
        ),
        (
            "empty target kind",
            Policy::test().edit(|s| s.target_ref.kind = " ".into()),
            "spec.targetRef.kind must not be empty; e.g. Deployment",
        ),
        (
            "empty target apiVersion",
            Policy::test().edit(|s| s.target_ref.api_version = String::new()),
            "spec.targetRef.apiVersion must not be empty; e.g. apps/v1",
        ),
        (
            "zero minReplicas",
            Policy::test().with_min(0),
            "spec.minReplicas must be >= 1 (got 0)",
        ),
        (
            "negative maxReplicas",
            Policy::test().with_max(-3),
            "spec.maxReplicas must be >= 1 (got -3)",
        ),
        (
            "min above max",
            Policy::test().with_min(5).with_max(3),
            "spec.minReplicas must be <= spec.maxReplicas (got 5 > 3); lower minReplicas or raise maxReplicas",
        ),
        (
            "no metrics",
            Policy::test().with_metrics(vec![]),
            "spec.metrics must list at least one metric; e.g. a RequestRate metric with a query and targetPerReplica",
        ),
        (
            "too many metrics",
            Policy::test().with_metrics(
                (0..9)
                    .map(|i| {
                        let mut m = request_rate(10.0);
                        m.name = Some(format!("m{i}"));
                        m
                    })
                    .collect(),
            ),
            "spec.metrics must list at most 8 metrics (got 9)",
        ),
        (
            "metric without its block",
            Policy::test().with_metrics(vec![bare(MetricType::RequestRate)]),
            "spec.metrics[0].requestRate is required when type is RequestRate",
        ),
        (
            "metric with another type's block",
            Policy::test().with_metrics(vec![{
                let mut m = request_rate(10.0);
                m.promql = Some(query(5.0));
                m
            }]),
            "spec.metrics[0].promql must not be set when type is RequestRate; remove it or change type to PromQL",
        ),
        (
            "negative request-rate target on the second metric",
            Policy::test().with_metrics(vec![cpu_utilization(70), request_rate(-5.0)]),
            "spec.metrics[1].requestRate.targetPerReplica must be > 0 (got -5)",
        ),
        (
            "NaN target",
            Policy::test().with_metrics(vec![request_rate(f64::NAN)]),
            "spec.metrics[0].requestRate.targetPerReplica must be > 0 (got NaN)",
        ),
        (
            "empty PromQL query",
            Policy::test().with_metrics(vec![{
                let mut m = promql(3.0);
                if let Some(q) = m.promql.as_mut() {
                    q.query = String::new();
                }
                m
            }]),
            "spec.metrics[0].promql.query must not be empty; e.g. sum(rate(http_requests_total{job=\"web\"}[2m]))",
        ),
        (
            "zero CPU utilization",
            Policy::test().with_metrics(vec![cpu_utilization(0)]),
            "spec.metrics[0].cpu.targetUtilization must be > 0 (got 0)",
        ),
        (
            "CPU with both targets",
            Policy::test().with_metrics(vec![{
                let mut m = cpu_cores("500m");
                if let Some(cpu) = m.cpu.as_mut() {
                    cpu.target_utilization = Some(70);
                }
                m
            }]),
            "spec.metrics[0].cpu must set exactly one of targetUtilization (percent of requests, e.g. 70) and targetPerReplica (cores, e.g. \"500m\")",
        ),
        (
            "CPU cores that are not a quantity",
            Policy::test().with_metrics(vec![cpu_cores("half")]),
            "spec.metrics[0].cpu.targetPerReplica is not a Kubernetes quantity (got \"half\"); write e.g. \"500m\" or \"1.5\"",
        ),
        (
            "zero CPU cores",
            Policy::test().with_metrics(vec![cpu_cores("0m")]),
            "spec.metrics[0].cpu.targetPerReplica must be > 0 (got 0m)",
        ),
        (
            "zero memory",
            Policy::test().with_metrics(vec![memory("0Mi")]),
            "spec.metrics[0].memory.targetAverageValue must be > 0 (got 0Mi)",
        ),
        (
            "memory in made-up units",
            Policy::test().with_metrics(vec![memory("512MB")]),
            "spec.metrics[0].memory.targetAverageValue is not a Kubernetes quantity (got \"512MB\"); write e.g. \"512Mi\" or \"2Gi\"",
        ),
        (
            "duplicate metric names",
            Policy::test().with_metrics(vec![cpu_utilization(60), cpu_cores("1")]),
            "spec.metrics[1].name \"cpu\" is already used by spec.metrics[0]; give each metric a unique name",
        ),
        (
            "metric name with capitals",
            Policy::test().with_metrics(vec![{
                let mut m = request_rate(10.0);
                m.name = Some("Web_API".into());
                m
            }]),
            "spec.metrics[0].name must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit (got \"Web_API\")",
        ),
        (
            "lead time in words",
            Policy::test().edit(|s| s.forecast.lead_time = Duration::new("5 minutes")),
            "spec.forecast.leadTime is not a duration (got \"5 minutes\"); write a whole number and one unit of s, m, h or d, e.g. \"90s\", \"5m\", \"7d\"",
        ),
        (
            "zero lead time",
            Policy::test().edit(|s| s.forecast.lead_time = Duration::new("0s")),
            "spec.forecast.leadTime must be > 0 (got 0s)",
        ),
        (
            "zero horizon",
            Policy::test().edit(|s| s.forecast.horizon = Duration::new("0m")),
            "spec.forecast.horizon must be > 0 (got 0m)",
        ),
        (
            "step longer than the horizon",
            Policy::test().edit(|s| s.forecast.step = Duration::new("1h")),
            "spec.forecast.step must be <= spec.forecast.horizon (got 1h > 15m)",
        ),
        (
            "quantile of one",
            Policy::test().edit(|s| s.forecast.quantile = 1.0),
            "spec.forecast.quantile must be strictly between 0 and 1 (got 1); 0.9 is a good start",
        ),
        (
            "quantile given as a percentage",
            Policy::test().edit(|s| s.forecast.quantile = 90.0),
            "spec.forecast.quantile must be strictly between 0 and 1 (got 90); 0.9 is a good start",
        ),
        (
            "schedule with a four-field cron",
            Policy::test().edit(|s| {
                s.schedules = vec![prescaler::policy::ScheduleSpec {
                    name: None,
                    start: "0 9 * *".into(),
                    time_zone: None,
                    duration: Duration::new("2h"),
                    min_replicas: Some(5),
                    load_factor: None,
                }]
            }),
            "spec.schedules[0].start \"0 9 * *\" is not a five-field cron expression (minute hour day-of-month month day-of-week); e.g. \"0 9 * * 1-5\" for 09:00 on weekdays",
        ),
        (
            "schedule in an unknown time zone",
            Policy::test().edit(|s| {
                s.schedules = vec![prescaler::policy::ScheduleSpec {
                    name: None,
                    start: "0 9 * * 1-5".into(),
                    time_zone: Some("Europe/Atlantis".into()),
                    duration: Duration::new("2h"),
                    min_replicas: Some(5),
                    load_factor: None,
                }]
            }),
            "spec.schedules[0].timeZone \"Europe/Atlantis\" is not a time zone; use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"",
        ),
        (
            "negative headroom",
            Policy::test().edit(|s| s.forecast.headroom = -5),
            "spec.forecast.headroom must be between 0 and 1000 percent (got -5)",
        ),
        (
            "history shorter than two seasons",
            Policy::test()
                .with_history("7d")
                .with_seasonality(&["1d", "7d"]),
            "spec.forecast.history must be at least twice the longest seasonality (got 7d < 2 × 7d); raise history to 14d or drop that season",
        ),
        (
            "unreadable season",
            Policy::test().with_seasonality(&["1d", "weekly"]),
            "spec.forecast.seasonality[1] is not a duration (got \"weekly\"); write a whole number and one unit of s, m, h or d, e.g. \"90s\", \"5m\", \"7d\"",
        ),
        (
            "too many seasons",
            Policy::test()
                .with_history("28d")
                .with_seasonality(&["1h", "6h", "12h", "1d", "7d"]),
            "spec.forecast.seasonality must list at most 4 periods (got 5)",
        ),
        (
            "minHistory above history",
            Policy::test()
                .with_history("2d")
                .edit(|s| s.forecast.min_history = Duration::new("3d")),
            "spec.forecast.minHistory must be <= spec.forecast.history (got 3d > 2d)",
        ),
        (
            "stabilization window above an hour",
            Policy::test().edit(|s| {
                s.behavior = Some(Behavior {
                    scale_down: Some(ScalingRules {
                        stabilization_window_seconds: Some(4000),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "spec.behavior.scaleDown.stabilizationWindowSeconds must be between 0 and 3600 seconds (got 4000)",
        ),
        (
            "empty policy list",
            Policy::test().edit(|s| {
                s.behavior = Some(Behavior {
                    scale_up: Some(ScalingRules {
                        policies: Some(vec![]),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "spec.behavior.scaleUp.policies must list at least one policy, or be left out to use HPA's defaults",
        ),
        (
            "zero-valued rate policy",
            Policy::test().edit(|s| {
                s.behavior = Some(Behavior {
                    scale_up: Some(ScalingRules {
                        policies: Some(vec![rate(RatePolicyType::Pods, 0, 15)]),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "spec.behavior.scaleUp.policies[0].value must be > 0 (got 0)",
        ),
        (
            "rate policy period over 30 minutes",
            Policy::test().edit(|s| {
                s.behavior = Some(Behavior {
                    scale_down: Some(ScalingRules {
                        policies: Some(vec![rate(RatePolicyType::Percent, 10, 2000)]),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "spec.behavior.scaleDown.policies[0].periodSeconds must be between 1 and 1800 seconds (got 2000)",
        ),
        (
            "Replicas fallback without a count",
            Policy::test().edit(|s| {
                s.fallback = Fallback {
                    kind: FallbackType::Replicas,
                    replicas: None,
                }
            }),
            "spec.fallback.replicas is required when type is Replicas; set the replica floor to hold while metrics are missing",
        ),
        (
            "fallback count above maxReplicas",
            Policy::test().edit(|s| {
                s.fallback = Fallback {
                    kind: FallbackType::Replicas,
                    replicas: Some(50),
                }
            }),
            "spec.fallback.replicas must be between spec.minReplicas and spec.maxReplicas (1..10) (got 50)",
        ),
        (
            "count with HoldCurrent",
            Policy::test().edit(|s| {
                s.fallback = Fallback {
                    kind: FallbackType::HoldCurrent,
                    replicas: Some(3),
                }
            }),
            "spec.fallback.replicas must not be set when type is HoldCurrent; remove it or set type: Replicas",
        ),
        (
            "zero sync period",
            Policy::test().edit(|s| s.sync_period = Some(Duration::new("0s"))),
            "spec.syncPeriod must be > 0 (got 0s)",
        ),
        (
            "Prometheus address without a scheme",
            Policy::test().edit(|s| {
                s.prometheus = Some(PrometheusOverride {
                    address: "prometheus:9090".into(),
                    auth_secret_ref: None,
                })
            }),
            "spec.prometheus.address must be an http:// or https:// URL (got \"prometheus:9090\"); e.g. http://prometheus.monitoring:9090",
        ),
        (
            "Prometheus address with a password",
            Policy::test().edit(|s| {
                s.prometheus = Some(PrometheusOverride {
                    address: "http://admin:hunter2@prometheus:9090".into(),
                    auth_secret_ref: None,
                })
            }),
            "spec.prometheus.address must not hold credentials (user:password@); put them in a Secret and name it in spec.prometheus.authSecretRef",
        ),
        (
            "a lead time of days",
            Policy::test().edit(|s| s.forecast.lead_time = Duration::new("2d")),
            "spec.forecast.leadTime must be at most 1h (got 2d); set it to the time a new pod takes to become Ready",
        ),
        (
            "a horizon of years",
            Policy::test().edit(|s| s.forecast.horizon = Duration::new("3650d")),
            "spec.forecast.horizon must be at most 1d (got 3650d); 15m–1h is usual",
        ),
    ];
    assert!(cases.len() >= 25, "the table must keep at least 25 cases");

    let mut failures = Vec::new();
    for (name, policy, expected) in cases {
        let got = messages(policy);
        if got != [expected] {
            failures.push(format!(
                "{name}:\n  expected [{expected}]\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_are_reported_at_once_in_field_order() {
    let policy = Policy::test()
        .with_min(0)
        .with_metrics(vec![request_rate(-1.0)])
        .edit(|s| s.forecast.quantile = 0.0);
    assert_eq!(
        messages(policy),
        [
            "spec.minReplicas must be >= 1 (got 0)",
            "spec.metrics[0].requestRate.targetPerReplica must be > 0 (got -1)",
            "spec.forecast.quantile must be strictly between 0 and 1 (got 0); 0.9 is a good start",
        ]
    );
}

#[test]
fn a_yaml_policy_with_defaults_left_out_validates() {
    let yaml = r#"
apiVersion: autoscaling.prescaler.io/v1alpha1
kind: ScalingPolicy
metadata: {name: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  metrics:
    - type: RequestRate
      requestRate: {query: "sum(rate(x[1m]))", targetPerReplica: 20}
"#;
    let policy = prescaler::policy::ScalingPolicy::from_yaml(yaml).expect("parses");
    assert_eq!(policy.spec.min_replicas, 1);
    assert_eq!(policy.spec.forecast.lead_time.as_str(), "2m");
    assert_eq!(policy.spec.forecast.quantile, 0.9);
    assert_eq!(validate(&policy.spec), Ok(()));
}
