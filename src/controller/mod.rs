//! The operator: reconciles ScalingPolicies against a live cluster. `run` wires the parts:
//! the kube-runtime controller, leadership, the Prometheus source and the HTTP endpoints.

mod config;
mod context;
mod error;
mod evaluate;
pub mod explain;
mod gather;
mod leadtime;
mod observe;
mod queue;
pub mod reconcile;
pub mod report;
mod state;
pub mod target;
pub(crate) mod targets;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};

use crate::leader::{Elector, LeaderError, LeaseConfig};
use crate::metrics::Prometheus;
use crate::policy::ScalingPolicy;
use crate::shard::WriteGate;
use crate::telemetry::{Health, OperatorMetrics, TelemetryServer};

pub use config::RunArgs;
pub use context::Context;
use error::ReconcileError;
use queue::{Action, Queue};
use reconcile::reconcile;

/// Runs the operator until SIGTERM or Ctrl-C.
pub fn run(args: RunArgs) -> crate::Result<()> {
    // One TLS crypto provider for the Kubernetes and Prometheus clients; an error only
    // means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(crate::Error::Runtime)?;
    runtime.block_on(run_async(args))
}

/// What no reconcile reads, dropped from a watched object before it is cached: the
/// server's field-ownership records and `kubectl apply`'s copy of the last applied object,
/// which together can outweigh a policy's spec and status.
fn slim<K: ResourceExt>(object: &mut K) {
    object.managed_fields_mut().clear();
    object
        .annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
}

/// A Kubernetes client from `kubeconfig`, or the in-cluster service account (or
/// `$KUBECONFIG`) without one.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> crate::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig_error = |source| crate::Error::Kubeconfig {
                path: path.to_path_buf(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(kubeconfig_error)?
        }
        None => kube::Config::infer()
            .await
            .map_err(crate::Error::NoKubeconfig)?,
    };
    kube::Client::try_from(config).map_err(|source| crate::Error::Kube {
        what: "cannot create the Kubernetes client",
        source,
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

/// The wait before a failed reconcile is retried (`None`: it panicked, and was logged).
fn error_policy(policy: &ScalingPolicy, error: Option<&ReconcileError>, ctx: &Context) -> Action {
    let namespace = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let wait = ctx.backoff(&namespace, &name);
    if let Some(error) = error {
        tracing::warn!(%namespace, policy = %name, %error, retry_in_ms = wait.as_millis() as u64, "reconcile failed");
    }
    Action::requeue(wait)
}

/// How long reconciles in flight may take to finish after SIGTERM, whatever state the API
/// server is in. Well inside Kubernetes' default 30 s termination grace period, so the
/// Lease is released before the kubelet would SIGKILL the process.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long releasing the Lease may take on the way out.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Becomes true once SIGTERM or Ctrl-C arrives. A second signal ends the process at once.
fn shutdown_flag() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "shutdown requested; finishing the reconciles in flight"
        );
        let _ = tx.send(true);
        shutdown_signal().await;
        tracing::warn!("second shutdown signal; exiting now");
        std::process::exit(1);
    });
    rx
}

/// Logs a failing ScalingPolicy watch at warn, with its likely cause, at most once every
/// 30 s (the watch retries with backoff meanwhile).
fn watch_failure(
    error: &kube::runtime::watcher::Error,
    last: &std::sync::Mutex<Option<std::time::Instant>>,
) {
    use kube::runtime::watcher::Error as W;
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|at| at.elapsed() < Duration::from_secs(30)) {
        tracing::debug!(%error, "ScalingPolicy watch failed");
        return;
    }
    *last = Some(std::time::Instant::now());
    let api = match error {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => Some(e),
        W::WatchError(_) | W::NoResourceVersion => None,
    };
    let hint = match api {
        Some(kube::Error::Api(status)) if status.code == 404 => {
            "the API server does not serve scalingpolicies: is the CRD installed? (`prescaler crd | kubectl apply -f -`, or the chart's crds)"
        }
        Some(kube::Error::Api(status)) if status.code == 401 || status.code == 403 => {
            "the operator's service account may not list and watch scalingpolicies: check its ClusterRole (the chart's rbac)"
        }
        Some(kube::Error::Api(_)) => "the API server refused the watch",
        Some(_) => {
            "cannot reach the Kubernetes API server: check --kubeconfig or the in-cluster service account and the network"
        }
        None => "the watch broke off; it is restarted",
    };
    tracing::warn!(%error, "ScalingPolicy watch failing, retrying: {hint}");
}

async fn stopped(mut flag: tokio::sync::watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}

/// A stream that ticks each time this process becomes the leader and is cleared to write
/// (or a shard of another count lets go of policies), so that it reconciles every policy
/// at once instead of waiting for their next sync.
fn on_becoming_leader(gate: WriteGate, ctx: Arc<Context>) -> impl futures::Stream<Item = ()> {
    let leads = gate.leads();
    ctx.metrics.set_leader(leads);
    futures::stream::unfold((gate, ctx, leads), |(mut gate, ctx, mut was)| async move {
        loop {
            let leads = gate.changed().await;
            ctx.metrics.set_leader(leads);
            if leads {
                // Another leader may have written statuses since this one last led.
                ctx.policies.new_term();
                tracing::info!(shard = %gate.shard(), "leading and cleared to write; reconciling every policy");
                return Some(((), (gate, ctx, true)));
            }
            if was {
                tracing::warn!("lost leadership; writes stopped");
            }
            was = false;
        }
    })
}

async fn run_async(args: RunArgs) -> crate::Result<()> {
    let shard = args.shard;
    if shard.count > 1 && !args.leader.leader_elect {
        return Err(LeaderError::InvalidConfig {
            flag: "--shard",
            message: format!(
                "{shard} needs leader election, as each shard elects its leader on a Lease of its own: drop --leader-elect=false"
            ),
        }
        .into());
    }
    let prometheus = Prometheus::new(&args.prometheus)?;
    let client = client(args.kubeconfig.as_deref()).await?;
    let stop = shutdown_flag();
    let metrics = Arc::new(OperatorMetrics::new());
    let health = Health::new();
    let server = TelemetryServer::bind(args.metrics_addr).await?;
    tracing::info!(addr = %server.local_addr(), "telemetry listening");
    let telemetry =
        tokio::spawn(server.run(metrics.clone(), health.clone(), stopped(stop.clone())));

    let (gate, mut elector, guard, identity) = if args.leader.leader_elect {
        let mut config = LeaseConfig::from_args(&args.leader)?;
        config.name = shard.lease_name(&args.leader.leader_election_id);
        let identity = config.identity.clone();
        tracing::info!(lease = %format!("{}/{}", config.namespace, config.name), %identity, %shard, "leader election on");
        let (leadership, elector) = Elector::spawn(client.clone(), config.clone());
        let (gate, guard) = crate::shard::spawn_guard(
            client.clone(),
            &config,
            &args.leader.leader_election_id,
            shard,
            leadership,
        );
        (gate, Some(elector), Some(guard), identity)
    } else {
        (WriteGate::always(), None, None, args.leader.identity())
    };
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
            watcher::watcher(hpa_api, watcher::Config::default()).modify(slim),
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
        gate.clone(),
        metrics.clone(),
        hpas,
    ));
    let policies: Api<ScalingPolicy> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (store, policy_writer) = reflector::store();
    ctx.set_policy_store(store.clone());
    let queue: Arc<Queue<ObjectRef<ScalingPolicy>>> = Arc::new(Queue::default());
    let janitor_ctx = ctx.clone();
    let janitor_store = store.clone();
    let janitor_health = health.clone();
    let janitor = tokio::spawn(async move {
        if !context::store_ready(&janitor_store).await {
            return;
        }
        tracing::info!("ScalingPolicy watch synced");
        janitor_health.set_ready(true);
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let live: Vec<(String, String)> = janitor_store
                .state()
                .iter()
                .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
                .collect();
            janitor_ctx.forget_policies_except(&live);
            janitor_ctx.restore_orphaned_floors(&live).await;
            janitor_ctx.record_cache_bytes();
            janitor_ctx.record_policies_behind();
            crate::telemetry::release_free_memory();
        }
    });
    tracing::info!(%identity, namespace = args.namespace.as_deref().unwrap_or("(all)"), "prescaler operator starting");
    // Reconciles start once the watch has listed every policy, like a controller's.
    let mut workers = tokio::spawn({
        let (queue, store, ctx) = (queue.clone(), store.clone(), ctx.clone());
        let concurrency = usize::from(args.concurrency);
        let stop = stop.clone();
        async move {
            tokio::select! {
                ready = context::store_ready(&store) => if !ready { return },
                () = stopped(stop) => return,
            }
            let depth = tokio::spawn({
                let (queue, metrics) = (queue.clone(), ctx.metrics.clone());
                async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        tick.tick().await;
                        metrics.set_queue_depth(queue.waiting());
                    }
                }
            });
            let find = move |key: &ObjectRef<ScalingPolicy>| store.get(key);
            let run_ctx = ctx.clone();
            let reconcile = move |policy| reconcile(policy, run_ctx.clone());
            let on_error = move |policy: Arc<ScalingPolicy>, error: Option<&ReconcileError>| {
                error_policy(&policy, error, &ctx)
            };
            queue::run(queue, concurrency, find, reconcile, on_error).await;
            depth.abort();
        }
    });
    // Every change to a policy (its status included, as a controller's watch would) makes
    // it due now; so does every policy when this process becomes the leader.
    let last_watch_warning = std::sync::Mutex::new(None);
    let watch = reflector::reflector(
        policy_writer,
        watcher::watcher(policies, watcher::Config::default()).modify(slim),
    )
    .default_backoff()
    .for_each(|event| {
        match event {
            Ok(watcher::Event::Apply(policy) | watcher::Event::InitApply(policy)) => {
                queue.now(ObjectRef::from_obj(&policy));
            }
            Ok(watcher::Event::Delete(policy)) => queue.forget(&ObjectRef::from_obj(&policy)),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(error) => watch_failure(&error, &last_watch_warning),
        }
        futures::future::ready(())
    });
    let leads = on_becoming_leader(gate, ctx.clone()).for_each(|()| {
        for policy in store.state() {
            queue.now(ObjectRef::from_obj(&policy));
        }
        futures::future::ready(())
    });
    let run = async {
        futures::future::join(watch, leads).await;
    };
    tokio::pin!(run);
    let election = async {
        match elector.as_mut() {
            Some(elector) => elector.join().await.err(),
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        () = &mut run => Ok(()),
        ended = election => Err(crate::Error::ElectionStopped(ended)),
        () = stopped(stop.clone()) => {
            // Nothing new starts; whatever the reconciles in flight are stuck on (an API
            // server that does not answer), the process leaves after the grace period.
            queue.close();
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut workers).await.is_err() {
                tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "reconciles still in flight after the grace period; stopping anyway");
            }
            Ok(())
        }
    };
    queue.close();
    workers.abort();
    janitor.abort();
    hpa_watch.abort();
    if let Some(guard) = guard {
        guard.abort();
    }
    if let Some(elector) = elector
        && outcome.is_ok()
    {
        match tokio::time::timeout(RELEASE_TIMEOUT, elector.release()).await {
            Ok(Ok(())) => tracing::info!("released the leader Lease"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the leader Lease"),
            Err(_) => tracing::warn!(
                timeout_s = RELEASE_TIMEOUT.as_secs(),
                "releasing the leader Lease timed out; a standby takes over when it expires"
            ),
        }
    }
    let _ = tokio::time::timeout(RELEASE_TIMEOUT, telemetry).await;
    tracing::info!("prescaler operator stopped");
    outcome
}
