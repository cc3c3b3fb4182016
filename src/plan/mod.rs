//! The replica decision, pure: the HPA algorithm (reactive), the forecast's ask
//! (predictive), and HPA's behavior rules over both. The controller and `simulate` call
//! [`decide`] and nothing else.

pub mod behavior;
pub mod decide;
pub mod reactive;

pub use decide::{
    Inputs, Limit, MetricInput, PlanState, Reason, ScaleDecision, decide, predictive,
};
pub use reactive::{Reactive, Reading, Tolerance};
