//! The `ScalingPolicy` status: what prescaler tells users, and its memory across restarts.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types prescaler sets on a ScalingPolicy.
pub mod condition {
    /// The policy is valid and its target was found; prescaler is acting on it.
    pub const READY: &str = "Ready";
    /// prescaler computes replicas for the target (false when refusing to fight another autoscaler).
    pub const SCALING_ACTIVE: &str = "ScalingActive";
    /// The decision was cut by minReplicas, maxReplicas or a behavior policy.
    pub const SCALING_LIMITED: &str = "ScalingLimited";
    /// Every metric could be read from Prometheus.
    pub const METRICS_AVAILABLE: &str = "MetricsAvailable";
    /// The forecast is used: enough history, a working model, and recent backtest error below threshold.
    pub const FORECAST_RELIABLE: &str = "ForecastReliable";
    /// Every type above.
    pub const ALL: [&str; 5] = [
        READY,
        SCALING_ACTIVE,
        SCALING_LIMITED,
        METRICS_AVAILABLE,
        FORECAST_RELIABLE,
    ];
}

/// The reasons prescaler itself gives on its conditions. Reasons that name a failure come
/// from the failure (a metric, target or forecast error's `reason()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionReason {
    /// Ready=False: the spec breaks a rule; the message names the field.
    InvalidSpec,
    /// Ready=True: the policy was reconciled.
    Reconciled,
    /// ScalingActive=True in Auto mode.
    Scaling,
    /// ScalingActive=True in HPAFloor mode.
    HpaFloor,
    /// ScalingActive=False in ForecastOnly mode.
    ForecastOnly,
    /// ScalingActive=False: another HPA scales the target (or several in HPAFloor mode).
    AutoscalerConflict,
    /// ScalingActive=False: HPAFloor mode without an HPA.
    HpaNotFound,
    /// ScalingActive=False: an older ScalingPolicy scales the same target.
    PolicyConflict,
    /// ScalingLimited=False.
    DesiredWithinRange,
    /// ScalingLimited=True: cut to maxReplicas.
    TooManyReplicas,
    /// ScalingLimited=True: raised to minReplicas.
    TooFewReplicas,
    /// ScalingLimited=True: a scale-up policy.
    ScaleUpLimit,
    /// ScalingLimited=True: a scale-down policy.
    ScaleDownLimit,
    /// ScalingLimited=True: a stabilization window.
    Stabilizing,
    /// MetricsAvailable=True.
    MetricsRead,
    /// ForecastReliable=True.
    ForecastUsed,
    /// ForecastReliable=False: no metric could be forecast.
    NoForecast,
    /// Ready=False: the Secret of `spec.prometheus.authSecretRef` is missing or incomplete.
    PrometheusAuthSecret,
    /// MetricsAvailable=False: the newest sample is too old to act on.
    StaleData,
    /// ScalingActive=False: an annotation pauses the policy or holds its replicas.
    Paused,
    /// ScalingActive=False: a pause annotation's value cannot be read (treated as paused).
    InvalidAnnotation,
    /// Ready=False: every metric is unavailable and spec.fallback holds the replicas.
    FallbackActive,
    /// ScalingActive=False: the target has 0 replicas, which (as for an HPA) turns
    /// autoscaling off until someone scales it up.
    ScalingDisabled,
}

impl ConditionReason {
    /// The CamelCase word in status.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionReason::InvalidSpec => "InvalidSpec",
            ConditionReason::Reconciled => "Reconciled",
            ConditionReason::Scaling => "Scaling",
            ConditionReason::HpaFloor => "HPAFloor",
            ConditionReason::ForecastOnly => "ForecastOnly",
            ConditionReason::AutoscalerConflict => "AutoscalerConflict",
            ConditionReason::HpaNotFound => "HPANotFound",
            ConditionReason::PolicyConflict => "PolicyConflict",
            ConditionReason::DesiredWithinRange => "DesiredWithinRange",
            ConditionReason::TooManyReplicas => "TooManyReplicas",
            ConditionReason::TooFewReplicas => "TooFewReplicas",
            ConditionReason::ScaleUpLimit => "ScaleUpLimit",
            ConditionReason::ScaleDownLimit => "ScaleDownLimit",
            ConditionReason::Stabilizing => "Stabilizing",
            ConditionReason::MetricsRead => "MetricsRead",
            ConditionReason::ForecastUsed => "ForecastUsed",
            ConditionReason::NoForecast => "NoForecast",
            ConditionReason::PrometheusAuthSecret => "PrometheusAuthSecret",
            ConditionReason::StaleData => "StaleData",
            ConditionReason::Paused => "Paused",
            ConditionReason::InvalidAnnotation => "InvalidAnnotation",
            ConditionReason::ScalingDisabled => "ScalingDisabled",
            ConditionReason::FallbackActive => "FallbackActive",
        }
    }
}

impl std::fmt::Display for ConditionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of a ScalingPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicyStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Replicas the target had when last observed (its `/scale` `spec.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,

    /// Replicas prescaler decided on: max(reactive, predicted), within bounds and behavior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,

    /// Replicas the HPA algorithm asks for on current metrics alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactive_replicas: Option<i32>,

    /// Replicas the forecast asks for over the lead window; absent when no forecast is reliable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_replicas: Option<i32>,

    /// The forecast model in use (per metric in `metrics`; comma-separated here when they differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,

    /// Each metric's average per replica against its target, as `kubectl get hpa` shows
    /// TARGETS: `310/80`, or `http: 310/80, cpu: 45%/70%` with several metrics;
    /// `<unknown>` for a metric that could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<String>,

    /// Why the replicas are what they are: `ForecastAhead`, `CurrentLoad`, `ReactiveOnly`,
    /// `NoSkill` (a forecast without skill, so reactive), `MetricsUnavailableHold` /
    /// `MetricsUnavailableFloor` (spec.fallback), or why nothing is written (`Paused`,
    /// `ScalingDisabled`, `AutoscalerConflict`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// The metric whose replicas decided (the highest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,

    /// The deciding metric's forecast peak and when, e.g. `412 at 14:05Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast_peak: Option<String>,

    /// Per-metric forecast summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub metrics: Vec<MetricStatus>,

    /// The lead time the plan uses and where it comes from (see
    /// `spec.forecast.leadTimeMode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_time: Option<LeadTimeStatus>,

    /// In ForecastOnly mode: the last 24 hours of what the plan would have changed against
    /// the replicas the target really had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_have: Option<WouldHave>,

    /// In ForecastOnly mode, when the last WouldScaleUp / WouldScaleDown Event was
    /// published (at most one per five minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_would_scale_time: Option<Time>,

    /// When prescaler last changed the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,

    /// Recent replica recommendations, newest last, kept as long as the longest stabilization
    /// window needs them so a restarted or failed-over operator keeps its stabilization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub recommendations: Vec<Recommendation>,

    /// Recent replica changes prescaler made, newest last, kept as long as the behavior
    /// policies' periods need them so rate limits hold across restarts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub scale_events: Vec<ScaleEvent>,

    /// Ready, ScalingActive, ScalingLimited, MetricsAvailable and ForecastReliable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// What the forecast says about one metric.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// The metric's name (see `spec.metrics[].name`).
    pub name: String,
    /// The latest observed value for the whole workload, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<f64>,
    /// The unit of `current` and `expectedPeak`: `req/s`, `cores` or `bytes`; absent for
    /// `PromQL` (the query's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The target per replica as the spec gives it: `80`, `70%` (of CPU requests),
    /// `500m`, `512Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The current average per replica in the same form as `target` (`310`, `45%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<String>,
    /// Replicas this metric asks for on its current value (the HPA algorithm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactive_replicas: Option<i32>,
    /// Replicas this metric's forecast asks for over the planning window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_replicas: Option<i32>,
    /// The model that produced the forecast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The highest value of the provisioned quantile over the planning window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_peak: Option<f64>,
    /// When that peak is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_peak_time: Option<Time>,
    /// Recent backtest error of the model (MASE: below 1 beats repeating the last season).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtest_error: Option<f64>,
    /// The model choice behind the forecast (the model, its seasons and its calibrated
    /// bands), kept so that a new leader takes it up without a backtest. Versioned text that
    /// only prescaler reads; written when the choice changes (every 12 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub choice: Option<String>,
}

/// The lead time in use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeadTimeStatus {
    /// The lead time the plan uses, e.g. `47s`.
    pub value: String,
    /// Where it comes from: `Spec` (`spec.forecast.leadTime`) or `Pods` (learned from the
    /// target's new pods).
    pub source: String,
    /// New pods whose creation-to-Ready time was measured at the last look.
    #[serde(default)]
    pub pods_measured: i32,
    /// The measured 90th percentile of creation to Ready, in seconds, when any pod was
    /// measured (also while too few were to use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_seconds: Option<i64>,
    /// Why this value: what was measured, or why pods could not be read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// ForecastOnly's record over the last 24 hours: the plan's replicas against the ones the
/// target had (set by someone else: an HPA, a person).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WouldHave {
    /// Pod-hours the plan would have run above the target's replicas.
    pub pod_hours_added: f64,
    /// Pod-hours the plan would have run below them.
    pub pod_hours_saved: f64,
    /// Minutes the target had fewer replicas than current load asked for.
    pub minutes_short: f64,
    /// Of those, the minutes the plan would have had enough.
    pub minutes_short_avoided: f64,
    /// When the record was last added to.
    pub last: Time,
    /// Per hour, newest last (at most 25): what the totals above sum.
    #[schemars(length(max = 25))]
    pub hours: Vec<WouldHaveHour>,
}

/// One hour of [`WouldHave`], in seconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WouldHaveHour {
    /// Unix seconds of the hour's start.
    pub hour: i64,
    /// Replica-seconds above the target's.
    pub added: f64,
    /// Replica-seconds below.
    pub saved: f64,
    /// Seconds short of load.
    pub short: f64,
    /// Seconds short that the plan would have covered.
    pub avoided: f64,
}

/// One past decision, kept for stabilization.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// When the recommendation was made.
    pub time: Time,
    /// The replicas recommended before behavior limits.
    pub replicas: i32,
}

/// One past change of the replica count, kept for the behavior policies' rate limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleEvent {
    /// When the change was made.
    pub time: Time,
    /// Pods added (positive) or removed (negative).
    pub change: i32,
}
