//! The Prometheus HTTP API client: range queries with timeouts, a per-read deadline,
//! retries with jittered back-off on connection errors and 5xx (never on 4xx), a limit on
//! requests in flight, a circuit breaker, TLS, and credentials read from files.
//!
//! Requests go out as form-encoded POSTs (`/api/v1/query_range`), which Prometheus, Thanos,
//! Mimir, Cortex and VictoriaMetrics all accept, so the query never appears in a URL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_http_query::response::{Data, PromqlResult};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::{MetricError, MetricSource, PrometheusArgs};

/// Credentials for a policy's own Prometheus (`spec.prometheus.authSecretRef`).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

/// Counters of the reads made through a [`Prometheus`] (and every client derived from it
/// with [`Prometheus::with_address`]), for the operator's own metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueryStats {
    /// Reads asked for (one per `range` call, however many attempts it took).
    pub queries: u64,
    /// HTTP requests sent (attempts, retries included).
    pub requests: u64,
    /// Reads that ended in an error (of any kind, circuit-breaker refusals included).
    pub errors: u64,
    /// Response body bytes received, after decompression.
    pub bytes: u64,
    /// Wall time spent in reads, summed.
    pub latency_seconds: f64,
}

#[derive(Default)]
struct Counters {
    queries: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    latency_us: AtomicU64,
}

/// A secret kept in a file, re-read when the file's modification time or size changes
/// (a rotated Kubernetes Secret volume).
struct SecretFile {
    path: PathBuf,
    flag: &'static str,
    cached: Mutex<Option<(Option<SystemTime>, u64, String)>>,
}

impl SecretFile {
    fn new(path: &Path, flag: &'static str) -> Result<Self, MetricError> {
        let file = Self {
            path: path.to_path_buf(),
            flag,
            cached: Mutex::new(None),
        };
        file.read()?;
        Ok(file)
    }

    fn read(&self) -> Result<String, MetricError> {
        let fail = |e: std::io::Error| {
            MetricError::Config(format!(
                "cannot read {} {}: {e}",
                self.flag,
                self.path.display()
            ))
        };
        let meta = std::fs::metadata(&self.path).map_err(fail)?;
        let stamp = (meta.modified().ok(), meta.len());
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((modified, len, text)) = cached.as_ref()
            && (*modified, *len) == stamp
        {
            return Ok(text.clone());
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(fail)?
            .trim()
            .to_string();
        if text.is_empty() {
            return Err(MetricError::Config(format!(
                "{} {} is empty",
                self.flag,
                self.path.display()
            )));
        }
        *cached = Some((stamp.0, stamp.1, text.clone()));
        Ok(text)
    }
}

enum Credentials {
    None,
    Fixed(HeaderValue),
    BearerFile(SecretFile),
    BasicFile {
        username: String,
        password: SecretFile,
    },
}

impl Credentials {
    fn header(&self) -> Result<Option<HeaderValue>, MetricError> {
        let value = match self {
            Credentials::None => return Ok(None),
            Credentials::Fixed(v) => return Ok(Some(v.clone())),
            Credentials::BearerFile(file) => bearer(&file.read()?),
            Credentials::BasicFile { username, password } => basic(username, &password.read()?),
        };
        value.map(Some)
    }
}

fn sensitive(text: &str, what: &str) -> Result<HeaderValue, MetricError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        MetricError::Config(format!(
            "the {what} holds characters not allowed in an HTTP header (a line break inside it?)"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn bearer(token: &str) -> Result<HeaderValue, MetricError> {
    sensitive(&format!("Bearer {token}"), "bearer token")
}

fn basic(username: &str, password: &str) -> Result<HeaderValue, MetricError> {
    use base64_lite::encode;
    sensitive(
        &format!(
            "Basic {}",
            encode(format!("{username}:{password}").as_bytes())
        ),
        "basic-auth user name or password",
    )
}

/// Standard base64, enough for a basic-auth header.
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(input: &[u8]) -> String {
        let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[derive(Clone, Copy)]
struct Settings {
    timeout: Duration,
    retries: u32,
    deadline: Duration,
    breaker_failures: u32,
    breaker_cooldown: Duration,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

struct Inner {
    client: prometheus_http_query::Client,
    http: reqwest::Client,
    shown: String,
    headers: HeaderMap,
    credentials: Credentials,
    settings: Settings,
    limit: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    counters: Arc<Counters>,
}

/// A Prometheus-compatible HTTP API. Cheap to clone: clones share the connection pool,
/// the concurrency limit, the circuit breaker and the counters.
#[derive(Clone)]
pub struct Prometheus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("url", &self.inner.shown)
            .finish_non_exhaustive()
    }
}

/// The URL as parsed and as shown in messages; credentials inside it are refused.
fn parse_url(url: &str, flag: &str) -> Result<(String, String), MetricError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        MetricError::Config(format!(
            "{flag} is not a URL ({e}); give e.g. http://prometheus.monitoring:9090"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(MetricError::Config(format!(
            "{flag} must start with http:// or https:// (got scheme {:?})",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(MetricError::Config(format!(
            "{flag} must not hold credentials; use --prometheus-username with --prometheus-password-file, or --prometheus-bearer-token-file"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(MetricError::Config(format!(
            "{flag} must be the API's base URL without `?` or `#` parts"
        )));
    }
    let shown = parsed.as_str().trim_end_matches('/').to_string();
    Ok((shown.clone(), shown))
}

fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), MetricError> {
    let bad = |why: &str| {
        MetricError::Config(format!(
            "--prometheus-header {why}; write it as `Name: value`, e.g. `X-Scope-OrgID: team-a`"
        ))
    };
    let (name, value) = text.split_once(':').ok_or_else(|| bad("has no `:`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        bad(&format!(
            "name {:?} is not a valid header name",
            name.trim()
        ))
    })?;
    let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
        bad(&format!(
            "{name} has a value with characters not allowed in a header"
        ))
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

impl Prometheus {
    /// A client for `--prometheus` and the other connection flags. Fails when the URL is
    /// missing or malformed, a CA, token or password file cannot be read, or a header is
    /// not `Name: value`.
    pub fn new(args: &PrometheusArgs) -> Result<Self, MetricError> {
        let url = args.url.as_deref().ok_or_else(|| {
            MetricError::Config(
                "no Prometheus URL; set --prometheus (or PRESCALER_PROMETHEUS), e.g. http://prometheus.monitoring:9090".to_string(),
            )
        })?;
        let (base, shown) = parse_url(url, "--prometheus")?;
        // The process may not have chosen a TLS crypto provider yet; ring is the one built in.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(args.timeout.max(1));
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("prescaler/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &args.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                MetricError::Config(format!(
                    "cannot read --prometheus-ca-file {}: {e}",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    MetricError::Config(format!(
                        "--prometheus-ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    ))
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        if args.insecure_skip_tls_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| MetricError::Config(format!("cannot set up the HTTP client: {e}")))?;
        let mut headers = HeaderMap::new();
        for text in &args.headers {
            let (name, value) = parse_header(text)?;
            headers.append(name, value);
        }
        let credentials = match (&args.bearer_token_file, &args.username, &args.password_file) {
            (Some(_), Some(_), _) => {
                return Err(MetricError::Config(
                    "set either --prometheus-bearer-token-file or --prometheus-username, not both"
                        .to_string(),
                ));
            }
            (Some(path), None, _) => {
                Credentials::BearerFile(SecretFile::new(path, "--prometheus-bearer-token-file")?)
            }
            (None, Some(username), Some(path)) => Credentials::BasicFile {
                username: username.clone(),
                password: SecretFile::new(path, "--prometheus-password-file")?,
            },
            (None, Some(_), None) => {
                return Err(MetricError::Config(
                    "--prometheus-username needs --prometheus-password-file".to_string(),
                ));
            }
            (None, None, _) => Credentials::None,
        };
        let settings = Settings {
            timeout,
            retries: args.retries,
            deadline: Duration::from_secs(args.deadline.max(1)),
            breaker_failures: args.breaker_failures,
            breaker_cooldown: Duration::from_secs(args.breaker_cooldown),
        };
        Self::build(
            http,
            &base,
            shown,
            headers,
            credentials,
            settings,
            Arc::new(Semaphore::new(args.concurrency.max(1))),
            Arc::new(Counters::default()),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        http: reqwest::Client,
        base: &str,
        shown: String,
        headers: HeaderMap,
        credentials: Credentials,
        settings: Settings,
        limit: Arc<Semaphore>,
        counters: Arc<Counters>,
    ) -> Result<Self, MetricError> {
        let client = prometheus_http_query::Client::from(http.clone(), base).map_err(|e| {
            MetricError::Config(format!("cannot use {shown} as the Prometheus URL: {e}"))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                http,
                shown,
                headers,
                credentials,
                settings,
                limit,
                breaker: Mutex::new(Breaker::default()),
                counters,
            }),
        })
    }

    /// The same settings (TLS, timeouts, retries, deadline, the shared concurrency limit and
    /// counters) for another base URL, e.g. a policy's `spec.prometheus.address`, with its
    /// own circuit breaker. Only `auth` is sent there: the default credentials and
    /// `--prometheus-header`s never go to another address.
    pub fn with_address(&self, url: &str, auth: Option<Auth>) -> Result<Self, MetricError> {
        let (base, shown) = parse_url(url, "spec.prometheus.address")?;
        let credentials = match auth {
            None => Credentials::None,
            Some(Auth::Bearer(token)) => Credentials::Fixed(bearer(token.trim())?),
            Some(Auth::Basic { username, password }) => {
                Credentials::Fixed(basic(&username, &password)?)
            }
        };
        let inner = &self.inner;
        Self::build(
            inner.http.clone(),
            &base,
            shown,
            HeaderMap::new(),
            credentials,
            inner.settings,
            inner.limit.clone(),
            inner.counters.clone(),
        )
    }

    /// The base URL, as shown in messages.
    pub fn url(&self) -> &str {
        &self.inner.shown
    }

    /// Counters since start, shared with every client made by [`Prometheus::with_address`].
    pub fn stats(&self) -> QueryStats {
        let c = &self.inner.counters;
        QueryStats {
            queries: c.queries.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            latency_seconds: c.latency_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    fn breaker_admits(&self) -> Result<(), MetricError> {
        let s = self.inner.settings;
        if s.breaker_failures == 0 {
            return Ok(());
        }
        let mut b = self.inner.breaker.lock().unwrap_or_else(|e| e.into_inner());
        let Some(until) = b.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now < until || b.probing {
            return Err(MetricError::CircuitOpen {
                url: self.inner.shown.clone(),
                failures: b.failures,
                retry_in_s: until.saturating_duration_since(now).as_secs_f64().ceil() as u64,
            });
        }
        b.probing = true;
        Ok(())
    }

    fn breaker_record(&self, result: &Result<Vec<(i64, f64)>, MetricError>) {
        let s = self.inner.settings;
        let mut b = self.inner.breaker.lock().unwrap_or_else(|e| e.into_inner());
        b.probing = false;
        match result {
            Err(e) if e.is_unavailable() => {
                b.failures += 1;
                if s.breaker_failures > 0 && b.failures >= s.breaker_failures {
                    b.open_until = Some(Instant::now() + s.breaker_cooldown);
                    tracing::warn!(
                        url = %self.inner.shown,
                        failures = b.failures,
                        cooldown_s = s.breaker_cooldown.as_secs(),
                        "Prometheus circuit breaker open"
                    );
                }
            }
            _ => *b = Breaker::default(),
        }
    }

    async fn range_inner(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
        deadline: Instant,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        let inner = &self.inner;
        let timed_out = |limit: Duration| MetricError::Timeout {
            url: inner.shown.clone(),
            seconds: limit.as_secs_f64(),
        };
        let _permit = tokio::time::timeout_at(deadline.into(), inner.limit.acquire())
            .await
            .map_err(|_| timed_out(inner.settings.deadline))?
            .map_err(|_| MetricError::Config("the client was shut down".to_string()))?;
        let mut attempt = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timed_out(inner.settings.deadline));
            }
            let limit = inner.settings.timeout.min(remaining);
            let result = match tokio::time::timeout(limit, self.send(query, start, end, step)).await
            {
                Ok(r) => r,
                Err(_) => Err(Failure::Final(timed_out(limit))),
            };
            match result {
                Ok(samples) => return Ok(samples),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(e)) if attempt >= inner.settings.retries => return Err(e),
                Err(Failure::Retry(e)) => {
                    let ceiling = Duration::from_millis(250 << attempt.min(4));
                    let pause = ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0);
                    if Instant::now() + pause >= deadline {
                        return Err(e);
                    }
                    tracing::debug!(url = %inner.shown, attempt, error = %e, "retrying a Prometheus request");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn send(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, Failure> {
        let inner = &self.inner;
        let mut builder = inner.client.query_range(query, start, end, step as f64);
        for (name, value) in &inner.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(value) = inner.credentials.header().map_err(Failure::Final)? {
            builder = builder.header(AUTHORIZATION, value);
        }
        inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let unavailable = |detail: String| MetricError::Unavailable {
            url: inner.shown.clone(),
            detail,
        };
        let response = builder
            .post_raw()
            .await
            .map_err(|e| Failure::Retry(unavailable(transport_detail(&e))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            Failure::Retry(unavailable(format!(
                "reading the answer failed: {}",
                e.without_url()
            )))
        })?;
        inner
            .counters
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        let message = envelope
            .as_ref()
            .and_then(|e| e.error.clone())
            .map(|m| truncate(&m, 500));
        if status.is_server_error() {
            let detail = match &message {
                Some(m) => format!("HTTP {}: {m}", status.as_u16()),
                None => format!("HTTP {}", status.as_u16()),
            };
            return Err(Failure::Retry(unavailable(detail)));
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(Failure::Final(MetricError::Unauthorized {
                url: inner.shown.clone(),
                status: status.as_u16(),
            }));
        }
        let bad = |detail: String| {
            Failure::Final(MetricError::BadResponse {
                url: inner.shown.clone(),
                detail,
            })
        };
        let Some(envelope) = envelope else {
            return Err(bad(format!(
                "HTTP {} with a body that is not Prometheus JSON",
                status.as_u16()
            )));
        };
        if envelope.status != "success" {
            return match message {
                Some(message) => Err(Failure::Final(MetricError::Query {
                    query: query.to_string(),
                    message,
                })),
                None => Err(bad(format!(
                    "HTTP {} with status {:?}",
                    status.as_u16(),
                    envelope.status
                ))),
            };
        }
        let Some(data) = envelope.data else {
            return Err(bad("a success without `data`".to_string()));
        };
        let series = match data.data() {
            Data::Matrix(m) => m,
            _ => {
                return Err(bad(
                    "a range query answered with something other than a matrix".to_string(),
                ));
            }
        };
        match series.len() {
            0 => Err(Failure::Final(MetricError::NoData {
                query: query.to_string(),
                hint: String::new(),
            })),
            1 => {
                let samples: Vec<(i64, f64)> = series[0]
                    .samples()
                    .iter()
                    .map(|s| (s.timestamp().round() as i64, s.value()))
                    .collect();
                if let Some(first) = samples.first()
                    && samples.iter().all(|(_, v)| !v.is_finite())
                {
                    return Err(Failure::Final(MetricError::NotFinite {
                        query: query.to_string(),
                        value: show_value(first.1),
                    }));
                }
                Ok(samples.into_iter().filter(|(_, v)| v.is_finite()).collect())
            }
            count => Err(Failure::Final(MetricError::MultipleSeries {
                query: query.to_string(),
                count,
            })),
        }
    }
}

/// What one attempt ended in: worth another try, or not.
enum Failure {
    Retry(MetricError),
    Final(MetricError),
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<PromqlResult>,
    #[serde(default)]
    error: Option<String>,
}

fn show_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v > 0.0 {
        "+Inf".to_string()
    } else {
        "-Inf".to_string()
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A transport error in words, without the URL.
fn transport_detail(error: &prometheus_http_query::Error) -> String {
    use std::error::Error as _;
    let mut detail = String::from("request failed");
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // reqwest's own error prints the URL; its causes (hyper, io) do not.
        if !text.contains("://") {
            detail = text;
        }
        source = cause.source();
    }
    detail
}

impl MetricSource for Prometheus {
    async fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        let counters = &self.inner.counters;
        counters.queries.fetch_add(1, Ordering::Relaxed);
        let began = Instant::now();
        let result = match self.breaker_admits() {
            Err(e) => Err(e),
            Ok(()) => {
                let deadline = began + self.inner.settings.deadline;
                let result = self
                    .range_inner(query, start, end, step.max(1), deadline)
                    .await;
                self.breaker_record(&result);
                result
            }
        };
        counters
            .latency_us
            .fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(url = %self.inner.shown, reason = e.reason(), error = %e, "Prometheus read failed");
        }
        result
    }

    fn cycle_deadline(&self) -> Duration {
        self.inner.settings.deadline
    }

    fn name(&self) -> String {
        self.inner.shown.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_standard_base64() {
        assert_eq!(
            base64_lite::encode(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64_lite::encode(b"a"), "YQ==");
        assert_eq!(base64_lite::encode(b"ab"), "YWI=");
        assert_eq!(base64_lite::encode(b"abc"), "YWJj");
    }

    #[test]
    fn bad_settings_are_refused_with_the_flag_named() {
        let args = |url: &str| PrometheusArgs {
            url: Some(url.to_string()),
            ..PrometheusArgs::default()
        };
        let err = Prometheus::new(&PrometheusArgs::default()).unwrap_err();
        assert!(err.to_string().contains("--prometheus"), "{err}");
        let err = Prometheus::new(&args("prometheus:9090")).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        let err = Prometheus::new(&args("http://user:hunter2@p:9090")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let mut with_header = args("http://p:9090");
        with_header.headers = vec!["X-Scope-OrgID team-a".to_string()];
        let err = Prometheus::new(&with_header).unwrap_err();
        assert!(err.to_string().contains("Name: value"), "{err}");
        let mut with_ca = args("https://p:9090");
        with_ca.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = Prometheus::new(&with_ca).unwrap_err();
        assert!(err.to_string().contains("--prometheus-ca-file"), "{err}");
        assert_eq!(err.reason(), "Config");
        let ok = Prometheus::new(&args("https://mimir.example/prometheus/")).unwrap();
        assert_eq!(ok.url(), "https://mimir.example/prometheus");
    }

    #[test]
    fn auth_debug_hides_secrets() {
        let shown = format!(
            "{:?} {:?}",
            Auth::Bearer("s3cret".into()),
            Auth::Basic {
                username: "u".into(),
                password: "pw-s3cret".into()
            }
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
