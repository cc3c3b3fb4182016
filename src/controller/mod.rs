//! The operator: reconciles ScalingPolicies against a live cluster.

pub mod leader;

use crate::cli::RunArgs;

/// Runs the operator until SIGTERM or Ctrl-C.
pub fn run(args: RunArgs) -> crate::Result<()> {
    let _ = args;
    Err(crate::Error::Policy(
        "prescaler run: the controller is not built yet".into(),
    ))
}
