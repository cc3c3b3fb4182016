//! A real Prometheus for tests: the `prometheus` binary on a free loopback port with a
//! temporary data dir, history loaded beforehand with `promtool tsdb create-blocks-from
//! openmetrics`, and live samples from an exporter inside the test process.
//!
//! - [`Series`] says what to load: a bundled trace (`timestamp,value` per interval) becomes
//!   a counter whose per-second rate is the trace's (piecewise constant per interval), shifted
//!   so that the trace instant `at` is the moment the server is started ("now").
//! - The exporter continues each counter from there at a per-second rate the test sets with
//!   [`PrometheusServer::set_rate`]; Prometheus scrapes it every second.
//! - [`PrometheusServer::stop`] and [`PrometheusServer::restart`] (same port, same data)
//!   stop and start the process; dropping the server stops it and removes its data.
//! - [`RecordingProxy`] sits in front of any HTTP server, records every request (method,
//!   path, form and query parameters, headers) and the response size, and can add latency
//!   or answer with an error status.
//!
//! If `prometheus` or `promtool` is not installed, starting fails with a message saying to
//! run `scripts/test.sh`, which installs them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Seconds between Prometheus' scrapes of the live exporter.
pub const SCRAPE_INTERVAL_S: u64 = 1;

/// One series to backfill from a trace and continue live.
#[derive(Clone, Debug)]
pub struct Series {
    /// Metric name, e.g. `http_requests_total`.
    pub metric: String,
    /// Labels, e.g. `[("job", "web")]`. The scrape keeps them exactly: it drops the
    /// `job` and `instance` Prometheus would attach and restores the exporter's own.
    pub labels: Vec<(String, String)>,
    /// The trace file (`timestamp,value`, value per interval).
    pub trace: PathBuf,
    /// The trace instant (its own Unix seconds) that becomes "now".
    pub at: i64,
    /// How much of the trace before `at` to load, seconds.
    pub history: u64,
    /// Seconds between backfilled counter samples.
    pub sample_every: u64,
    /// Instead of a counter from the trace: this constant (e.g. `kube_pod_labels`' 1).
    pub gauge: Option<f64>,
}

impl Series {
    /// A series over `trace` with 1 day of history ending at `at`, sampled every 30 s.
    pub fn new(metric: &str, labels: &[(&str, &str)], trace: &Path, at: i64) -> Self {
        Self {
            metric: metric.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            trace: trace.to_path_buf(),
            at,
            history: 86_400,
            sample_every: 30,
            gauge: None,
        }
    }

    /// A constant series (the trace only sets the time axis).
    pub fn constant(
        metric: &str,
        labels: &[(&str, &str)],
        trace: &Path,
        at: i64,
        value: f64,
    ) -> Self {
        Self {
            gauge: Some(value),
            ..Self::new(metric, labels, trace, at)
        }
    }

    /// With `seconds` of history.
    pub fn history(mut self, seconds: u64) -> Self {
        self.history = seconds;
        self
    }

    fn selector(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.metric, labels.join(","))
    }
}

/// A trace as a per-second rate, piecewise constant per interval.
#[derive(Clone, Debug)]
pub struct TraceRate {
    start: i64,
    step: i64,
    rates: Vec<f64>,
}

impl TraceRate {
    /// Reads a `timestamp,value` trace.
    pub fn load(path: &Path) -> Self {
        let trace = prescaler::sim::trace::Trace::load(path).expect("the trace loads");
        let step = trace.series.step as i64;
        Self {
            start: trace.series.start,
            step,
            rates: trace
                .series
                .values
                .iter()
                .map(|v| v / step as f64)
                .collect(),
        }
    }

    /// Requests per second at trace time `t`.
    pub fn at(&self, t: i64) -> f64 {
        let i = ((t - self.start).div_euclid(self.step)).clamp(0, self.rates.len() as i64 - 1);
        self.rates[i as usize]
    }

    /// Counter value at trace time `t` (0 at the trace's start).
    pub fn counter(&self, t: i64) -> f64 {
        let offset = (t - self.start).max(0);
        let full = ((offset / self.step) as usize).min(self.rates.len());
        let whole: f64 = self.rates[..full].iter().sum::<f64>() * self.step as f64;
        let part = if full < self.rates.len() {
            self.rates[full] * (offset - full as i64 * self.step) as f64
        } else {
            0.0
        };
        whole + part
    }

    /// Mean requests per second over trace times (`from`, `to`].
    pub fn mean(&self, from: i64, to: i64) -> f64 {
        (self.counter(to) - self.counter(from)) / (to - from) as f64
    }
}

struct LiveSeries {
    line_prefix: String,
    base: f64,
    /// f64 bits of the current rate.
    rate: AtomicU64,
    /// f64 bits of the counter accumulated before the last rate change.
    banked: Mutex<(f64, Instant)>,
}

impl LiveSeries {
    fn value(&self) -> f64 {
        let (banked, since) = *self.banked.lock().unwrap();
        self.base
            + banked
            + f64::from_bits(self.rate.load(Ordering::SeqCst)) * since.elapsed().as_secs_f64()
    }

    fn set_rate(&self, rate: f64) {
        let mut banked = self.banked.lock().unwrap();
        let old = f64::from_bits(self.rate.load(Ordering::SeqCst));
        banked.0 += old * banked.1.elapsed().as_secs_f64();
        banked.1 = Instant::now();
        self.rate.store(rate.to_bits(), Ordering::SeqCst);
    }
}

/// The background runtime the harness's HTTP servers run on, independent of the test's own.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the test servers")
    })
}

fn serve(listener: TcpListener, router: axum::Router) -> tokio::task::JoinHandle<()> {
    listener.set_nonblocking(true).expect("non-blocking");
    runtime().spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let _ = axum::serve(listener, router).await;
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn require(binary: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{binary}` is not installed; run scripts/test.sh, which installs Debian's prometheus package (it ships prometheus and promtool)"
        )
    })
}

fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "prescaler-prometheus-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A running Prometheus with backfilled history and a live exporter.
pub struct PrometheusServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    exporter: tokio::task::JoinHandle<()>,
    live: Arc<Vec<LiveSeries>>,
    series: Vec<Series>,
    now: i64,
    /// Prometheus' `--web.config.file`, when it serves HTTPS.
    web_config: Option<PathBuf>,
    /// The live exporter's address, the first scrape job.
    exporter_addr: SocketAddr,
    /// Jobs added by [`PrometheusServer::scrape_also`], and rule files.
    extra: Vec<(String, String)>,
    rule_files: Vec<PathBuf>,
}

impl PrometheusServer {
    /// [`PrometheusServer::start`] serving HTTPS (and, as the web config says, asking for
    /// client certificates): Prometheus' own `--web.config.file`.
    pub fn start_tls(series: Vec<Series>, web_config: &Path) -> Self {
        Self::start_with(series, Some(web_config.to_path_buf()))
    }

    /// Backfills `series`, starts the exporter and Prometheus, and waits until Prometheus is
    /// ready: the history can be queried at once. Prometheus hands new scrape targets over
    /// in batches every 5 s, so live samples start arriving within about 5 s; call
    /// [`PrometheusServer::wait_until_scraped`] when a test needs them.
    pub fn start(series: Vec<Series>) -> Self {
        Self::start_with(series, None)
    }

    fn start_with(series: Vec<Series>, web_config: Option<PathBuf>) -> Self {
        let prometheus = require("prometheus");
        let promtool = require("promtool");
        let dir = temp_dir();
        let now = unix_now();

        // History: each trace as a counter, shifted so that `at` is now.
        let mut text = String::new();
        let mut live = Vec::new();
        let mut by_family: Vec<(String, Vec<String>)> = Vec::new();
        for s in &series {
            let rate = TraceRate::load(&s.trace);
            let shift = now - s.at;
            let selector = s.selector();
            let lines = {
                let mut lines = Vec::new();
                let mut t = s.at - s.history as i64;
                while t <= s.at {
                    let value = s.gauge.unwrap_or_else(|| rate.counter(t));
                    lines.push(format!("{selector} {value} {}", t + shift));
                    t += s.sample_every as i64;
                }
                lines
            };
            match by_family.iter_mut().find(|(m, _)| *m == s.metric) {
                Some((_, all)) => all.extend(lines),
                None => by_family.push((s.metric.clone(), lines)),
            }
            live.push(LiveSeries {
                line_prefix: selector,
                base: s.gauge.unwrap_or_else(|| rate.counter(s.at)),
                rate: AtomicU64::new(
                    if s.gauge.is_some() {
                        0.0
                    } else {
                        rate.at(s.at)
                    }
                    .to_bits(),
                ),
                banked: Mutex::new((0.0, Instant::now())),
            });
        }
        for (metric, lines) in by_family {
            let gauge = series
                .iter()
                .any(|s| s.metric == metric && s.gauge.is_some());
            match metric.strip_suffix("_total").filter(|_| !gauge) {
                Some(base) => text.push_str(&format!("# TYPE {base} counter\n")),
                None => text.push_str(&format!("# TYPE {metric} gauge\n")),
            }
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text.push_str("# EOF\n");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        if !series.is_empty() {
            let input = dir.join("history.om");
            std::fs::write(&input, text).expect("write the OpenMetrics file");
            let out = Command::new(&promtool)
                .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
                .arg(&input)
                .arg(&data)
                .output()
                .expect("promtool runs");
            assert!(
                out.status.success(),
                "promtool failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_file(&input);
        }

        // The live exporter.
        let live = Arc::new(live);
        let exporter_listener = TcpListener::bind("127.0.0.1:0").expect("exporter port");
        let exporter_addr = exporter_listener.local_addr().expect("exporter address");
        let state = live.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let state = state.clone();
                async move {
                    let mut body = String::new();
                    for s in state.iter() {
                        body.push_str(&format!("{} {}\n", s.line_prefix, s.value()));
                    }
                    ([("content-type", "text/plain; version=0.0.4")], body)
                }
            }),
        );
        let exporter = serve(exporter_listener, router);

        let port = free_port();
        let mut server = Self {
            port,
            dir,
            child: None,
            exporter,
            live,
            series,
            now,
            web_config,
            exporter_addr,
            extra: Vec::new(),
            rule_files: Vec::new(),
        };
        server.write_config();
        server.spawn(&prometheus);
        server
    }

    fn spawn(&mut self, binary: &Path) {
        let log = std::fs::File::create(self.dir.join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .args(
                self.web_config
                    .iter()
                    .map(|c| format!("--web.config.file={}", c.display())),
            )
            .args(["--storage.tsdb.retention.time=60d", "--log.level=warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // Plain HTTP to an HTTPS port is answered with 400: it listens.
            let ready = if self.web_config.is_some() { 400 } else { 200 };
            if http_get(self.port, "/-/ready").is_some_and(|(status, _)| status == ready) {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("prometheus exited ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("prometheus was not ready within 30s: {}", self.log());
    }

    fn write_config(&self) {
        let mut text = config(self.exporter_addr);
        for (job, target) in &self.extra {
            // As the chart's ServiceMonitor: the target's own labels win (honorLabels).
            text.push_str(&format!(
                "  - job_name: {job}\n    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n"
            ));
        }
        if !self.rule_files.is_empty() {
            text.push_str("rule_files:\n");
            for file in &self.rule_files {
                text.push_str(&format!("  - '{}'\n", file.display()));
            }
        }
        std::fs::write(self.dir.join("prometheus.yml"), text).expect("config");
    }

    /// Scrapes `target` (`host:port`, path /metrics) every second as job `job` too, and
    /// evaluates `rule_files` every second; reloads the running Prometheus (SIGHUP) and
    /// waits until the first scrape of `target` landed.
    pub fn scrape_also(&mut self, job: &str, target: &str, rule_files: &[PathBuf]) {
        self.extra.push((job.to_string(), target.to_string()));
        self.rule_files.extend(rule_files.iter().cloned());
        self.write_config();
        let pid = self.child.as_ref().expect("prometheus runs").id();
        let _ = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status();
        self.wait_until_up(job);
    }

    /// Waits until a scrape of the exporter has landed (the `up` series of the live job).
    pub fn wait_until_scraped(&self) {
        self.wait_until_up("live");
    }

    fn wait_until_up(&self, job: &str) {
        let path = format!("/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D%3D%3D1");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((200, body)) = http_get(self.port, &path)
                && body.contains("\"value\"")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "prometheus did not scrape job {job} within 30s: {}",
            self.log()
        );
    }

    /// An instant query now: the result's `data` (`resultType` and `result`). Panics with
    /// Prometheus' error when the query is refused, naming it.
    pub fn query(&self, expr: &str) -> serde_json::Value {
        let encoded: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        self.api(&format!("/api/v1/query?query={encoded}"), expr)
    }

    /// `GET path` on the HTTP API: the answer's `data`. Panics on an error answer, with
    /// `what` and Prometheus' message.
    pub fn api(&self, path: &str, what: &str) -> serde_json::Value {
        let (status, body) =
            http_get(self.port, path).unwrap_or_else(|| panic!("prometheus did not answer {what}"));
        let answer: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
        assert!(
            status == 200 && answer["status"] == "success",
            "{what}: {status} {}",
            answer["error"]
        );
        answer["data"].clone()
    }

    /// The Prometheus process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The base URL of the HTTP API, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        let scheme = if self.web_config.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The wall-clock Unix time that trace instant `at` was mapped to.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The series as given to [`PrometheusServer::start`].
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// Sets the live per-second rate of series `index` (in the order given to `start`).
    pub fn set_rate(&self, index: usize, rate: f64) {
        self.live[index].set_rate(rate);
    }

    /// Stops the Prometheus process (SIGTERM, then SIGKILL after 10 s); the port goes quiet.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts Prometheus again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        let binary = require("prometheus");
        self.spawn(&binary);
    }

    /// Prometheus' log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
        self.exporter.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(exporter: SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n  scrape_timeout: {SCRAPE_INTERVAL_S}s\n\
         \x20 evaluation_interval: {SCRAPE_INTERVAL_S}s\n\
         scrape_configs:\n  - job_name: live\n    static_configs:\n      - targets: ['{exporter}']\n\
         \x20   metric_relabel_configs:\n      - action: labeldrop\n        regex: job|instance\n\
         \x20     - action: labelmap\n        regex: exported_(job|instance)\n        replacement: $1\n\
         \x20     - action: labeldrop\n        regex: exported_(job|instance)\n"
    )
}

/// The operator's metric names (`prescaler_…`) a PromQL expression uses, in order.
pub fn prescaler_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("prescaler_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}

/// A plain HTTP/1.0 GET on loopback, for readiness checks outside any runtime.
/// `GET path` on 127.0.0.1:`port`: the status and the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

/// One request seen by a [`RecordingProxy`].
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, e.g. `/api/v1/query_range`.
    pub path: String,
    /// URL query and form body parameters, in order.
    pub params: Vec<(String, String)>,
    /// Request headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Status sent back.
    pub status: u16,
    /// Response body bytes as sent on the wire (compressed if the upstream compressed it).
    pub response_bytes: usize,
}

impl Recorded {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct ProxyState {
    upstream: String,
    recorded: Mutex<Vec<Recorded>>,
    latency_ms: AtomicU64,
    fail: Mutex<(usize, u16)>,
}

/// An HTTP proxy in front of `upstream` that records every request.
pub struct RecordingProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts a proxy forwarding to `upstream` (e.g. [`PrometheusServer::url`]).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            ..ProxyState::default()
        });
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let task = serve(listener, router);
        Self { addr, state, task }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// Requests so far to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.state.recorded.lock().unwrap().clear();
    }

    /// Holds every request this long before forwarding it.
    pub fn set_latency(&self, latency: Duration) {
        self.state
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// Answers the next `n` requests with `status` (and a plain-text body) instead of
    /// forwarding them.
    pub fn fail_next(&self, n: usize, status: u16) {
        *self.state.fail.lock().unwrap() = (n, status);
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn upstream_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_gzip()
            .build()
            .expect("proxy client")
    })
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut record = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        params,
        headers,
        status: 0,
        response_bytes: 0,
    };
    let latency = state.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let failing = {
        let mut fail = state.fail.lock().unwrap();
        if fail.0 > 0 {
            fail.0 -= 1;
            Some(fail.1)
        } else {
            None
        }
    };
    let response = match failing {
        Some(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            record.status = status.as_u16();
            record.response_bytes = 12;
            (status, "proxy error\n").into_response()
        }
        None => {
            let url = format!(
                "{}{}",
                state.upstream,
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let mut outgoing = upstream_client().request(parts.method.clone(), url);
            for (name, value) in &parts.headers {
                if name != "host" && name != "content-length" {
                    outgoing = outgoing.header(name, value);
                }
            }
            match outgoing.body(body.to_vec()).send().await {
                Ok(upstream) => {
                    let status = upstream.status();
                    let mut headers = HeaderMap::new();
                    for (name, value) in upstream.headers() {
                        if name != "content-length" && name != "transfer-encoding" {
                            headers.insert(name.clone(), value.clone());
                        }
                    }
                    let bytes = upstream.bytes().await.unwrap_or_default();
                    record.status = status.as_u16();
                    record.response_bytes = bytes.len();
                    (status, headers, Body::from(bytes)).into_response()
                }
                Err(_) => {
                    record.status = 502;
                    (StatusCode::BAD_GATEWAY, "upstream unreachable\n").into_response()
                }
            }
        }
    };
    state.recorded.lock().unwrap().push(record);
    response
}
