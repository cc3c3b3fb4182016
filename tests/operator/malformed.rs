//! A corpus of malformed ScalingPolicies stored without CEL (as an older API server or
//! `kubectl --validate=false` would let them through), applied together to the running
//! operator: each ends in `Ready=False InvalidSpec` naming its field, with one Warning
//! Event; the operator does not panic and a good policy beside them is served.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    NO_PROMETHEUS, Operator, condition, events_for, eventually, get_policy, install_crd, policy,
    seed_deployment, seed_policy,
};

/// One mutation: a JSON pointer under the policy and the value put there.
type Mutation = (&'static str, Value);

fn corpus() -> Vec<Vec<Mutation>> {
    let one = |path: &'static str, value: Value| vec![(path, value)];
    let mut cases: Vec<Vec<Mutation>> = Vec::new();
    for v in [json!(-1), json!(-100), json!(41), json!(1000)] {
        cases.push(one("/spec/minReplicas", v));
    }
    for v in [json!(0), json!(-5)] {
        cases.push(one("/spec/maxReplicas", v));
    }
    for v in [json!(0.0), json!(-1.0), json!(-0.5)] {
        cases.push(one("/spec/metrics/0/requestRate/targetPerReplica", v));
    }
    cases.push(one("/spec/metrics/0/requestRate/query", json!("")));
    for v in ["", "0s", "5x", "-1m", "1.5m", "2h", "10", "m", "90 s", "1d"] {
        cases.push(one("/spec/forecast/leadTime", json!(v)));
    }
    for v in ["", "0m", "2d", "abc", "1w", "10M"] {
        cases.push(one("/spec/forecast/horizon", json!(v)));
    }
    for v in ["", "0s", "20m", "x", "5 m"] {
        cases.push(one("/spec/forecast/step", json!(v)));
    }
    for v in ["", "0d", "bad", "2 d"] {
        cases.push(one("/spec/forecast/history", json!(v)));
    }
    for v in ["3d", "zz", "-1h"] {
        cases.push(one("/spec/forecast/minHistory", json!(v)));
    }
    for v in [json!(0.0), json!(1.0), json!(-0.5), json!(1.5), json!(90)] {
        cases.push(one("/spec/forecast/quantile", v));
    }
    for v in ["0s", "fast", "-5s", "1.5s"] {
        cases.push(one("/spec/syncPeriod", json!(v)));
    }
    for v in [
        json!(["3d"]),
        json!(["x"]),
        json!(["0s"]),
        json!(["1h", "2h", "3h", "4h", "5h", "6h", "7h", "8h", "9h"]),
    ] {
        cases.push(one("/spec/forecast/seasonality", v));
    }
    for v in [
        json!({"type": "Replicas"}),
        json!({"type": "Replicas", "replicas": 0}),
        json!({"type": "Replicas", "replicas": 100}),
        json!({"type": "HoldCurrent", "replicas": 3}),
    ] {
        cases.push(one("/spec/fallback", v));
    }
    let cpu = |cpu: Value| json!([{"type": "CPU", "cpu": cpu}]);
    let memory = |value: &str| json!([{"type": "Memory", "memory": {"targetAverageValue": value}}]);
    for v in [
        json!([]),
        json!([{"type": "RequestRate", "cpu": {"targetUtilization": 70}}]),
        json!([{"type": "RequestRate", "requestRate": {"query": "q", "targetPerReplica": 1}, "cpu": {"targetUtilization": 70}}]),
        json!([{"type": "Memory"}]),
        json!([{"type": "PromQL", "promql": {"query": "", "targetPerReplica": 1}}]),
        json!([{"type": "PromQL", "promql": {"query": "q", "targetPerReplica": 0}}]),
        json!([
            {"type": "RequestRate", "requestRate": {"query": "q", "targetPerReplica": 1}},
            {"type": "RequestRate", "requestRate": {"query": "p", "targetPerReplica": 2}}
        ]),
        json!([
            {"type": "RequestRate", "name": "cpu", "requestRate": {"query": "q", "targetPerReplica": 1}},
            {"type": "CPU", "cpu": {"targetUtilization": 70}}
        ]),
        cpu(json!({})),
        cpu(json!({"targetUtilization": 0})),
        cpu(json!({"targetUtilization": -5})),
        cpu(json!({"targetPerReplica": "abc"})),
        cpu(json!({"targetPerReplica": "-1"})),
        cpu(json!({"targetPerReplica": "0"})),
        cpu(json!({"targetUtilization": 70, "targetPerReplica": "1"})),
        cpu(json!({"targetUtilization": 70, "query": ""})),
        memory("0Mi"),
        memory("abc"),
        memory("-1Gi"),
        memory(""),
    ] {
        cases.push(one("/spec/metrics", v));
    }
    for v in [
        json!({"address": "prometheus:9090"}),
        json!({"address": "ftp://prometheus:9090"}),
        json!({"address": "http://admin:hunter2@prometheus:9090"}),
        json!({"address": "http://prometheus:9090", "authSecretRef": {"name": ""}}),
    ] {
        cases.push(one("/spec/prometheus", v));
    }
    for v in [
        json!({"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}),
        json!({"scaleUp": {"policies": [{"type": "Percent", "value": -10, "periodSeconds": 15}]}}),
        json!({"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}),
        json!({"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 2000}]}}),
        json!({"scaleDown": {"stabilizationWindowSeconds": -1}}),
        json!({"scaleUp": {"stabilizationWindowSeconds": 4000}}),
    ] {
        cases.push(one("/spec/behavior", v));
    }
    // Several problems at once: every one is named.
    let pairs: [Mutation; 6] = [
        ("/spec/minReplicas", json!(50)),
        ("/spec/forecast/quantile", json!(2.0)),
        ("/spec/forecast/leadTime", json!("soon")),
        ("/spec/syncPeriod", json!("0s")),
        ("/spec/metrics/0/requestRate/targetPerReplica", json!(-3.0)),
        ("/spec/forecast/horizon", json!("9d")),
    ];
    for (i, a) in pairs.iter().enumerate() {
        for b in &pairs[i + 1..] {
            cases.push(vec![a.clone(), b.clone()]);
        }
    }
    cases
}

fn apply(mut policy: Value, mutations: &[Mutation]) -> Value {
    for (path, value) in mutations {
        let (parent, key) = path.rsplit_once('/').expect("a pointer");
        let slot = policy.pointer_mut(parent).expect("the parent exists");
        match slot {
            Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value.clone(),
            _ => slot[key] = value.clone(),
        }
    }
    policy
}

/// A rule across two fields may name the other one: the message names the parent block
/// and this field's own name (`history must be at least twice the longest seasonality`).
fn related(message: &str, field: &str) -> bool {
    let (parent, name) = field.rsplit_once('.').unwrap_or(("", field));
    message.contains(parent) && message.contains(name)
}

fn base(name: &str) -> Value {
    policy(name, "web", "Auto", "sum(rate(x[1m]))", 10.0)
}

#[test]
fn every_case_of_the_corpus_is_invalid_by_validate() {
    let cases = corpus();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    for (i, mutations) in cases.iter().enumerate() {
        let policy: prescaler::policy::ScalingPolicy =
            serde_json::from_value(apply(base("x"), mutations))
                .unwrap_or_else(|e| panic!("case {i} {mutations:?} does not deserialize: {e}"));
        assert!(
            prescaler::policy::validate(&policy.spec).is_err(),
            "case {i} {mutations:?} passes validate()"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_malformed_policies_each_say_what_is_wrong_and_the_good_one_is_served() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    seed_deployment(&emu, "api", 2);
    let cases = corpus();
    for (i, mutations) in cases.iter().enumerate() {
        seed_policy(&emu, apply(base(&format!("bad-{i:03}")), mutations));
    }
    seed_policy(
        &emu,
        policy("good", "api", "Auto", "sum(rate(x[1m]))", 10.0),
    );
    let mut op = Operator::start(&emu, NO_PROMETHEUS, "malformed", &["--leader-elect=false"]);

    eventually(
        Duration::from_secs(60),
        "the good policy served",
        || async {
            let p = get_policy(&emu, "good").await;
            (condition(&p, "MetricsAvailable")?["reason"] == "PrometheusUnavailable").then_some(())
        },
    )
    .await;
    for (i, mutations) in cases.iter().enumerate() {
        let name = format!("bad-{i:03}");
        let ready = eventually(Duration::from_secs(60), &name, || async {
            let p = get_policy(&emu, &name).await;
            let c = condition(&p, "Ready")?;
            (c["reason"] == "InvalidSpec").then_some(c)
        })
        .await;
        assert_eq!(ready["status"], "False", "{name}");
        let message = ready["message"].as_str().unwrap_or_default();
        for (path, _) in mutations {
            // The message names the field by its path, e.g. spec.metrics[0].requestRate.query.
            let field = path
                .trim_start_matches('/')
                .split('/')
                .map(|part| match part.parse::<usize>() {
                    Ok(i) => format!("[{i}]"),
                    Err(_) => format!(".{part}"),
                })
                .collect::<String>()
                .trim_start_matches('.')
                .to_string();
            assert!(
                message.contains(&field) || related(message, &field),
                "{name} {mutations:?}: the message does not name {field}: {message}"
            );
        }
        let warnings = events_for(&emu, &name)
            .await
            .into_iter()
            .filter(|e| e.0 == "Warning" && e.1 == "InvalidSpec")
            .count();
        assert_eq!(warnings, 1, "{name}: one Warning");
    }
    let logs = op.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(op.terminate(), "still running and exits cleanly");
}
