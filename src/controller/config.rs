//! The flags of `prescaler run`, kept with the operator they configure.

use std::path::PathBuf;

use clap::Args;

use crate::leader::LeaderArgs;
use crate::metrics::PrometheusArgs;
use crate::policy::duration::parse_positive_seconds;
use crate::shard::Shard;

/// Options of `prescaler run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Default Prometheus connection (a policy's `spec.prometheus` overrides the address).
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// kubeconfig file; without it, the in-cluster service account (or `$KUBECONFIG`).
    #[arg(long, value_name = "FILE", env = "PRESCALER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch ScalingPolicies in this namespace only (default: all namespaces).
    #[arg(long, value_name = "NAMESPACE", allow_hyphen_values = true, value_parser = crate::cli::parse_namespace, env = "PRESCALER_NAMESPACE")]
    pub namespace: Option<String>,
    /// Time between reconciles of a policy, unless its `spec.syncPeriod` says otherwise.
    #[arg(long, default_value = "15s", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_SYNC_PERIOD")]
    pub sync_period: u64,
    /// Policies reconciled at once, the others waiting in the order they became due. A
    /// reconcile mostly waits (the target's `/scale`, a Prometheus query, a status patch),
    /// so this bounds throughput: at ~20 ms each, 16 in flight serve 10,000 policies at a
    /// 15 s sync period.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..), env = "PRESCALER_CONCURRENCY")]
    pub concurrency: u16,
    /// Leader election.
    #[command(flatten)]
    pub leader: LeaderArgs,
    /// Serve only the policies of shard INDEX of COUNT (by a stable hash of
    /// namespace/name), electing a leader on the Lease `<id>-shard-INDEX-of-COUNT`.
    /// Needs leader election.
    #[arg(long, default_value = "0/1", value_name = "INDEX/COUNT", value_parser = parse_shard, env = "PRESCALER_SHARD")]
    pub shard: Shard,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        value_name = "ADDR",
        env = "PRESCALER_METRICS_ADDR"
    )]
    pub metrics_addr: std::net::SocketAddr,
}

/// `--shard`: the reason alone, as clap names the flag and the value itself.
fn parse_shard(value: &str) -> Result<Shard, String> {
    value.parse::<Shard>().map_err(|e| e.reason().to_string())
}
