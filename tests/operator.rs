//! End to end: the real `prescaler run` binary against the Kubernetes API emulator (and, in
//! `operator/forecast.rs`, a real Prometheus).

#[allow(dead_code)] // shared harness: this crate uses part of it
mod support;

#[path = "operator/basics.rs"]
mod basics;
#[path = "operator/controls.rs"]
mod controls;
#[path = "operator/cost.rs"]
mod cost;
#[path = "operator/dashboard.rs"]
mod dashboard;
#[path = "operator/faults.rs"]
mod faults;
#[path = "operator/forecast.rs"]
mod forecast;
#[path = "operator/leader.rs"]
mod leader;
#[path = "operator/malformed.rs"]
mod malformed;
#[path = "operator/overload.rs"]
mod overload;
#[path = "operator/shards.rs"]
mod shards;
#[path = "operator/shutdown.rs"]
mod shutdown;
#[path = "operator/targets.rs"]
mod targets;
