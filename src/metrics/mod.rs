//! prescaler's eyes: history and current values of a policy's metrics from Prometheus.

mod config;

pub use config::PrometheusArgs;
