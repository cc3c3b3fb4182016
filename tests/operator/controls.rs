//! The controls an admin reaches for during an incident, used the way an admin uses them:
//! `kubectl annotate` and `kubectl scale` against the emulator, the real binary, a real
//! Prometheus whose load the test sets.

use std::time::Duration;

use serde_json::json;

use crate::forecast::{SERIAL, reactive_scene, reactive_scene_with};
use crate::support::kube_api::Emulator;
use crate::support::operator::{
    Operator, condition, events_for, eventually, get_policy, seed_policy,
};
use crate::support::prometheus::{PrometheusServer, http_get};

const LIMIT: Duration = Duration::from_secs(60);
const PAUSED: &str = "autoscaling.prescaler.io/paused";
const PAUSED_REPLICAS: &str = "autoscaling.prescaler.io/paused-replicas";

fn replicas(emu: &Emulator) -> i64 {
    emu.object("apps", "deployments", "default", "api").unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap_or(0)
}

async fn kubectl(emu: &Emulator, args: &[&str]) {
    let out = emu.kubectl().args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn scaling_active(emu: &Emulator, reason: &str) -> serde_json::Value {
    eventually(LIMIT, &format!("ScalingActive {reason}"), || async {
        let p = get_policy(emu, "api").await;
        condition(&p, "ScalingActive").filter(|c| c["reason"] == reason)
    })
    .await
}

/// Stores the policy and, once Prometheus holds a sample, starts the operator on it.
fn serve(
    emu: &Emulator,
    prometheus: &PrometheusServer,
    policy: serde_json::Value,
    name: &str,
) -> Operator {
    seed_policy(emu, policy);
    prometheus.wait_until_scraped();
    Operator::start(emu, &prometheus.url(), name, &["--leader-elect=false"])
}

/// For two seconds, the target keeps `n` replicas and no scale is written.
async fn holds(emu: &Emulator, n: i64) {
    let writes = emu.count_requests("PATCH", "/deployments/api/scale");
    for _ in 0..8 {
        assert_eq!(replicas(emu), n, "held at {n}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/api/scale"),
        writes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_pin_and_resume_by_annotation_and_leave_a_target_scaled_to_zero() {
    let _serial = SERIAL.lock().await;
    let (prometheus, emu, p) = reactive_scene(1.0).await;
    let _op = serve(&emu, &prometheus, p, "controls");
    // 1 req/s at 0.1 per replica: 10 (11 when the sampled rate reads a hair above 1).
    let scaled = eventually(LIMIT, "scaled up on 1 req/s", || async {
        let n = replicas(&emu);
        (n >= 10).then_some(n)
    })
    .await;

    // Paused: the load doubles, the decision follows it, nothing is written.
    kubectl(&emu, &["annotate", "sp", "api", &format!("{PAUSED}=true")]).await;
    let c = scaling_active(&emu, "Paused").await;
    assert_eq!(c["status"], "False");
    assert!(c["message"].as_str().unwrap().contains(PAUSED), "{c}");
    prometheus.set_rate(0, 2.0);
    eventually(LIMIT, "the doubled load decided on", || async {
        let p = get_policy(&emu, "api").await;
        (p["status"]["desiredReplicas"].as_i64()? >= 20).then_some(())
    })
    .await;
    holds(&emu, scaled).await;

    // Pinned at 3 against a load that needs 20.
    kubectl(
        &emu,
        &["annotate", "sp", "api", &format!("{PAUSED_REPLICAS}=3")],
    )
    .await;
    eventually(LIMIT, "held at 3", || async {
        (replicas(&emu) == 3).then_some(())
    })
    .await;
    let c = scaling_active(&emu, "Paused").await;
    assert!(c["message"].as_str().unwrap().contains("held at 3"), "{c}");
    holds(&emu, 3).await;

    // Both removed: scaling again, at once.
    kubectl(
        &emu,
        &[
            "annotate",
            "sp",
            "api",
            &format!("{PAUSED}-"),
            &format!("{PAUSED_REPLICAS}-"),
        ],
    )
    .await;
    eventually(LIMIT, "scaled to the doubled load", || async {
        (replicas(&emu) >= 20).then_some(())
    })
    .await;
    scaling_active(&emu, "Scaling").await;

    // A value that cannot be read pauses, with a Warning naming the fix.
    kubectl(&emu, &["annotate", "sp", "api", &format!("{PAUSED}=yes")]).await;
    let c = scaling_active(&emu, "InvalidAnnotation").await;
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("\"true\" or \"false\""),
        "{c}"
    );
    let held_at = replicas(&emu);
    prometheus.set_rate(0, 3.0);
    holds(&emu, held_at).await;
    kubectl(&emu, &["annotate", "sp", "api", &format!("{PAUSED}-")]).await;
    eventually(LIMIT, "scaled to the tripled load", || async {
        (replicas(&emu) >= 30).then_some(())
    })
    .await;

    // Scaled to 0 by hand: left alone, as an HPA would.
    kubectl(&emu, &["scale", "deployment", "api", "--replicas=0"]).await;
    let c = scaling_active(&emu, "ScalingDisabled").await;
    assert!(c["message"].as_str().unwrap().contains("0 replicas"), "{c}");
    holds(&emu, 0).await;

    let events = events_for(&emu, "api").await;
    let of = |reason: &str| {
        events
            .iter()
            .find(|e| e.1 == reason)
            .unwrap_or_else(|| panic!("no {reason} Event in {events:?}"))
            .0
            .clone()
    };
    assert_eq!(of("Paused"), "Normal");
    assert_eq!(of("Resumed"), "Normal");
    assert_eq!(of("InvalidAnnotation"), "Warning");
    assert_eq!(of("ScalingDisabled"), "Normal");
    let out = emu
        .kubectl()
        .args(["describe", "sp", "api"])
        .output()
        .await
        .unwrap();
    let described = String::from_utf8_lossy(&out.stdout);
    assert!(described.contains("ScalingDisabled"), "{described}");
}

/// A five-field cron expression for the UTC minute `seconds` from now.
fn cron_in(seconds: i64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + seconds;
    let minute = (at / 60) % 60;
    let hour = (at / 3_600) % 24;
    format!("{minute} {hour} * * *")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_capacity_arrives_lead_time_before_the_window() {
    let _serial = SERIAL.lock().await;
    let (prometheus, emu, mut p) = reactive_scene(0.2).await;
    p["spec"]["forecast"]["leadTime"] = json!("3m");
    // One window starts within the lead time (its capacity is due now), one in an hour.
    p["spec"]["schedules"] = json!([
        {"name": "launch", "start": cron_in(120), "duration": "1h", "minReplicas": 7},
        {"name": "later", "start": cron_in(3_600), "duration": "1h", "minReplicas": 30},
    ]);
    let _op = serve(&emu, &prometheus, p, "schedule");
    eventually(LIMIT, "raised to the launch's 7", || async {
        (replicas(&emu) == 7).then_some(())
    })
    .await;
    let p = get_policy(&emu, "api").await;
    assert_eq!(p["status"]["reason"], "Scheduled", "{}", p["status"]);
    assert!(
        p["status"]["reactiveReplicas"].as_i64().unwrap() < 7,
        "load alone asks for fewer: {}",
        p["status"]
    );
    let ready = condition(&p, "Ready").unwrap();
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("schedule launch asks for 7 replicas"),
        "{ready}"
    );
    // Not the window an hour away.
    holds(&emu, 7).await;
    let events = events_for(&emu, "api").await;
    assert!(
        events
            .iter()
            .any(|e| e.1 == "ScaledUp" && e.2.contains("Scheduled: schedule launch")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reads_a_live_policy_its_target_and_its_pause() {
    let _serial = SERIAL.lock().await;
    let (prometheus, emu, p) = reactive_scene(1.0).await;
    seed_policy(&emu, p);
    prometheus.wait_until_scraped();
    let explain = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
            .args(["explain", "api", "--namespace", "default", "--json"])
            .arg("--kubeconfig")
            .arg(emu.kubeconfig_path())
            .args(["--prometheus", &prometheus.url()])
            .output()
            .expect("the binary runs")
    };
    let out = explain();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // The target's /scale says 2; the load (rising to 1 req/s at 0.1 per replica) asks
    // for more.
    assert_eq!(report["replicas"], 2, "{report}");
    let desired = report["desired_replicas"].as_i64().unwrap();
    assert!(desired > 2, "{report}");
    assert_eq!(
        report["status"]["metrics"][0]["reactiveReplicas"], desired,
        "{report}"
    );
    assert_eq!(
        report["write"],
        format!("scale Deployment api from 2 to {desired}"),
        "{report}"
    );
    // Nothing was written: explain only reads.
    assert_eq!(emu.count_requests("PATCH", "/deployments/api/scale"), 0);
    assert_eq!(
        emu.count_requests("PATCH", "/scalingpolicies/api/status"),
        0
    );

    // Paused in the cluster: explain says so and would write nothing.
    kubectl(&emu, &["annotate", "sp", "api", &format!("{PAUSED}=true")]).await;
    let out = explain();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["reason"], "Paused", "{report}");
    assert!(report["write"].is_null(), "{report}");

    // Resumed, with an HPA on the same target: the conflict the operator would report.
    kubectl(&emu, &["annotate", "sp", "api", &format!("{PAUSED}-")]).await;
    crate::support::operator::seed_hpa(&emu, "api-hpa", "api", 2);
    let out = explain();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["reason"], "AutoscalerConflict", "{report}");
    assert!(report["write"].is_null(), "{report}");
    let active = report["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ScalingActive")
        .cloned()
        .unwrap();
    assert!(
        active["message"].as_str().unwrap().contains("api-hpa"),
        "{active}"
    );

    // A name that is not there is named.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .args(["explain", "nope", "--prometheus", &prometheus.url()])
        .arg("--kubeconfig")
        .arg(emu.kubeconfig_path())
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read the ScalingPolicy"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lead_time_auto_is_learned_from_the_targets_new_pods() {
    let _serial = SERIAL.lock().await;
    // Each new pod of the target becomes Ready 3 s after it is created.
    let (prometheus, emu, mut p) = reactive_scene_with(1.0, Some(Duration::from_secs(3))).await;
    p["spec"]["forecast"]["leadTimeMode"] = json!("Auto");
    // The first look at the pods is refused, as it is without the chart's rbac.readPods.
    emu.fail_next("GET", "/api/v1/namespaces/default/pods", 1, 403);
    let op = serve(&emu, &prometheus, p, "leadtime");

    // Scaled from 2 to 10 on 1 req/s: eight new pods, each measured at 3 s (give or take
    // the second the timestamps are rounded to).
    let lead = eventually(LIMIT, "leadTime learned from pods", || async {
        let p = get_policy(&emu, "api").await;
        let lead = p["status"]["leadTime"].clone();
        (lead["source"] == "Pods").then_some(lead)
    })
    .await;
    let value = lead["value"].as_str().unwrap();
    assert!(["2s", "3s", "4s"].contains(&value), "{lead}");
    assert!(lead["podsMeasured"].as_i64().unwrap() >= 5, "{lead}");
    assert!(
        lead["message"]
            .as_str()
            .unwrap()
            .contains("90th percentile"),
        "{lead}"
    );
    let events = events_for(&emu, "api").await;
    let refused = events
        .iter()
        .find(|(_, reason, _)| reason == "LeadTimeNotLearned")
        .unwrap_or_else(|| panic!("a Warning for the refused pod list: {events:?}"));
    assert_eq!(refused.0, "Warning");
    assert!(refused.2.contains("rbac.readPods=true"), "{refused:?}");
    let learned = events
        .iter()
        .find(|(_, reason, _)| reason == "LeadTimeLearned")
        .unwrap_or_else(|| panic!("an Event for the learned lead time: {events:?}"));
    assert!(
        learned.2.contains(&format!("leadTime {value} from Pods"))
            && learned.2.contains("was 2m from Spec"),
        "{learned:?}"
    );

    // kubectl get -o wide shows it, and the plan runs on it: the operator's lead-time gauge
    // is the learned value, not the spec's 2m.
    let out = emu
        .kubectl()
        .args(["get", "sp", "api", "-o", "wide"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let row = crate::support::operator::table_row(&table, "api");
    assert!(
        row.contains(&("LEAD".to_string(), value.to_string())),
        "{table}"
    );
    let port = op.telemetry_port(LIMIT).await;
    let gauge = format!(
        r#"prescaler_lead_time_seconds{{namespace="default",policy="api"}} {}"#,
        value.trim_end_matches('s')
    );
    eventually(LIMIT, "the plan's lead time", || async {
        let (_, metrics) = http_get(port, "/metrics")?;
        metrics.contains(&gauge).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_only_keeps_a_record_of_what_it_would_have_changed() {
    let _serial = SERIAL.lock().await;
    // 1 req/s at 0.1 per replica asks for 10 replicas; the target stays at its 2.
    let (prometheus, emu, mut p) = reactive_scene(1.0).await;
    p["spec"]["mode"] = json!("ForecastOnly");
    let _op = serve(&emu, &prometheus, p, "would-have");
    let record = eventually(LIMIT, "a record of a few seconds short", || async {
        let p = get_policy(&emu, "api").await;
        let record = p["status"]["wouldHave"].clone();
        (record["minutesShort"].as_f64()? >= 0.1).then_some(record)
    })
    .await;
    // The seconds short the plan would have covered (all of them once its decision has
    // caught up with the load), with up to 8 replicas more in each.
    let hour = &record["hours"][0];
    let (short, avoided) = (
        hour["short"].as_f64().unwrap(),
        hour["avoided"].as_f64().unwrap(),
    );
    assert!(avoided <= short && avoided >= short - 3.0, "{record}");
    let added = hour["added"].as_f64().unwrap();
    assert!(added > 0.0 && added <= 8.0 * short + 1.0, "{record}");
    assert_eq!(record["podHoursSaved"], 0.0, "{record}");
    assert_eq!(record["hours"].as_array().unwrap().len(), 1, "{record}");
    assert_eq!(replicas(&emu), 2, "ForecastOnly writes nothing");
    assert_eq!(emu.count_requests("PATCH", "/deployments/api/scale"), 0);

    // Where an admin looks: describe shows the record and one WouldScaleUp.
    let out = emu
        .kubectl()
        .args(["describe", "sp", "api"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needed in ["Would Have:", "Minutes Short Avoided:", "Pod Hours Added:"] {
        assert!(text.contains(needed), "{needed} missing in\n{text}");
    }
    let events = events_for(&emu, "api").await;
    let would: Vec<_> = events.iter().filter(|e| e.1 == "WouldScaleUp").collect();
    assert_eq!(would.len(), 1, "{events:?}");
    assert!(
        would[0].2.starts_with("New size would be: ")
            && would[0].2.contains("would scale up Deployment api from 2"),
        "{would:?}"
    );
}
