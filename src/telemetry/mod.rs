//! Logging set-up, the operator's metrics ([`metrics`]) and its HTTP endpoints
//! ([`server`]: `/metrics`, `/healthz`, `/readyz`).

mod ledger;
pub mod metrics;
pub mod server;

pub use metrics::{
    CONDITION_TYPES, Direction, MetricGauges, OperatorMetrics, PolicyGauges, ReconcileResult,
};
pub use server::{Health, TelemetryError, TelemetryServer, serve};

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global tracing subscriber writing to stderr. The level comes from
/// `RUST_LOG` (default `info`). Text is coloured only on a terminal (and not under
/// `NO_COLOR`): `kubectl logs` and log files get plain `key=value` lines.
pub fn init_logging(format: LogFormat) -> crate::Result<()> {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(crate::Error::Logging)
}
