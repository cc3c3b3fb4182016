//! What every reconcile shares: the API client, Prometheus sources with their history
//! caches, the forecasting engines, the Event recorder, leadership and the operator metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::discovery::ApiResource;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;

use crate::metrics::{Auth, HistoryCache, Prometheus};
use crate::policy::{ConditionReason, ScalingPolicy, TargetRef};

use super::observe::Problem;
use super::state::{PolicyKey, PolicyStates};
use super::target::{self, TargetError};
use crate::shard::WriteGate;
use crate::telemetry::{
    CONDITION_TYPES, MetricGauges, OperatorMetrics, PolicyGauges, ReconcileResult,
};

/// What one reconcile that read its metrics leaves for the operator's metrics.
pub struct PolicyRecord<'a> {
    /// The policy's spec.
    pub spec: &'a crate::policy::ScalingPolicySpec,
    /// The status written.
    pub status: &'a crate::policy::ScalingPolicyStatus,
    /// What was read and forecast.
    pub observation: &'a super::observe::Observation,
    /// When the reconcile ran, Unix seconds.
    pub now: i64,
    /// The policy's sync period, seconds.
    pub sync_s: u64,
}

/// A cache per Prometheus: the operator default and each policy override.
struct Sources {
    default: HistoryCache<Prometheus>,
    overrides: HashMap<String, (Option<String>, HistoryCache<Prometheus>)>,
}

/// Shared state of the reconciles.
pub struct Context {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// Default time between reconciles of a policy.
    pub sync_period: Duration,
    /// Publishes Events on policies.
    pub recorder: Recorder,
    /// Per policy: failures in a row, the last reconcile, the forecasting engines.
    pub policies: PolicyStates,
    prometheus: Prometheus,
    sources: Mutex<Sources>,
    gate: WriteGate,
    /// The operator's own metrics.
    pub metrics: Arc<OperatorMetrics>,
    hpas: Store<HorizontalPodAutoscaler>,
    policy_store: std::sync::OnceLock<Store<ScalingPolicy>>,
    policies_by_target: Cached<ScalingPolicy>,
    hpas_by_target: Cached<HorizontalPodAutoscaler>,
    resources: Mutex<HashMap<(String, String), (Instant, ApiResource)>>,
    secrets: Mutex<HashMap<(String, String), (Instant, Auth)>>,
}

/// How long the watch caches grouped by target are used before they are grouped again:
/// the delay with which a new HPA or a second policy on a target is seen, on top of the
/// watch's own.
const INDEX_TTL: Duration = Duration::from_secs(1);

/// A target as policies and HPAs name it: namespace, API group, kind, name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TargetKey(String, String, String, String);

impl TargetKey {
    fn of(namespace: &str, target: &TargetRef) -> Self {
        let group = target::group_version(&target.api_version).0;
        Self(
            namespace.to_string(),
            group.to_string(),
            target.kind.clone(),
            target.name.clone(),
        )
    }
}

/// Objects of a watch cache grouped by the target they name. Each reconcile asks which
/// other policies and which HPAs share its target; scanning the whole cache for that made
/// every reconcile cost time in proportion to the fleet.
type Grouped<K> = Arc<HashMap<TargetKey, Vec<Arc<K>>>>;

/// A grouping and when it was made, and whether a reconcile is making the next one.
struct Cached<K> {
    grouped: Mutex<Option<(Instant, Grouped<K>)>>,
    regrouping: std::sync::atomic::AtomicBool,
}

impl<K> Default for Cached<K> {
    fn default() -> Self {
        Self {
            grouped: Mutex::new(None),
            regrouping: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl<K> Cached<K> {
    /// The grouping of `all()` by `key`, made again when older than [`INDEX_TTL`]. One
    /// caller makes it, outside the lock; the others meanwhile take the one before (at
    /// most a moment older), so no reconcile waits on another's O(fleet) regrouping.
    fn get(
        &self,
        all: impl FnOnce() -> Vec<Arc<K>>,
        key: impl Fn(&K) -> Option<TargetKey>,
    ) -> Grouped<K> {
        use std::sync::atomic::Ordering;
        let before = {
            let cached = self.grouped.lock().unwrap_or_else(|e| e.into_inner());
            match cached.as_ref() {
                Some((built, grouped)) if built.elapsed() < INDEX_TTL => return grouped.clone(),
                other => other.map(|(_, grouped)| grouped.clone()),
            }
        };
        if let Some(before) = before
            && self.regrouping.swap(true, Ordering::AcqRel)
        {
            return before;
        }
        let mut grouped: HashMap<TargetKey, Vec<Arc<K>>> = HashMap::new();
        for object in all() {
            if let Some(k) = key(&object) {
                grouped.entry(k).or_default().push(object);
            }
        }
        let grouped = Arc::new(grouped);
        *self.grouped.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), grouped.clone()));
        self.regrouping.store(false, Ordering::Release);
        grouped
    }
}

fn policy_target(p: &ScalingPolicy) -> Option<TargetKey> {
    Some(TargetKey::of(
        &p.namespace().unwrap_or_default(),
        &p.spec.target_ref,
    ))
}

fn hpa_target(h: &HorizontalPodAutoscaler) -> Option<TargetKey> {
    let r = &h.spec.as_ref()?.scale_target_ref;
    let target = TargetRef {
        api_version: r.api_version.clone().unwrap_or_default(),
        kind: r.kind.clone(),
        name: r.name.clone(),
    };
    Some(TargetKey::of(&h.namespace().unwrap_or_default(), &target))
}

/// How long a discovered API resource is trusted before it is looked up again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// How long credentials read from a policy's Secret are used before the Secret is read
/// again: a rotated Secret takes effect within a minute, and a fleet of policies sharing
/// one Secret does not read it every sync.
const SECRET_TTL: Duration = Duration::from_secs(60);

impl Context {
    /// A context over a default Prometheus.
    pub fn new(
        client: kube::Client,
        prometheus: Prometheus,
        recorder: Recorder,
        sync_period: Duration,
        gate: WriteGate,
        metrics: Arc<OperatorMetrics>,
        hpas: Store<HorizontalPodAutoscaler>,
    ) -> Self {
        Self {
            client,
            sync_period,
            recorder,
            policies: PolicyStates::default(),
            sources: Mutex::new(Sources {
                default: HistoryCache::new(prometheus.clone()),
                overrides: HashMap::new(),
            }),
            prometheus,
            gate,
            metrics,
            hpas,
            policy_store: std::sync::OnceLock::new(),
            policies_by_target: Cached::default(),
            hpas_by_target: Cached::default(),
            resources: Mutex::default(),
            secrets: Mutex::default(),
        }
    }

    /// Whether this process may write the policy `namespace/name` now: it leads the shard
    /// that owns it, and no shard of another count still holds it.
    pub fn may_write(&self, namespace: &str, name: &str) -> bool {
        self.gate.may_write(namespace, name)
    }

    /// Hands over the controller's cache of ScalingPolicies, for [`Context::rivals_of`].
    pub fn set_policy_store(&self, store: Store<ScalingPolicy>) {
        let _ = self.policy_store.set(store);
    }

    /// The older ScalingPolicies (by name) that may write to the same target as `policy`:
    /// of two on one target the older one (by creation time, then name) scales it.
    pub fn rivals_of(&self, policy: &ScalingPolicy) -> Vec<String> {
        let Some(store) = self.policy_store.get() else {
            return Vec::new();
        };
        let namespace = policy.namespace().unwrap_or_default();
        let key = TargetKey::of(&namespace, &policy.spec.target_ref);
        let age = |p: &ScalingPolicy| {
            (
                p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                p.name_any(),
            )
        };
        let mine = age(policy);
        let grouped = self.policies_by_target.get(|| store.state(), policy_target);
        let mut older: Vec<String> = grouped
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|p| p.spec.mode != crate::policy::Mode::ForecastOnly)
            .filter(|p| age(p) < mine)
            .map(|p| p.name_any())
            .collect();
        older.sort();
        older
    }

    /// The HPAs that scale the target, from the watched HPA cache.
    pub async fn hpas_for(
        &self,
        namespace: &str,
        target: &TargetRef,
    ) -> Vec<HorizontalPodAutoscaler> {
        // Only the first reconciles can get here before the HPA list has arrived; the
        // grouping is made only once it has (an empty one would hide every HPA).
        if !tokio::time::timeout(Duration::from_secs(10), store_ready(&self.hpas))
            .await
            .unwrap_or(false)
        {
            let all = self.hpas.state();
            return target::matching_hpas(all.iter().map(|h| h.as_ref()), namespace, target);
        }
        let grouped = self.hpas_by_target.get(|| self.hpas.state(), hpa_target);
        let found = grouped.get(&TargetKey::of(namespace, target));
        target::matching_hpas(
            found.into_iter().flatten().map(|h| h.as_ref()),
            namespace,
            target,
        )
    }

    /// The API resource of a target kind, from discovery, cached for a few minutes.
    pub async fn resolve(&self, target: &TargetRef) -> Result<ApiResource, TargetError> {
        let key = (target.api_version.clone(), target.kind.clone());
        if let Some((at, resource)) = self
            .resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(resource.clone());
        }
        let resource = target::resolve(&self.client, target).await?;
        self.resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (Instant::now(), resource.clone()));
        Ok(resource)
    }

    /// The history cache for a policy's Prometheus: the default, or its `spec.prometheus`
    /// override with credentials from the referenced Secret.
    pub async fn cache_for(
        &self,
        policy: &ScalingPolicy,
    ) -> Result<HistoryCache<Prometheus>, Problem> {
        let Some(over) = policy.spec.prometheus.as_ref() else {
            return Ok(self.lock().default.clone());
        };
        let namespace = policy.namespace().unwrap_or_default();
        let auth = match &over.auth_secret_ref {
            None => None,
            Some(secret) => Some(self.read_auth(&namespace, &secret.name).await?),
        };
        let fingerprint = auth.as_ref().map(auth_fingerprint);
        let key = format!(
            "{}|{}|{}",
            over.address,
            namespace,
            over.auth_secret_ref
                .as_ref()
                .map_or("", |s| s.name.as_str())
        );
        let mut sources = self.lock();
        if let Some((seen, cache)) = sources.overrides.get(&key)
            && *seen == fingerprint
        {
            return Ok(cache.clone());
        }
        let source = self
            .prometheus
            .with_address(&over.address, auth)
            .map_err(|e| Problem {
                reason: ConditionReason::InvalidSpec.as_str(),
                message: format!("spec.prometheus.address: {e}"),
                unavailable: false,
            })?;
        let cache = HistoryCache::new(source);
        sources.overrides.insert(key, (fingerprint, cache.clone()));
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn read_auth(&self, namespace: &str, name: &str) -> Result<Auth, Problem> {
        let key = (namespace.to_string(), name.to_string());
        if let Some((at, auth)) = self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && at.elapsed() < SECRET_TTL
        {
            return Ok(auth.clone());
        }
        let auth = self.read_secret(namespace, name).await?;
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (Instant::now(), auth.clone()));
        Ok(auth)
    }

    async fn read_secret(&self, namespace: &str, name: &str) -> Result<Auth, Problem> {
        let problem = |message: String| Problem {
            reason: ConditionReason::PrometheusAuthSecret.as_str(),
            message,
            unavailable: false,
        };
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api.get(name).await.map_err(|e| {
            problem(format!(
                "spec.prometheus.authSecretRef: cannot read Secret {namespace}/{name} ({}); create it with key `token`, or `username` and `password`",
                short_kube_error(&e)
            ))
        })?;
        let field = |key: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
        };
        match (field("token"), field("username"), field("password")) {
            (Some(token), _, _) => Ok(Auth::Bearer(token)),
            (None, Some(username), Some(password)) => Ok(Auth::Basic { username, password }),
            _ => Err(problem(format!(
                "spec.prometheus.authSecretRef: Secret {namespace}/{name} has neither key `token` nor keys `username` and `password`"
            ))),
        }
    }

    /// Time to wait before retrying a policy whose reconcile failed: doubles with each
    /// failure in a row, from 1 s up to 5 minutes, with some jitter.
    pub fn backoff(&self, namespace: &str, name: &str) -> Duration {
        let n = self.policies.failed(namespace, name);
        let base = 2f64.powi((n - 1).min(9) as i32).min(300.0);
        Duration::from_secs_f64(base * (0.8 + 0.4 * fastrand::f64()))
    }

    /// Counts a reconcile: resets the policy's failure count on success.
    pub fn observe_reconcile(
        &self,
        namespace: &str,
        name: &str,
        result: &Result<super::queue::Action, super::error::ReconcileError>,
        took: Duration,
    ) {
        match result {
            Ok(_) => {
                self.policies.succeeded(namespace, name);
                self.metrics.reconciled(ReconcileResult::Success, took);
            }
            Err(error) => {
                self.metrics.reconciled(ReconcileResult::Error, took);
                self.metrics.reconcile_error(error.reason());
            }
        }
    }

    /// Puts back the own `minReplicas` of every HPA whose floor a policy that no longer
    /// exists had raised (a policy deleted in HPAFloor mode).
    pub async fn restore_orphaned_floors(&self, live: &[PolicyKey]) {
        if !self.gate.leads() {
            return;
        }
        let live: std::collections::HashSet<(&str, &str)> =
            live.iter().map(|(n, p)| (n.as_str(), p.as_str())).collect();
        let orphans: Vec<(String, String, i32)> = self
            .hpas
            .state()
            .iter()
            .filter_map(|hpa| {
                let (policy, original) = target::floor_owner(hpa)?;
                let namespace = hpa.namespace().unwrap_or_default();
                // The shard that owned the policy restores its floor, and no other.
                let gone = !live.contains(&(namespace.as_str(), policy.as_str()))
                    && self.may_write(&namespace, &policy);
                gone.then(|| (namespace, hpa.name_any(), original))
            })
            .collect();
        for (namespace, name, original) in orphans {
            match target::restore_hpa_floor(&self.client, &namespace, &name, original).await {
                Ok(()) => {
                    tracing::info!(%namespace, hpa = %name, min_replicas = original, "the policy that raised this HPA's floor is gone; restored its minReplicas")
                }
                Err(error) => {
                    tracing::warn!(%namespace, hpa = %name, %error, "could not restore the HPA's minReplicas; retrying in a minute")
                }
            }
        }
    }

    /// Exports how many policies this leader writes fell behind their sync period, and
    /// warns while any do (once a minute: it walks every policy).
    pub fn record_policies_behind(&self) {
        let behind = if self.gate.leads() {
            self.policies
                .behind(Instant::now(), self.sync_period, |(namespace, name)| {
                    self.may_write(namespace, name)
                })
        } else {
            0
        };
        self.metrics.set_policies_behind(behind);
        if behind > 0 {
            tracing::warn!(
                behind,
                "policies not reconciled for more than two sync periods: reconciles do not keep up; raise --concurrency, lengthen syncPeriod, or shard (docs/operations.md#sizing)"
            );
        }
    }

    /// Exports the history caches' size (once a minute: it walks every cached series).
    pub fn record_cache_bytes(&self) {
        let sources = self.lock();
        let bytes = sources.default.memory_bytes()
            + sources
                .overrides
                .values()
                .map(|(_, c)| c.memory_bytes())
                .sum::<usize>();
        self.metrics.set_cache_bytes(bytes);
    }

    /// Exports one policy's numbers after a reconcile that read its metrics.
    pub fn record_policy(&self, namespace: &str, name: &str, record: PolicyRecord<'_>) {
        let PolicyRecord {
            spec,
            status,
            observation,
            now,
            sync_s,
        } = record;
        let condition = |type_: &str| {
            super::report::condition(&status.conditions, type_).and_then(|c| {
                match c.status.as_str() {
                    "True" => Some(true),
                    "False" => Some(false),
                    _ => None,
                }
            })
        };
        let conditions = CONDITION_TYPES.map(|t| (t, condition(t)));
        let lead = spec.forecast.lead_time.seconds().ok();
        self.metrics.set_policy(
            namespace,
            name,
            PolicyGauges {
                current: status.current_replicas.unwrap_or(0),
                reactive: status.reactive_replicas,
                predicted: status.predicted_replicas,
                desired: status.desired_replicas.unwrap_or(0),
                lead_time_s: lead,
                conditions,
                quantile: Some(spec.forecast.quantile),
                at: now,
                sync_s,
            },
        );
        for (metric, observed) in status.metrics.iter().zip(&observation.observed) {
            let metric_type = spec
                .metrics
                .iter()
                .find(|m| m.effective_name() == metric.name)
                .map_or("", |m| m.kind.as_str());
            self.metrics.set_metric(
                namespace,
                name,
                &metric.name,
                MetricGauges {
                    value: observed.value,
                    forecast: observed.forecast_at_lead,
                    upper: observed.upper_at_lead,
                    due_at: lead.and_then(|l| i64::try_from(l).ok()).map(|l| now + l),
                    at: now,
                    metric_type,
                    peak: observed.peak,
                    error: observed.error,
                    loss_ratio: observed.loss_ratio,
                },
            );
        }
        let names: Vec<&str> = status.metrics.iter().map(|m| m.name.as_str()).collect();
        self.metrics.retain_metrics(namespace, name, &names);
    }

    /// Forgets everything kept for policies that no longer exist: their memory, their
    /// cached history and their `prescaler_*` series. Returns the policies forgotten.
    pub fn forget_policies_except(&self, live: &[PolicyKey]) -> Vec<PolicyKey> {
        let gone = self.policies.retain(live);
        for (namespace, policy) in &gone {
            tracing::info!(%namespace, %policy, "policy deleted; dropping its history, models and series");
            self.metrics.remove_policy(namespace, policy);
            let sources = self.lock();
            sources.default.forget(namespace, policy);
            for (_, cache) in sources.overrides.values() {
                cache.forget(namespace, policy);
            }
        }
        gone
    }
}

/// Waits until a reflector store holds its first full list; false if its writer is gone.
///
/// kube-runtime's `Store::wait_until_ready` wakes only the last of several tasks waiting at
/// once (one waker slot), and the controller itself waits on the policy store — a second
/// waiter, such as the janitor that also marks `/readyz` ready, would never wake. So each
/// waiter looks again every 200 ms.
pub async fn store_ready<K>(store: &Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        if let Ok(result) =
            tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await
        {
            return result.is_ok();
        }
    }
}

/// A Kubernetes error without response bodies that could carry data.
fn short_kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        other => other.to_string(),
    }
}

/// Tells credential sets apart without keeping them in a comparable form.
fn auth_fingerprint(auth: &Auth) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match auth {
        Auth::Bearer(t) => ("bearer", t).hash(&mut h),
        Auth::Basic { username, password } => ("basic", username, password).hash(&mut h),
    }
    format!("{:x}", h.finish())
}

#[cfg(test)]
mod tests {
    //! A real Context over an address nothing listens on: no call reaches it, because what
    //! is tested is the bookkeeping a reconcile leaves behind, not I/O.
    use super::*;
    use crate::metrics::PrometheusArgs;
    use crate::policy::{MetricStatus, ScalingPolicyStatus};
    use kube::runtime::events::Reporter;

    fn context() -> Context {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let client = kube::Client::try_from(config).expect("client");
        let prometheus = Prometheus::new(&PrometheusArgs {
            url: Some("http://127.0.0.1:9".into()),
            ..PrometheusArgs::default()
        })
        .expect("prometheus");
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "prescaler".into(),
                instance: None,
            },
        );
        let (hpas, _writer) = kube::runtime::reflector::store();
        Context::new(
            client,
            prometheus,
            recorder,
            Duration::from_secs(15),
            WriteGate::always(),
            Arc::new(OperatorMetrics::new()),
            hpas,
        )
    }

    /// What a reconcile leaves when Prometheus never answered: the policy entered, its
    /// gauges exported from a status without forecasts, and a failure counted for backoff.
    fn reconciled_without_metrics(ctx: &Context, namespace: &str, name: &str) {
        ctx.policies.enter(namespace, name);
        let status = ScalingPolicyStatus {
            current_replicas: Some(3),
            desired_replicas: Some(3),
            metrics: vec![MetricStatus {
                name: "http".into(),
                ..MetricStatus::default()
            }],
            ..ScalingPolicyStatus::default()
        };
        let observation = super::super::observe::Observation {
            observed: vec![Default::default()],
            ..Default::default()
        };
        let policy = crate::policy::ScalingPolicy::from_yaml(
            r#"
apiVersion: autoscaling.prescaler.io/v1alpha1
kind: ScalingPolicy
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
  metrics:
    - type: RequestRate
      name: http
      requestRate: {query: 'sum(rate(http_requests_total[1m]))', targetPerReplica: 10}
"#,
        )
        .expect("fixture policy");
        let spec = policy.spec;
        ctx.record_policy(
            namespace,
            name,
            PolicyRecord {
                spec: &spec,
                status: &status,
                observation: &observation,
                now: 1_000,
                sync_s: 15,
            },
        );
        let _ = ctx.backoff(namespace, name);
    }

    #[tokio::test]
    async fn a_policy_deleted_while_its_metrics_never_read_loses_its_series() {
        let ctx = context();
        reconciled_without_metrics(&ctx, "shop", "gone");
        reconciled_without_metrics(&ctx, "shop", "kept");
        assert!(ctx.metrics.encode().contains("policy=\"gone\""));

        let forgotten = ctx.forget_policies_except(&[("shop".into(), "kept".into())]);
        assert_eq!(forgotten, vec![("shop".to_string(), "gone".to_string())]);
        let exposition = ctx.metrics.encode();
        assert!(
            !exposition.contains("policy=\"gone\""),
            "the deleted policy's prescaler_* series stay:\n{exposition}"
        );
        assert!(exposition.contains("policy=\"kept\""), "{exposition}");
        assert_eq!(ctx.policies.len(), 1, "its memory is dropped too");
    }
}
