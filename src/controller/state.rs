//! What the operator keeps per policy between reconciles, in one map: its failures in a
//! row, its last completed reconcile and its forecasting engines. Every reconcile enters its
//! policy here first, so the janitor finds every policy the operator ever touched — also one
//! whose metrics never read — by diffing this map against the policy store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::forecast::{Engine, EngineConfig, ModelKind, resume};
use crate::policy::annotations::Hold;
use crate::policy::{Recommendation, ScalingPolicyStatus};

/// A policy as (namespace, name).
pub type PolicyKey = (String, String);

/// What a reconcile acted on: the spec's generation and the hold its annotations ask for
/// (annotations do not change the generation, yet a pause must act at once).
pub type Version = (Option<i64>, Hold);

/// One policy's memory.
#[derive(Default)]
struct Memory {
    /// Failed reconciles in a row.
    failures: u32,
    /// When the last reconcile completed, and for which version.
    last_run: Option<(Instant, Version)>,
    /// Forecasting engines by metric name, kept so the model choice is re-evaluated only
    /// every 12 hours.
    engines: HashMap<String, Engine>,
    /// With `leadTimeMode: Auto`: when the pods were last looked at, the target's
    /// (replicas, observed) then, and whether a pod was still starting.
    pods_look: Option<(Instant, (i32, i32), bool)>,
    /// Time the reconcile in progress spent waiting for Prometheus.
    waited: Duration,
    /// Time the reconcile in progress waited for the Kubernetes API server.
    api_waited: Duration,
    /// The policy's sync period, as its last reconcile read it.
    sync: Option<Duration>,
    /// The leadership term of the last reconcile that settled its status (0: none).
    term: u64,
    /// Recommendations not written because only their times moved: (those stored, the
    /// exact ones), used while the stored ones stay the same. Nothing else of such a status
    /// differs from the stored one.
    held: Option<Held>,
}

/// Recommendations held back: (as stored, as they are).
pub type Held = (Vec<Recommendation>, Vec<Recommendation>);

/// The per-policy memory of every policy seen.
pub struct PolicyStates {
    map: Mutex<HashMap<PolicyKey, Memory>>,
    /// Counts the times this process became the leader, from 1.
    term: AtomicU64,
    /// When the current term began (the process's start for the first).
    term_began: Mutex<Instant>,
}

impl Default for PolicyStates {
    fn default() -> Self {
        Self {
            map: Mutex::default(),
            term: AtomicU64::new(1),
            term_began: Mutex::new(Instant::now()),
        }
    }
}

fn key(namespace: &str, name: &str) -> PolicyKey {
    (namespace.to_string(), name.to_string())
}

impl PolicyStates {
    fn with<T>(&self, namespace: &str, name: &str, f: impl FnOnce(&mut Memory) -> T) -> T {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(key(namespace, name)).or_default())
    }

    /// This process became the leader again: what it remembers of statuses may be older
    /// than what another leader stored meanwhile.
    pub fn new_term(&self) {
        self.term.fetch_add(1, Ordering::SeqCst);
        *self.term_began.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Records the policy's sync period (every reconcile, a standby's too).
    pub fn syncs_every(&self, namespace: &str, name: &str, sync: Duration) {
        self.with(namespace, name, |m| m.sync = Some(sync));
    }

    /// The policies `writes` says this process writes whose last full reconcile in this
    /// term (or the term's start) is more than two sync periods (`default` where none is
    /// known yet) before `now`: the controller's queue does not keep up with them.
    pub fn behind(
        &self,
        now: Instant,
        default: Duration,
        writes: impl Fn(&PolicyKey) -> bool,
    ) -> usize {
        let began = *self.term_began.lock().unwrap_or_else(|e| e.into_inner());
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|(k, _)| writes(k))
            .filter(|(_, m)| {
                let last = m
                    .last_run
                    .as_ref()
                    .map_or(began, |(at, _)| (*at).max(began));
                now.saturating_duration_since(last) > 2 * m.sync.unwrap_or(default)
            })
            .count()
    }

    /// The status a reconcile starts from: the exact one this leader holds when `stored`
    /// is still what it was computed from, else `stored` — as a new leader reads it, with
    /// recommendations counted as late as they may be (see
    /// [`super::report::assume_refreshed`]).
    pub fn before(
        &self,
        namespace: &str,
        name: &str,
        stored: &ScalingPolicyStatus,
        now: i64,
    ) -> ScalingPolicyStatus {
        let term = self.term.load(Ordering::SeqCst);
        self.with(namespace, name, |m| {
            if m.term != term {
                let mut status = stored.clone();
                super::report::assume_refreshed(&mut status, now);
                return status;
            }
            match &m.held {
                Some((seen, exact)) if *seen == stored.recommendations => ScalingPolicyStatus {
                    recommendations: exact.clone(),
                    ..stored.clone()
                },
                _ => stored.clone(),
            }
        })
    }

    /// The reconcile settled the status: written (`held` is `None`), or not, because only
    /// recommendation times moved: `held` is then (the stored recommendations, the exact
    /// ones).
    pub fn settle(&self, namespace: &str, name: &str, held: Option<Held>) {
        let term = self.term.load(Ordering::SeqCst);
        self.with(namespace, name, |m| {
            m.term = term;
            m.held = held;
        });
    }

    /// Enters a policy (a reconcile of it has started).
    pub fn enter(&self, namespace: &str, name: &str) {
        self.with(namespace, name, |m| {
            m.waited = Duration::ZERO;
            m.api_waited = Duration::ZERO;
        });
    }

    /// Adds time the reconcile in progress waited for Prometheus.
    pub fn waited(&self, namespace: &str, name: &str, took: Duration) {
        self.with(namespace, name, |m| m.waited += took);
    }

    /// Awaits a request to the Kubernetes API server, adding its wait to the reconcile in
    /// progress.
    pub async fn api_call<T>(
        &self,
        namespace: &str,
        name: &str,
        request: impl std::future::Future<Output = T>,
    ) -> T {
        let asked = Instant::now();
        let answer = request.await;
        self.with(namespace, name, |m| m.api_waited += asked.elapsed());
        answer
    }

    /// What the reconcile started at `since` waited for Prometheus and for the API server,
    /// and whether it was a full one (not one that returned at once: a standby's, or one
    /// too soon after the last).
    pub fn last_run(
        &self,
        namespace: &str,
        name: &str,
        since: Instant,
    ) -> (Duration, Duration, bool) {
        self.with(namespace, name, |m| {
            let full = m.last_run.as_ref().is_some_and(|(at, _)| *at >= since);
            (m.waited, m.api_waited, full)
        })
    }

    /// Counts a failed reconcile; returns the failures in a row.
    pub fn failed(&self, namespace: &str, name: &str) -> u32 {
        self.with(namespace, name, |m| {
            m.failures = m.failures.saturating_add(1);
            m.failures
        })
    }

    /// Counts a successful reconcile: the failures in a row start again from zero.
    pub fn succeeded(&self, namespace: &str, name: &str) {
        self.with(namespace, name, |m| m.failures = 0);
    }

    /// Records a completed reconcile of the policy at `version`.
    pub fn ran(&self, namespace: &str, name: &str, version: Version) {
        self.with(namespace, name, |m| {
            m.last_run = Some((Instant::now(), version));
        });
    }

    /// How long to wait when the policy was reconciled less than `sync` ago at the same
    /// generation: the watch event of the operator's own status write must not start the
    /// next reconcile at once.
    pub fn too_soon(
        &self,
        namespace: &str,
        name: &str,
        version: &Version,
        sync: Duration,
    ) -> Option<Duration> {
        self.with(namespace, name, |m| {
            let (at, seen) = m.last_run.as_ref()?;
            let elapsed = at.elapsed();
            (seen == version && elapsed < sync).then(|| sync - elapsed)
        })
    }

    /// The metric's engine, or a new one when there is none or its settings changed. A
    /// new one takes up `kept`, the choice the policy's status keeps (made by this or an
    /// earlier leader under the same settings), without a backtest; failing that, it starts
    /// from `chosen`, the model the status shows, with its full re-choice spread over the
    /// re-choice period.
    pub fn take_engine(
        &self,
        namespace: &str,
        name: &str,
        metric: &str,
        config: &EngineConfig,
        (chosen, kept): (Option<ModelKind>, Option<&str>),
    ) -> Engine {
        self.with(namespace, name, |m| match m.engines.remove(metric) {
            Some(engine) if engine.config() == config => engine,
            _ => {
                let engine = match chosen {
                    Some(model) => Engine::resuming(config.clone(), model, fastrand::f64()),
                    None => Engine::new(config.clone()),
                };
                match kept.and_then(|text| resume::decode(text, config)) {
                    Some(selection) => engine.with_choice(selection),
                    None => engine,
                }
            }
        })
    }

    /// Keeps the metric's engine for the next reconcile.
    pub fn put_engine(&self, namespace: &str, name: &str, metric: &str, engine: Engine) {
        self.with(namespace, name, |m| {
            m.engines.insert(metric.to_string(), engine);
        });
    }

    /// Whether the pods are due a look for `leadTimeMode: Auto`: never looked at, not for
    /// `every`, the target's replicas changed, or a pod was still starting.
    pub fn pods_due(
        &self,
        namespace: &str,
        name: &str,
        scale: (i32, i32),
        every: Duration,
    ) -> bool {
        self.with(namespace, name, |m| match &m.pods_look {
            None => true,
            Some((at, seen, starting)) => *starting || *seen != scale || at.elapsed() >= every,
        })
    }

    /// Records a look at the pods.
    pub fn pods_looked(&self, namespace: &str, name: &str, scale: (i32, i32), starting: bool) {
        self.with(namespace, name, |m| {
            m.pods_look = Some((Instant::now(), scale, starting));
        });
    }

    /// Drops the memory of every policy not in `live`; returns the policies dropped.
    pub fn retain(&self, live: &[PolicyKey]) -> Vec<PolicyKey> {
        let live: std::collections::HashSet<&PolicyKey> = live.iter().collect();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<PolicyKey> = map.keys().filter(|k| !live.contains(k)).cloned().collect();
        for k in &gone {
            map.remove(k);
        }
        gone
    }

    /// The policies remembered.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_remembered_from_its_first_reconcile_until_it_is_gone() {
        let states = PolicyStates::default();
        states.enter("shop", "web");
        assert_eq!(states.failed("shop", "api"), 1);
        assert_eq!(states.failed("shop", "api"), 2);
        states.succeeded("shop", "api");
        assert_eq!(
            states.failed("shop", "api"),
            1,
            "a success resets the count"
        );
        assert_eq!(states.len(), 2);
        let gone = states.retain(&[key("shop", "api")]);
        assert_eq!(gone, vec![key("shop", "web")]);
        assert_eq!(states.len(), 1);
    }

    #[test]
    fn the_same_generation_waits_for_the_sync_period() {
        let states = PolicyStates::default();
        let sync = Duration::from_secs(15);
        let v1 = (Some(1), Hold::None);
        assert_eq!(states.too_soon("shop", "web", &v1, sync), None);
        states.ran("shop", "web", v1.clone());
        assert!(states.too_soon("shop", "web", &v1, sync).is_some());
        assert_eq!(
            states.too_soon("shop", "web", &(Some(2), Hold::None), sync),
            None,
            "a changed spec is looked at at once"
        );
        assert_eq!(
            states.too_soon("shop", "web", &(Some(1), Hold::Paused), sync),
            None,
            "so is a pause"
        );
    }

    fn recs(list: &[(i64, i32)]) -> Vec<Recommendation> {
        list.iter()
            .map(|&(t, replicas)| Recommendation {
                time: crate::controller::report::time(t),
                replicas,
            })
            .collect()
    }

    #[test]
    fn held_recommendations_stand_in_for_the_stored_ones_within_a_term() {
        let states = PolicyStates::default();
        let stored = ScalingPolicyStatus {
            desired_replicas: Some(5),
            recommendations: recs(&[(1_000, 7), (1_100, 5)]),
            ..ScalingPolicyStatus::default()
        };
        // The first reconcile of a term reads the stored times as late as they may be.
        let first = states.before("shop", "web", &stored, 1_120);
        assert_eq!(first.recommendations, recs(&[(1_060, 7), (1_120, 5)]));
        // A write settles the term; the stored status is then taken as it is.
        states.settle("shop", "web", None);
        assert_eq!(states.before("shop", "web", &stored, 1_130), stored);
        // A held-back refresh stands in while the stored recommendations stay the same ...
        let exact = recs(&[(1_000, 7), (1_130, 5)]);
        states.settle(
            "shop",
            "web",
            Some((stored.recommendations.clone(), exact.clone())),
        );
        let before = states.before("shop", "web", &stored, 1_145);
        assert_eq!(before.recommendations, exact);
        assert_eq!(before.desired_replicas, Some(5));
        // ... not once someone else stored others ...
        let other = ScalingPolicyStatus {
            recommendations: recs(&[(1_140, 6)]),
            ..stored.clone()
        };
        assert_eq!(states.before("shop", "web", &other, 1_145), other);
        // ... nor in a new term, which reads the stored ones as a new leader does.
        states.new_term();
        let again = states.before("shop", "web", &stored, 1_145);
        assert_eq!(again.recommendations, recs(&[(1_060, 7), (1_145, 5)]));
    }

    #[test]
    fn an_engine_survives_only_while_its_settings_do() {
        let states = PolicyStates::default();
        let config = EngineConfig::default();
        let engine = states.take_engine("shop", "web", "http", &config, (None, None));
        states.put_engine("shop", "web", "http", engine);
        let other = EngineConfig {
            history: config.history * 2,
            ..config.clone()
        };
        assert_eq!(
            states
                .take_engine("shop", "web", "http", &other, (None, None))
                .config(),
            &other
        );
    }

    #[test]
    fn a_policy_the_queue_does_not_reach_counts_as_behind() {
        let states = PolicyStates::default();
        let sync = Duration::from_secs(15);
        let all = |_: &PolicyKey| true;
        for name in ["kept", "starved", "slow"] {
            states.syncs_every("shop", name, sync);
        }
        states.syncs_every("shop", "slow", Duration::from_secs(120));
        let start = Instant::now();
        states.ran("shop", "kept", (Some(1), Hold::None));
        // Within two periods of the term's start nothing is behind.
        assert_eq!(states.behind(start + Duration::from_secs(20), sync, all), 0);
        // 35 s on, both policies at 15 s are (one of them never reconciled in full), and
        // the one with a 2-minute period is not yet.
        let later = start + Duration::from_secs(35);
        assert_eq!(states.behind(later, sync, all), 2);
        assert_eq!(states.behind(later, sync, |(_, n)| n == "starved"), 1);
        assert_eq!(states.behind(later, sync, |(_, n)| n == "slow"), 0);
    }
}
