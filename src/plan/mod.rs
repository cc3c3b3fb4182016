//! The replica decision, pure: the HPA algorithm (reactive), the forecast's ask
//! (predictive) over the planning window, HPA's behavior rules over both, and the mode rule
//! on what may be written. The controller and `simulate` both call [`Timing::window`],
//! [`decide`] and, once a change was made, [`record_scale`].

pub mod behavior;
pub mod decide;
pub mod mode;
pub mod reactive;
pub mod schedule;
pub mod window;

pub use decide::{
    Inputs, Limit, MetricInput, Need, PlanState, Reason, ScaleDecision, decide, fallback_floor,
    predictive, record_scale, scale_down_window,
};
pub use mode::{Gate, HpaView, Writes, gate, hpa_floor};
pub use reactive::{Reactive, Reading, Tolerance};
pub use window::{Timing, Window};
