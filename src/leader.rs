//! Leader election on a `coordination.k8s.io/v1` Lease, so that only one of several
//! operator replicas writes.
//!
//! Every candidate runs the same loop, once per renew period: read the Lease; if it is
//! missing, create it naming itself; if it names this candidate, renew it; if it is free
//! (no holder, as after a release) or its holder has not renewed it for
//! `leaseDurationSeconds`, take it over. Every write carries the `resourceVersion` that
//! was read, so of two candidates racing for the same Lease exactly one write succeeds
//! and the other gets `409 Conflict`.
//!
//! Expiry is judged on the candidate's own monotonic clock: a Lease counts as expired when
//! this process has seen its record unchanged for `leaseDurationSeconds`. Clock skew
//! between nodes therefore does not matter, and a candidate that starts next to a crashed
//! leader waits one full lease duration before taking over.
//!
//! A leader steps down at its *renew deadline* (two thirds of the lease duration after the
//! last successful renewal began) if it could not renew by then, whether the API answers
//! with errors or not at all. That is before any standby can consider the Lease expired, so
//! the old leader has stopped writing when the new one starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::policy::duration::parse_seconds;

/// Where the service-account namespace is mounted in a pod.
const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The leader-election flags of `prescaler run`, one group.
#[derive(Clone, Debug, clap::Args)]
pub struct LeaderArgs {
    /// Elect a leader on a Lease so that only one of several replicas writes. Set
    /// `--leader-elect=false` when running a single replica.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", env = "PRESCALER_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: the pod's own namespace, else `default`).
    #[arg(
        long,
        value_name = "NAMESPACE",
        allow_hyphen_values = true, value_parser = crate::cli::parse_namespace,
        env = "PRESCALER_LEADER_ELECTION_NAMESPACE"
    )]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        default_value = "prescaler",
        value_name = "NAME",
        allow_hyphen_values = true, value_parser = crate::cli::parse_object_name,
        env = "PRESCALER_LEADER_ELECTION_ID"
    )]
    pub leader_election_id: String,
    /// How long a leader holds the Lease without renewing it; a standby takes over after that.
    #[arg(long, default_value = "15s", allow_hyphen_values = true, value_parser = parse_seconds, env = "PRESCALER_LEASE_DURATION")]
    pub lease_duration: u64,
    /// How often the leader renews the Lease and a standby tries to acquire it.
    #[arg(long, default_value = "2s", allow_hyphen_values = true, value_parser = parse_seconds, env = "PRESCALER_LEASE_RENEW_PERIOD")]
    pub lease_renew_period: u64,
    /// This process's name in the Lease (default: `$POD_NAME`, else the host name and pid).
    #[arg(long, value_name = "NAME", env = "PRESCALER_IDENTITY")]
    pub identity: Option<String>,
}

impl LeaderArgs {
    /// This process's name: `--identity`, else [`default_identity`].
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(default_identity)
    }
}

/// What to elect on and how fast.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This process's name in the Lease; must differ between replicas.
    pub identity: String,
    /// How long a holder keeps the Lease without renewing it. Written to the Lease as
    /// `leaseDurationSeconds` (rounded up to whole seconds).
    pub lease_duration: std::time::Duration,
    /// How often the leader renews and a standby tries to acquire.
    pub renew_period: std::time::Duration,
}

impl LeaseConfig {
    /// The settings from the `prescaler run` flags, with the defaults for the namespace
    /// ([`default_namespace`]) and identity ([`default_identity`]); checked with
    /// [`LeaseConfig::validate`].
    pub fn from_args(args: &LeaderArgs) -> Result<Self, LeaderError> {
        let config = Self {
            namespace: args
                .leader_election_namespace
                .clone()
                .unwrap_or_else(default_namespace),
            name: args.leader_election_id.clone(),
            identity: args.identity(),
            lease_duration: Duration::from_secs(args.lease_duration),
            renew_period: Duration::from_secs(args.lease_renew_period),
        };
        config.validate()?;
        Ok(config)
    }

    /// How long after the start of its last successful renewal a leader keeps leading
    /// without another one: two thirds of the lease duration.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }

    /// Checks that the names are set and that the timings leave a leader room to retry a
    /// failed renewal before it must step down.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let invalid = |flag, message: String| Err(LeaderError::InvalidConfig { flag, message });
        if self.namespace.trim().is_empty() {
            return invalid(
                "--leader-election-namespace",
                "must not be empty; name the namespace the Lease lives in".into(),
            );
        }
        if self.name.trim().is_empty() {
            return invalid(
                "--leader-election-id",
                "must not be empty; name the Lease, e.g. `prescaler`".into(),
            );
        }
        if self.identity.trim().is_empty() {
            return invalid(
                "--identity",
                "must not be empty; leave it unset to use $POD_NAME or the host name and pid"
                    .into(),
            );
        }
        if self.lease_duration < Duration::from_secs(1) {
            return invalid(
                "--lease-duration",
                format!(
                    "{:?} is too short: a Lease is held for whole seconds; use at least 1s",
                    self.lease_duration
                ),
            );
        }
        if self.lease_duration > Duration::from_secs(i32::MAX as u64) {
            return invalid(
                "--lease-duration",
                format!("{:?} is too long; use e.g. 15s", self.lease_duration),
            );
        }
        if self.renew_period.is_zero() {
            return invalid(
                "--lease-renew-period",
                "must be greater than zero, e.g. 2s".into(),
            );
        }
        if self.renew_period >= self.renew_deadline() {
            return invalid(
                "--lease-renew-period",
                format!(
                    "{:?} must be shorter than two thirds of --lease-duration ({:?}) so that \
                     a leader can retry a failed renewal before it has to step down; lower \
                     --lease-renew-period or raise --lease-duration",
                    self.renew_period, self.lease_duration
                ),
            );
        }
        Ok(())
    }

    fn lease_duration_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }

    fn lease_key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// This process's default name in the Lease: `$POD_NAME` when set (the chart passes it
/// through the downward API), else `<hostname>-<pid>`.
pub fn default_identity() -> String {
    if let Some(pod) = std::env::var("POD_NAME")
        .ok()
        .filter(|p| !p.trim().is_empty())
    {
        return pod.trim().to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "prescaler".into());
    format!("{host}-{}", std::process::id())
}

/// The default namespace of the Lease: the pod's own namespace from its service-account
/// mount, else `default`.
pub fn default_namespace() -> String {
    namespace_from_file(std::path::Path::new(NAMESPACE_FILE)).unwrap_or_else(|| "default".into())
}

fn namespace_from_file(path: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Why leader election could not start, went on, or release the Lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// A setting is unusable.
    #[error("invalid {flag}: {message}")]
    InvalidConfig {
        /// The flag to fix.
        flag: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The Lease could not be released.
    #[error("could not release the Lease {lease}: {source}")]
    Release {
        /// `namespace/name`.
        lease: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The API did not answer the release in time.
    #[error(
        "could not release the Lease {lease}: the API server did not answer within {timeout:?}"
    )]
    ReleaseTimeout {
        /// `namespace/name`.
        lease: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// The election task panicked.
    #[error("the leader election task panicked: {0}")]
    Panicked(String),
    /// The election task was cancelled from outside.
    #[error("the leader election task was cancelled")]
    Cancelled,
    /// [`Elector::join`] was called again after it had reported the end of the task.
    #[error("the leader election task has already ended")]
    Ended,
}

/// Leadership as seen by the rest of the process. Each clone is a handle of its own that
/// sees every change.
#[derive(Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// The value this handle last reported, through `is_leader` or `changed`.
    reported: AtomicBool,
    /// Keeps the channel open for [`Leadership::always`], which has no election task.
    _always: Option<Arc<watch::Sender<bool>>>,
}

impl Clone for Leadership {
    fn clone(&self) -> Self {
        Self {
            rx: self.rx.clone(),
            reported: AtomicBool::new(self.reported.load(Ordering::SeqCst)),
            _always: self._always.clone(),
        }
    }
}

impl Leadership {
    fn new(rx: watch::Receiver<bool>, always: Option<Arc<watch::Sender<bool>>>) -> Self {
        let reported = AtomicBool::new(*rx.borrow());
        Self {
            rx,
            reported,
            _always: always,
        }
    }

    /// Whether this process is the leader now (and may write).
    pub fn is_leader(&self) -> bool {
        let now = *self.rx.borrow();
        self.reported.store(now, Ordering::SeqCst);
        now
    }

    /// Waits until leadership differs from what this handle last reported (through
    /// [`Leadership::is_leader`] or `changed`) and returns the new value; at once if it
    /// already differs, so a change between two calls is never missed. Once the election
    /// task has ended (and leadership has been reported lost), no change can come and
    /// this waits forever: select on [`Elector::join`] to learn of the end. Cancel-safe.
    pub async fn changed(&mut self) -> bool {
        loop {
            let now = *self.rx.borrow_and_update();
            if now != self.reported.load(Ordering::SeqCst) {
                self.reported.store(now, Ordering::SeqCst);
                return now;
            }
            if self.rx.changed().await.is_err() {
                // The sender is gone; its last value was read above.
                return std::future::pending().await;
            }
        }
    }

    /// Leadership without election, for `--leader-elect=false`: always the leader.
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        Self::new(rx, Some(Arc::new(tx)))
    }
}

/// The running election. Dropping it stops the election *without* releasing the Lease,
/// as a crash would; call [`Elector::release`] on an orderly shutdown.
#[derive(Debug)]
pub struct Elector {
    task: Option<JoinHandle<Result<(), LeaderError>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Elector {
    /// Starts the acquire/renew loop in a task. An invalid `config` ends the task at once
    /// with the error, which [`Elector::join`] returns.
    pub fn spawn(client: kube::Client, config: LeaseConfig) -> (Leadership, Elector) {
        let (tx, rx) = watch::channel(false);
        let (stop_tx, stop_rx) = oneshot::channel();
        let election = Election {
            api: Api::namespaced(client, &config.namespace),
            key: config.lease_key(),
            config,
            flag: LeaderFlag(tx),
            observed: None,
            renewed_at: None,
            holder: None,
        };
        let task = tokio::spawn(election.run(stop_rx));
        let leadership = Leadership::new(rx, None);
        let elector = Elector {
            task: Some(task),
            stop: Some(stop_tx),
        };
        (leadership, elector)
    }

    /// Waits for the election task to end, which it does only on an invalid
    /// configuration or a panic: the process should then exit. Cancel-safe, for use in
    /// `tokio::select!`.
    pub async fn join(&mut self) -> Result<(), LeaderError> {
        let Some(task) = self.task.as_mut() else {
            return Err(LeaderError::Ended);
        };
        let result = task.await;
        self.task = None;
        match result {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(LeaderError::Panicked(panic_message(e.into_panic()))),
            Err(_) => Err(LeaderError::Cancelled),
        }
    }

    /// Stops the loop and, if this process leads, reports leadership lost and then
    /// releases the Lease (clears `holderIdentity`) so that a standby takes over at once.
    pub async fn release(mut self) -> Result<(), LeaderError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            None => Ok(()),
            Some(task) => match task.await {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(LeaderError::Panicked(panic_message(e.into_panic()))),
                Err(_) => Err(LeaderError::Cancelled),
            },
        }
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// The sending side of [`Leadership`]; reports leadership lost when dropped, which
/// includes the election task being aborted.
struct LeaderFlag(watch::Sender<bool>);

impl LeaderFlag {
    fn get(&self) -> bool {
        *self.0.borrow()
    }

    /// Sets the value; true when it changed.
    fn set(&self, leader: bool) -> bool {
        self.0.send_if_modified(|current| {
            let changed = *current != leader;
            *current = leader;
            changed
        })
    }
}

impl Drop for LeaderFlag {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// The record as last seen, and when this process first saw it so.
struct Observed {
    spec: LeaseSpec,
    at: Instant,
}

/// What one acquire-or-renew attempt found.
enum Attempt {
    /// This process holds the Lease.
    Leading,
    /// Another candidate holds it (or won the race for it).
    Following,
}

struct Election {
    api: Api<Lease>,
    config: LeaseConfig,
    key: String,
    flag: LeaderFlag,
    observed: Option<Observed>,
    /// When the last successful renewal (or acquisition) began, while leading.
    renewed_at: Option<Instant>,
    /// The holder last reported in the log.
    holder: Option<String>,
}

impl Election {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) -> Result<(), LeaderError> {
        self.config.validate()?;
        info!(lease = %self.key, identity = %self.config.identity, "leader election started");
        let deadline = self.config.renew_deadline();
        loop {
            let started = Instant::now();
            // An attempt may take no longer than the leader has left, so that a hanging API
            // server cannot keep a leader leading past its deadline.
            let budget = match self.renewed_at {
                Some(renewed) => (renewed + deadline).saturating_duration_since(started),
                None => deadline,
            };
            let attempt = tokio::select! {
                result = tokio::time::timeout(budget, self.attempt()) => result,
                stopped = &mut stop => {
                    // A dropped sender means the Elector was dropped: stop as a crash would.
                    return match stopped {
                        Ok(()) => self.release().await,
                        Err(_) => Ok(()),
                    };
                }
            };
            match attempt {
                Ok(Ok(Attempt::Leading)) => {
                    self.renewed_at = Some(started);
                    if self.flag.set(true) {
                        info!(lease = %self.key, identity = %self.config.identity, "became the leader");
                    }
                }
                Ok(Ok(Attempt::Following)) => self.step_down("another instance holds the Lease"),
                Ok(Err(error)) => {
                    warn!(lease = %self.key, error = %error, leader = self.flag.get(), "could not acquire or renew the Lease; retrying");
                }
                Err(_elapsed) => {
                    warn!(lease = %self.key, leader = self.flag.get(), "the API server did not answer in time; retrying");
                }
            }
            let next = match self.renewed_at.filter(|_| self.flag.get()) {
                Some(renewed) => (started + self.config.renew_period).min(renewed + deadline),
                None => {
                    started
                        + self
                            .config
                            .renew_period
                            .mul_f64(1.0 + 0.2 * fastrand::f64())
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                stopped = &mut stop => {
                    return match stopped {
                        Ok(()) => self.release().await,
                        Err(_) => Ok(()),
                    };
                }
            }
            if let Some(renewed) = self.renewed_at
                && self.flag.get()
                && Instant::now() >= renewed + deadline
            {
                self.step_down("the Lease could not be renewed before the renew deadline");
            }
        }
    }

    fn step_down(&mut self, reason: &str) {
        self.renewed_at = None;
        if self.flag.set(false) {
            warn!(lease = %self.key, identity = %self.config.identity, reason, "stopped leading");
        }
    }

    /// Notes the record; returns whether its holder has let it expire (unchanged for its
    /// lease duration as measured here).
    fn observe(&mut self, spec: &LeaseSpec) -> bool {
        let now = Instant::now();
        let seen = match &self.observed {
            Some(o) if o.spec == *spec => o.at,
            _ => {
                self.observed = Some(Observed {
                    spec: spec.clone(),
                    at: now,
                });
                now
            }
        };
        let duration = spec
            .lease_duration_seconds
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64))
            .unwrap_or(self.config.lease_duration);
        now >= seen + duration
    }

    fn note_holder(&mut self, holder: Option<&str>) {
        if self.holder.as_deref() != holder {
            self.holder = holder.map(str::to_string);
            match holder {
                Some(h) if h != self.config.identity => {
                    info!(lease = %self.key, holder = h, "the Lease is held by another instance")
                }
                Some(_) => {}
                None => info!(lease = %self.key, "the Lease is free"),
            }
        }
    }

    async fn attempt(&mut self) -> Result<Attempt, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return self.create(now).await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let expired = self.observe(&spec);
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        self.note_holder(holder);
        let mine = holder == Some(self.config.identity.as_str());
        if !mine {
            // Whoever holds or held it, it is not us: writes stop before any takeover.
            self.step_down("another instance holds the Lease");
            if holder.is_some() && !expired {
                return Ok(Attempt::Following);
            }
        }
        let mut next = spec.clone();
        next.holder_identity = Some(self.config.identity.clone());
        next.lease_duration_seconds = Some(self.config.lease_duration_seconds());
        next.renew_time = Some(now.clone());
        if mine {
            next.acquire_time = spec.acquire_time.clone().or_else(|| Some(now.clone()));
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0));
        } else {
            next.acquire_time = Some(now);
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        lease.spec = Some(next);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                if let Some(spec) = written.spec {
                    self.observe(&spec);
                }
                if !mine {
                    info!(
                        lease = %self.key,
                        previous = holder.unwrap_or(""),
                        expired,
                        "took over the Lease"
                    );
                    self.note_holder(Some(&self.config.identity.clone()));
                }
                Ok(Attempt::Leading)
            }
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                debug!(lease = %self.key, "the Lease changed while writing it; another instance won");
                if mine {
                    // Our own record changed under us: the next read tells who holds it.
                    // Until then the renew deadline decides.
                    Err(kube::Error::Api(status))
                } else {
                    Ok(Attempt::Following)
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn create(&mut self, now: MicroTime) -> Result<Attempt, kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(self.config.lease_duration_seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                if let Some(spec) = created.spec {
                    self.observe(&spec);
                }
                info!(lease = %self.key, "created the Lease");
                self.note_holder(Some(&self.config.identity.clone()));
                Ok(Attempt::Leading)
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() || status.is_conflict() => {
                debug!(lease = %self.key, "another instance created the Lease first");
                Ok(Attempt::Following)
            }
            Err(e) => Err(e),
        }
    }

    /// Stops leading, then clears the holder if the Lease still names this process.
    async fn release(mut self) -> Result<(), LeaderError> {
        let was_leader = self.flag.get();
        self.step_down("shutting down");
        let held = self
            .observed
            .as_ref()
            .is_some_and(|o| o.spec.holder_identity.as_deref() == Some(&self.config.identity));
        if !was_leader && !held {
            info!(lease = %self.key, "leader election stopped");
            return Ok(());
        }
        let timeout = self.config.renew_deadline();
        let result = tokio::time::timeout(timeout, self.clear_holder()).await;
        match result {
            Ok(Ok(released)) => {
                if released {
                    info!(lease = %self.key, "released the Lease");
                }
                Ok(())
            }
            Ok(Err(source)) => Err(LeaderError::Release {
                lease: self.key.clone(),
                source,
            }),
            Err(_) => Err(LeaderError::ReleaseTimeout {
                lease: self.key.clone(),
                timeout,
            }),
        }
    }

    /// Clears `holderIdentity` if it names this process; true when it did. Retries once
    /// when the Lease changed between the read and the write.
    async fn clear_holder(&self) -> Result<bool, kube::Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
                return Ok(false);
            };
            let mut spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(&self.config.identity) {
                return Ok(false);
            }
            let now = MicroTime(Timestamp::now());
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = Some(now.clone());
            spec.renew_time = Some(now);
            lease.spec = Some(spec);
            match self
                .api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => return Ok(true),
                Err(kube::Error::Api(status)) if status.is_conflict() && tries < 2 => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaseConfig {
        LeaseConfig {
            namespace: "ops".into(),
            name: "prescaler".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
            renew_period: Duration::from_secs(2),
        }
    }

    #[test]
    fn defaults_validate_and_leave_ten_seconds_to_renew() {
        let c = config();
        c.validate().expect("the defaults are valid");
        assert_eq!(c.renew_deadline(), Duration::from_secs(10));
        assert_eq!(c.lease_duration_seconds(), 15);
    }

    #[test]
    fn a_renew_period_without_room_to_retry_names_the_flag() {
        let c = LeaseConfig {
            lease_duration: Duration::from_secs(3),
            ..config()
        };
        let err = c.validate().expect_err("2s of 3s leaves no retry");
        let text = err.to_string();
        assert!(text.contains("--lease-renew-period"), "{text}");
        assert!(text.contains("--lease-duration"), "{text}");
    }

    #[test]
    fn empty_names_and_zero_durations_are_refused() {
        let cases = [
            (
                LeaseConfig {
                    identity: " ".into(),
                    ..config()
                },
                "--identity",
            ),
            (
                LeaseConfig {
                    name: String::new(),
                    ..config()
                },
                "--leader-election-id",
            ),
            (
                LeaseConfig {
                    namespace: String::new(),
                    ..config()
                },
                "--leader-election-namespace",
            ),
            (
                LeaseConfig {
                    lease_duration: Duration::from_millis(500),
                    ..config()
                },
                "--lease-duration",
            ),
            (
                LeaseConfig {
                    renew_period: Duration::ZERO,
                    ..config()
                },
                "--lease-renew-period",
            ),
        ];
        for (c, flag) in cases {
            match c.validate() {
                Err(LeaderError::InvalidConfig { flag: f, .. }) => assert_eq!(f, flag),
                other => panic!("{flag}: expected an invalid config, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_fractional_lease_duration_rounds_up_to_whole_seconds() {
        let c = LeaseConfig {
            lease_duration: Duration::from_millis(2500),
            renew_period: Duration::from_millis(300),
            ..config()
        };
        assert_eq!(c.lease_duration_seconds(), 3);
    }

    #[test]
    fn the_namespace_file_is_trimmed_and_an_empty_one_ignored() {
        let dir = std::env::temp_dir().join(format!("prescaler-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let file = dir.join("namespace");
        std::fs::write(&file, "ops\n").expect("write");
        assert_eq!(namespace_from_file(&file).as_deref(), Some("ops"));
        std::fs::write(&file, "  \n").expect("write");
        assert_eq!(namespace_from_file(&file), None);
        assert_eq!(namespace_from_file(&dir.join("missing")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_default_identity_is_never_empty() {
        let id = default_identity();
        assert!(!id.trim().is_empty());
        if std::env::var_os("POD_NAME").is_none() {
            assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
        }
    }

    #[tokio::test]
    async fn always_is_the_leader_and_never_changes() {
        let mut leadership = Leadership::always();
        assert!(leadership.is_leader());
        let change = tokio::time::timeout(Duration::from_millis(50), leadership.changed()).await;
        assert!(change.is_err(), "no change ever comes");
        assert!(leadership.clone().is_leader());
    }

    #[tokio::test]
    async fn a_dropped_flag_reports_leadership_lost() {
        let (tx, rx) = watch::channel(false);
        let flag = LeaderFlag(tx);
        let mut leadership = Leadership::new(rx, None);
        assert!(flag.set(true));
        assert!(leadership.is_leader());
        drop(flag);
        let change = tokio::time::timeout(Duration::from_secs(5), leadership.changed()).await;
        assert_eq!(change.ok(), Some(false));
        assert!(!leadership.is_leader());
    }

    #[tokio::test]
    async fn a_change_between_two_calls_is_not_missed() {
        let (tx, rx) = watch::channel(false);
        let flag = LeaderFlag(tx);
        let mut leadership = Leadership::new(rx, None);
        let mut other = leadership.clone();
        flag.set(true);
        let first = tokio::time::timeout(Duration::from_secs(5), leadership.changed()).await;
        assert_eq!(first.ok(), Some(true));
        // Lost while the caller was busy: the next call reports it at once.
        flag.set(false);
        let second = tokio::time::timeout(Duration::from_secs(5), leadership.changed()).await;
        assert_eq!(second.ok(), Some(false));
        // A clone made before any change reports changes against its own view: it last
        // saw `false` and the value is `false`, so there is nothing to report yet.
        let none = tokio::time::timeout(Duration::from_millis(50), other.changed()).await;
        assert!(none.is_err());
        flag.set(true);
        let third = tokio::time::timeout(Duration::from_secs(5), other.changed()).await;
        assert_eq!(third.ok(), Some(true));
    }
}
