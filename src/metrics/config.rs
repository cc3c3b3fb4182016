//! How to reach Prometheus: the flags shared by `prescaler run` and `prescaler simulate`.

use std::path::PathBuf;

use clap::Args;

/// Connection settings for Prometheus or a Prometheus-compatible backend (Thanos, Mimir,
/// Cortex, VictoriaMetrics). Secrets are read from files so they never appear in the
/// process list, the environment of `kubectl describe pod`, logs or errors.
#[derive(Clone, Debug, Default, Args)]
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
    /// Do not verify the server's TLS certificate. Only for testing: anyone on the path can
    /// read and change the metrics.
    #[arg(
        long = "prometheus-insecure-skip-tls-verify",
        id = "prometheus_insecure_skip_tls_verify",
        env = "PRESCALER_PROMETHEUS_INSECURE_SKIP_TLS_VERIFY"
    )]
    pub insecure_skip_tls_verify: bool,
    /// Timeout of one HTTP request.
    #[arg(long = "prometheus-timeout", id = "prometheus_timeout", value_name = "DURATION", default_value = "10s", value_parser = crate::cli::parse_duration, env = "PRESCALER_PROMETHEUS_TIMEOUT")]
    pub timeout: u64,
    /// Retries of a request that failed with a connection error or a 5xx (never on 4xx).
    #[arg(
        long = "prometheus-retries",
        id = "prometheus_retries",
        value_name = "N",
        default_value_t = 2,
        env = "PRESCALER_PROMETHEUS_RETRIES"
    )]
    pub retries: u32,
    /// Most requests in flight to Prometheus at once, over all policies.
    #[arg(
        long = "prometheus-concurrency",
        id = "prometheus_concurrency",
        value_name = "N",
        default_value_t = 8,
        env = "PRESCALER_PROMETHEUS_CONCURRENCY"
    )]
    pub concurrency: usize,
}
