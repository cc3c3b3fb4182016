//! The Kubernetes API emulator, proven against real clients: the `kubectl` binary
//! (`kubectl.rs`, `events.rs`) and kube-rs (`client.rs`, `watch.rs`, `faults.rs`,
//! `events.rs`).

#[allow(dead_code)] // shared harness: this crate uses the API emulator only
mod support;

#[path = "kube_api/client.rs"]
mod client;
#[path = "kube_api/events.rs"]
mod events;
#[path = "kube_api/faults.rs"]
mod faults;
#[path = "kube_api/kubectl.rs"]
mod kubectl;
#[path = "kube_api/watch.rs"]
mod watch;

/// The crate's root, where `crds/` and `examples/` are.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
