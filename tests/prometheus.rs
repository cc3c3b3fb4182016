//! The Prometheus metric source against the real `prometheus` server (Debian's package),
//! loaded with a week of a real trace and fed live by an exporter in this process.

#[allow(dead_code)] // shared harness: this crate uses the Prometheus harness and policy builders
mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prescaler::metrics::{
    Auth, HistoryCache, MetricError, MetricSource, Pods, Prometheus, PrometheusArgs, SeriesKey,
    queries,
};
use support::prometheus::{PrometheusServer, RecordingProxy, Series, TraceRate};

const DAY: u64 = 86_400;
/// 1995-07-09 04:00 UTC: eight days into the NASA trace, so a week of history precedes it.
const NASA_AT: i64 = 804_571_200 + 8 * DAY as i64;
const QUERY: &str = r#"sum(rate(http_requests_total{job="web"}[2m]))"#;

fn nasa() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces/nasa_http_jul1995_1min.csv")
}

fn web(history: u64) -> Series {
    Series::new("http_requests_total", &[("job", "web")], &nasa(), NASA_AT).history(history)
}

fn args(url: &str) -> PrometheusArgs {
    PrometheusArgs {
        url: Some(url.to_string()),
        ..PrometheusArgs::default()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn key(metric: &str) -> SeriesKey {
    SeriesKey {
        namespace: "shop".into(),
        policy: "web".into(),
        metric: metric.into(),
    }
}

#[tokio::test]
async fn a_week_of_history_matches_the_trace_and_the_next_cycle_fetches_only_the_tail() {
    let mut series = web(7 * DAY + 600);
    series.sample_every = 60;
    let server = PrometheusServer::start(vec![series]);
    let proxy = RecordingProxy::start(&server.url());
    let cache = HistoryCache::new(Prometheus::new(&args(&proxy.url())).unwrap());
    let now = server.now();
    let step = 30;

    let history = cache
        .history(&key("http"), QUERY, 7 * DAY, step, now)
        .await
        .unwrap();
    assert_eq!(history.len() as u64, 7 * DAY / step + 1);
    let chunks = proxy.requests();
    assert_eq!(chunks.len(), 2, "20,161 points take two range queries");
    for r in &chunks {
        let (start, end, step): (i64, i64, i64) = (
            r.param("start").unwrap().parse().unwrap(),
            r.param("end").unwrap().parse().unwrap(),
            r.param("step").unwrap().parse().unwrap(),
        );
        assert!(
            (end - start) / step < 11_000,
            "chunk within Prometheus' limit: {r:?}"
        );
    }

    // Each point is a rate over the 2-minute window before it: a weighted mean of the trace's
    // per-minute rates in the window, so it lies between their extremes.
    let trace = TraceRate::load(&nasa());
    let shift = now - NASA_AT;
    let mut hourly = (0.0, 0.0);
    for (i, value) in history.values.iter().enumerate() {
        let t = history.start + i as i64 * step as i64 - shift;
        let rates: Vec<f64> = (t - 180..=t).step_by(60).map(|m| trace.at(m)).collect();
        let (lo, hi) = rates
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        assert!(
            *value >= lo - 1e-6 && *value <= hi + 1e-6,
            "at trace time {t}: fetched {value}, trace rates around it {rates:?}"
        );
        hourly.0 += value;
        hourly.1 += trace.mean(t - 120, t);
    }
    let drift = (hourly.0 - hourly.1).abs() / hourly.1;
    assert!(
        drift < 0.01,
        "the week's total differs from the trace's by {drift}"
    );

    proxy.clear();
    let later = unix_now().max(now + 1);
    let again = cache
        .history(&key("http"), QUERY, 7 * DAY, step, later)
        .await
        .unwrap();
    let tail = proxy.requests();
    assert_eq!(
        tail.len(),
        1,
        "one range query per metric per cycle: {tail:?}"
    );
    let start: i64 = tail[0].param("start").unwrap().parse().unwrap();
    let end: i64 = tail[0].param("end").unwrap().parse().unwrap();
    assert!(
        (end - start) / step as i64 <= 2,
        "only the tail is asked for: {tail:?}"
    );
    assert_eq!(again.end(), later.div_euclid(30) * 30 + 30);
    assert_eq!(again.len(), history.len());
    let per_series = cache.memory_bytes();
    assert!(
        per_series < 200_000,
        "{per_series} bytes for one week at 30 s"
    );
}

#[tokio::test]
async fn live_samples_from_the_exporter_reach_the_cache() {
    let server = PrometheusServer::start(vec![web(3600)]);
    let cache = HistoryCache::new(Prometheus::new(&args(&server.url())).unwrap());
    server.set_rate(0, 40.0);
    let query = r#"sum(rate(http_requests_total{job="web"}[5s]))"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // Until two scrapes land, the 5-second rate has nothing to say.
        let last = match cache.history(&key("live"), query, 600, 1, unix_now()).await {
            Ok(s) => *s.values.last().unwrap(),
            Err(MetricError::NoData { .. }) => f64::NAN,
            Err(e) => panic!("{e}"),
        };
        if (last - 40.0).abs() < 4.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the live rate never arrived; last value {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn bad_results_are_typed_outcomes_with_clear_messages() {
    let server = PrometheusServer::start(vec![
        web(3600),
        Series::new("http_requests_total", &[("job", "api")], &nasa(), NASA_AT).history(3600),
    ]);
    let proxy = RecordingProxy::start(&server.url());
    let prometheus = Prometheus::new(&args(&proxy.url())).unwrap();
    let now = server.now();
    let range = |q: &'static str| {
        let p = prometheus.clone();
        async move { p.range(q, now - 600, now, 60).await }
    };

    let err = range("rate(http_requests_total[2m])").await.unwrap_err();
    assert!(
        matches!(err, MetricError::MultipleSeries { count: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("aggregate it, e.g. sum("), "{err}");

    let err = range("no_such_metric_total").await.unwrap_err();
    assert_eq!(err.reason(), "NoData", "{err}");

    let err = range("vector(0) / 0").await.unwrap_err();
    assert_eq!(
        err,
        MetricError::NotFinite {
            query: "vector(0) / 0".into(),
            value: "NaN".into()
        }
    );
    let err = range("vector(1) / 0").await.unwrap_err();
    assert!(err.to_string().contains("+Inf"), "{err}");

    proxy.clear();
    let err = range("sum(rate(http_requests_total[2m])")
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "QueryError");
    assert!(
        err.to_string().contains("parse error"),
        "Prometheus' own words: {err}"
    );
    assert_eq!(proxy.requests().len(), 1, "a 4xx is not retried");

    proxy.clear();
    proxy.fail_next(2, 503);
    let ok = range(QUERY).await.unwrap();
    assert_eq!(ok.len(), 11);
    assert_eq!(
        proxy.requests().len(),
        3,
        "two 503s retried, then the answer"
    );

    let stats = prometheus.stats();
    assert_eq!((stats.queries, stats.errors), (6, 5));
    assert_eq!(stats.requests, 8);
}

#[tokio::test]
async fn a_stopped_prometheus_is_unavailable_then_the_breaker_opens_and_recovers() {
    let mut server = PrometheusServer::start(vec![web(3600)]);
    let settings = PrometheusArgs {
        retries: 1,
        breaker_failures: 2,
        breaker_cooldown: 1,
        ..args(&server.url())
    };
    let prometheus = Prometheus::new(&settings).unwrap();
    let now = server.now();
    prometheus.range(QUERY, now - 300, now, 60).await.unwrap();

    server.stop();
    for _ in 0..2 {
        let err = prometheus
            .range(QUERY, now - 300, now, 60)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "PrometheusUnavailable", "{err}");
        assert!(err.is_unavailable());
    }
    let requests = prometheus.stats().requests;
    let err = prometheus
        .range(QUERY, now - 300, now, 60)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "CircuitOpen", "{err}");
    assert!(err.is_unavailable());
    assert_eq!(
        prometheus.stats().requests,
        requests,
        "an open breaker asks nobody"
    );

    server.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match prometheus.range(QUERY, now - 300, now, 60).await {
            Ok(samples) => {
                assert_eq!(samples.len(), 6, "the history survived the restart");
                break;
            }
            Err(e) => assert!(
                e.reason() == "CircuitOpen" && std::time::Instant::now() < deadline,
                "{e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_slow_prometheus_is_a_timeout() {
    let server = PrometheusServer::start(vec![web(3600)]);
    let proxy = RecordingProxy::start(&server.url());
    proxy.set_latency(Duration::from_secs(5));
    let settings = PrometheusArgs {
        timeout: 1,
        deadline: 2,
        ..args(&proxy.url())
    };
    let cache = HistoryCache::new(Prometheus::new(&settings).unwrap());
    let err = cache
        .history(&key("http"), QUERY, 3600, 60, server.now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "Timeout", "{err}");
    assert!(err.is_unavailable());
    assert_eq!(
        proxy.requests().len(),
        0,
        "still held by the proxy when the client gave up"
    );
}

/// Captures every log line of the test's thread at the most verbose level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn credentials_and_tenant_header_arrive_and_never_leak() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = PrometheusServer::start(vec![web(3600)]);
    let proxy = RecordingProxy::start(&server.url());
    let dir = std::env::temp_dir().join(format!("prescaler-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "tok-first-s3cret\n").unwrap();
    let settings = PrometheusArgs {
        bearer_token_file: Some(token.clone()),
        headers: vec!["X-Scope-OrgID: team-a".to_string()],
        ..args(&proxy.url())
    };
    let prometheus = Prometheus::new(&settings).unwrap();
    let now = server.now();
    let mut errors = Vec::new();
    prometheus.range(QUERY, now - 300, now, 60).await.unwrap();
    std::fs::write(&token, "tok-rotated-s3cret-longer\n").unwrap();
    prometheus.range(QUERY, now - 300, now, 60).await.unwrap();
    proxy.fail_next(1, 401);
    errors.push(
        prometheus
            .range(QUERY, now - 300, now, 60)
            .await
            .unwrap_err(),
    );
    proxy.fail_next(3, 502);
    errors.push(
        prometheus
            .range(QUERY, now - 300, now, 60)
            .await
            .unwrap_err(),
    );

    let password = dir.join("password");
    std::fs::write(&password, "pw-s3cret").unwrap();
    let basic = Prometheus::new(&PrometheusArgs {
        username: Some("alice".into()),
        password_file: Some(password),
        ..args(&proxy.url())
    })
    .unwrap();
    basic.range(QUERY, now - 300, now, 60).await.unwrap();
    let other = prometheus
        .with_address(&proxy.url(), Some(Auth::Bearer("override-s3cret".into())))
        .unwrap();
    other.range(QUERY, now - 300, now, 60).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let seen = proxy.requests();
    let auth: Vec<Option<&str>> = seen.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(auth[0], Some("Bearer tok-first-s3cret"));
    assert_eq!(
        auth[1],
        Some("Bearer tok-rotated-s3cret-longer"),
        "a rotated token file is re-read"
    );
    assert_eq!(seen[0].header("x-scope-orgid"), Some("team-a"));
    assert_eq!(auth[auth.len() - 2], Some("Basic YWxpY2U6cHctczNjcmV0"));
    assert_eq!(auth[auth.len() - 1], Some("Bearer override-s3cret"));
    assert_eq!(
        seen.last().unwrap().header("x-scope-orgid"),
        None,
        "headers of the default connection are not sent to another address"
    );
    assert_eq!(errors[0].reason(), "Unauthorized");
    assert_eq!(errors[1].reason(), "PrometheusUnavailable");

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(!logs.is_empty(), "the capture works");
    let errors: String = errors.iter().map(|e| format!("{e} {e:?}\n")).collect();
    for text in [&logs, &errors, &format!("{prometheus:?} {other:?}")] {
        assert!(!text.contains("s3cret"), "a secret leaked: {text}");
        assert!(!text.contains("YWxpY2U6"), "a secret leaked: {text}");
    }
}

/// Exactly the series a stock kube-prometheus-stack has: cAdvisor's container usage and
/// working set, and kube-state-metrics 2.x's default ownership series (`kube_pod_owner`,
/// `kube_replicaset_owner`, with the labels it documents) — no `kube_pod_labels` for the
/// workloads, since without `--metric-labels-allowlist` it carries no pod labels. Pods:
/// Deployment `web` (ReplicaSets `web-5f7c` and an old `web-77aa`), StatefulSet `db`, an
/// unrelated Deployment `web-canary` whose names start alike, and a custom resource
/// `Worker/queue` whose pods are found by label (kube_pod_labels with the allowlist).
#[tokio::test]
async fn the_built_in_cpu_and_memory_queries_select_the_targets_pods_on_a_stock_install() {
    let trace = nasa();
    let constant = |metric: &str, labels: &[(&str, &str)], value: f64| {
        Series::constant(metric, labels, &trace, NASA_AT, value).history(3600)
    };
    let pod = |name: &str, owner_kind: &str, owner: &str| {
        vec![
            Series::new(
                "container_cpu_usage_seconds_total",
                &[("namespace", "shop"), ("pod", name), ("container", "app")],
                &trace,
                NASA_AT,
            )
            .history(3600),
            constant(
                "container_memory_working_set_bytes",
                &[("namespace", "shop"), ("pod", name), ("container", "app")],
                1e6,
            ),
            constant(
                "kube_pod_owner",
                &[
                    ("namespace", "shop"),
                    ("pod", name),
                    ("uid", &format!("uid-{name}")),
                    ("owner_kind", owner_kind),
                    ("owner_name", owner),
                    ("owner_is_controller", "true"),
                ],
                1.0,
            ),
        ]
    };
    let replicaset = |name: &str, deployment: &str| {
        constant(
            "kube_replicaset_owner",
            &[
                ("namespace", "shop"),
                ("replicaset", name),
                ("owner_kind", "Deployment"),
                ("owner_name", deployment),
                ("owner_is_controller", "true"),
            ],
            1.0,
        )
    };
    let mut series = pod("web-5f7c-a1", "ReplicaSet", "web-5f7c");
    series.extend(pod("web-77aa-b2", "ReplicaSet", "web-77aa"));
    series.extend(pod("web-canary-9c0d-c3", "ReplicaSet", "web-canary-9c0d"));
    series.extend(pod("db-0", "StatefulSet", "db"));
    series.extend(pod("queue-x1", "Worker", "queue"));
    series.push(replicaset("web-5f7c", "web"));
    series.push(replicaset("web-77aa", "web"));
    series.push(replicaset("web-canary-9c0d", "web-canary"));
    series.push(constant(
        "kube_pod_labels",
        &[
            ("namespace", "shop"),
            ("pod", "queue-x1"),
            ("label_app", "queue"),
        ],
        1.0,
    ));
    let server = PrometheusServer::start(series);
    let prometheus = Prometheus::new(&args(&server.url())).unwrap();
    let now = server.now();
    let trace_rate = TraceRate::load(&trace);
    let of = |kind: &'static str, name: &'static str, selector: &'static str| Pods {
        kind,
        name,
        selector,
    };
    let last = |query: String| {
        let prometheus = &prometheus;
        async move {
            let samples = prometheus.range(&query, now - 600, now, 60).await;
            samples.map(|s| *s.last().unwrap())
        }
    };

    let cpu = queries(
        &support::policy::cpu_utilization(70),
        "shop",
        &of("Deployment", "web", "app=web"),
    )
    .unwrap();
    let (t, v) = last(cpu.value.clone()).await.unwrap();
    let t = t - (now - NASA_AT);
    let one = trace_rate.mean(t - 120, t);
    assert!(
        (v - 2.0 * one).abs() <= 0.25 * one.max(0.1),
        "the two pods of web's ReplicaSets, not web-canary's or db's: {v} vs 2 × {one}"
    );
    assert!(
        cpu.requests
            .expect("targetUtilization needs the requests query")
            .contains("kube_pod_container_resource_requests")
    );
    let memory = |kind, name, selector| {
        queries(
            &support::policy::memory("512Mi"),
            "shop",
            &of(kind, name, selector),
        )
        .unwrap()
    };
    let bytes = |kind, name, selector| {
        let q = memory(kind, name, selector);
        async move { last(q.value).await.map(|(_, v)| v) }
    };
    assert_eq!(bytes("Deployment", "web", "app=web").await.unwrap(), 2e6);
    assert_eq!(bytes("StatefulSet", "db", "app=db").await.unwrap(), 1e6);
    assert_eq!(
        bytes("Worker", "queue", "app in (queue)").await.unwrap(),
        1e6,
        "a custom kind by its selector's labels"
    );

    let nobody = memory("Deployment", "nobody", "app=nobody");
    let err = nobody.explain(last(nobody.value.clone()).await.unwrap_err());
    assert!(err.to_string().contains("kube_pod_owner"), "{err}");

    let injected = queries(
        &support::policy::memory("1Gi"),
        "shop",
        &of("Worker", "queue", r#"app=web"} or vector(1e9)"#),
    );
    assert_eq!(injected.unwrap_err().reason(), "BadSelector");
    for pods in [
        of("Deployment", r#"web"} or vector(1e9) or x{a=""#, "app=web"),
        of("StatefulSet", r#"db"} or vector(1e9) or x{a=""#, "app=db"),
    ] {
        let q = queries(&support::policy::memory("1Gi"), "shop", &pods).unwrap();
        let err = last(q.value).await.unwrap_err();
        assert_eq!(err.reason(), "NoData", "a name stays a string: {err}");
    }
    let quoted = queries(
        &support::policy::memory("1Gi"),
        "sh\"op",
        &of("Deployment", "web", "app=web"),
    )
    .unwrap();
    let err = last(quoted.value).await.unwrap_err();
    assert_eq!(
        err.reason(),
        "NoData",
        "an odd namespace stays a string: {err}"
    );
}

#[test]
fn simulate_replays_the_history_read_from_prometheus() {
    let mut series = web(DAY + 600);
    series.sample_every = 60;
    let server = PrometheusServer::start(vec![series]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["simulate", "--prometheus", &server.url(), "--query", QUERY])
        .args(["--history", "1d", "--step", "1m", "--json"])
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["trace"], format!("prometheus {QUERY}"));
    assert_eq!(report["strategies"].as_array().unwrap().len(), 6);

    // The default capacity makes the history's peak need 20 pods: the peak of the 2-minute
    // rates over the day, which lies within the trace's per-minute extremes.
    let trace = TraceRate::load(&nasa());
    let peak_minute = (NASA_AT - DAY as i64..=NASA_AT)
        .step_by(60)
        .map(|t| trace.at(t))
        .fold(0.0, f64::max);
    let capacity = report["capacity_per_pod"].as_f64().unwrap();
    assert!(
        capacity * 20.0 <= peak_minute * 1.001 && capacity * 20.0 >= peak_minute * 0.5,
        "capacity {capacity} × 20 vs the trace's busiest minute {peak_minute}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .args(["simulate", "--prometheus", &server.url(), "--json"])
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--query"));
}

/// Two days of the NASA trace in a real Prometheus, and a policy file in a temporary
/// directory scaling `web` on one RequestRate metric (`QUERY` in `metric` stands for the
/// query).
fn two_days_and_a_policy(
    tag: &str,
    metadata: &str,
    bounds: &str,
    metric: &str,
    forecast: &str,
) -> (PrometheusServer, PathBuf, PathBuf) {
    let mut series = web(2 * DAY + 600);
    series.sample_every = 60;
    let server = PrometheusServer::start(vec![series]);
    let dir = std::env::temp_dir().join(format!("prescaler-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    let metric = metric.replace("QUERY", QUERY);
    std::fs::write(
        &policy,
        format!(
            "apiVersion: autoscaling.prescaler.io/v1alpha1\nkind: ScalingPolicy\nmetadata: {metadata}\nspec:\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  {bounds}\n  metrics:\n    - type: RequestRate\n      {metric}\n  forecast: {forecast}\n"
        ),
    )
    .unwrap();
    (server, dir, policy)
}

#[test]
fn backtest_scores_a_policys_forecast_settings_on_the_history_read_from_prometheus() {
    let (server, dir, policy) = two_days_and_a_policy(
        "backtest",
        "{name: web}",
        "maxReplicas: 20",
        "requestRate: {query: 'QUERY', targetPerReplica: 1}",
        "{leadTime: 5m, horizon: 10m, history: 1d, quantile: 0.8, model: HoltWinters}",
    );
    let backtest = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
            .args(["backtest", "--prometheus", &server.url()])
            .arg("--policy")
            .arg(&policy)
            .args(["--span", "2d", "--json"])
            .args(extra)
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    // The policy's query, lead time, horizon and quantile; its model beside the baseline.
    let report = backtest(&[]);
    assert_eq!(report["trace"], format!("prometheus {QUERY}"));
    assert_eq!(report["lead_s"], 300);
    assert_eq!(report["horizon_s"], 600);
    assert_eq!(report["quantile"], 0.8);
    let names: Vec<&str> = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["holt-winters", "seasonal-naive"], "{report}");
    assert!(
        report["models"][0]["windows"].as_u64().unwrap() > 10,
        "a day of origins: {report}"
    );
    // A flag given as well wins.
    let report = backtest(&["--lead", "1m", "--models", "ets"]);
    assert_eq!(report["lead_s"], 60);
    assert_eq!(report["models"][0]["name"], "ets");
    let _ = std::fs::remove_dir_all(&dir);

    // Neither a trace nor Prometheus: says what to give.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .arg("backtest")
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--trace") && err.contains("--prometheus"),
        "{err}"
    );
}

#[test]
fn explain_shows_the_reads_forecast_and_decision_for_a_policy_file() {
    let (server, dir, policy) = two_days_and_a_policy(
        "explain",
        "{name: web, namespace: shop}",
        "maxReplicas: 50",
        "name: http\n      requestRate: {query: 'QUERY', targetPerReplica: 0.05}",
        "{leadTime: 2m, horizon: 10m, history: 2d, minHistory: 1d}",
    );
    let explain = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
            .args(["explain", "--prometheus", &server.url(), "--replicas", "1"])
            .arg("--policy")
            .arg(&policy)
            .args(extra)
            .output()
            .expect("the binary runs")
    };
    let out = explain(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // The reading is the trace's rate now.
    let trace = TraceRate::load(&nasa());
    let expected = trace.mean(NASA_AT - 120, NASA_AT);
    let current = report["status"]["metrics"][0]["current"].as_f64().unwrap();
    assert!(
        (current - expected).abs() <= expected * 0.5 + 0.05,
        "current {current} vs the trace's {expected}: {report}"
    );
    let reactive = report["reactive_replicas"].as_i64().unwrap();
    assert_eq!(reactive, (current / 0.05).ceil() as i64, "{report}");
    let desired = report["desired_replicas"].as_i64().unwrap();
    let asked = reactive.max(report["predicted_replicas"].as_i64().unwrap_or(0));
    // From 1 replica the default scale-up rate cuts a large jump, and says so.
    assert!(
        desired == asked || report["limited_by"] == "ScaleUpPolicy",
        "{report}"
    );
    assert!(
        ["ForecastAhead", "CurrentLoad", "ReactiveOnly", "NoSkill"]
            .contains(&report["reason"].as_str().unwrap()),
        "{report}"
    );
    assert!(
        report["status"]["metrics"][0]["model"].is_string(),
        "a model was chosen: {report}"
    );
    if desired != 1 {
        assert_eq!(
            report["write"],
            format!("scale Deployment web from 1 to {desired}"),
            "{report}"
        );
    }
    // The forecast over the window with its band, after the last hour of history.
    let forecast = &report["forecasts"][0];
    assert_eq!(forecast["metric"], "http");
    let path = forecast["path"].as_array().expect("a forecast path");
    let recent = forecast["recent"].as_array().expect("recent history");
    assert!(recent.len() >= 50, "an hour of history: {forecast}");
    // A forecast the plan uses has its peak in status; one the skill gate closed is still
    // shown, marked as not used, and the condition says why.
    let used = forecast["used"].as_bool().expect("used");
    let peak = report["status"]["metrics"][0]["expectedPeakTime"].is_string();
    assert_eq!(peak, used, "{report}");
    if !used {
        let reliable = report["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "ForecastReliable")
            .expect("ForecastReliable");
        assert_eq!(reliable["status"], "False", "{report}");
        assert!(
            ["NoSkill", "ErrorTooHigh"].contains(&reliable["reason"].as_str().unwrap()),
            "{report}"
        );
    }
    // 2m lead + 10m horizon at 1m steps.
    assert!(path.len() >= 12, "{forecast}");
    assert!(
        path.iter()
            .all(|p| p[2].as_f64().unwrap() >= p[1].as_f64().unwrap() - 1e-9),
        "the band's upper edge is the provisioned quantile, above the point: {forecast}"
    );
    // The same as text, for a terminal, with the plot.
    let svg = dir.join("explain.svg");
    let out = explain(&["--svg", svg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needed in [
        "policy shop/web · Deployment web at 1 replicas",
        "metric http:",
        "per replica →",
        "window    point / quantile 0.9 → replicas at target:",
        "← new pods Ready",
        "decision  ",
        "MetricsAvailable",
        "would ",
    ] {
        assert!(text.contains(needed), "{needed} missing in\n{text}");
    }
    let plot = std::fs::read_to_string(&svg).expect("the plot was written");
    for needed in [
        "metric http: the last hour and the forecast (quantile 0.9)",
        "forecast band: point to quantile 0.9",
        "history",
        "capacity of the 1 replicas now",
        "pods requested now are Ready (leadTime 120s)",
        "minutes from now",
        "req/s",
    ] {
        assert!(plot.contains(needed), "{needed} missing from the plot");
    }
    // Without Prometheus: says what to give.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .arg("explain")
        .arg("--policy")
        .arg(&policy)
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prometheus URL"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The numbers in docs/benchmarks.md ("Reading history from Prometheus"). Prints, asserts
/// nothing about time: `cargo test --release --test prometheus -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test; see docs/benchmarks.md"]
async fn measure_a_week_of_history() {
    let mut series = web(7 * DAY + 600);
    series.sample_every = 60;
    let server = PrometheusServer::start(vec![series]);
    let proxy = RecordingProxy::start(&server.url());
    for step in [60, 30] {
        proxy.clear();
        let prometheus = Prometheus::new(&args(&proxy.url())).unwrap();
        let cache = HistoryCache::new(prometheus.clone());
        let began = std::time::Instant::now();
        let s = cache
            .history(&key("http"), QUERY, 7 * DAY, step, server.now())
            .await
            .unwrap();
        let first = began.elapsed();
        let wire: usize = proxy.requests().iter().map(|r| r.response_bytes).sum();
        let initial = (proxy.requests().len(), prometheus.stats().bytes);
        proxy.clear();
        let began = std::time::Instant::now();
        cache
            .history(&key("http"), QUERY, 7 * DAY, step, unix_now())
            .await
            .unwrap();
        let cycle = began.elapsed();
        println!(
            "step {step}s: {} points; initial fetch {:.0} ms, {} range queries, {} bytes on the wire (gzip), {} bytes JSON; next cycle {} query, {} bytes on the wire, {:.1} ms; cache {} bytes",
            s.len(),
            first.as_secs_f64() * 1e3,
            initial.0,
            wire,
            initial.1,
            proxy.requests().len(),
            proxy
                .requests()
                .iter()
                .map(|r| r.response_bytes)
                .sum::<usize>(),
            cycle.as_secs_f64() * 1e3,
            cache.memory_bytes()
        );
    }
}

/// A throwaway PKI from the openssl command line: a CA, a server certificate for
/// 127.0.0.1 and a client certificate, all signed by it, and a second CA that signs nothing.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "prescaler-pki-{}-{}",
            std::process::id(),
            unix_now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (key, crt, subj) = (
                format!("{ca}.key"),
                format!("{ca}.crt"),
                format!("/CN={ca}"),
            );
            let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &crt]);
            run(&args);
        }
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, cn) in [("server", "127.0.0.1"), ("client", "prescaler")] {
            let (key, csr, crt, ext, subj) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("{name}.ext"),
                format!("/CN={cn}"),
            );
            let mut args = vec!["req", "-subj", &subj];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr]);
            run(&args);
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &crt,
            ]);
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Prometheus' web config: TLS, and client certificates if `mutual`.
    fn web_config(&self, mutual: bool) -> PathBuf {
        let mut text = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            self.path("server.crt").display(),
            self.path("server.key").display()
        );
        if mutual {
            text.push_str(&format!(
                "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
                self.path("ca.crt").display()
            ));
        }
        let path = self.path(if mutual {
            "web-mtls.yml"
        } else {
            "web-tls.yml"
        });
        std::fs::write(&path, text).unwrap();
        path
    }
}

async fn read_one(
    args: &PrometheusArgs,
) -> Result<Vec<(i64, f64)>, prescaler::metrics::MetricError> {
    let prometheus = Prometheus::new(args)?;
    let now = unix_now();
    prometheus.range("vector(1)", now - 60, now, 15).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_verified_against_the_given_ca_and_a_wrong_one_is_refused_clearly() {
    let pki = Pki::new();
    let server = PrometheusServer::start_tls(vec![], &pki.web_config(false));
    assert!(server.url().starts_with("https://"));
    let with_ca = |ca: &str| PrometheusArgs {
        ca_file: Some(pki.path(ca)),
        retries: 0,
        ..args(&server.url())
    };
    let samples = read_one(&with_ca("ca.crt")).await.expect("read over HTTPS");
    assert!(!samples.is_empty());
    let err = read_one(&with_ca("other-ca.crt")).await.unwrap_err();
    assert_eq!(err.reason(), "PrometheusUnavailable", "{err}");
    assert!(
        err.to_string().contains("certificate"),
        "says the certificate is the problem: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = Pki::new();
    let server = PrometheusServer::start_tls(vec![], &pki.web_config(true));
    let base = PrometheusArgs {
        ca_file: Some(pki.path("ca.crt")),
        retries: 0,
        ..args(&server.url())
    };
    assert!(
        read_one(&base).await.is_err(),
        "without a client certificate the server refuses"
    );
    let with_cert = PrometheusArgs {
        cert_file: Some(pki.path("client.crt")),
        key_file: Some(pki.path("client.key")),
        ..base.clone()
    };
    let samples = read_one(&with_cert)
        .await
        .expect("read with the client certificate");
    assert!(!samples.is_empty());
    let half = PrometheusArgs {
        key_file: None,
        ..with_cert
    };
    let err = Prometheus::new(&half).unwrap_err();
    assert!(err.to_string().contains("--prometheus-key-file"), "{err}");
}
