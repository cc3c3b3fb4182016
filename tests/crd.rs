//! The CRD: generated from the Rust types, committed, and enforcing its CEL rules.

#[allow(dead_code)] // shared harness: this crate uses the CEL evaluator and the builders
mod support;

use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use prescaler::policy::{Duration, Fallback, FallbackType, MetricType};
use support::cel::cel_errors;
use support::policy::{Policy, bare, cpu_cores, cpu_utilization, memory, request_rate};

const CRD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/scalingpolicy.yaml");

#[test]
fn crd_command_prints_exactly_the_committed_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .arg("crd")
        .output()
        .expect("the prescaler binary runs");
    assert!(
        output.status.success(),
        "prescaler crd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read_to_string(CRD_FILE).expect("crds/scalingpolicy.yaml is readable");
    assert!(
        String::from_utf8_lossy(&output.stdout) == committed,
        "crds/scalingpolicy.yaml is out of date with the Rust types; regenerate it with\n    cargo run -q -- crd > crds/scalingpolicy.yaml"
    );
}

fn committed_crd() -> CustomResourceDefinition {
    let text = std::fs::read_to_string(CRD_FILE).expect("crds/scalingpolicy.yaml is readable");
    serde_norway::from_str(&text)
        .expect("the file is an apiextensions.k8s.io/v1 CustomResourceDefinition")
}

#[test]
fn crd_names_scope_and_subresources() {
    let crd = committed_crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("scalingpolicies.autoscaling.prescaler.io")
    );
    assert_eq!(crd.spec.group, "autoscaling.prescaler.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "ScalingPolicy");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["sp".to_string()][..])
    );
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    let subresources = version
        .subresources
        .as_ref()
        .expect("subresources are declared");
    assert!(
        subresources.status.is_some(),
        "the status subresource is enabled"
    );
}

#[test]
fn crd_printer_columns_are_the_ones_kubectl_get_shows() {
    let crd = committed_crd();
    let columns = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Target",
            "Targets",
            "Current",
            "Desired",
            "Reason",
            "Forecast",
            "Mode",
            "Ready",
            "Age",
            "Min",
            "Max",
            "Reactive",
            "Predicted",
            "Model",
            "Lead"
        ]
    );
    // The inputs behind the decision only with -o wide.
    let wide: Vec<&str> = columns
        .iter()
        .filter(|c| c.priority == Some(1))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        wide,
        ["Min", "Max", "Reactive", "Predicted", "Model", "Lead"]
    );
    let ready = columns.iter().find(|c| c.name == "Ready").unwrap();
    assert_eq!(
        ready.json_path,
        ".status.conditions[?(@.type==\"Ready\")].status"
    );
    let age = columns.iter().find(|c| c.name == "Age").unwrap();
    assert_eq!(
        (age.type_.as_str(), age.json_path.as_str()),
        ("date", ".metadata.creationTimestamp")
    );
}

#[test]
fn crd_carries_cel_rules_and_a_condition_list_map() {
    let crd = committed_crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .unwrap(),
    )
    .unwrap();
    let spec = &schema["properties"]["spec"];
    let rules = |node: &serde_json::Value| -> Vec<String> {
        node["x-kubernetes-validations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| r["rule"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(rules(spec).contains(&"self.minReplicas <= self.maxReplicas".to_string()));
    assert!(
        rules(&spec["properties"]["forecast"])
            .iter()
            .any(|r| r.contains("self.quantile"))
    );
    assert!(
        rules(&spec["properties"]["metrics"]["items"])
            .iter()
            .any(|r| r.contains("has(self.requestRate)"))
    );
    let conditions = &schema["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
    let duration = &spec["properties"]["forecast"]["properties"]["leadTime"];
    assert_eq!(
        duration["pattern"],
        prescaler::policy::duration::DURATION_PATTERN
    );
}

fn schedule(min: Option<i32>, factor: Option<f64>) -> prescaler::policy::ScheduleSpec {
    prescaler::policy::ScheduleSpec {
        name: None,
        start: "0 9 * * 1-5".into(),
        time_zone: Some("Europe/Berlin".into()),
        duration: Duration::new("2h"),
        min_replicas: min,
        load_factor: factor,
    }
}

#[test]
fn cel_accepts_the_base_fixture() {
    assert_eq!(cel_errors(&Policy::test().object()), Vec::<String>::new());
}

#[test]
fn cel_rejects_each_rule_breaker_with_its_message() {
    let cases: Vec<(&str, Policy, &str)> = vec![
        (
            "min above max",
            Policy::test().with_min(5).with_max(3),
            "minReplicas must be <= maxReplicas",
        ),
        (
            "schedule with a floor and a factor",
            Policy::test().edit(|s| {
                s.schedules = vec![schedule(Some(5), Some(2.0))];
            }),
            "a schedule sets exactly one of minReplicas",
        ),
        (
            "schedule with neither",
            Policy::test().edit(|s| s.schedules = vec![schedule(None, None)]),
            "a schedule sets exactly one of minReplicas",
        ),
        (
            "schedule factor below 1",
            Policy::test().edit(|s| s.schedules = vec![schedule(None, Some(0.5))]),
            "schedules[].loadFactor must be between 1 and 100",
        ),
        (
            "schedule floor above max",
            Policy::test().edit(|s| s.schedules = vec![schedule(Some(500), None)]),
            "schedules[].minReplicas must be <= maxReplicas",
        ),
        (
            "no metrics",
            Policy::test().with_metrics(vec![]),
            "at least one metric is required",
        ),
        (
            "metric without its block",
            Policy::test().with_metrics(vec![bare(MetricType::Memory)]),
            "a metric must carry exactly the block its type names",
        ),
        (
            "metric with two blocks",
            Policy::test().with_metrics(vec![{
                let mut m = request_rate(10.0);
                m.cpu = cpu_utilization(50).cpu;
                m
            }]),
            "a metric must carry exactly the block its type names",
        ),
        (
            "negative target",
            Policy::test().with_metrics(vec![request_rate(-5.0)]),
            "targetPerReplica must be > 0",
        ),
        (
            "zero target",
            Policy::test().with_metrics(vec![request_rate(0.0)]),
            "targetPerReplica must be > 0",
        ),
        (
            "CPU with both targets",
            Policy::test().with_metrics(vec![{
                let mut m = cpu_cores("1");
                if let Some(cpu) = m.cpu.as_mut() {
                    cpu.target_utilization = Some(60);
                }
                m
            }]),
            "set exactly one of targetUtilization and targetPerReplica",
        ),
        (
            "zero CPU utilization",
            Policy::test().with_metrics(vec![cpu_utilization(0)]),
            "targetUtilization must be > 0",
        ),
        (
            "zero CPU cores",
            Policy::test().with_metrics(vec![cpu_cores("0")]),
            "targetPerReplica must be > 0",
        ),
        (
            "zero memory",
            Policy::test().with_metrics(vec![memory("0Mi")]),
            "targetAverageValue must be > 0",
        ),
        (
            "quantile of one",
            Policy::test().edit(|s| s.forecast.quantile = 1.0),
            "quantile must be strictly between 0 and 1",
        ),
        (
            "quantile of zero",
            Policy::test().edit(|s| s.forecast.quantile = 0.0),
            "quantile must be strictly between 0 and 1",
        ),
        (
            "zero lead time",
            Policy::test().edit(|s| s.forecast.lead_time = Duration::new("0s")),
            "leadTime must be > 0",
        ),
        (
            "zero horizon",
            Policy::test().edit(|s| s.forecast.horizon = Duration::new("0h")),
            "horizon must be > 0",
        ),
        (
            "zero step",
            Policy::test().edit(|s| s.forecast.step = Duration::new("0m")),
            "step must be > 0",
        ),
        (
            "two request-rate metrics without names",
            Policy::test().with_metrics(vec![request_rate(10.0), request_rate(20.0)]),
            "metric names must be unique (a metric without a name is named after its type); set spec.metrics[].name",
        ),
        (
            "a name repeated",
            Policy::test().with_metrics(vec![
                prescaler::policy::MetricSpec {
                    name: Some("cpu".into()),
                    ..request_rate(10.0)
                },
                cpu_utilization(70),
            ]),
            "metric names must be unique (a metric without a name is named after its type); set spec.metrics[].name",
        ),
        (
            "a lead time of days",
            Policy::test().edit(|s| s.forecast.lead_time = Duration::new("2d")),
            "leadTime must be at most 1h",
        ),
        (
            "a horizon of years",
            Policy::test().edit(|s| s.forecast.horizon = Duration::new("3650d")),
            "horizon must be at most 1d",
        ),
        (
            "history shorter than two weekly seasons",
            Policy::test()
                .with_history("10d")
                .with_seasonality(&["1d", "7d"]),
            "history must be at least twice the longest seasonality",
        ),
        (
            "history in hours shorter than two daily seasons",
            Policy::test()
                .with_history("47h")
                .with_seasonality(&["1d"])
                .edit(|s| s.forecast.min_history = Duration::new("1h")),
            "history must be at least twice the longest seasonality",
        ),
        (
            "minHistory above history",
            Policy::test()
                .with_history("2d")
                .edit(|s| s.forecast.min_history = Duration::new("72h")),
            "minHistory must be <= history",
        ),
        (
            "Replicas fallback without a count",
            Policy::test().edit(|s| {
                s.fallback = Fallback {
                    kind: FallbackType::Replicas,
                    replicas: None,
                }
            }),
            "replicas is required with type Replicas and not allowed with HoldCurrent",
        ),
        (
            "fallback count above maxReplicas",
            Policy::test().edit(|s| {
                s.fallback = Fallback {
                    kind: FallbackType::Replicas,
                    replicas: Some(11),
                }
            }),
            "fallback.replicas must be between minReplicas and maxReplicas",
        ),
    ];
    let mut failures = Vec::new();
    for (name, policy, expected) in cases {
        let errors = cel_errors(&policy.object());
        if errors.len() != 1 || !errors[0].contains(expected) {
            failures.push(format!(
                "{name}: expected one error containing {expected:?}, got {errors:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cel_accepts_the_boundaries_it_should() {
    let at_the_edge = Policy::test()
        .with_min(10)
        .with_max(10)
        .with_history("14d")
        .with_seasonality(&["1d", "7d"])
        .edit(|s| {
            s.forecast.quantile = 0.99;
            s.forecast.min_history = Duration::new("14d");
            s.fallback = Fallback {
                kind: FallbackType::Replicas,
                replicas: Some(10),
            };
        });
    assert_eq!(cel_errors(&at_the_edge.object()), Vec::<String>::new());
}
