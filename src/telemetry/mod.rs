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

/// Gives the heap's free pages back to the system. glibc's allocator keeps what a burst of
/// work freed (a fleet's first forecasts, each with a model-choice backtest, run on many
/// threads and so in many arenas) as free space in its arenas, and the operator's resident
/// memory would stay at the burst's peak; `malloc_trim` returns it, so resident memory
/// follows what the operator holds. Called once a minute; a no-op on other allocators.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer
    // and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
