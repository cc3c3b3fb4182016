//! The operator's HTTP endpoints over real HTTP on a loopback port, read with reqwest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prescaler::telemetry::{
    Direction, Health, MetricGauges, OperatorMetrics, PolicyGauges, ReconcileResult,
    TelemetryError, TelemetryServer,
};
use tokio::sync::oneshot;

/// A running server and what drives it; stops when dropped.
struct Running {
    base: String,
    metrics: Arc<OperatorMetrics>,
    health: Health,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TelemetryServer::bind("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("bind a loopback port");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "the bound port is reported");
    let metrics = Arc::new(OperatorMetrics::new());
    let health = Health::new();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(metrics.clone(), health.clone(), async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    Running {
        base: format!("http://{addr}"),
        metrics,
        health,
        http,
        _stop: stop,
    }
}

impl Running {
    async fn get(&self, path: &str) -> (u16, Option<String>, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("a response");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.text().await.expect("a body");
        (status, content_type, body)
    }

    async fn metrics_text(&self) -> String {
        let (status, content_type, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        assert_eq!(
            content_type.as_deref(),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        body
    }
}

/// The sample lines (not comments) of `text` whose name is exactly `name`.
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_waits_for_the_controller() {
    let server = start().await;
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/healthz").await.2, "ok");

    let (status, _, body) = server.get("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body, "waiting for the ScalingPolicy watch to sync");

    server.health.set_ready(true);
    let (status, _, body) = server.get("/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    server.health.set_ready(false);
    assert_eq!(server.get("/readyz").await.0, 503);
    assert_eq!(server.get("/nothing").await.0, 404);
}

#[tokio::test]
async fn metrics_export_every_family_with_its_labels_and_values() {
    let server = start().await;
    let m = &server.metrics;
    m.reconciled(ReconcileResult::Success, Duration::from_millis(30));
    m.reconciled(ReconcileResult::Success, Duration::from_millis(40));
    m.reconciled(ReconcileResult::Error, Duration::from_millis(7));
    m.reconcile_error("prometheus");
    m.prometheus_query(true, Duration::from_millis(12));
    m.prometheus_query(false, Duration::from_secs(2));
    m.set_policy(
        "shop",
        "web",
        PolicyGauges {
            current: 3,
            reactive: Some(4),
            predicted: Some(6),
            desired: 6,
            ..PolicyGauges::default()
        },
    );
    m.set_metric(
        "shop",
        "web",
        "requests",
        MetricGauges {
            value: Some(120.5),
            forecast: Some(180.0),
            peak: Some(210.25),
            error: Some(0.75),
            loss_ratio: Some(0.8),
            ..MetricGauges::default()
        },
    );
    m.set_leader(true);
    m.set_cache_bytes(4096);

    let text = server.metrics_text().await;
    let policy = "{namespace=\"shop\",policy=\"web\"}";
    let metric = "{namespace=\"shop\",policy=\"web\",metric=\"requests\"}";
    let expected = [
        "prescaler_reconciles_total{result=\"success\"} 2".to_string(),
        "prescaler_reconciles_total{result=\"error\"} 1".to_string(),
        "prescaler_reconcile_errors_total{reason=\"prometheus\"} 1".to_string(),
        "prescaler_reconcile_duration_seconds_count 3".to_string(),
        "prescaler_prometheus_queries_total{outcome=\"ok\"} 1".to_string(),
        "prescaler_prometheus_queries_total{outcome=\"error\"} 1".to_string(),
        "prescaler_prometheus_query_duration_seconds_count 2".to_string(),
        format!("prescaler_current_replicas{policy} 3"),
        format!("prescaler_reactive_replicas{policy} 4"),
        format!("prescaler_predicted_replicas{policy} 6"),
        format!("prescaler_desired_replicas{policy} 6"),
        format!("prescaler_metric_value{metric} 120.5"),
        format!("prescaler_forecast_value{metric} 180.0"),
        format!("prescaler_forecast_peak{metric} 210.25"),
        format!("prescaler_forecast_error{metric} 0.75"),
        format!("prescaler_forecast_loss_ratio{metric} 0.8"),
        "prescaler_leader 1".to_string(),
        "prescaler_history_cache_bytes 4096".to_string(),
    ];
    for line in &expected {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    // Durations land in the right buckets: 7 ms, 30 ms, 40 ms are all ≤ 0.08 s.
    assert!(
        text.lines()
            .any(|l| l == "prescaler_reconcile_duration_seconds_bucket{le=\"0.08\"} 3"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "prescaler_prometheus_query_duration_seconds_sum 2.012"),
        "{text}"
    );
    // Every family has HELP text.
    for family in [
        "prescaler_reconciles",
        "prescaler_reconcile_errors",
        "prescaler_reconcile_duration_seconds",
        "prescaler_prometheus_queries",
        "prescaler_prometheus_query_duration_seconds",
        "prescaler_current_replicas",
        "prescaler_reactive_replicas",
        "prescaler_predicted_replicas",
        "prescaler_desired_replicas",
        "prescaler_metric_value",
        "prescaler_forecast_value",
        "prescaler_forecast_peak",
        "prescaler_forecast_error",
        "prescaler_forecast_loss_ratio",
        "prescaler_leader",
        "prescaler_history_cache_bytes",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# HELP {family} "))),
            "no HELP for {family} in\n{text}"
        );
    }

    m.set_leader(false);
    m.set_cache_bytes(0);
    let text = server.metrics_text().await;
    assert_eq!(samples(&text, "prescaler_leader"), ["prescaler_leader 0"]);
    assert_eq!(
        samples(&text, "prescaler_history_cache_bytes"),
        ["prescaler_history_cache_bytes 0"]
    );
}

#[tokio::test]
async fn absent_values_remove_their_series_instead_of_going_stale() {
    let server = start().await;
    let m = &server.metrics;
    let full = PolicyGauges {
        current: 2,
        reactive: Some(2),
        predicted: Some(5),
        desired: 5,
        ..PolicyGauges::default()
    };
    m.set_policy("shop", "web", full);
    m.set_metric(
        "shop",
        "web",
        "requests",
        MetricGauges {
            value: Some(10.0),
            forecast: Some(12.0),
            peak: Some(15.0),
            error: Some(0.5),
            loss_ratio: Some(0.9),
            ..MetricGauges::default()
        },
    );
    let text = server.metrics_text().await;
    assert_eq!(samples(&text, "prescaler_predicted_replicas").len(), 1);
    assert_eq!(samples(&text, "prescaler_forecast_value").len(), 1);

    // The forecast dropped out: its series go, the others stay with their new values.
    m.set_policy(
        "shop",
        "web",
        PolicyGauges {
            predicted: None,
            desired: 2,
            ..full
        },
    );
    m.set_metric(
        "shop",
        "web",
        "requests",
        MetricGauges {
            value: Some(11.0),
            ..MetricGauges::default()
        },
    );
    let text = server.metrics_text().await;
    assert!(
        samples(&text, "prescaler_predicted_replicas").is_empty(),
        "{text}"
    );
    assert!(
        samples(&text, "prescaler_forecast_value").is_empty(),
        "{text}"
    );
    assert!(
        samples(&text, "prescaler_forecast_peak").is_empty(),
        "{text}"
    );
    assert!(
        samples(&text, "prescaler_forecast_error").is_empty(),
        "{text}"
    );
    assert!(
        samples(&text, "prescaler_forecast_loss_ratio").is_empty(),
        "{text}"
    );
    assert_eq!(
        samples(&text, "prescaler_desired_replicas"),
        ["prescaler_desired_replicas{namespace=\"shop\",policy=\"web\"} 2"]
    );
    assert_eq!(
        samples(&text, "prescaler_metric_value"),
        ["prescaler_metric_value{namespace=\"shop\",policy=\"web\",metric=\"requests\"} 11.0"]
    );
}

#[tokio::test]
async fn a_deleted_policy_loses_all_its_series_and_others_keep_theirs() {
    let server = start().await;
    let m = &server.metrics;
    for policy in ["web", "api"] {
        m.set_policy(
            "shop",
            policy,
            PolicyGauges {
                current: 1,
                reactive: Some(1),
                predicted: Some(2),
                desired: 2,
                ..PolicyGauges::default()
            },
        );
        for metric in ["requests", "cpu"] {
            m.set_metric(
                "shop",
                policy,
                metric,
                MetricGauges {
                    value: Some(1.0),
                    forecast: Some(2.0),
                    peak: Some(3.0),
                    error: Some(0.4),
                    loss_ratio: None,
                    ..MetricGauges::default()
                },
            );
        }
    }
    let text = server.metrics_text().await;
    // Ten per-policy series (current, reactive, predicted, desired, forecast-added, three
    // time totals, scale writes up and down) and five per metric (four and its type).
    assert_eq!(text.matches("policy=\"web\"").count(), 10 + 2 * 5, "{text}");

    m.remove_policy("shop", "web");
    let text = server.metrics_text().await;
    assert_eq!(text.matches("policy=\"web\"").count(), 0, "{text}");
    assert_eq!(text.matches("policy=\"api\"").count(), 10 + 2 * 5, "{text}");

    m.remove_metric("shop", "api", "cpu");
    let text = server.metrics_text().await;
    assert!(!text.contains("metric=\"cpu\""), "{text}");
    assert_eq!(text.matches("metric=\"requests\"").count(), 5);
}

#[tokio::test]
async fn time_totals_scale_writes_and_the_forecast_made_for_now() {
    let server = start().await;
    let m = &server.metrics;
    // Three replicas where load asks for four, six decided: short, and two added.
    let at = |t: i64| PolicyGauges {
        current: 3,
        reactive: Some(4),
        predicted: Some(6),
        desired: 6,
        quantile: Some(0.9),
        at: t,
        sync_s: 15,
        ..PolicyGauges::default()
    };
    // A 30 s lead: what is forecast at t is for t + 30.
    let metric = |t: i64, forecast: f64| MetricGauges {
        value: Some(forecast - 5.0),
        forecast: Some(forecast),
        upper: Some(forecast + 20.0),
        due_at: Some(t + 30),
        at: t,
        metric_type: "RequestRate",
        ..MetricGauges::default()
    };
    let policy = "{namespace=\"shop\",policy=\"web\"}";
    let labels = "{namespace=\"shop\",policy=\"web\",metric=\"http\"}";
    m.set_policy("shop", "web", at(1_000));
    m.scale_written("shop", "web", Direction::Up);
    m.set_metric("shop", "web", "http", metric(1_000, 100.0));
    let text = server.metrics_text().await;
    for line in [
        format!("prescaler_replica_seconds_total{policy} 0.0"),
        format!("prescaler_shortfall_seconds_total{policy} 0.0"),
        format!("prescaler_forecast_quantile{policy} 0.9"),
        "prescaler_scale_writes_total{namespace=\"shop\",policy=\"web\",direction=\"up\"} 1"
            .to_string(),
        "prescaler_scale_writes_total{namespace=\"shop\",policy=\"web\",direction=\"down\"} 0"
            .to_string(),
        "prescaler_metric_info{namespace=\"shop\",policy=\"web\",metric=\"http\",metric_type=\"RequestRate\"} 1"
            .to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
    }
    // Nothing was forecast for now yet.
    assert!(
        samples(&text, "prescaler_forecast_due_value").is_empty(),
        "{text}"
    );

    m.set_policy("shop", "web", at(1_015));
    m.set_metric("shop", "web", "http", metric(1_015, 110.0));
    m.set_policy("shop", "web", at(1_030));
    m.set_metric("shop", "web", "http", metric(1_030, 120.0));
    let text = server.metrics_text().await;
    for line in [
        // 30 s at 3 replicas, 2 of them added, all of it short of the 4 asked for.
        format!("prescaler_replica_seconds_total{policy} 90.0"),
        format!("prescaler_forecast_added_replica_seconds_total{policy} 60.0"),
        format!("prescaler_shortfall_seconds_total{policy} 30.0"),
        // What was forecast at 1000 for 1030.
        format!("prescaler_forecast_due_value{labels} 100.0"),
        format!("prescaler_forecast_due_upper{labels} 120.0"),
        format!("prescaler_metric_value{labels} 115.0"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }

    // The policy went away for an hour (another replica led): the gap is not counted.
    m.set_policy("shop", "web", at(4_630));
    let text = server.metrics_text().await;
    assert!(
        text.lines()
            .any(|l| l == format!("prescaler_replica_seconds_total{policy} 90.0")),
        "{text}"
    );

    // The metric changed type: one info series, with the new type.
    m.set_metric(
        "shop",
        "web",
        "http",
        MetricGauges {
            metric_type: "PromQL",
            ..metric(4_630, 1.0)
        },
    );
    let text = server.metrics_text().await;
    assert_eq!(samples(&text, "prescaler_metric_info").len(), 1, "{text}");
    assert!(text.contains("metric_type=\"PromQL\""), "{text}");
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error_naming_the_flag() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr: SocketAddr = taken.local_addr().expect("its address");
    let err = TelemetryServer::bind(addr)
        .await
        .expect_err("the port is taken");
    assert!(matches!(err, TelemetryError::Bind { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&addr.to_string()), "{text}");
    assert!(text.contains("--metrics-addr"), "{text}");
    assert!(
        text.contains("another process already uses that port"),
        "{text}"
    );
}

#[tokio::test]
async fn serve_stops_when_shutdown_completes() {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let served = prescaler::telemetry::serve(
        addr,
        Arc::new(OperatorMetrics::new()),
        Health::new(),
        std::future::ready(()),
    );
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("the server stops")
        .expect("and reports no error");
}
