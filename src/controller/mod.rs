//! The operator: reconciles ScalingPolicies against a live cluster. `run` wires the parts:
//! the kube-runtime controller, leadership, the Prometheus source and the HTTP endpoints.

mod context;
mod observe;
pub mod reconcile;
pub mod report;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{WatchStreamExt, reflector, watcher};

pub mod leader;

use crate::cli::RunArgs;
use crate::metrics::Prometheus;
use crate::policy::ScalingPolicy;

pub use context::Context;
use reconcile::{ReconcileError, reconcile};

fn operator_error(what: &str) -> impl FnOnce(kube::Error) -> crate::Error + '_ {
    move |e| crate::Error::Operator(format!("{what}: {e}"))
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub fn run(args: RunArgs) -> crate::Result<()> {
    // One TLS crypto provider for the Kubernetes and Prometheus clients; an error only
    // means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::Operator(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run_async(args))
}

async fn client(args: &RunArgs) -> crate::Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                crate::Error::Operator(format!("--kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| crate::Error::Operator(format!("--kubeconfig {}: {e}", path.display())))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            crate::Error::Operator(format!(
                "no Kubernetes configuration found ({e}); run in a cluster, set --kubeconfig or $KUBECONFIG"
            ))
        })?,
    };
    kube::Client::try_from(config).map_err(operator_error("cannot create the Kubernetes client"))
}

fn identity(args: &RunArgs) -> String {
    args.identity.clone().unwrap_or_else(|| {
        std::env::var("POD_NAME").unwrap_or_else(|_| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "prescaler".into());
            format!("{host}-{}", std::process::id())
        })
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn error_policy(policy: Arc<ScalingPolicy>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let namespace = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let wait = ctx.backoff(&namespace, &name);
    tracing::warn!(%namespace, policy = %name, %error, retry_in_ms = wait.as_millis() as u64, "reconcile failed");
    Action::requeue(wait)
}

async fn run_async(args: RunArgs) -> crate::Result<()> {
    let prometheus = Prometheus::new(&args.prometheus)
        .map_err(|e| crate::Error::Operator(format!("Prometheus: {e}")))?;
    let client = client(&args).await?;
    let identity = identity(&args);
    let (_leader_tx, leader_rx) = tokio::sync::watch::channel(true);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "prescaler".into(),
            instance: Some(identity.clone()),
        },
    );
    let hpa_api: Api<HorizontalPodAutoscaler> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (hpas, hpa_writer) = reflector::store();
    let hpa_watch = tokio::spawn(
        reflector::reflector(
            hpa_writer,
            watcher::watcher(hpa_api, watcher::Config::default()),
        )
        .default_backoff()
        .for_each(|event| async move {
            if let Err(error) = event {
                tracing::warn!(%error, "HorizontalPodAutoscaler watch failed; retrying");
            }
        }),
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        prometheus,
        recorder,
        Duration::from_secs(args.sync_period.max(1)),
        leader_rx,
        hpas,
    ));
    let policies: Api<ScalingPolicy> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let controller = Controller::new(policies, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(args.concurrency))
        .graceful_shutdown_on(shutdown_signal());
    let store = controller.store();
    let janitor_ctx = ctx.clone();
    let janitor_store = store.clone();
    let janitor = tokio::spawn(async move {
        if janitor_store.wait_until_ready().await.is_err() {
            return;
        }
        tracing::info!("ScalingPolicy watch synced");
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let live: Vec<(String, String)> = janitor_store
                .state()
                .iter()
                .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
                .collect();
            janitor_ctx.forget_policies_except(&live);
        }
    });
    tracing::info!(%identity, namespace = args.namespace.as_deref().unwrap_or("(all)"), "prescaler operator starting");
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
    janitor.abort();
    hpa_watch.abort();
    tracing::info!("prescaler operator stopped");
    Ok(())
}
