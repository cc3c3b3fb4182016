//! The Grafana dashboard and the alert rules on the operator's real `/metrics`: the real
//! binary forecasts a policy on three days of NASA traffic (one metric of each type) against
//! the API emulator, a real Prometheus scrapes the operator every second and evaluates the
//! chart's rule file, and every query of the dashboard must return data.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::forecast::{AT, DAY, PER_REPLICA, SERIAL, nasa};
use crate::support::kube_api::Emulator;
use crate::support::operator::{
    Operator, eventually, install_crd, policy, seed_deployment, seed_policy,
};
use crate::support::prometheus::{PrometheusServer, Series, prescaler_names};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const LIMIT: Duration = Duration::from_secs(120);

/// Every PromQL expression of the dashboard, with where it is (panel title and refId, or
/// the annotation's name), and its template variables set as Grafana would for policy
/// `web` in namespace `default`.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = Path::new(ROOT).join("charts/prescaler/files/dashboards/prescaler.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).unwrap();
    let fill = |expr: &str| {
        expr.replace("$namespace", "default")
            .replace("$policy", "web")
            .replace("$__rate_interval", "15s")
            .replace("$__range", "5m")
    };
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            queries.push((
                format!("panel {:?} query {}", panel["title"], target["refId"]),
                fill(expr),
            ));
        }
    }
    for annotation in dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations")
    {
        let expr = annotation["expr"].as_str().expect("a PromQL expression");
        queries.push((format!("annotation {:?}", annotation["name"]), fill(expr)));
    }
    assert!(queries.len() > 20, "{queries:?}");
    queries
}

fn has_data(data: &Value) -> bool {
    data["result"].as_array().is_some_and(|r| !r.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_and_alert_rule_works_on_the_operators_real_metrics() {
    let _serial = SERIAL.lock().await;
    let series =
        Series::new("http_requests_total", &[("job", "web")], &nasa(), AT).history(3 * DAY + 3600);
    let mut prometheus = PrometheusServer::start(vec![series]);
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    emu.run_workload_controller(Duration::from_secs(1));
    seed_deployment(&emu, "web", 1);
    // One metric of each type, so that each unit's panel has a series; the request rate
    // decides.
    let rate = r#"sum(rate(http_requests_total{job="web"}[1m]))"#;
    let mut p = policy("web", "web", "Auto", rate, PER_REPLICA);
    p["spec"]["metrics"] = json!([
        {"type": "RequestRate", "name": "http",
         "requestRate": {"query": rate, "targetPerReplica": PER_REPLICA}},
        {"type": "CPU", "name": "cpu", "cpu": {"query": format!("{rate} / 100"), "targetPerReplica": "1"}},
        {"type": "Memory", "name": "memory",
         "memory": {"query": format!("{rate} * 1000000"), "targetAverageValue": "1Gi"}},
        {"type": "PromQL", "name": "queue",
         "promql": {"query": format!("{rate} / 10"), "targetPerReplica": 1000}},
    ]);
    p["spec"]["forecast"]["history"] = json!("3d");
    // A short lead, so that forecasts reach the moment they were made for within a minute.
    p["spec"]["forecast"]["leadTime"] = json!("1m");
    seed_policy(&emu, p);
    let op = Operator::start(
        &emu,
        &prometheus.url(),
        "dashboard",
        &["--leader-elect=false"],
    );
    let addr = eventually(LIMIT, "the operator's metrics address", || async {
        op.telemetry_addr()
    })
    .await;
    let rules = Path::new(ROOT).join("charts/prescaler/files/rules/prescaler.rules.yaml");
    prometheus.scrape_also("prescaler", &addr, &[rules]);

    // The first scale-up came before Prometheus looked; one after it, for the annotation.
    eventually(LIMIT, "the first scale-up", || async {
        let d = emu.object("apps", "deployments", "default", "web")?;
        (d["spec"]["replicas"].as_i64()? > 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = emu
        .kubectl()
        .args(["scale", "deployment", "web", "--replicas=1"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let queries = dashboard_queries();
    let deadline = Instant::now() + LIMIT;
    let empty = loop {
        let empty: Vec<&(String, String)> = queries
            .iter()
            .filter(|(_, expr)| !has_data(&prometheus.query(expr)))
            .collect();
        if empty.is_empty() || Instant::now() > deadline {
            break empty;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert!(
        empty.is_empty(),
        "dashboard queries with no data after {}s:\n{empty:#?}\npolicy status: {}",
        LIMIT.as_secs(),
        crate::support::operator::get_policy(&emu, "web").await["status"]
    );
    // The variables' own queries.
    for (label, matcher) in [
        ("namespace", "prescaler_desired_replicas"),
        (
            "policy",
            r#"prescaler_desired_replicas{namespace="default"}"#,
        ),
    ] {
        let encoded: String = form_urlencoded::byte_serialize(matcher.as_bytes()).collect();
        let values = prometheus.api(
            &format!("/api/v1/label/{label}/values?match[]={encoded}"),
            label,
        );
        let want = if label == "policy" { "web" } else { "default" };
        assert_eq!(values, json!([want]), "variable {label}");
    }
    // What the panels show is what happened: the forecast made for now is near the load,
    // and the shortfall made by hand is counted.
    let coverage = prometheus.query(
        r#"prescaler_metric_value{metric="http"} / prescaler_forecast_due_value{metric="http"}"#,
    );
    let ratio: f64 = coverage["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("actual ÷ forecast");
    assert!(
        (0.5..2.0).contains(&ratio),
        "the forecast made a minute ago is within a factor 2 of the load: {ratio}"
    );
    let short = prometheus.query(r#"prescaler_shortfall_seconds_total{policy="web"}"#);
    assert!(
        short["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|s| s > 0.0),
        "scaled to 1 by hand, the policy was short until it scaled back: {short}"
    );

    // The alert rules evaluate on these series without error, and none fires.
    let groups = prometheus.api("/api/v1/rules", "rules");
    let rules: Vec<Value> = groups["groups"]
        .as_array()
        .expect("rule groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(rules.len(), 4, "{groups}");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule}");
        assert_eq!(rule["state"], "inactive", "{rule}");
        // Every metric a rule names has series.
        for name in prescaler_names(rule["query"].as_str().unwrap()) {
            assert!(
                has_data(&prometheus.query(&format!("group({name})"))),
                "{} uses {name}, which has no series",
                rule["name"]
            );
        }
    }
}
