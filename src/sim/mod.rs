//! Replaying real traces: the forecast backtest and the scaling simulator.

pub mod backtest;
pub mod frontier;
pub mod run;
pub mod strategies;
pub mod svg;
pub mod trace;
pub mod workload;
