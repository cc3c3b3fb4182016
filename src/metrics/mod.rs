//! prescaler's eyes: history and current values of a policy's metrics from Prometheus.
//!
//! - [`MetricSource`]: what the controller and `simulate` read from (a range of samples).
//! - [`Prometheus`]: the HTTP API client behind it — a transport (one HTTP attempt, TLS,
//!   credentials) inside [`resilience::Resilient`] (deadlines, retries, a limit on reads
//!   in flight, a circuit breaker, for any source); [`Prometheus::stats`] counts its reads
//!   for the operator's own metrics.
//! - [`HistoryCache`]: per-series incremental history, so each cycle asks for the tail only.
//! - [`queries`]: the PromQL of each metric type, built from the target's owner or label selector.

mod cache;
mod config;
mod credentials;
mod error;
mod prometheus;
mod queries;
pub mod resilience;
mod transport;

use std::future::Future;
use std::time::Duration;

pub use cache::{HistoryCache, MAX_POINTS_PER_QUERY, MAX_POINTS_PER_SERIES, SeriesKey};
pub use config::PrometheusArgs;
pub use error::MetricError;
pub use prometheus::{Auth, Prometheus, QueryStats};
pub use queries::{MetricQueries, Pods, RATE_WINDOW, queries, quote};

/// A source of metric samples.
pub trait MetricSource: Send + Sync + 'static {
    /// Samples of `query` (which must return exactly one series) from `start` to `end`
    /// (Unix seconds, both included) every `step` seconds. Non-finite samples are left out;
    /// a series with nothing but NaN or ±Inf is [`MetricError::NotFinite`], no series at all
    /// [`MetricError::NoData`], several [`MetricError::MultipleSeries`].
    fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> impl Future<Output = Result<Vec<(i64, f64)>, MetricError>> + Send;

    /// How the source is named in messages (for Prometheus: its URL).
    fn name(&self) -> String {
        "the metric source".to_string()
    }

    /// Longest one [`HistoryCache::history`] call may take, all its requests included.
    fn cycle_deadline(&self) -> Duration {
        Duration::from_secs(30)
    }
}
