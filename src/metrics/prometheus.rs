//! The Prometheus client the operator and `simulate` read through: a [`Transport`] (one
//! HTTP attempt, with TLS, headers and [`credentials`](super::credentials)) inside
//! [`Resilient`] (deadlines, retries, a limit on reads in flight, a circuit breaker).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Semaphore;

pub use super::credentials::Auth;
use super::credentials::{Credentials, SecretFile};
use super::resilience::{Resilient, Settings};
use super::transport::{Transport, TransportCounters, parse_header, parse_url};
use super::{MetricError, MetricSource, PrometheusArgs};

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

/// A Prometheus-compatible HTTP API. Cheap to clone: clones share the connection pool,
/// the concurrency limit, the circuit breaker and the counters.
#[derive(Clone)]
pub struct Prometheus {
    inner: Arc<Resilient<Transport>>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
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
        let address = parse_url(url, "--prometheus")?;
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
        match (&args.cert_file, &args.key_file) {
            (Some(cert), Some(key)) => {
                let read = |path: &std::path::PathBuf, flag: &str| {
                    std::fs::read(path).map_err(|e| {
                        MetricError::Config(format!("cannot read {flag} {}: {e}", path.display()))
                    })
                };
                let mut pem = read(cert, "--prometheus-cert-file")?;
                pem.push(b'\n');
                pem.extend(read(key, "--prometheus-key-file")?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    MetricError::Config(format!(
                        "--prometheus-cert-file {} with --prometheus-key-file {} is not a PEM certificate and its private key ({e})",
                        cert.display(),
                        key.display()
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(MetricError::Config(
                    "--prometheus-cert-file and --prometheus-key-file go together: give both, or neither"
                        .to_string(),
                ));
            }
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
        let transport = Transport::new(
            http,
            address,
            headers,
            credentials,
            Arc::new(TransportCounters::default()),
        )?;
        Ok(Self {
            inner: Arc::new(Resilient::new(
                transport,
                settings,
                Arc::new(Semaphore::new(args.concurrency.max(1))),
                Arc::default(),
            )),
        })
    }

    /// The same settings (TLS, timeouts, retries, deadline, the shared concurrency limit and
    /// counters) for another base URL, e.g. a policy's `spec.prometheus.address`, with its
    /// own circuit breaker. Only `auth` is sent there: the default credentials and
    /// `--prometheus-header`s never go to another address.
    pub fn with_address(&self, url: &str, auth: Option<Auth>) -> Result<Self, MetricError> {
        let address = parse_url(url, "spec.prometheus.address")?;
        let inner = &self.inner;
        let transport = Transport::new(
            inner.source().http.clone(),
            address,
            HeaderMap::new(),
            Credentials::from_auth(auth)?,
            inner.source().counters(),
        )?;
        Ok(Self {
            inner: Arc::new(Resilient::new(
                transport,
                inner.settings(),
                inner.limit(),
                inner.counters(),
            )),
        })
    }

    /// The base URL, as shown in messages.
    pub fn url(&self) -> String {
        self.inner.name()
    }

    /// Counters since start, shared with every client made by [`Prometheus::with_address`].
    pub fn stats(&self) -> QueryStats {
        let reads = self.inner.counters();
        let transport = self.inner.source().counters();
        QueryStats {
            queries: reads.queries.load(Ordering::Relaxed),
            requests: transport.requests.load(Ordering::Relaxed),
            errors: reads.errors.load(Ordering::Relaxed),
            bytes: transport.bytes.load(Ordering::Relaxed),
            latency_seconds: reads.latency_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

impl MetricSource for Prometheus {
    async fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        self.inner.range(query, start, end, step).await
    }

    fn cycle_deadline(&self) -> Duration {
        self.inner.cycle_deadline()
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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
}
