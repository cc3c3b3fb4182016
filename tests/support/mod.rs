//! Harness code shared by the integration tests. Each test crate uses only part of it.

pub mod cel;
pub mod kube_api;
pub mod policy;
pub mod prometheus;
