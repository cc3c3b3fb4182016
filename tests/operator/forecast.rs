//! The operator on real metrics: a real Prometheus loaded with three days of the NASA trace,
//! shifted so that "now" is Monday 10 July 1995 11:00 UTC, as the morning rise begins, and
//! continued live by the harness's exporter.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    Operator, condition, elect, events_for, eventually, get_policy, hpa, install_crd, policy,
    seed_deployment, seed_policy, table_row,
};
use crate::support::prometheus::{PrometheusServer, Series, TraceRate};

pub(crate) const DAY: u64 = 86_400;
/// Monday 1995-07-10 11:00 UTC (07:00 at the space center): the morning rise begins, as it
/// did at the same time on the days before — a time at which, on three days of history, the
/// forecast beats the last value clearly enough for the skill gate to use it.
pub(crate) const AT: i64 = 805_374_000;
/// Requests per second one replica should carry.
pub(crate) const PER_REPLICA: f64 = 0.05;
const LIMIT: Duration = Duration::from_secs(90);

/// The tests here each run a Prometheus, an operator and its model fitting; one at a time
/// keeps them from starving each other on a small machine.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn nasa() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces/nasa_http_jul1995_1min.csv")
}

fn replicas(emu: &Emulator, name: &str, field: &str) -> i64 {
    let d = emu.object("apps", "deployments", "default", name).unwrap();
    match field {
        "spec" => d["spec"]["replicas"].as_i64().unwrap_or(0),
        _ => d["status"]["readyReplicas"].as_i64().unwrap_or(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_scales_ahead_of_the_ramp_and_holds_through_a_prometheus_outage() {
    let _serial = SERIAL.lock().await;
    let trace = TraceRate::load(&nasa());
    let series =
        Series::new("http_requests_total", &[("job", "web")], &nasa(), AT).history(3 * DAY + 3600);
    let mut prometheus = PrometheusServer::start(vec![series]);
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    // Pods become Ready one second after they are asked for.
    emu.run_workload_controller(Duration::from_secs(1));
    let now_rate = trace.mean(AT - 60, AT);
    let current = (now_rate / PER_REPLICA).ceil() as i32;
    seed_deployment(&emu, "web", current);
    let query = r#"sum(rate(http_requests_total{job="web"}[1m]))"#;
    let mut p = policy("web", "web", "Auto", query, PER_REPLICA);
    p["spec"]["forecast"]["history"] = json!("3d");
    // The 0.9 quantile misses one minute in ten by design; 20% headroom on top is how a
    // team that must not be short buys certainty.
    p["spec"]["forecast"]["headroom"] = json!(20);
    seed_policy(&emu, p);
    let _op = Operator::start(
        &emu,
        &prometheus.url(),
        "forecast",
        &["--leader-elect=false"],
    );

    // The planning window is now … now + leadTime + sync. What it needs, on the one-minute
    // rate the query sees:
    let needed = (AT + 60..=AT + 180)
        .step_by(60)
        .map(|t| (trace.mean(t - 60, t) / PER_REPLICA).ceil() as i64)
        .max()
        .unwrap();
    assert!(
        needed > i64::from(current),
        "the scene has a rise: {current} → {needed}"
    );

    let p = eventually(LIMIT, "a scale-up ahead of the ramp", || async {
        let p = get_policy(&emu, "web").await;
        let desired = p["status"]["desiredReplicas"].as_i64()?;
        (desired > i64::from(current) && replicas(&emu, "web", "spec") == desired).then_some(p)
    })
    .await;
    let status = &p["status"];
    let predicted = status["predictedReplicas"]
        .as_i64()
        .expect("a forecast was used");
    let reactive = status["reactiveReplicas"].as_i64().unwrap();
    assert!(
        predicted > reactive,
        "the forecast, not current load, asked: {status}"
    );
    assert_eq!(
        condition(&p, "ForecastReliable").unwrap()["status"],
        "True",
        "{status}"
    );
    assert_eq!(condition(&p, "Ready").unwrap()["status"], "True");
    assert!(status["metrics"][0]["expectedPeak"].as_f64().unwrap() > now_rate);
    // Ready capacity covers the peak before it arrives.
    let ready = eventually(LIMIT, "the new pods Ready", || async {
        let ready = replicas(&emu, "web", "ready");
        (ready >= predicted).then_some(ready)
    })
    .await;
    assert!(
        ready >= needed,
        "{ready} Ready pods for a peak that needs {needed}: {status}"
    );

    // What users see, once a reconcile after the scale-up has reported it.
    eventually(LIMIT, "status reporting the new count", || async {
        let p = get_policy(&emu, "web").await;
        (p["status"]["currentReplicas"].as_i64()? > i64::from(current)).then_some(())
    })
    .await;
    let kubectl_get = |wide: bool| {
        let mut args = vec!["get", "sp", "web"];
        if wide {
            args.extend(["-o", "wide"]);
        }
        let cmd = emu.kubectl().args(args).output();
        async move { String::from_utf8_lossy(&cmd.await.unwrap().stdout).to_string() }
    };
    let table = kubectl_get(false).await;
    let row = table_row(&table, "web");
    let col = |name: &str| {
        row.iter()
            .find(|(c, _)| c == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} column: {table}"))
    };
    // The numbers move with every sync; the columns must show them as numbers, scaled up.
    let number = |name: &str| {
        col(name)
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("{table}"))
    };
    assert!(number("CURRENT") > i64::from(current), "{table}");
    assert!(number("DESIRED") > i64::from(current), "{table}");
    assert_eq!(col("READY"), "True", "{table}");
    // TARGETS as an HPA shows them: the average per replica over the target.
    assert!(col("TARGETS").ends_with("/0.05"), "{table}");
    assert!(
        ["ForecastAhead", "CurrentLoad"].contains(&col("REASON").as_str()),
        "{table}"
    );
    let wide = kubectl_get(true).await;
    let wide_row = table_row(&wide, "web");
    let model = wide_row.iter().find(|(c, _)| c == "MODEL").unwrap();
    assert_eq!(model.1, status["model"].as_str().unwrap(), "{wide}");
    let out = emu
        .kubectl()
        .args(["describe", "sp", "web"])
        .output()
        .await
        .unwrap();
    let described = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(described.contains("ScaledUp"), "{described}");
    assert!(described.contains("ForecastAhead"), "{described}");
    // Per metric: its target, unit, average and what it asks for; which metric decided;
    // Events in HPA's voice.
    let words = described.split_whitespace().collect::<Vec<_>>().join(" ");
    for needed in [
        "Decided By: http",
        "Target: 0.05",
        "Unit: req/s",
        "Reactive Replicas:",
        "Predicted Replicas:",
        "New size: ",
    ] {
        assert!(words.contains(needed), "{needed} missing in\n{described}");
    }

    // Prometheus goes away: metrics unavailable, replicas never drop; then it comes back.
    let before = replicas(&emu, "web", "spec");
    prometheus.stop();
    eventually(LIMIT, "MetricsAvailable=False", || async {
        let p = get_policy(&emu, "web").await;
        condition(&p, "MetricsAvailable")
            .filter(|c| c["status"] == "False")
            .map(|_| ())
    })
    .await;
    for _ in 0..10 {
        assert!(
            replicas(&emu, "web", "spec") >= before,
            "scaled down on missing data"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    prometheus.restart();
    eventually(LIMIT, "MetricsAvailable=True again", || async {
        let p = get_policy(&emu, "web").await;
        condition(&p, "MetricsAvailable")
            .filter(|c| c["status"] == "True")
            .map(|_| ())
    })
    .await;
    let events = events_for(&emu, "web").await;
    assert!(
        events.iter().any(|e| e.1 == "FallbackEntered"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.1 == "FallbackLeft"), "{events:?}");
}

/// A scene where the HPA algorithm decides: ten minutes of history against minHistory 1h
/// (no forecast), a 15-second rate sampled every 5 s, the load at `rate` req/s and 0.1 per
/// replica; Deployment `api` at 2 with pods Ready in 200 ms, and its policy (fast
/// scale-up) to adjust and seed.
pub(crate) async fn reactive_scene(rate: f64) -> (PrometheusServer, Emulator, serde_json::Value) {
    reactive_scene_with(rate, None).await
}

/// [`reactive_scene`], with `pods_ready_after`: the Deployment's pods exist and each new
/// one becomes Ready that long after its creation.
pub(crate) async fn reactive_scene_with(
    rate: f64,
    pods_ready_after: Option<Duration>,
) -> (PrometheusServer, Emulator, serde_json::Value) {
    let mut series =
        Series::new("http_requests_total", &[("job", "api")], &nasa(), AT).history(600);
    series.sample_every = 5;
    let prometheus = PrometheusServer::start(vec![series]);
    prometheus.set_rate(0, rate);
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    match pods_ready_after {
        Some(delay) => emu.run_workload_controller_with_pods(delay),
        None => emu.run_workload_controller(Duration::from_millis(200)),
    }
    seed_deployment(&emu, "api", 2);
    let query = r#"sum(rate(http_requests_total{job="api"}[15s]))"#;
    let mut p = policy("api", "api", "Auto", query, 0.1);
    p["spec"]["forecast"] = json!({"step": "5s", "history": "1h", "minHistory": "1h"});
    p["spec"]["behavior"] = json!({
        "scaleUp": {"policies": [{"type": "Pods", "value": 100, "periodSeconds": 1}]},
    });
    (prometheus, emu, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_keeps_the_stabilization_window() {
    let _serial = SERIAL.lock().await;
    let (prometheus, emu, mut p) = reactive_scene(1.0).await;
    p["spec"]["behavior"]["scaleDown"] = json!({"stabilizationWindowSeconds": 600});
    seed_policy(&emu, p);
    prometheus.wait_until_scraped();
    let mut op = Operator::start(
        &emu,
        &prometheus.url(),
        "restart-1",
        &["--leader-elect=false"],
    );
    // 1 req/s at 0.1 per replica: 10 replicas, or 11 when the sampled rate reads a hair
    // above 1 (HPA rounds up); settled once the HPA answer is the count it has.
    let scaled = eventually(LIMIT, "scaled up to 10 on 1 req/s", || async {
        let n = replicas(&emu, "api", "spec");
        let p = get_policy(&emu, "api").await;
        let settled = p["status"]["reactiveReplicas"].as_i64() == Some(n);
        (n >= 10 && settled).then_some(n)
    })
    .await;
    // Load drops to a tenth: the HPA algorithm wants 1, stabilization holds 10.
    prometheus.set_rate(0, 0.1);
    eventually(LIMIT, "the drop seen", || async {
        let p = get_policy(&emu, "api").await;
        (p["status"]["reactiveReplicas"].as_i64()? < 5).then_some(())
    })
    .await;
    let p = get_policy(&emu, "api").await;
    assert_eq!(
        replicas(&emu, "api", "spec"),
        scaled,
        "stabilized: {}",
        p["status"]
    );
    op.kill();
    let writes = emu.count_requests("PATCH", "/deployments/api/scale");
    let op = Operator::start(
        &emu,
        &prometheus.url(),
        "restart-2",
        &["--leader-elect=false"],
    );
    // The new process reconciles three times, reading the metrics each time ...
    eventually(LIMIT, "the new operator reconciling", || async {
        let full = op
            .logs()
            .lines()
            .filter(|l| l.contains("reconciled namespace=default policy=api"))
            .filter(|l| !l.contains("prometheus_us=0"))
            .count();
        (full >= 3).then_some(())
    })
    .await;
    // ... and keeps the replicas, because the window's recommendations came with status.
    let p = get_policy(&emu, "api").await;
    assert_eq!(
        replicas(&emu, "api", "spec"),
        scaled,
        "no scale-down burst after the restart: {}",
        p["status"]
    );
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/api/scale"),
        writes
    );
    assert!(
        p["status"]["reactiveReplicas"].as_i64().unwrap() < 5,
        "{}",
        p["status"]
    );
    assert_eq!(
        condition(&p, "ScalingLimited").unwrap()["reason"],
        "Stabilizing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_live_metrics_the_one_needing_more_decides_and_forecast_only_writes_nothing() {
    let _serial = SERIAL.lock().await;
    // Two request rates of one workload, ten minutes of history each (no forecast yet: the
    // HPA algorithm decides per metric, the larger count wins).
    let series = |job: &str| {
        let mut s = Series::new("http_requests_total", &[("job", job)], &nasa(), AT).history(600);
        s.sample_every = 5;
        s
    };
    let prometheus = PrometheusServer::start(vec![series("web"), series("grpc")]);
    prometheus.set_rate(0, 0.2);
    prometheus.set_rate(1, 1.0);
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    emu.run_workload_controller(Duration::from_millis(200));
    seed_deployment(&emu, "web", 1);
    let rate = |job: &str| format!(r#"sum(rate(http_requests_total{{job="{job}"}}[15s]))"#);
    let mut p = policy("web", "web", "Auto", &rate("web"), 0.1);
    p["spec"]["metrics"] = json!([
        {"type": "RequestRate", "name": "http", "requestRate": {"query": rate("web"), "targetPerReplica": 0.1}},
        {"type": "RequestRate", "name": "grpc", "requestRate": {"query": rate("grpc"), "targetPerReplica": 0.1}}
    ]);
    p["spec"]["forecast"] = json!({"step": "5s", "history": "1h", "minHistory": "1h"});
    p["spec"]["behavior"] = json!({
        "scaleUp": {"policies": [{"type": "Pods", "value": 100, "periodSeconds": 1}]}
    });
    seed_policy(&emu, p);
    prometheus.wait_until_scraped();
    let _op = Operator::start(
        &emu,
        &prometheus.url(),
        "two-metrics",
        &["--leader-elect=false"],
    );
    // http alone needs 2 (0.2 / 0.1), grpc 10 (1.0 / 0.1): grpc decides.
    let p = eventually(LIMIT, "scaled to what grpc needs", || async {
        let p = get_policy(&emu, "web").await;
        (replicas(&emu, "web", "spec") >= 10 && p["status"]["metrics"].as_array()?.len() == 2)
            .then_some(p)
    })
    .await;
    let n = replicas(&emu, "web", "spec");
    assert!(n <= 11, "grpc's count, not more: {n} {}", p["status"]);
    let metrics = p["status"]["metrics"].as_array().unwrap();
    let current = |name: &str| {
        metrics.iter().find(|m| m["name"] == name).unwrap()["current"]
            .as_f64()
            .unwrap()
    };
    assert!((0.15..0.25).contains(&current("http")), "{metrics:?}");
    assert!((0.9..1.1).contains(&current("grpc")), "{metrics:?}");
    assert_eq!(condition(&p, "MetricsAvailable").unwrap()["status"], "True");

    // ForecastOnly on live metrics: the doubled grpc load shows in status, nothing is written.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        emu.client().await,
        "default",
        &kube::discovery::ApiResource::erase::<prescaler::policy::ScalingPolicy>(&()),
    );
    api.patch(
        "web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"mode": "ForecastOnly"}})),
    )
    .await
    .expect("mode changed");
    let writes = emu.count_requests("PATCH", "/deployments/web/scale");
    prometheus.set_rate(1, 2.0);
    eventually(LIMIT, "the doubled load computed, not written", || async {
        let p = get_policy(&emu, "web").await;
        (p["status"]["desiredReplicas"].as_i64()? >= 20).then_some(())
    })
    .await;
    assert_eq!(
        replicas(&emu, "web", "spec"),
        n,
        "ForecastOnly wrote nothing"
    );
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        writes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_floor_on_a_real_forecast_survives_a_leader_failover() {
    let _serial = SERIAL.lock().await;
    let trace = TraceRate::load(&nasa());
    let series =
        Series::new("http_requests_total", &[("job", "web")], &nasa(), AT).history(3 * DAY + 3600);
    let prometheus = PrometheusServer::start(vec![series]);
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    let current = (trace.mean(AT - 60, AT) / PER_REPLICA).ceil() as i32;
    seed_deployment(&emu, "web", current);
    crate::support::operator::seed_hpa(&emu, "web-hpa", "web", current);
    let query = r#"sum(rate(http_requests_total{job="web"}[1m]))"#;
    let mut p = policy("web", "web", "HPAFloor", query, PER_REPLICA);
    p["spec"]["forecast"]["history"] = json!("3d");
    p["spec"]["forecast"]["headroom"] = json!(20);
    seed_policy(&emu, p);
    let url = prometheus.url();
    let mut a = Operator::start(&emu, &url, "floor-a", &elect("operator-a"));
    let mut b = Operator::start(&emu, &url, "floor-b", &elect("operator-b"));
    let floor = || {
        let h = hpa(&emu, "web-hpa");
        (
            h["spec"]["minReplicas"].as_i64().unwrap_or(0),
            h["metadata"]["annotations"]["autoscaling.prescaler.io/original-min-replicas"]
                .as_str()
                .map(str::to_string),
        )
    };
    let holder = || {
        emu.object("coordination.k8s.io", "leases", "default", "prescaler")
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    let forecast_floor = || async {
        let p = get_policy(&emu, "web").await;
        let status = &p["status"];
        // A forecast in use, and the floor set to the decision (which stabilization may
        // hold above the forecast's own count).
        status["predictedReplicas"].as_i64()?;
        let reliable = condition(&p, "ForecastReliable")?["status"] == "True";
        let (min, _) = floor();
        (reliable && min == status["desiredReplicas"].as_i64()? && min > i64::from(current))
            .then_some(min)
    };
    let raised = eventually(
        LIMIT,
        "the HPA's floor raised to the forecast",
        forecast_floor,
    )
    .await;
    assert!(raised > i64::from(current), "{raised} vs {current}");
    assert_eq!(floor().1.as_deref(), Some(current.to_string().as_str()));
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        0,
        "HPAFloor writes the HPA, never the target"
    );

    // The leader dies; the standby takes over, takes up the model choice the status keeps
    // (no backtest, so the choice is the same text) and keeps the floor.
    let kept = |p: &serde_json::Value| {
        p["status"]["metrics"][0]["choice"]
            .as_str()
            .map(String::from)
    };
    let choice = kept(&get_policy(&emu, "web").await).expect("the status keeps the choice");
    let first = holder().expect("a leader");
    let (dead, survivor) = if first == "operator-a" {
        (&mut a, "operator-b")
    } else {
        (&mut b, "operator-a")
    };
    dead.kill();
    eventually(LIMIT, "the standby leads", || async {
        (holder().as_deref() == Some(survivor)).then_some(())
    })
    .await;
    let writes = emu.count_requests("PATCH", "/scalingpolicies/web/status");
    eventually(LIMIT, "the new leader forecasting the floor", || async {
        let written = emu.count_requests("PATCH", "/scalingpolicies/web/status") > writes;
        if written {
            forecast_floor().await
        } else {
            None
        }
    })
    .await;
    let (min, original) = floor();
    assert!(
        min > i64::from(current),
        "the floor held across the failover: {min}"
    );
    assert_eq!(
        original.as_deref(),
        Some(current.to_string().as_str()),
        "the HPA's own minReplicas still remembered"
    );
    assert_eq!(emu.count_requests("PATCH", "/deployments/web/scale"), 0);
    assert_eq!(
        kept(&get_policy(&emu, "web").await),
        Some(choice),
        "the new leader forecast from the kept choice, not a choice of its own"
    );
}
