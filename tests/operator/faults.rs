//! Writes that fail and watches that break: the operator retries and converges. The scale
//! decision here comes from `spec.fallback` (Prometheus is unreachable on purpose), which
//! raises the target to a floor: a write that needs no metrics.

use std::time::Duration;

use serde_json::json;

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    NO_PROMETHEUS, Operator, condition, deployment_replicas, events_for, eventually, get_policy,
    install_crd, policy, seed_deployment, seed_policy,
};

const LIMIT: Duration = Duration::from_secs(40);

fn floor_policy(name: &str, target: &str, mode: &str, floor: i32) -> serde_json::Value {
    let mut p = policy(name, target, mode, "sum(rate(x[1m]))", 10.0);
    p["spec"]["fallback"] = json!({"type": "Replicas", "replicas": floor});
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_server_errors_on_scale_are_retried_until_it_converges() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    emu.run_workload_controller(Duration::from_millis(200));
    seed_deployment(&emu, "web", 2);
    // The first writes to /scale fail: two conflicts, then two server errors.
    emu.fail_next("PATCH", "/deployments/web/scale", 2, 409);
    emu.fail_next("PATCH", "/deployments/web/scale", 2, 500);
    seed_policy(&emu, floor_policy("web", "web", "Auto", 6));
    let _op = Operator::start(&emu, NO_PROMETHEUS, "faults", &["--leader-elect=false"]);

    eventually(LIMIT, "web scaled to the fallback floor of 6", || async {
        (deployment_replicas(&emu, "web") == 6).then_some(())
    })
    .await;
    assert!(
        emu.count_requests("PATCH", "/deployments/web/scale") >= 5,
        "four failed writes, then one that landed"
    );
    // The watch breaks; the operator re-lists and goes on serving a new policy.
    emu.cut_watches();
    seed_deployment(&emu, "api", 1);
    seed_policy(&emu, floor_policy("api", "api", "Auto", 3));
    eventually(LIMIT, "api scaled after the watch was cut", || async {
        (deployment_replicas(&emu, "api") == 3).then_some(())
    })
    .await;
    let p = get_policy(&emu, "web").await;
    assert_eq!(p["status"]["desiredReplicas"], 6);
    assert_eq!(
        condition(&p, "MetricsAvailable").unwrap()["status"],
        "False"
    );
    let events = events_for(&emu, "web").await;
    let up = events
        .iter()
        .find(|e| e.1 == "ScaledUp")
        .expect("a ScaledUp Event");
    assert!(
        up.2.starts_with("New size: 6; scaled up Deployment web from 2;"),
        "{up:?}"
    );
    assert!(up.2.contains("fallback"), "says why: {up:?}");
    // Exactly one successful scale-up: no double writes.
    assert_eq!(
        events.iter().filter(|e| e.1 == "ScaledUp").count(),
        1,
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_only_reports_but_never_writes() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    seed_policy(&emu, floor_policy("web", "web", "ForecastOnly", 6));
    let _op = Operator::start(
        &emu,
        NO_PROMETHEUS,
        "forecast-only",
        &["--leader-elect=false"],
    );
    let p = eventually(LIMIT, "status filled", || async {
        let p = get_policy(&emu, "web").await;
        p["status"]["desiredReplicas"].as_i64().map(|_| p)
    })
    .await;
    assert_eq!(p["status"]["desiredReplicas"], 6, "computed");
    assert_eq!(p["status"]["currentReplicas"], 2);
    assert_eq!(
        condition(&p, "ScalingActive").unwrap()["reason"],
        "ForecastOnly"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(emu.count_requests("PATCH", "/deployments/web/scale"), 0);
    assert_eq!(emu.count_requests("PUT", "/deployments/web/scale"), 0);
    assert_eq!(deployment_replicas(&emu, "web"), 2);
    // It leaves a record: one WouldScaleUp, not one per sync.
    let events = events_for(&emu, "web").await;
    let would: Vec<_> = events.iter().filter(|e| e.1 == "WouldScaleUp").collect();
    assert_eq!(would.len(), 1, "{events:?}");
    assert!(
        would[0]
            .2
            .starts_with("New size would be: 6; would scale up Deployment web from 2"),
        "{would:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_floor_moves_only_the_hpas_min_replicas() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    crate::support::operator::seed_hpa(&emu, "web-hpa", "web", 2);
    seed_policy(&emu, floor_policy("web", "web", "HPAFloor", 5));
    let _op = Operator::start(&emu, NO_PROMETHEUS, "hpa-floor", &["--leader-elect=false"]);
    eventually(LIMIT, "the HPA's minReplicas raised to 5", || async {
        let hpa = crate::support::operator::hpa(&emu, "web-hpa");
        (hpa["spec"]["minReplicas"] == 5).then_some(())
    })
    .await;
    let p = get_policy(&emu, "web").await;
    assert_eq!(
        condition(&p, "ScalingActive").unwrap()["reason"],
        "HPAFloor"
    );
    let events = events_for(&emu, "web").await;
    assert!(
        events
            .iter()
            .any(|e| e.1 == "HPAFloorUpdated" && e.2.contains("from 2 to 5")),
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        0,
        "the HPA scales the target"
    );
    assert_eq!(deployment_replicas(&emu, "web"), 2);
    assert_eq!(
        emu.count_requests("PATCH", "/horizontalpodautoscalers/web-hpa"),
        1,
        "one write, not one per cycle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_scale_is_a_condition_and_a_warning_naming_the_chart_value() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    // RBAC without the target's /scale: every read is refused.
    emu.fail_next("GET", "/deployments/web/scale", 100_000, 403);
    seed_policy(&emu, floor_policy("web", "web", "Auto", 6));
    let _op = Operator::start(&emu, NO_PROMETHEUS, "forbidden", &["--leader-elect=false"]);

    let ready = eventually(LIMIT, "Ready=False TargetForbidden", || async {
        let p = get_policy(&emu, "web").await;
        let c = condition(&p, "Ready")?;
        (c["reason"] == "TargetForbidden").then_some(c)
    })
    .await;
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("may not get deployments/scale") && message.contains("rbac.scaleTargets"),
        "names the verb, the resource and the chart value: {message}"
    );
    let events = events_for(&emu, "web").await;
    assert!(
        events
            .iter()
            .any(|e| e.0 == "Warning" && e.1 == "TargetForbidden"),
        "{events:?}"
    );
    assert_eq!(deployment_replicas(&emu, "web"), 2, "nothing written");

    // Once the permission is granted, it scales without a restart.
    emu.clear_faults();
    eventually(
        LIMIT,
        "scaled to the fallback floor once allowed",
        || async { (deployment_replicas(&emu, "web") == 6).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_policies_on_one_target_only_the_older_writes() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    seed_policy(&emu, floor_policy("a-web", "web", "Auto", 4));
    seed_policy(&emu, floor_policy("b-web", "web", "Auto", 6));
    let _op = Operator::start(
        &emu,
        NO_PROMETHEUS,
        "two-policies",
        &["--leader-elect=false"],
    );

    let active = eventually(LIMIT, "the newer policy refusing", || async {
        let p = get_policy(&emu, "b-web").await;
        let c = condition(&p, "ScalingActive")?;
        (c["reason"] == "PolicyConflict").then_some(c)
    })
    .await;
    assert_eq!(active["status"], "False");
    assert!(
        active["message"]
            .as_str()
            .is_some_and(|m| m.contains("ScalingPolicy a-web already scales Deployment web")),
        "{active}"
    );
    eventually(LIMIT, "the older policy's floor", || async {
        (deployment_replicas(&emu, "web") == 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        deployment_replicas(&emu, "web"),
        4,
        "no fight over the count"
    );
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        1,
        "one writer, one write"
    );
}

fn hpa_min(emu: &Emulator) -> (serde_json::Value, serde_json::Value) {
    let hpa = crate::support::operator::hpa(emu, "web-hpa");
    (
        hpa["spec"]["minReplicas"].clone(),
        hpa["metadata"]["annotations"]["autoscaling.prescaler.io/original-min-replicas"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_floor_is_put_back_when_the_mode_changes_and_when_the_policy_is_deleted() {
    use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    crate::support::operator::seed_hpa(&emu, "web-hpa", "web", 2);
    seed_policy(&emu, floor_policy("web", "web", "HPAFloor", 5));
    let _op = Operator::start(
        &emu,
        NO_PROMETHEUS,
        "hpa-restore",
        &["--leader-elect=false"],
    );
    eventually(
        LIMIT,
        "the floor raised to 5, the HPA's own 2 kept",
        || async { (hpa_min(&emu) == (json!(5), json!("2"))).then_some(()) },
    )
    .await;

    let resource = kube::discovery::ApiResource::erase::<prescaler::policy::ScalingPolicy>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(emu.client().await, "default", &resource);
    let mode = |mode: &'static str| Patch::Merge(json!({"spec": {"mode": mode}}));
    api.patch("web", &PatchParams::default(), &mode("ForecastOnly"))
        .await
        .expect("patch the policy");
    eventually(
        LIMIT,
        "minReplicas back to 2, the annotation gone",
        || async { (hpa_min(&emu) == (json!(2), serde_json::Value::Null)).then_some(()) },
    )
    .await;
    let events = events_for(&emu, "web").await;
    assert!(
        events
            .iter()
            .any(|e| e.1 == "HPAFloorRestored" && e.2.contains("to its own 2")),
        "{events:?}"
    );

    api.patch("web", &PatchParams::default(), &mode("HPAFloor"))
        .await
        .expect("patch the policy");
    eventually(LIMIT, "the floor raised again", || async {
        (hpa_min(&emu) == (json!(5), json!("2"))).then_some(())
    })
    .await;
    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete the policy");
    // The janitor looks once a minute.
    eventually(
        Duration::from_secs(90),
        "minReplicas back to 2 after the delete",
        || async { (hpa_min(&emu) == (json!(2), serde_json::Value::Null)).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policys_prometheus_secret_is_read_once_a_minute_not_every_sync() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, PostParams};
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    let mut p = floor_policy("web", "web", "Auto", 3);
    p["spec"]["prometheus"] =
        json!({"address": NO_PROMETHEUS, "authSecretRef": {"name": "prom-auth"}});
    seed_policy(&emu, p);
    let _op = Operator::start(&emu, NO_PROMETHEUS, "secret", &["--leader-elect=false"]);

    // Missing at first: the condition names the Secret and the keys it needs.
    let ready = eventually(LIMIT, "Ready=False PrometheusAuthSecret", || async {
        let p = get_policy(&emu, "web").await;
        let c = condition(&p, "Ready")?;
        (c["reason"] == "PrometheusAuthSecret").then_some(c)
    })
    .await;
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("default/prom-auth") && m.contains("`token`")),
        "{ready}"
    );

    let secrets: Api<Secret> = Api::namespaced(emu.client().await, "default");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "prom-auth"},
        "data": {"token": "czNjcmV0"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the Secret");
    eventually(
        LIMIT,
        "the fallback floor, scaled through the policy's Prometheus",
        || async { (deployment_replicas(&emu, "web") == 3).then_some(()) },
    )
    .await;
    let reads = emu.count_requests("GET", "/secrets/prom-auth");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        emu.count_requests("GET", "/secrets/prom-auth"),
        reads,
        "five one-second syncs later, the credentials come from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_scale_write_is_said_once_not_retried_blindly() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    // RBAC with get but without patch on the target's /scale.
    emu.fail_next("PATCH", "/deployments/web/scale", 100_000, 403);
    seed_policy(&emu, floor_policy("web", "web", "Auto", 6));
    let _op = Operator::start(
        &emu,
        NO_PROMETHEUS,
        "forbidden-write",
        &["--leader-elect=false"],
    );

    let ready = eventually(LIMIT, "Ready=False TargetForbidden", || async {
        let p = get_policy(&emu, "web").await;
        let c = condition(&p, "Ready")?;
        (c["reason"] == "TargetForbidden").then_some(c)
    })
    .await;
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("may not patch deployments/scale")),
        "{ready}"
    );
    let since = ready["lastTransitionTime"].clone();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let p = get_policy(&emu, "web").await;
    assert_eq!(condition(&p, "Ready").unwrap()["lastTransitionTime"], since);
    let warnings = events_for(&emu, "web")
        .await
        .into_iter()
        .filter(|e| e.1 == "TargetForbidden")
        .count();
    assert_eq!(warnings, 1, "one Warning while it stays refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_gone_on_the_policy_watch_relists_and_keeps_serving() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 1);
    seed_policy(&emu, floor_policy("web", "web", "Auto", 3));
    let op = Operator::start(&emu, NO_PROMETHEUS, "gone", &["--leader-elect=false"]);
    eventually(LIMIT, "web served", || async {
        (deployment_replicas(&emu, "web") == 3).then_some(())
    })
    .await;
    // The next watch requests are told their resourceVersion is too old, as after an
    // etcd compaction; the operator must list again rather than stop or spin.
    let before = emu.count_requests("GET", "/scalingpolicies");
    emu.fail_next("GET", "/scalingpolicies", 2, 410);
    emu.cut_watches();
    seed_deployment(&emu, "api", 1);
    seed_policy(&emu, floor_policy("api", "api", "Auto", 2));
    eventually(
        LIMIT,
        "a policy created after the 410 is served",
        || async { (deployment_replicas(&emu, "api") == 2).then_some(()) },
    )
    .await;
    let after = emu.count_requests("GET", "/scalingpolicies");
    assert!(
        after - before < 20,
        "re-listed without a tight loop: {} requests",
        after - before
    );
    assert_eq!(deployment_replicas(&emu, "web"), 3, "nothing lost");
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_server_delays_but_does_not_break_reconciles() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 1);
    seed_policy(&emu, floor_policy("web", "web", "Auto", 5));
    // Every request, watches and Lease renewals included, waits 1.5 s.
    emu.add_latency("*", "/", Duration::from_millis(1_500));
    let op = Operator::start(&emu, NO_PROMETHEUS, "slow-api", &[]);
    let p = eventually(LIMIT, "web scaled and its status written", || async {
        let p = get_policy(&emu, "web").await;
        (deployment_replicas(&emu, "web") == 5 && p["status"]["desiredReplicas"] == 5).then_some(p)
    })
    .await;
    assert_eq!(
        condition(&p, "MetricsAvailable").unwrap()["status"],
        "False"
    );
    let scaled_up = || async {
        let events = events_for(&emu, "web").await;
        events.iter().filter(|e| e.1 == "ScaledUp").count()
    };
    eventually(LIMIT, "the ScaledUp Event", || async {
        (scaled_up().await > 0).then_some(())
    })
    .await;
    emu.clear_faults();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(scaled_up().await, 1, "one write despite the slowness");
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_write_converges_after_a_restart_without_losing_status() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 1);
    seed_policy(&emu, floor_policy("web", "web", "Auto", 4));
    // The write to /scale hangs long enough to kill the process while it is in flight, as
    // the OOM killer (SIGKILL) would.
    emu.add_latency("PATCH", "/deployments/web/scale", Duration::from_secs(8));
    let mut op = Operator::start(
        &emu,
        NO_PROMETHEUS,
        "mid-write-1",
        &["--leader-elect=false"],
    );
    eventually(LIMIT, "the write in flight", || async {
        (emu.count_requests("PATCH", "/deployments/web/scale") >= 1).then_some(())
    })
    .await;
    op.kill();
    emu.clear_faults();
    let _op = Operator::start(
        &emu,
        NO_PROMETHEUS,
        "mid-write-2",
        &["--leader-elect=false"],
    );
    let p = eventually(LIMIT, "scaled and reported by the new process", || async {
        let p = get_policy(&emu, "web").await;
        (deployment_replicas(&emu, "web") == 4 && p["status"]["currentReplicas"] == 4).then_some(p)
    })
    .await;
    assert_eq!(p["status"]["desiredReplicas"], 4);
    assert_eq!(
        condition(&p, "MetricsAvailable").unwrap()["status"],
        "False",
        "the fallback still said so"
    );
}
