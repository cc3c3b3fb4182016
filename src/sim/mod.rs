//! Replaying real traces: the forecast backtest (and, with the planner, the simulator).

pub mod backtest;
pub mod trace;
