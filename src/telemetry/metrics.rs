//! The operator's own metrics, in the OpenMetrics text format.
//!
//! Labels are bounded: `result`, `outcome` and `reason` take a few fixed values, and the
//! per-policy families carry only `namespace`, `policy` and `metric`. A value the
//! controller does not have (no forecast, metrics unavailable) removes its series instead
//! of leaving a stale number behind, and deleting a policy removes all of its series.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::ledger::{self, Due, Matured, Pending, Tally};

/// How a reconcile ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileResult {
    /// The policy was reconciled.
    Success,
    /// The reconcile failed and will be retried.
    Error,
}

impl ReconcileResult {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

/// Which way a written scale (or HPA floor) went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// More replicas.
    Up,
    /// Fewer replicas.
    Down,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// The numbers of one policy, as of its latest reconcile.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PolicyGauges {
    /// Replicas the target has now.
    pub current: i32,
    /// What the HPA algorithm asks for; `None` when metrics were unreadable.
    pub reactive: Option<i32>,
    /// What the forecast asks for; `None` when no forecast was reliable.
    pub predicted: Option<i32>,
    /// What the operator decided.
    pub desired: i32,
    /// `spec.forecast.leadTime` in seconds; `None` when it does not parse.
    pub lead_time_s: Option<u64>,
    /// Status of each condition the policy reports (`True` → 1, `False` → 0); a condition
    /// not listed, or `Unknown`, has no series.
    pub conditions: [(&'static str, Option<bool>); CONDITION_TYPES.len()],
    /// `spec.forecast.quantile`: the level provisioned for.
    pub quantile: Option<f64>,
    /// When the reconcile ran, Unix seconds: the time totals count from one to the next.
    pub at: i64,
    /// The policy's sync period in seconds; a gap of more than twice it (plus a minute)
    /// between reconciles is left out of the time totals.
    pub sync_s: u64,
}

/// The condition types exported by `prescaler_policy_condition`: every one a policy has.
pub const CONDITION_TYPES: [&str; 5] = crate::policy::status::condition::ALL;

/// The numbers of one metric of one policy, as of its latest reconcile. `None` (or a
/// value that is not finite) removes the series.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MetricGauges {
    /// The latest observed value.
    pub value: Option<f64>,
    /// The point forecast at now + leadTime.
    pub forecast: Option<f64>,
    /// The provisioned quantile at now + leadTime.
    pub upper: Option<f64>,
    /// The moment `forecast` and `upper` are for (now + leadTime), Unix seconds.
    pub due_at: Option<i64>,
    /// When the reconcile ran, Unix seconds.
    pub at: i64,
    /// The metric's `type` (`RequestRate`, `CPU`, ...), which gives its unit.
    pub metric_type: &'static str,
    /// The provisioned quantile's peak over the planning window.
    pub peak: Option<f64>,
    /// The recent backtest error (MASE).
    pub error: Option<f64>,
    /// The forecast's backtest loss over the plan's window ÷ the last value's (the skill
    /// gate: at 1 or above the forecast is not used).
    pub loss_ratio: Option<f64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    namespace: String,
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    namespace: String,
    policy: String,
    condition: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScaleLabels {
    namespace: String,
    policy: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    namespace: String,
    policy: String,
    metric: String,
    metric_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetricLabels {
    namespace: String,
    policy: String,
    metric: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

/// What is kept between reconciles, under one lock.
#[derive(Default)]
struct Memory {
    /// The metrics exported per policy and their types, so that a deleted policy (or a
    /// dropped metric) loses every series.
    metrics_of: HashMap<PolicyLabels, BTreeMap<String, &'static str>>,
    /// Forecasts waiting for the moment they were made for.
    pending: HashMap<MetricLabels, Pending>,
    /// Each policy's numbers at its latest reconcile, for the time totals.
    tallies: HashMap<PolicyLabels, Tally>,
}

/// Every metric the operator exports, in one registry. Share it as `Arc<OperatorMetrics>`.
pub struct OperatorMetrics {
    registry: Registry,
    /// `prescaler_reconciles_total{result}`.
    reconciles: Family<ResultLabels, Counter>,
    /// `prescaler_reconcile_errors_total{reason}`.
    reconcile_errors: Family<ReasonLabels, Counter>,
    /// `prescaler_reconcile_duration_seconds`.
    reconcile_duration: Histogram,
    /// `prescaler_prometheus_queries_total{outcome}`.
    prometheus_queries: Family<OutcomeLabels, Counter>,
    /// `prescaler_prometheus_query_duration_seconds`.
    prometheus_query_duration: Histogram,
    /// `prescaler_current_replicas{namespace, policy}`.
    current_replicas: Family<PolicyLabels, Gauge>,
    /// `prescaler_reactive_replicas{namespace, policy}`.
    reactive_replicas: Family<PolicyLabels, Gauge>,
    /// `prescaler_predicted_replicas{namespace, policy}`.
    predicted_replicas: Family<PolicyLabels, Gauge>,
    /// `prescaler_desired_replicas{namespace, policy}`.
    desired_replicas: Family<PolicyLabels, Gauge>,
    /// `prescaler_forecast_added_replicas{namespace, policy}`.
    forecast_added: Family<PolicyLabels, Gauge>,
    /// `prescaler_fallback_active{namespace, policy}`.
    fallback_active: Family<PolicyLabels, Gauge>,
    /// `prescaler_lead_time_seconds{namespace, policy}`.
    lead_time: Family<PolicyLabels, Gauge>,
    /// `prescaler_forecast_quantile{namespace, policy}`.
    forecast_quantile: Family<PolicyLabels, FloatGauge>,
    /// `prescaler_replica_seconds_total{namespace, policy}`.
    replica_seconds: Family<PolicyLabels, FloatCounter>,
    /// `prescaler_forecast_added_replica_seconds_total{namespace, policy}`.
    added_replica_seconds: Family<PolicyLabels, FloatCounter>,
    /// `prescaler_shortfall_seconds_total{namespace, policy}`.
    shortfall_seconds: Family<PolicyLabels, FloatCounter>,
    /// `prescaler_scale_writes_total{namespace, policy, direction}`.
    scale_writes: Family<ScaleLabels, Counter>,
    /// `prescaler_policy_condition{namespace, policy, condition}`.
    conditions: Family<ConditionLabels, Gauge>,
    /// `prescaler_metric_value{namespace, policy, metric}`.
    metric_value: Family<MetricLabels, FloatGauge>,
    /// `prescaler_forecast_value{namespace, policy, metric}`.
    forecast_value: Family<MetricLabels, FloatGauge>,
    /// `prescaler_forecast_peak{namespace, policy, metric}`.
    forecast_peak: Family<MetricLabels, FloatGauge>,
    /// `prescaler_forecast_due_value{namespace, policy, metric}`.
    forecast_due_value: Family<MetricLabels, FloatGauge>,
    /// `prescaler_forecast_due_upper{namespace, policy, metric}`.
    forecast_due_upper: Family<MetricLabels, FloatGauge>,
    /// `prescaler_metric_info{namespace, policy, metric, metric_type}`.
    metric_info: Family<InfoLabels, Gauge>,
    /// `prescaler_forecast_error{namespace, policy, metric}`.
    forecast_error: Family<MetricLabels, FloatGauge>,
    /// `prescaler_forecast_loss_ratio{namespace, policy, metric}`.
    forecast_loss_ratio: Family<MetricLabels, FloatGauge>,
    /// `prescaler_leader`.
    leader: Gauge,
    /// `prescaler_history_cache_bytes`.
    history_cache_bytes: Gauge,
    /// `prescaler_policies_behind`.
    policies_behind: Gauge,
    /// `prescaler_reconcile_queue_depth`.
    queue_depth: Gauge,
    memory: Mutex<Memory>,
}

impl Default for OperatorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for OperatorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorMetrics").finish_non_exhaustive()
    }
}

impl OperatorMetrics {
    /// A registry with every family registered; counters start at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("prescaler");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of ScalingPolicies, by result (success or error)",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by reason",
            reconcile_errors.clone(),
        );
        // 5 ms … ~20 s.
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        registry.register_with_unit(
            "reconcile_duration",
            "Time one reconcile of a ScalingPolicy took",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let prometheus_queries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "prometheus_queries",
            "Queries sent to Prometheus, by outcome (ok or error)",
            prometheus_queries.clone(),
        );
        let prometheus_query_duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        registry.register_with_unit(
            "prometheus_query_duration",
            "Time one Prometheus query took, failed ones included",
            Unit::Seconds,
            prometheus_query_duration.clone(),
        );
        let policy_gauge = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<PolicyLabels, Gauge>::default();
            registry.register(name, help, family.clone());
            family
        };
        let current_replicas = policy_gauge(
            &mut registry,
            "current_replicas",
            "Replicas the policy's target has now",
        );
        let reactive_replicas = policy_gauge(
            &mut registry,
            "reactive_replicas",
            "Replicas the HPA algorithm asks for now; absent while metrics are unavailable",
        );
        let predicted_replicas = policy_gauge(
            &mut registry,
            "predicted_replicas",
            "Replicas the forecast asks for; absent while no forecast is reliable",
        );
        let desired_replicas = policy_gauge(
            &mut registry,
            "desired_replicas",
            "Replicas the operator decided on, after limits and behavior",
        );
        let forecast_added = policy_gauge(
            &mut registry,
            "forecast_added_replicas",
            "Desired minus reactive replicas: what the forecast (and stabilization) holds above what current load asks for; absent while metrics are unavailable",
        );
        let fallback_active = policy_gauge(
            &mut registry,
            "fallback_active",
            "1 while the policy's metrics are unavailable and spec.fallback decides (MetricsAvailable=False), else 0",
        );
        let lead_time = Family::<PolicyLabels, Gauge>::default();
        registry.register_with_unit(
            "lead_time",
            "The policy's spec.forecast.leadTime: how far ahead capacity is planned",
            Unit::Seconds,
            lead_time.clone(),
        );
        let forecast_quantile = Family::<PolicyLabels, FloatGauge>::default();
        registry.register(
            "forecast_quantile",
            "The policy's spec.forecast.quantile: the forecast level it provisions for (the share of time load should stay under prescaler_forecast_due_upper)",
            forecast_quantile.clone(),
        );
        let policy_seconds = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<PolicyLabels, FloatCounter>::default();
            registry.register_with_unit(name, help, Unit::Seconds, family.clone());
            family
        };
        let replica_seconds = policy_seconds(
            &mut registry,
            "replica",
            "Replica-seconds the policy's target has run while this process reconciled it (divide an increase by 3600 for pod-hours)",
        );
        let added_replica_seconds = policy_seconds(
            &mut registry,
            "forecast_added_replica",
            "Replica-seconds held above what current load asked for (desired minus reactive, when positive): the cost of the forecast",
        );
        let shortfall_seconds = policy_seconds(
            &mut registry,
            "shortfall",
            "Seconds the target had fewer replicas than current load asked for (current below reactive)",
        );
        let scale_writes = Family::<ScaleLabels, Counter>::default();
        registry.register(
            "scale_writes",
            "Scales the operator wrote, by direction: the target's /scale, or the HPA's minReplicas in HPAFloor mode; each one is also a Kubernetes Event",
            scale_writes.clone(),
        );
        let conditions = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "policy_condition",
            "1 while the policy's condition is True, 0 while False; absent while Unknown",
            conditions.clone(),
        );
        let metric_gauge = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<MetricLabels, FloatGauge>::default();
            registry.register(name, help, family.clone());
            family
        };
        let metric_value = metric_gauge(
            &mut registry,
            "metric_value",
            "Latest observed value of the policy's metric",
        );
        let forecast_value = metric_gauge(
            &mut registry,
            "forecast_value",
            "Forecast of the policy's metric at now + leadTime",
        );
        let forecast_peak = metric_gauge(
            &mut registry,
            "forecast_peak",
            "Peak of the provisioned forecast quantile over [now + leadTime, now + leadTime + horizon]",
        );
        let forecast_due_value = metric_gauge(
            &mut registry,
            "forecast_due_value",
            "The point forecast made leadTime ago for now: compare it with prescaler_metric_value",
        );
        let forecast_due_upper = metric_gauge(
            &mut registry,
            "forecast_due_upper",
            "The provisioned quantile of the forecast made leadTime ago for now: load above it was not planned for",
        );
        let metric_info = Family::<InfoLabels, Gauge>::default();
        registry.register(
            "metric_info",
            "1 for each metric of a policy; metric_type (RequestRate, CPU, Memory, PromQL) gives the unit of its values: requests per second, cores, bytes, or the query's own",
            metric_info.clone(),
        );
        let forecast_error = metric_gauge(
            &mut registry,
            "forecast_error",
            "Recent backtest error of the forecast (MASE; below 1 beats the seasonal naive forecast)",
        );
        let forecast_loss_ratio = metric_gauge(
            &mut registry,
            "forecast_loss_ratio",
            "Backtest loss of the forecast over the plan's window divided by the last value's; at 1 or above the forecast has no skill and scaling is reactive (ForecastReliable=False, NoSkill)",
        );
        let leader = gauge(
            &mut registry,
            "leader",
            "1 while this operator instance is the leader and may write, else 0",
        );
        let history_cache_bytes = gauge(
            &mut registry,
            "history_cache_bytes",
            "Approximate memory held by the metric history cache, in bytes",
        );
        let policies_behind = gauge(
            &mut registry,
            "policies_behind",
            "Policies this leader writes that had no full reconcile for more than two sync periods: above 0, reconciles do not keep up (raise --concurrency, lengthen syncPeriod, or shard)",
        );
        let queue_depth = gauge(
            &mut registry,
            "reconcile_queue_depth",
            "Policies due for a reconcile and waiting for one of --concurrency workers, sampled every second",
        );
        for result in [ReconcileResult::Success, ReconcileResult::Error] {
            let _ = reconciles.get_or_create(&ResultLabels {
                result: result.label(),
            });
        }
        for outcome in ["ok", "error"] {
            let _ = prometheus_queries.get_or_create(&OutcomeLabels { outcome });
        }
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            prometheus_queries,
            prometheus_query_duration,
            current_replicas,
            reactive_replicas,
            predicted_replicas,
            desired_replicas,
            forecast_added,
            fallback_active,
            lead_time,
            forecast_quantile,
            replica_seconds,
            added_replica_seconds,
            shortfall_seconds,
            scale_writes,
            conditions,
            metric_value,
            forecast_value,
            forecast_peak,
            forecast_due_value,
            forecast_due_upper,
            metric_info,
            forecast_error,
            forecast_loss_ratio,
            leader,
            history_cache_bytes,
            policies_behind,
            queue_depth,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// Counts one reconcile and records how long it took.
    pub fn reconciled(&self, result: ReconcileResult, duration: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels {
                result: result.label(),
            })
            .inc();
        self.reconcile_duration.observe(duration.as_secs_f64());
    }

    /// Counts a failed reconcile by its reason. `reason` must come from a fixed set (an
    /// error kind such as `kube` or `prometheus`), never from object names or messages.
    pub fn reconcile_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts one Prometheus query and records how long it took.
    pub fn prometheus_query(&self, ok: bool, duration: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.prometheus_queries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.prometheus_query_duration
            .observe(duration.as_secs_f64());
    }

    /// Sets a policy's replica gauges; an absent reactive or predicted value removes that
    /// series.
    pub fn set_policy(&self, namespace: &str, policy: &str, gauges: PolicyGauges) {
        let labels = policy_labels(namespace, policy);
        set_or_remove(&self.current_replicas, &labels, Some(gauges.current));
        set_or_remove(&self.reactive_replicas, &labels, gauges.reactive);
        set_or_remove(&self.predicted_replicas, &labels, gauges.predicted);
        set_or_remove(&self.desired_replicas, &labels, Some(gauges.desired));
        set_or_remove(
            &self.forecast_added,
            &labels,
            gauges.reactive.map(|r| gauges.desired - r),
        );
        let lead = gauges.lead_time_s.and_then(|s| i32::try_from(s).ok());
        set_or_remove(&self.lead_time, &labels, lead);
        match gauges.quantile.filter(|q| q.is_finite()) {
            Some(q) => {
                self.forecast_quantile.get_or_create(&labels).set(q);
            }
            None => {
                self.forecast_quantile.remove(&labels);
            }
        }
        self.tally(&labels, &gauges);
        for (condition, state) in gauges.conditions {
            let key = ConditionLabels {
                namespace: namespace.into(),
                policy: policy.into(),
                condition,
            };
            match state {
                Some(true) => {
                    self.conditions.get_or_create(&key).set(1);
                }
                Some(false) => {
                    self.conditions.get_or_create(&key).set(0);
                }
                None => {
                    self.conditions.remove(&key);
                }
            }
            if condition == crate::policy::status::condition::METRICS_AVAILABLE {
                let fallback = state.map(|available| i32::from(!available));
                set_or_remove(&self.fallback_active, &labels, fallback);
            }
        }
    }

    /// Adds the time since the policy's last reconcile to its time totals and counts its
    /// write. Every series starts at 0 with the policy's first reconcile, so that an
    /// increase is seen from the first write on.
    fn tally(&self, labels: &PolicyLabels, gauges: &PolicyGauges) {
        let now = Tally {
            at: gauges.at,
            current: gauges.current,
            added: gauges.reactive.map_or(0, |r| gauges.desired - r),
            short: gauges.reactive.is_some_and(|r| gauges.current < r),
        };
        let max_gap =
            i64::try_from(gauges.sync_s.saturating_mul(2).saturating_add(60)).unwrap_or(i64::MAX);
        let prev = self.remember().tallies.insert(labels.clone(), now);
        let add = prev.map_or_else(ledger::Increments::default, |prev| {
            ledger::between(prev, now, max_gap)
        });
        self.replica_seconds
            .get_or_create(labels)
            .inc_by(add.replica_s);
        self.added_replica_seconds
            .get_or_create(labels)
            .inc_by(add.added_s);
        self.shortfall_seconds
            .get_or_create(labels)
            .inc_by(add.short_s);
        // Both directions are exported from the first reconcile on, at 0 until a write.
        for direction in [Direction::Up, Direction::Down] {
            let _ = self.scale_writes.get_or_create(&ScaleLabels {
                namespace: labels.namespace.clone(),
                policy: labels.policy.clone(),
                direction: direction.label(),
            });
        }
    }

    /// Counts a scale (or HPA floor change) this process wrote, whatever the metrics
    /// said: a fallback floor counts too.
    pub fn scale_written(&self, namespace: &str, policy: &str, direction: Direction) {
        self.scale_writes
            .get_or_create(&ScaleLabels {
                namespace: namespace.into(),
                policy: policy.into(),
                direction: direction.label(),
            })
            .inc();
    }

    /// Sets the gauges of one metric of a policy; absent or non-finite values remove their
    /// series. `metric` names the metric within the policy (bounded by its spec).
    pub fn set_metric(&self, namespace: &str, policy: &str, metric: &str, gauges: MetricGauges) {
        let labels = MetricLabels {
            namespace: namespace.into(),
            policy: policy.into(),
            metric: metric.into(),
        };
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        set_or_remove_f64(&self.metric_value, &labels, finite(gauges.value));
        set_or_remove_f64(&self.forecast_value, &labels, finite(gauges.forecast));
        set_or_remove_f64(&self.forecast_peak, &labels, finite(gauges.peak));
        set_or_remove_f64(&self.forecast_error, &labels, finite(gauges.error));
        set_or_remove_f64(
            &self.forecast_loss_ratio,
            &labels,
            finite(gauges.loss_ratio),
        );
        let made = match (gauges.due_at, finite(gauges.forecast)) {
            (Some(at), Some(point)) => Some(Due {
                at,
                point,
                upper: finite(gauges.upper),
            }),
            _ => None,
        };
        let mut memory = self.remember();
        let matured = memory
            .pending
            .entry(labels.clone())
            .or_default()
            .advance(gauges.at, made);
        match matured {
            Matured::Show(due) => {
                set_or_remove_f64(&self.forecast_due_value, &labels, Some(due.point));
                set_or_remove_f64(&self.forecast_due_upper, &labels, due.upper);
            }
            Matured::Keep => {}
            Matured::Remove => {
                set_or_remove_f64(&self.forecast_due_value, &labels, None);
                set_or_remove_f64(&self.forecast_due_upper, &labels, None);
            }
        }
        let before = memory
            .metrics_of
            .entry(policy_labels(namespace, policy))
            .or_default()
            .insert(metric.into(), gauges.metric_type);
        drop(memory);
        if let Some(old) = before.filter(|old| *old != gauges.metric_type) {
            self.metric_info.remove(&info_labels(&labels, old));
        }
        self.metric_info
            .get_or_create(&info_labels(&labels, gauges.metric_type))
            .set(1);
    }

    /// Removes every series of one metric of a policy.
    pub fn remove_metric(&self, namespace: &str, policy: &str, metric: &str) {
        let key = policy_labels(namespace, policy);
        let metric_type = self
            .remember()
            .metrics_of
            .get_mut(&key)
            .and_then(|metrics| metrics.remove(metric));
        self.remove_metric_series(&key, metric, metric_type);
    }

    /// Removes the series of every metric of a policy not named in `keep`, for a policy
    /// whose spec dropped a metric.
    pub fn retain_metrics(&self, namespace: &str, policy: &str, keep: &[&str]) {
        let key = policy_labels(namespace, policy);
        let dropped: Vec<(String, &'static str)> = match self.remember().metrics_of.get_mut(&key) {
            Some(metrics) => {
                let dropped = metrics
                    .iter()
                    .filter(|(m, _)| !keep.contains(&m.as_str()))
                    .map(|(m, t)| (m.clone(), *t))
                    .collect();
                metrics.retain(|m, _| keep.contains(&m.as_str()));
                dropped
            }
            None => Vec::new(),
        };
        for (metric, metric_type) in dropped {
            self.remove_metric_series(&key, &metric, Some(metric_type));
        }
    }

    /// Removes every series of a policy, for a deleted policy.
    pub fn remove_policy(&self, namespace: &str, policy: &str) {
        let key = policy_labels(namespace, policy);
        for family in [
            &self.current_replicas,
            &self.reactive_replicas,
            &self.predicted_replicas,
            &self.desired_replicas,
            &self.forecast_added,
            &self.fallback_active,
            &self.lead_time,
        ] {
            family.remove(&key);
        }
        self.forecast_quantile.remove(&key);
        for family in [
            &self.replica_seconds,
            &self.added_replica_seconds,
            &self.shortfall_seconds,
        ] {
            family.remove(&key);
        }
        for direction in [Direction::Up, Direction::Down] {
            self.scale_writes.remove(&ScaleLabels {
                namespace: namespace.into(),
                policy: policy.into(),
                direction: direction.label(),
            });
        }
        for condition in CONDITION_TYPES {
            self.conditions.remove(&ConditionLabels {
                namespace: namespace.into(),
                policy: policy.into(),
                condition,
            });
        }
        let metrics = {
            let mut memory = self.remember();
            memory.tallies.remove(&key);
            memory.metrics_of.remove(&key).unwrap_or_default()
        };
        for (metric, metric_type) in metrics {
            self.remove_metric_series(&key, &metric, Some(metric_type));
        }
    }

    /// Sets `prescaler_leader` to 1 (leading) or 0.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Sets `prescaler_policies_behind`.
    pub fn set_policies_behind(&self, count: usize) {
        self.policies_behind
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets `prescaler_reconcile_queue_depth`.
    pub fn set_queue_depth(&self, count: usize) {
        self.queue_depth
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets the history cache's size.
    pub fn set_cache_bytes(&self, bytes: usize) {
        self.history_cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Everything, in the OpenMetrics text format (ending with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn remember(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove_metric_series(
        &self,
        key: &PolicyLabels,
        metric: &str,
        metric_type: Option<&'static str>,
    ) {
        let labels = MetricLabels {
            namespace: key.namespace.clone(),
            policy: key.policy.clone(),
            metric: metric.into(),
        };
        for family in [
            &self.metric_value,
            &self.forecast_value,
            &self.forecast_peak,
            &self.forecast_due_value,
            &self.forecast_due_upper,
            &self.forecast_error,
            &self.forecast_loss_ratio,
        ] {
            family.remove(&labels);
        }
        if let Some(metric_type) = metric_type {
            self.metric_info.remove(&info_labels(&labels, metric_type));
        }
        self.remember().pending.remove(&labels);
    }
}

/// A plain gauge registered as `prescaler_<name>`.
fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

fn policy_labels(namespace: &str, policy: &str) -> PolicyLabels {
    PolicyLabels {
        namespace: namespace.into(),
        policy: policy.into(),
    }
}

fn info_labels(labels: &MetricLabels, metric_type: &'static str) -> InfoLabels {
    InfoLabels {
        namespace: labels.namespace.clone(),
        policy: labels.policy.clone(),
        metric: labels.metric.clone(),
        metric_type,
    }
}

fn set_or_remove(family: &Family<PolicyLabels, Gauge>, labels: &PolicyLabels, value: Option<i32>) {
    match value {
        Some(v) => {
            family.get_or_create(labels).set(i64::from(v));
        }
        None => {
            family.remove(labels);
        }
    }
}

fn set_or_remove_f64(
    family: &Family<MetricLabels, FloatGauge>,
    labels: &MetricLabels,
    value: Option<f64>,
) {
    match value {
        Some(v) => {
            family.get_or_create(labels).set(v);
        }
        None => {
            family.remove(labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_start_at_zero_with_both_results() {
        let text = OperatorMetrics::new().encode();
        assert!(
            text.contains("prescaler_reconciles_total{result=\"success\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("prescaler_reconciles_total{result=\"error\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("prescaler_prometheus_queries_total{outcome=\"ok\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE prescaler_reconcile_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("# UNIT prescaler_reconcile_duration_seconds seconds"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn retain_metrics_drops_only_the_metrics_left_out() {
        let m = OperatorMetrics::new();
        let g = MetricGauges {
            value: Some(1.0),
            ..MetricGauges::default()
        };
        m.set_metric("ns", "web", "rps", g);
        m.set_metric("ns", "web", "cpu", g);
        m.retain_metrics("ns", "web", &["cpu"]);
        let text = m.encode();
        assert!(!text.contains("metric=\"rps\""), "{text}");
        assert!(text.contains("metric=\"cpu\""), "{text}");
    }

    #[test]
    fn a_non_finite_value_removes_its_series() {
        let m = OperatorMetrics::new();
        let mut g = MetricGauges {
            error: Some(0.8),
            ..MetricGauges::default()
        };
        m.set_metric("ns", "web", "rps", g);
        assert!(m.encode().contains("prescaler_forecast_error{"));
        g.error = Some(f64::INFINITY);
        m.set_metric("ns", "web", "rps", g);
        assert!(!m.encode().contains("prescaler_forecast_error{"));
    }

    #[test]
    fn conditions_fallback_lead_time_and_forecast_added_are_exported_per_policy() {
        let m = OperatorMetrics::new();
        let mut conditions = CONDITION_TYPES.map(|t| (t, Some(true)));
        conditions[3].1 = Some(false); // MetricsAvailable
        conditions[4].1 = None; // ForecastReliable unknown
        let gauges = PolicyGauges {
            current: 4,
            reactive: Some(4),
            predicted: Some(6),
            desired: 6,
            lead_time_s: Some(120),
            conditions,
            ..PolicyGauges::default()
        };
        m.set_policy("ns", "web", gauges);
        let text = m.encode();
        for line in [
            r#"prescaler_policy_condition{namespace="ns",policy="web",condition="Ready"} 1"#,
            r#"prescaler_policy_condition{namespace="ns",policy="web",condition="MetricsAvailable"} 0"#,
            r#"prescaler_fallback_active{namespace="ns",policy="web"} 1"#,
            r#"prescaler_lead_time_seconds{namespace="ns",policy="web"} 120"#,
            r#"prescaler_forecast_added_replicas{namespace="ns",policy="web"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        assert!(!text.contains(r#"condition="ForecastReliable""#), "{text}");
        m.set_policy(
            "ns",
            "web",
            PolicyGauges {
                reactive: None,
                ..gauges
            },
        );
        assert!(!m.encode().contains("prescaler_forecast_added_replicas{"));
        m.remove_policy("ns", "web");
        let text = m.encode();
        assert!(!text.contains("policy=\"web\""), "{text}");
    }
}
