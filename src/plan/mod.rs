//! The replica decision, pure: the HPA algorithm (reactive), the forecast's ask
//! (predictive) over the planning window, and HPA's behavior rules over both. The
//! controller and `simulate` call [`decide`] and nothing else.

pub mod behavior;
pub mod decide;
pub mod reactive;
pub mod window;

pub use decide::{
    Inputs, Limit, MetricInput, Need, PlanState, Reason, ScaleDecision, decide, predictive,
    scale_down_window,
};
pub use reactive::{Reactive, Reading, Tolerance};
pub use window::{Timing, Window};
