//! prescaler's eyes: history and current values of a policy's metrics from Prometheus.

mod config;
mod interim;

pub use config::PrometheusArgs;
pub use interim::*;
