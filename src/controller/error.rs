//! Why a reconcile could not finish.

use super::target::TargetError;

/// A reconcile that could not finish; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The target could not be read or written.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Another API call failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// The failure.
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// A short label for the operator's error counter.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Target(e) => e.reason(),
            ReconcileError::Api { .. } => "KubernetesApi",
        }
    }
}

pub(super) fn api(what: &'static str) -> impl FnOnce(kube::Error) -> ReconcileError {
    move |source| ReconcileError::Api { what, source }
}
