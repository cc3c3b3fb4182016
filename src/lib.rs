//! prescaler: a predictive autoscaler for Kubernetes.
//!
//! The [`policy`] module is the `ScalingPolicy` API; [`cli`] and [`telemetry`] make up the
//! binary's shell.

pub mod cli;
pub mod controller;
pub mod forecast;
pub mod leader;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod sim;
pub mod telemetry;

/// Errors the binary reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD could not be serialised.
    #[error("could not render the CRD as YAML: {0}")]
    CrdYaml(#[from] serde_norway::Error),
    /// Logging could not be set up.
    #[error("could not set up logging: {0}")]
    Logging(String),
    /// A trace file could not be read.
    #[error(transparent)]
    Trace(#[from] crate::sim::trace::TraceError),
    /// A policy file could not be used.
    #[error("{0}")]
    Policy(String),
    /// Metrics could not be read.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricError),
    /// A backtest had nothing to score.
    #[error(transparent)]
    Backtest(#[from] crate::sim::backtest::BacktestError),
    /// A simulation could not run.
    #[error(transparent)]
    Simulation(#[from] crate::sim::run::SimError),
    /// The plot could not be written.
    #[error("could not write the plot: {0}")]
    Plot(String),
    /// The operator could not start or stopped on a failure.
    #[error("{0}")]
    Operator(String),
    /// Writing to standard output failed.
    #[error("could not write output: {0}")]
    Output(#[from] std::io::Error),
    /// A report could not be rendered as JSON.
    #[error("could not render JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
