//! How to reach Prometheus: the flags shared by `prescaler run` and `prescaler simulate`.

use std::path::PathBuf;

use clap::Args;

/// Connection settings for Prometheus or a Prometheus-compatible backend (Thanos, Mimir,
/// Cortex, VictoriaMetrics). Secrets are read from files so they never appear in the
/// process list, the environment of `kubectl describe pod`, logs or errors.
#[derive(Clone, Debug, Args)]
pub struct PrometheusArgs {
    /// Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090
    /// (a path prefix such as https://mimir.example/prometheus is kept).
    #[arg(
        long = "prometheus",
        id = "prometheus",
        value_name = "URL",
        env = "PRESCALER_PROMETHEUS"
    )]
    pub url: Option<String>,
    /// File holding a bearer token, sent as `Authorization: Bearer …`; re-read when it changes.
    #[arg(
        long = "prometheus-bearer-token-file",
        id = "prometheus_bearer_token_file",
        value_name = "FILE",
        env = "PRESCALER_PROMETHEUS_BEARER_TOKEN_FILE"
    )]
    pub bearer_token_file: Option<PathBuf>,
    /// User name for HTTP basic auth (with --prometheus-password-file).
    #[arg(
        long = "prometheus-username",
        id = "prometheus_username",
        value_name = "NAME",
        env = "PRESCALER_PROMETHEUS_USERNAME",
        requires = "prometheus_password_file"
    )]
    pub username: Option<String>,
    /// File holding the basic-auth password; re-read when it changes.
    #[arg(
        long = "prometheus-password-file",
        id = "prometheus_password_file",
        value_name = "FILE",
        env = "PRESCALER_PROMETHEUS_PASSWORD_FILE",
        requires = "prometheus_username"
    )]
    pub password_file: Option<PathBuf>,
    /// Extra request header, `Name: value` (repeatable), e.g. `X-Scope-OrgID: team-a` for
    /// Mimir, Cortex or Loki-style multi-tenancy.
    #[arg(
        long = "prometheus-header",
        id = "prometheus_header",
        value_name = "NAME: VALUE",
        env = "PRESCALER_PROMETHEUS_HEADERS",
        value_delimiter = ';'
    )]
    pub headers: Vec<String>,
    /// PEM file of CA certificates that sign the server's certificate (added to the system roots).
    #[arg(
        long = "prometheus-ca-file",
        id = "prometheus_ca_file",
        value_name = "FILE",
        env = "PRESCALER_PROMETHEUS_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate presented to Prometheus (mutual TLS); needs
    /// --prometheus-key-file.
    #[arg(
        long = "prometheus-cert-file",
        id = "prometheus_cert_file",
        value_name = "FILE",
        env = "PRESCALER_PROMETHEUS_CERT_FILE"
    )]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of --prometheus-cert-file.
    #[arg(
        long = "prometheus-key-file",
        id = "prometheus_key_file",
        value_name = "FILE",
        env = "PRESCALER_PROMETHEUS_KEY_FILE"
    )]
    pub key_file: Option<PathBuf>,
    /// Do not verify the server's TLS certificate. Only for testing: anyone on the path can
    /// read and change the metrics.
    #[arg(
        long = "prometheus-insecure-skip-tls-verify",
        id = "prometheus_insecure_skip_tls_verify",
        env = "PRESCALER_PROMETHEUS_INSECURE_SKIP_TLS_VERIFY"
    )]
    pub insecure_skip_tls_verify: bool,
    /// Timeout of one HTTP request.
    #[arg(long = "prometheus-timeout", id = "prometheus_timeout", value_name = "DURATION", default_value = "10s", allow_hyphen_values = true, value_parser = crate::policy::duration::parse_positive_seconds, env = "PRESCALER_PROMETHEUS_TIMEOUT")]
    pub timeout: u64,
    /// Retries of a request that failed with a connection error or a 5xx (never on 4xx).
    #[arg(
        long = "prometheus-retries",
        id = "prometheus_retries",
        value_name = "N",
        default_value_t = 2,
        allow_negative_numbers = true,
        env = "PRESCALER_PROMETHEUS_RETRIES"
    )]
    pub retries: u32,
    /// Most requests in flight to Prometheus at once, over all policies.
    #[arg(
        long = "prometheus-concurrency",
        id = "prometheus_concurrency",
        value_name = "N",
        default_value_t = 8,
        value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..), usize::from),
        allow_negative_numbers = true,
        env = "PRESCALER_PROMETHEUS_CONCURRENCY"
    )]
    pub concurrency: usize,
    /// Longest a policy's reads may take in one reconcile, retries and back-off included;
    /// past it the read fails with a Timeout and the policy's fallback applies.
    #[arg(long = "prometheus-deadline", id = "prometheus_deadline", value_name = "DURATION", default_value = "30s", allow_hyphen_values = true, value_parser = crate::policy::duration::parse_positive_seconds, env = "PRESCALER_PROMETHEUS_DEADLINE")]
    pub deadline: u64,
    /// Consecutive failed reads (unreachable, 5xx, timeout) that open the circuit breaker:
    /// reads then fail at once, without asking Prometheus, until the cool-down ends.
    #[arg(
        long = "prometheus-breaker-failures",
        id = "prometheus_breaker_failures",
        value_name = "N",
        default_value_t = 5,
        allow_negative_numbers = true,
        env = "PRESCALER_PROMETHEUS_BREAKER_FAILURES"
    )]
    pub breaker_failures: u32,
    /// How long an open circuit breaker waits before letting one probe through.
    #[arg(long = "prometheus-breaker-cooldown", id = "prometheus_breaker_cooldown", value_name = "DURATION", default_value = "30s", allow_hyphen_values = true, value_parser = crate::policy::duration::parse_seconds, env = "PRESCALER_PROMETHEUS_BREAKER_COOLDOWN")]
    pub breaker_cooldown: u64,
}

/// The same defaults as the flags: `PrometheusArgs { url, ..Default::default() }` behaves
/// like `--prometheus URL` alone.
impl Default for PrometheusArgs {
    fn default() -> Self {
        Self {
            url: None,
            bearer_token_file: None,
            username: None,
            password_file: None,
            headers: Vec::new(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            insecure_skip_tls_verify: false,
            timeout: 10,
            retries: 2,
            concurrency: 8,
            deadline: 30,
            breaker_failures: 5,
            breaker_cooldown: 30,
        }
    }
}
