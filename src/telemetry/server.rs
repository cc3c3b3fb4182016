//! The operator's HTTP endpoints on `--metrics-addr`: `/metrics` (OpenMetrics text),
//! `/healthz` (the process is alive) and `/readyz` (the controller has synced).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::OperatorMetrics;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What `/readyz` says until the controller reports ready.
const WAITING_FOR: &str = "waiting for the ScalingPolicy watch to sync";

/// Readiness as reported on `/readyz`. Cheap to clone; every clone shares the state.
#[derive(Clone, Debug)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Not ready, waiting for the ScalingPolicy watch to sync.
    pub fn new() -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the process ready (or not ready again).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Why the HTTP server could not run.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The address could not be bound.
    #[error("could not listen on {addr} for /metrics, /healthz and /readyz: {source}; {hint}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// The server failed while running.
    #[error("the /metrics server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A bound, not yet serving, HTTP server; [`TelemetryServer::local_addr`] tells the port
/// when the address asked for port 0.
#[derive(Debug)]
pub struct TelemetryServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl TelemetryServer {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, TelemetryError> {
        let bind_error = |source: std::io::Error| {
            let hint = match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "another process already uses that port; stop it or choose another address \
                     with --metrics-addr"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "ports below 1024 need privileges; choose e.g. 0.0.0.0:8080 with \
                     --metrics-addr"
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "no interface has that IP address; use 0.0.0.0 or an address of this host \
                     in --metrics-addr"
                }
                _ => "check --metrics-addr",
            };
            TelemetryError::Bind { addr, source, hint }
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self { listener, addr })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        metrics: Arc<OperatorMetrics>,
        health: Health,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TelemetryError> {
        tracing::info!(addr = %self.addr, "serving /metrics, /healthz and /readyz");
        axum::serve(self.listener, router(metrics, health))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(TelemetryError::Serve)
    }
}

/// Binds `addr` and serves `/metrics`, `/healthz` and `/readyz` until `shutdown`
/// completes. Use [`TelemetryServer`] to learn the port when `addr` has port 0.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<OperatorMetrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelemetryError> {
    TelemetryServer::bind(addr)
        .await?
        .run(metrics, health, shutdown)
        .await
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<OperatorMetrics>,
    health: Health,
}

fn router(metrics: Arc<OperatorMetrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.health.is_ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, WAITING_FOR).into_response()
    }
}
