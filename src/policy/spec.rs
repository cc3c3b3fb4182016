//! The `ScalingPolicy` spec: what a team writes in YAML.
//!
//! Doc comments on these types become the CRD's field descriptions, which is what
//! `kubectl explain scalingpolicy.spec...` prints; they say what a field does, its unit,
//! its default and a sensible range.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Duration;
use super::quantity::Quantity;
use super::rules;
use super::status::ScalingPolicyStatus;

/// Desired state of a ScalingPolicy.
// Each `printcolumn(...)` repeats the keys `type_` and `json_path`; clippy reads that as a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "autoscaling.prescaler.io",
    version = "v1alpha1",
    kind = "ScalingPolicy",
    plural = "scalingpolicies",
    singular = "scalingpolicy",
    shortname = "sp",
    namespaced,
    status = "ScalingPolicyStatus",
    derive = "PartialEq",
    doc = "ScalingPolicy tells prescaler how to scale one workload ahead of its traffic: which metrics to forecast, how long a new pod needs to become Ready, and the replica bounds and rate limits to respect.",
    printcolumn(
        name = "Target",
        type_ = "string",
        json_path = ".spec.targetRef.name",
        description = "The scaled workload"
    ),
    printcolumn(
        name = "Targets",
        type_ = "string",
        json_path = ".status.targets",
        description = "Each metric's average per replica against its target, as kubectl get hpa shows them"
    ),
    printcolumn(
        name = "Current",
        type_ = "integer",
        json_path = ".status.currentReplicas"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredReplicas"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        description = "Why the replicas are what they are"
    ),
    printcolumn(
        name = "Forecast",
        type_ = "string",
        json_path = ".status.forecastPeak",
        description = "The deciding metric's forecast peak and when"
    ),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Min",
        type_ = "integer",
        json_path = ".spec.minReplicas",
        priority = "1"
    ),
    printcolumn(
        name = "Max",
        type_ = "integer",
        json_path = ".spec.maxReplicas",
        priority = "1"
    ),
    printcolumn(
        name = "Reactive",
        type_ = "integer",
        json_path = ".status.reactiveReplicas",
        description = "Replicas the HPA algorithm asks for on current load",
        priority = "1"
    ),
    printcolumn(
        name = "Predicted",
        type_ = "integer",
        json_path = ".status.predictedReplicas",
        description = "Replicas the forecast asks for",
        priority = "1"
    ),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".status.model",
        description = "Forecast model in use",
        priority = "1"
    ),
    printcolumn(
        name = "Lead",
        type_ = "string",
        json_path = ".status.leadTime.value",
        description = "Lead time in use (learned from the target's pods with leadTimeMode Auto)",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::spec)]
pub struct ScalingPolicySpec {
    /// The workload to scale: any object with a `/scale` subresource (Deployment,
    /// StatefulSet, ReplicaSet, or a custom resource that declares one), in the policy's namespace.
    pub target_ref: TargetRef,

    /// Fewest replicas prescaler will ever set. Default 1; must be at least 1 and at most maxReplicas.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1))]
    pub min_replicas: i32,

    /// Most replicas prescaler will ever set, whatever the forecast says. Required; at least 1.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,

    /// What prescaler does with its decision. `Auto` (default) writes the target's `/scale`;
    /// `ForecastOnly` computes and reports in status and metrics but changes nothing;
    /// `HPAFloor` writes the forecast into the `minReplicas` of the HorizontalPodAutoscaler
    /// that targets the same workload, leaving that HPA to react to surprises.
    #[serde(default)]
    pub mode: Mode,

    /// The signals to scale on. As with HPA, each metric proposes a replica count and the
    /// largest wins. One to eight entries.
    #[schemars(length(min = 1, max = 8))]
    pub metrics: Vec<MetricSpec>,

    /// How load is forecast and how far ahead capacity is planned.
    #[serde(default)]
    pub forecast: ForecastSpec,

    /// Rate limits and stabilization, in the shape of HPA v2's `behavior`. Anything left out
    /// takes HPA's default: scale up with no stabilization by at most max(100%, 4 pods) per
    /// 15s; scale down after a 300s stabilization window by at most 100% per 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,

    /// What to do when the metrics cannot be read. Default `HoldCurrent`: keep the current
    /// replica count (prescaler never scales down on missing data).
    #[serde(default)]
    pub fallback: Fallback,

    /// Capacity for events history cannot see (a launch, a sale, a broadcast): each entry
    /// raises the replicas from `leadTime` before its start until its end, to at least
    /// `minReplicas` or to `loadFactor` times what the load and forecast ask for.
    /// Overlapping windows take the highest. At most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub schedules: Vec<ScheduleSpec>,

    /// How often this policy is re-evaluated, e.g. `15s`. Defaults to the operator's
    /// `--sync-period` (15s). Sensible range 10s–5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_period: Option<Duration>,

    /// Use this Prometheus instead of the operator's default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusOverride>,
}

fn default_min_replicas() -> i32 {
    1
}

/// A reference to the scaled object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// API version of the target, e.g. `apps/v1`.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// Kind of the target, e.g. `Deployment`.
    #[schemars(length(min = 1))]
    pub kind: String,
    /// Name of the target, in the policy's namespace.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// What prescaler does with its decision.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Mode {
    /// Write the target's `/scale`.
    #[default]
    Auto,
    /// Compute and report only.
    ForecastOnly,
    /// Raise an existing HPA's `minReplicas` to the forecast.
    #[serde(rename = "HPAFloor")]
    HpaFloor,
}

/// One signal to scale on. `type` names the kind, and the block of the same name (and only
/// that block) carries its settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::metric)]
pub struct MetricSpec {
    /// `RequestRate`, `CPU`, `Memory` or `PromQL`.
    #[serde(rename = "type")]
    pub kind: MetricType,

    /// A short name for this metric in status, Events and operator metrics, e.g. `http`.
    /// Lowercase letters, digits and dashes, at most 63 characters. Defaults to the type in
    /// lowercase (`requestrate`, `cpu`, `memory`, `promql`); must be unique in the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: Option<String>,

    /// Settings for `type: RequestRate`: requests per second summed over the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<QueryTarget>,

    /// Settings for `type: CPU`: CPU usage of the target's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuTarget>,

    /// Settings for `type: Memory`: working-set memory of the target's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryTarget>,

    /// Settings for `type: PromQL`: any PromQL expression that returns one series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<QueryTarget>,
}

/// The kinds of metric a policy can scale on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum MetricType {
    /// Requests per second, from the user's query.
    RequestRate,
    /// CPU usage of the target's pods.
    #[serde(rename = "CPU")]
    Cpu,
    /// Working-set memory of the target's pods.
    Memory,
    /// Any PromQL expression.
    #[serde(rename = "PromQL")]
    PromQl,
}

impl MetricType {
    /// The name used in YAML (`RequestRate`, `CPU`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::RequestRate => "RequestRate",
            MetricType::Cpu => "CPU",
            MetricType::Memory => "Memory",
            MetricType::PromQl => "PromQL",
        }
    }

    /// The key of the settings block this type must carry (`requestRate`, `cpu`, ...).
    pub fn block(self) -> &'static str {
        match self {
            MetricType::RequestRate => "requestRate",
            MetricType::Cpu => "cpu",
            MetricType::Memory => "memory",
            MetricType::PromQl => "promql",
        }
    }

    /// The default metric name: the type in lowercase.
    pub fn default_name(self) -> &'static str {
        match self {
            MetricType::RequestRate => "requestrate",
            MetricType::Cpu => "cpu",
            MetricType::Memory => "memory",
            MetricType::PromQl => "promql",
        }
    }
}

impl MetricSpec {
    /// The name this metric goes by in status, Events and operator metrics.
    pub fn effective_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.default_name())
    }
}

/// A PromQL query and how much of it one replica should carry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::positive_target)]
pub struct QueryTarget {
    /// PromQL returning exactly one series (aggregate it, e.g. `sum(rate(http_requests_total{job="web"}[2m]))`).
    #[schemars(length(min = 1))]
    pub query: String,
    /// The value one replica should carry, in the query's unit (for request rates:
    /// requests per second per replica). Replicas = ceil(value / targetPerReplica). Must be > 0.
    /// Set it near 80% of what one pod can serve, as HPA users do.
    pub target_per_replica: f64,
}

/// How much CPU one replica should use. Set exactly one of the two fields.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::cpu)]
pub struct CpuTarget {
    /// Target average usage as a percentage of the pods' CPU requests, as HPA's
    /// `averageUtilization` (e.g. 70). Must be > 0; values above 100 are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_utilization: Option<i32>,
    /// Target average usage per replica in cores, as a quantity (e.g. `500m`). Must be > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_per_replica: Option<Quantity>,
    /// PromQL for the CPU usage of the whole workload in cores, replacing the built-in
    /// query (summed `rate(container_cpu_usage_seconds_total[2m])` of the target's pods).
    /// Must return exactly one series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub query: Option<String>,
}

/// How much memory one replica should use.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::memory)]
pub struct MemoryTarget {
    /// Target average working-set memory per replica, as a quantity (e.g. `512Mi`). Must be > 0.
    pub target_average_value: Quantity,
    /// PromQL for the memory of the whole workload in bytes, replacing the built-in query
    /// (summed `container_memory_working_set_bytes` of the target's pods). Must return
    /// exactly one series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub query: Option<String>,
}

/// Where a policy's lead time comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LeadTimeMode {
    /// `spec.forecast.leadTime` as written.
    #[default]
    Fixed,
    /// Learned from the target's new pods; `spec.forecast.leadTime` until enough were seen.
    Auto,
}

/// Forecast models.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Model {
    /// Choose per series by rolling backtest.
    #[default]
    Auto,
    /// Repeat the last season.
    SeasonalNaive,
    /// Holt-Winters exponential smoothing with fitted parameters.
    HoltWinters,
    /// Automatic exponential smoothing (ETS).
    #[serde(rename = "ETS")]
    Ets,
    /// Seasonal-trend decomposition with several seasons (MSTL).
    #[serde(rename = "MSTL")]
    Mstl,
    /// Regularised regression on lags, season terms and trend.
    Linear,
}

impl Model {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Auto => "Auto",
            Model::SeasonalNaive => "SeasonalNaive",
            Model::HoltWinters => "HoltWinters",
            Model::Ets => "ETS",
            Model::Mstl => "MSTL",
            Model::Linear => "Linear",
        }
    }
}

/// How load is forecast and how far ahead capacity is planned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::forecast)]
pub struct ForecastSpec {
    /// Forecast model: `Auto` (default: chosen per metric by backtest), `SeasonalNaive`,
    /// `HoltWinters`, `ETS`, `MSTL` or `Linear`.
    #[serde(default)]
    pub model: Model,

    /// Time a new pod needs from being requested to being Ready (scheduling, image pull,
    /// start-up, readiness). Replicas held now cover the forecast until now + leadTime +
    /// one sync period, when pods requested at the next decision can be Ready. Default
    /// `2m`; must be > 0; typically 30s–10m.
    #[serde(default = "default_lead_time")]
    pub lead_time: Duration,

    /// Where the lead time comes from: `Fixed` (default) uses `leadTime`; `Auto` learns it
    /// from the target's own pods — the 90th percentile of creation to Ready over its
    /// newest pods, read through the `/scale` selector — and uses `leadTime` until
    /// enough new pods were seen (5) or when pods cannot be read. `Auto` needs `list` on
    /// pods (the chart's `rbac.readPods`). `status.leadTime` shows the value in use.
    #[serde(default)]
    pub lead_time_mode: LeadTimeMode,

    /// How far beyond the lead time a lower replica count must be forecast to suffice before
    /// pods are removed: the flap guard of scale-down, which with a reliable forecast does
    /// not wait out HPA's stabilization window. Longer means fewer scale actions and more
    /// pod-hours; the forecast peak reported in status covers it too. Default `15m`; must
    /// be > 0; typically 5m–1h.
    #[serde(default = "default_horizon")]
    pub horizon: Duration,

    /// Training window of history read from Prometheus. Default `14d`, enough to learn a
    /// weekly rhythm; must be at least twice the longest seasonality; typically 2d–28d.
    #[serde(default = "default_history")]
    pub history: Duration,

    /// Resolution of the history and the forecast. Default `1m`; typically 30s–5m.
    #[serde(default = "default_step")]
    pub step: Duration,

    /// Season lengths of the traffic, e.g. `["1d", "7d"]`. Empty (default) means detect
    /// them from history among plausible periods (1h to 7d). At most four.
    #[serde(default)]
    #[schemars(length(max = 4))]
    pub seasonality: Vec<Duration>,

    /// Provision for this quantile of the forecast at each step ahead: 0.5 plans for the
    /// median, 0.9 (default) for a load the forecast expects to exceed one step in ten.
    /// Strictly between 0 and 1; typically 0.8–0.95.
    #[serde(default = "default_quantile")]
    pub quantile: f64,

    /// Extra capacity on top of the forecast, in percent (10 means 10% more replicas'
    /// worth of load). Default 0; 0–100 is typical, at most 1000.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub headroom: i32,

    /// Least history needed before forecasts are used; with less, scaling is reactive only
    /// and the ForecastReliable condition says so. Default `1d`; at most `history`.
    #[serde(default = "default_min_history")]
    pub min_history: Duration,
}

fn default_lead_time() -> Duration {
    Duration::new("2m")
}
fn default_horizon() -> Duration {
    Duration::new("15m")
}
fn default_history() -> Duration {
    Duration::new("14d")
}
fn default_step() -> Duration {
    Duration::new("1m")
}
fn default_quantile() -> f64 {
    0.9
}
fn default_min_history() -> Duration {
    Duration::new("1d")
}

impl Default for ForecastSpec {
    fn default() -> Self {
        Self {
            model: Model::default(),
            lead_time: default_lead_time(),
            lead_time_mode: LeadTimeMode::default(),
            horizon: default_horizon(),
            history: default_history(),
            step: default_step(),
            seasonality: Vec::new(),
            quantile: default_quantile(),
            headroom: 0,
            min_history: default_min_history(),
        }
    }
}

/// Scale-up and scale-down rules, as in HPA v2's `behavior`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Behavior {
    /// Rules for scaling up. Default: no stabilization; at most max(100%, 4 pods) per 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingRules>,
    /// Rules for scaling down. Default: 300s stabilization; at most 100% per 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingRules>,
}

/// Rate limits and stabilization for one direction.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// Seconds of past recommendations to consider: scale-down uses the highest of them,
    /// scale-up the lowest, which damps flapping. 0–3600. Default 0 for scale-up, 300 for
    /// scale-down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub stabilization_window_seconds: Option<i32>,
    /// Which policy wins when several allow different changes: `Max` (default), `Min`, or
    /// `Disabled` (never scale in this direction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Limits on how fast replicas change, one to ten. Left out: HPA's default policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10))]
    pub policies: Option<Vec<RatePolicy>>,
}

/// How policies combine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SelectPolicy {
    /// The policy allowing the largest change wins.
    #[default]
    Max,
    /// The policy allowing the smallest change wins.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One limit on how fast replicas change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RatePolicy {
    /// `Pods` (an absolute number of pods) or `Percent` (of the current replicas).
    #[serde(rename = "type")]
    pub kind: RatePolicyType,
    /// The amount of change allowed per period: pods, or percent. Must be > 0.
    #[schemars(range(min = 1))]
    pub value: i32,
    /// The window the limit applies over, in seconds: 1–1800.
    #[schemars(range(min = 1, max = 1800))]
    pub period_seconds: i32,
}

/// The unit of a rate policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RatePolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of the current replicas.
    Percent,
}

/// One recurring (or one-off) window of scheduled capacity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::schedule)]
pub struct ScheduleSpec {
    /// A name for status and Events, e.g. `black-friday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// When each window starts, as a five-field cron expression (minute hour day-of-month
    /// month day-of-week) in `timeZone`, e.g. `0 9 * * 1-5` for 09:00 on weekdays or
    /// `30 19 24 11 *` for 19:30 on 24 November.
    #[schemars(length(min = 1, max = 128))]
    pub start: String,
    /// The IANA time zone `start` is read in, e.g. `Europe/Berlin`. Default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// How long each window lasts, e.g. `2h`. At most `7d`.
    pub duration: Duration,
    /// Hold at least this many replicas (within maxReplicas). Set this or `loadFactor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Expect this many times the load: replicas are at least this factor times what the
    /// load and forecast ask for, e.g. `3` for a launch three times the usual traffic.
    /// Between 1 and 100. Set this or `minReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_factor: Option<f64>,
}

/// What to do when metrics cannot be read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::fallback)]
pub struct Fallback {
    /// `HoldCurrent` (default: keep the current replicas) or `Replicas` (scale up to
    /// `replicas` if below it; never down).
    #[serde(rename = "type", default)]
    pub kind: FallbackType,
    /// With `type: Replicas`: the floor to hold while metrics are missing, within
    /// minReplicas..maxReplicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Fallback strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FallbackType {
    /// Keep the current replica count.
    #[default]
    HoldCurrent,
    /// Hold at least a fixed replica count.
    Replicas,
}

/// A per-policy Prometheus.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusOverride {
    /// Base URL of a Prometheus-compatible API, e.g. `http://prometheus.monitoring:9090`.
    #[schemars(regex(pattern = r"^https?://"))]
    pub address: String,
    /// A Secret in the policy's namespace holding credentials: key `token` is sent as a
    /// bearer token; keys `username` and `password` as basic auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret_ref: Option<SecretRef>,
}

/// A reference to a Secret in the policy's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
}
