//! Harness code shared by the integration tests. Each test crate uses only part of it.

pub mod cel;
pub mod helm;
pub mod kube_api;
pub mod operator;
pub mod policy;
pub mod prometheus;
