//! What the operator does without usable metrics: invalid specs, conflicts with an HPA,
//! Prometheus unreachable.

use std::time::Duration;

use serde_json::json;

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    NO_PROMETHEUS, Operator, condition, events_for, eventually, get_policy, install_crd, policy,
    seed_deployment, seed_hpa, seed_policy,
};

const LIMIT: Duration = Duration::from_secs(30);

async fn scene() -> Emulator {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    emu.run_workload_controller(Duration::from_millis(200));
    emu
}

async fn wait_condition(
    emu: &Emulator,
    name: &str,
    type_: &str,
    reason: &str,
) -> serde_json::Value {
    eventually(
        LIMIT,
        &format!("{name}: {type_} reason {reason}"),
        || async {
            let p = get_policy(emu, name).await;
            condition(&p, type_)
                .filter(|c| c["reason"] == reason)
                .map(|_| p)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_is_reported_and_other_policies_are_still_served() {
    let emu = scene().await;
    seed_deployment(&emu, "web", 3);
    seed_deployment(&emu, "api", 2);
    let mut bad = policy("bad", "web", "Auto", "sum(rate(x[1m]))", 10.0);
    bad["spec"]["minReplicas"] = json!(9);
    bad["spec"]["maxReplicas"] = json!(4);
    seed_policy(&emu, bad);
    seed_policy(
        &emu,
        policy("good", "api", "Auto", "sum(rate(x[1m]))", 10.0),
    );
    let op = Operator::start(&emu, NO_PROMETHEUS, "invalid", &["--leader-elect=false"]);

    let p = wait_condition(&emu, "bad", "Ready", "InvalidSpec").await;
    let ready = condition(&p, "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("spec.minReplicas"),
        "names the field: {message}"
    );
    // The valid policy is reconciled all the same.
    wait_condition(&emu, "good", "MetricsAvailable", "PrometheusUnavailable").await;
    let events = eventually(LIMIT, "an InvalidSpec Event", || async {
        let events = events_for(&emu, "bad").await;
        events
            .iter()
            .any(|e| e.1 == "InvalidSpec")
            .then_some(events)
    })
    .await;
    let (type_, _, note) = events.iter().find(|e| e.1 == "InvalidSpec").unwrap();
    assert_eq!(type_, "Warning");
    assert!(note.contains("spec.minReplicas"), "{note}");
    // No hot loop: an invalid policy is not reconciled again until it changes.
    let before = emu.count_requests("PATCH", "/scalingpolicies/bad/status");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        emu.count_requests("PATCH", "/scalingpolicies/bad/status"),
        before
    );
    assert_eq!(
        events_for(&emu, "bad")
            .await
            .iter()
            .filter(|e| e.1 == "InvalidSpec")
            .count(),
        1,
        "one Event, not one per cycle"
    );
    // The target was never touched.
    assert_eq!(emu.count_requests("PATCH", "/deployments/web/scale"), 0);
    drop(op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_on_the_target_means_no_writes_in_auto_mode() {
    let emu = scene().await;
    seed_deployment(&emu, "web", 3);
    seed_hpa(&emu, "web-hpa", "web", 2);
    let mut p = policy("web", "web", "Auto", "sum(rate(x[1m]))", 10.0);
    p["spec"]["fallback"] = json!({"type": "Replicas", "replicas": 6});
    seed_policy(&emu, p);
    let _op = Operator::start(&emu, NO_PROMETHEUS, "conflict", &["--leader-elect=false"]);

    let p = wait_condition(&emu, "web", "ScalingActive", "AutoscalerConflict").await;
    let message = condition(&p, "ScalingActive").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("web-hpa") && message.contains("HPAFloor"),
        "{message}"
    );
    eventually(LIMIT, "an AutoscalerConflict Event", || async {
        let events = events_for(&emu, "web").await;
        events
            .iter()
            .any(|e| e.0 == "Warning" && e.1 == "AutoscalerConflict")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The fallback would raise to 6, but prescaler does not fight the HPA.
    assert_eq!(emu.count_requests("PATCH", "/deployments/web/scale"), 0);
    assert_eq!(emu.count_requests("PUT", "/deployments/web/scale"), 0);
    let hpa = crate::support::operator::hpa(&emu, "web-hpa");
    assert_eq!(hpa["spec"]["minReplicas"], 2, "the HPA is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_unreachable_holds_replicas_and_says_so() {
    let emu = scene().await;
    seed_deployment(&emu, "web", 5);
    seed_policy(&emu, policy("web", "web", "Auto", "sum(rate(x[1m]))", 10.0));
    let _op = Operator::start(&emu, NO_PROMETHEUS, "down", &["--leader-elect=false"]);

    let p = wait_condition(&emu, "web", "MetricsAvailable", "PrometheusUnavailable").await;
    let c = condition(&p, "MetricsAvailable").unwrap();
    assert_eq!(c["status"], "False");
    assert!(
        c["message"].as_str().unwrap().contains("HoldCurrent"),
        "{c}"
    );
    assert_eq!(p["status"]["desiredReplicas"], 5);
    assert_eq!(p["status"]["currentReplicas"], 5);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        0,
        "never scales down blind"
    );
    let events = events_for(&emu, "web").await;
    assert!(
        events.iter().any(|e| e.1 == "FallbackEntered"),
        "{events:?}"
    );
}
