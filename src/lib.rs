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
pub mod shard;
pub mod sim;
pub mod telemetry;

/// FNV-1a, 64 bits, over `bytes`: a fixed, dependency-free hash for what must hash the same
/// in every process and release (shard membership, a kept model choice's settings).
pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.into_iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Errors the binary reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD could not be serialised.
    #[error("could not render the CRD as YAML: {0}")]
    CrdYaml(#[from] serde_norway::Error),
    /// Logging could not be set up.
    #[error("could not set up logging")]
    Logging(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A trace file could not be read.
    #[error(transparent)]
    Trace(#[from] crate::sim::trace::TraceError),
    /// A policy file could not be read.
    #[error("cannot read {}", path.display())]
    PolicyFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A policy file is not a ScalingPolicy.
    #[error("{}", path.display())]
    PolicyYaml {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::policy::PolicyFileError,
    },
    /// A policy file breaks a rule of the spec.
    #[error("{}", path.display())]
    PolicyInvalid {
        /// The file.
        path: std::path::PathBuf,
        /// Every problem, each naming its field.
        #[source]
        source: crate::policy::SpecErrors,
    },
    /// Flags that cannot be used as given; the message names the flag and the fix.
    #[error("{0}")]
    Usage(String),
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
    #[error("could not write the plot {}", path.display())]
    Plot {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::sim::svg::PlotError,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// `--kubeconfig` could not be used.
    #[error("--kubeconfig {}", path.display())]
    Kubeconfig {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No Kubernetes configuration was found.
    #[error("no Kubernetes configuration found; run in a cluster, set --kubeconfig or $KUBECONFIG")]
    NoKubeconfig(#[source] kube::config::InferConfigError),
    /// A Kubernetes call the operator needs to start failed.
    #[error("{what}")]
    Kube {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The HTTP endpoints could not start.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// Leader election could not start, or stopped.
    #[error(transparent)]
    Leader(#[from] crate::leader::LeaderError),
    /// Leader election ended while the operator ran.
    #[error("leader election stopped; exiting so that a restart can rejoin it")]
    ElectionStopped(#[source] Option<crate::leader::LeaderError>),
    /// Writing to standard output failed.
    #[error("could not write output: {0}")]
    Output(#[from] std::io::Error),
    /// A report could not be rendered as JSON.
    #[error("could not render JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// The message with each of its causes (a cause already quoted in it is not repeated),
    /// as the binary prints it.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !cause_text.is_empty() && !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
