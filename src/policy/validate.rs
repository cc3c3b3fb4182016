//! In-code validation of a `ScalingPolicySpec`: every problem at once, each naming the field
//! path and what to write instead. It repeats the schema and CEL checks (a policy file given
//! to `simulate` never passes an API server, and an API server may run an older CRD) and adds
//! the ones CEL cannot express well.

use std::collections::HashMap;
use std::fmt;

use super::duration::Duration;
use super::quantity::Quantity;
use super::spec::{
    Behavior, FallbackType, MetricSpec, MetricType, QueryTarget, ScalingPolicySpec, ScalingRules,
};

/// Most metrics a policy may list.
pub const MAX_METRICS: usize = 8;
/// Most seasonalities a policy may list.
pub const MAX_SEASONALITIES: usize = 4;

/// One problem with a spec: the field's path and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the offending field, e.g. `spec.metrics[1].requestRate.targetPerReplica`.
    pub path: String,
    /// What is wrong and how to fix it, e.g. `must be > 0 (got -5)`.
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.problem)
    }
}

/// Every problem found in a spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<FieldError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

impl SpecErrors {
    /// The first problem, for short summaries (condition reasons, Event titles).
    pub fn first(&self) -> Option<&FieldError> {
        self.0.first()
    }
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn push(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            problem: problem.into(),
        });
    }

    fn non_empty(&mut self, path: &str, value: &str, example: &str) {
        if value.trim().is_empty() {
            self.push(path, format!("must not be empty; e.g. {example}"));
        }
    }

    fn positive(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.push(path, format!("must be > 0 (got {value})"));
        }
    }

    fn within(&mut self, path: &str, value: i32, min: i32, max: i32, unit: &str) {
        if value < min || value > max {
            self.push(
                path,
                format!("must be between {min} and {max}{unit} (got {value})"),
            );
        }
    }

    /// Seconds of a duration field, or `None` after recording why it is unreadable.
    fn seconds(&mut self, path: &str, value: &Duration) -> Option<u64> {
        match value.seconds() {
            Ok(s) => Some(s),
            Err(_) => {
                self.push(
                    path,
                    format!(
                        "is not a duration (got {:?}); write a whole number and one unit of s, m, h or d, e.g. \"90s\", \"5m\", \"7d\"",
                        value.as_str()
                    ),
                );
                None
            }
        }
    }

    /// Seconds of a duration that must be positive, or `None` after recording why not (so
    /// that checks comparing it with other fields do not pile on).
    fn positive_seconds(&mut self, path: &str, value: &Duration) -> Option<u64> {
        let seconds = self.seconds(path, value)?;
        if seconds == 0 {
            self.push(path, format!("must be > 0 (got {value})"));
            return None;
        }
        Some(seconds)
    }

    fn positive_quantity(&mut self, path: &str, value: &Quantity, example: &str) {
        match value.value() {
            Ok(v) if v > 0.0 => {}
            Ok(_) => self.push(path, format!("must be > 0 (got {value})")),
            Err(_) => self.push(
                path,
                format!(
                    "is not a Kubernetes quantity (got {:?}); write e.g. {example}",
                    value.as_str()
                ),
            ),
        }
    }
}

/// Checks a spec and returns every problem found, or `Ok(())`.
pub fn validate(spec: &ScalingPolicySpec) -> Result<(), SpecErrors> {
    let mut p = Problems::default();

    p.non_empty(
        "spec.targetRef.apiVersion",
        &spec.target_ref.api_version,
        "apps/v1",
    );
    p.non_empty("spec.targetRef.kind", &spec.target_ref.kind, "Deployment");
    p.non_empty(
        "spec.targetRef.name",
        &spec.target_ref.name,
        "the Deployment's name",
    );

    if spec.min_replicas < 1 {
        p.push(
            "spec.minReplicas",
            format!("must be >= 1 (got {})", spec.min_replicas),
        );
    }
    if spec.max_replicas < 1 {
        p.push(
            "spec.maxReplicas",
            format!("must be >= 1 (got {})", spec.max_replicas),
        );
    } else if spec.min_replicas > spec.max_replicas {
        p.push(
            "spec.minReplicas",
            format!(
                "must be <= spec.maxReplicas (got {} > {}); lower minReplicas or raise maxReplicas",
                spec.min_replicas, spec.max_replicas
            ),
        );
    }

    check_metrics(&mut p, &spec.metrics);
    check_forecast(&mut p, spec);
    if let Some(behavior) = &spec.behavior {
        check_behavior(&mut p, behavior);
    }
    check_fallback(&mut p, spec);
    check_schedules(&mut p, spec);

    if let Some(period) = &spec.sync_period {
        p.positive_seconds("spec.syncPeriod", period);
    }
    if let Some(prometheus) = &spec.prometheus {
        let address = &prometheus.address;
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            p.push(
                "spec.prometheus.address",
                format!("must be an http:// or https:// URL (got {address:?}); e.g. http://prometheus.monitoring:9090"),
            );
        } else if address
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .is_some_and(|authority| authority.contains('@'))
        {
            // The address is shown in status and logs; a password in it would be too.
            p.push(
                "spec.prometheus.address",
                "must not hold credentials (user:password@); put them in a Secret and name it in spec.prometheus.authSecretRef",
            );
        }
        if let Some(secret) = &prometheus.auth_secret_ref {
            p.non_empty(
                "spec.prometheus.authSecretRef.name",
                &secret.name,
                "prometheus-auth",
            );
        }
    }

    if p.0.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(p.0))
    }
}

fn check_metrics(p: &mut Problems, metrics: &[MetricSpec]) {
    if metrics.is_empty() {
        p.push(
            "spec.metrics",
            "must list at least one metric; e.g. a RequestRate metric with a query and targetPerReplica",
        );
    }
    if metrics.len() > MAX_METRICS {
        p.push(
            "spec.metrics",
            format!(
                "must list at most {MAX_METRICS} metrics (got {})",
                metrics.len()
            ),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, metric) in metrics.iter().enumerate() {
        let path = format!("spec.metrics[{i}]");
        check_metric(p, &path, metric);
        let name = metric.effective_name();
        if let Some(first) = names.get(name) {
            p.push(
                format!("{path}.name"),
                format!("{name:?} is already used by spec.metrics[{first}]; give each metric a unique name"),
            );
        } else {
            names.insert(name, i);
        }
    }
}

fn check_metric(p: &mut Problems, path: &str, metric: &MetricSpec) {
    if let Some(name) = &metric.name {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            p.push(
                format!("{path}.name"),
                format!("must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit (got {name:?})"),
            );
        }
    }
    let kind = metric.kind;
    let blocks = [
        (MetricType::RequestRate, metric.request_rate.is_some()),
        (MetricType::Cpu, metric.cpu.is_some()),
        (MetricType::Memory, metric.memory.is_some()),
        (MetricType::PromQl, metric.promql.is_some()),
    ];
    for (block_type, present) in blocks {
        let block_path = format!("{path}.{}", block_type.block());
        if block_type == kind && !present {
            p.push(
                block_path,
                format!("is required when type is {}", kind.as_str()),
            );
        } else if block_type != kind && present {
            p.push(
                block_path,
                format!(
                    "must not be set when type is {}; remove it or change type to {}",
                    kind.as_str(),
                    block_type.as_str()
                ),
            );
        }
    }
    if let (MetricType::RequestRate, Some(target)) = (kind, &metric.request_rate) {
        check_query(p, &format!("{path}.requestRate"), target);
    }
    if let (MetricType::PromQl, Some(target)) = (kind, &metric.promql) {
        check_query(p, &format!("{path}.promql"), target);
    }
    if let (MetricType::Cpu, Some(cpu)) = (kind, &metric.cpu) {
        let cpu_path = format!("{path}.cpu");
        match (cpu.target_utilization, &cpu.target_per_replica) {
            (Some(_), Some(_)) | (None, None) => p.push(
                &cpu_path,
                "must set exactly one of targetUtilization (percent of requests, e.g. 70) and targetPerReplica (cores, e.g. \"500m\")",
            ),
            (Some(utilization), None) if utilization <= 0 => p.push(
                format!("{cpu_path}.targetUtilization"),
                format!("must be > 0 (got {utilization})"),
            ),
            (None, Some(cores)) => {
                p.positive_quantity(&format!("{cpu_path}.targetPerReplica"), cores, "\"500m\" or \"1.5\"")
            }
            _ => {}
        }
        if let Some(query) = &cpu.query {
            p.non_empty(
                &format!("{cpu_path}.query"),
                query,
                "sum(rate(container_cpu_usage_seconds_total{namespace=\"shop\", pod=~\"web-.*\"}[2m]))",
            );
        }
    }
    if let (MetricType::Memory, Some(memory)) = (kind, &metric.memory) {
        p.positive_quantity(
            &format!("{path}.memory.targetAverageValue"),
            &memory.target_average_value,
            "\"512Mi\" or \"2Gi\"",
        );
        if let Some(query) = &memory.query {
            p.non_empty(
                &format!("{path}.memory.query"),
                query,
                "sum(container_memory_working_set_bytes{namespace=\"shop\", pod=~\"web-.*\", container!=\"\"})",
            );
        }
    }
}

fn check_query(p: &mut Problems, path: &str, target: &QueryTarget) {
    p.non_empty(
        &format!("{path}.query"),
        &target.query,
        "sum(rate(http_requests_total{job=\"web\"}[2m]))",
    );
    p.positive(
        &format!("{path}.targetPerReplica"),
        target.target_per_replica,
    );
}

/// Longest `spec.forecast.leadTime`, seconds: pods that take longer than an hour to become
/// Ready are planned for, not autoscaled.
pub const MAX_LEAD_TIME_S: u64 = 3_600;

/// Longest `spec.forecast.horizon`, seconds: the forecast is computed and backtested over it
/// every cycle, and a day already holds any scale-down.
pub const MAX_HORIZON_S: u64 = 86_400;

fn check_forecast(p: &mut Problems, spec: &ScalingPolicySpec) {
    let f = &spec.forecast;
    if let Some(lead) = p.positive_seconds("spec.forecast.leadTime", &f.lead_time)
        && lead > MAX_LEAD_TIME_S
    {
        p.push(
            "spec.forecast.leadTime",
            format!(
                "must be at most 1h (got {}); set it to the time a new pod takes to become Ready",
                f.lead_time
            ),
        );
    }
    let horizon = p.positive_seconds("spec.forecast.horizon", &f.horizon);
    if let Some(h) = horizon
        && h > MAX_HORIZON_S
    {
        p.push(
            "spec.forecast.horizon",
            format!("must be at most 1d (got {}); 15m–1h is usual", f.horizon),
        );
    }
    let step = p.positive_seconds("spec.forecast.step", &f.step);
    let history = p.positive_seconds("spec.forecast.history", &f.history);
    let min_history = p.seconds("spec.forecast.minHistory", &f.min_history);

    if let (Some(step), Some(horizon)) = (step, horizon)
        && step > horizon
    {
        p.push(
            "spec.forecast.step",
            format!(
                "must be <= spec.forecast.horizon (got {} > {})",
                f.step, f.horizon
            ),
        );
    }
    if let (Some(min_history), Some(history)) = (min_history, history)
        && min_history > history
    {
        p.push(
            "spec.forecast.minHistory",
            format!(
                "must be <= spec.forecast.history (got {} > {})",
                f.min_history, f.history
            ),
        );
    }

    if f.seasonality.len() > MAX_SEASONALITIES {
        p.push(
            "spec.forecast.seasonality",
            format!(
                "must list at most {MAX_SEASONALITIES} periods (got {})",
                f.seasonality.len()
            ),
        );
    }
    let mut longest: Option<(u64, &Duration)> = None;
    for (i, period) in f.seasonality.iter().enumerate() {
        if let Some(seconds) =
            p.positive_seconds(&format!("spec.forecast.seasonality[{i}]"), period)
            && longest.is_none_or(|(s, _)| seconds > s)
        {
            longest = Some((seconds, period));
        }
    }
    if let (Some((season, period)), Some(history)) = (longest, history)
        && history < 2 * season
    {
        p.push(
            "spec.forecast.history",
            format!(
                "must be at least twice the longest seasonality (got {} < 2 × {period}); raise history to {} or drop that season",
                f.history,
                Duration::from_seconds(2 * season)
            ),
        );
    }

    if !(f.quantile > 0.0 && f.quantile < 1.0) {
        p.push(
            "spec.forecast.quantile",
            format!(
                "must be strictly between 0 and 1 (got {}); 0.9 is a good start",
                f.quantile
            ),
        );
    }
    p.within("spec.forecast.headroom", f.headroom, 0, 1000, " percent");
}

fn check_behavior(p: &mut Problems, behavior: &Behavior) {
    for (direction, rules) in [
        ("scaleUp", &behavior.scale_up),
        ("scaleDown", &behavior.scale_down),
    ] {
        if let Some(rules) = rules {
            check_rules(p, &format!("spec.behavior.{direction}"), rules);
        }
    }
}

fn check_rules(p: &mut Problems, path: &str, rules: &ScalingRules) {
    if let Some(window) = rules.stabilization_window_seconds {
        p.within(
            &format!("{path}.stabilizationWindowSeconds"),
            window,
            0,
            3600,
            " seconds",
        );
    }
    let Some(policies) = &rules.policies else {
        return;
    };
    if policies.is_empty() {
        p.push(
            format!("{path}.policies"),
            "must list at least one policy, or be left out to use HPA's defaults",
        );
    }
    if policies.len() > 10 {
        p.push(
            format!("{path}.policies"),
            format!("must list at most 10 policies (got {})", policies.len()),
        );
    }
    for (i, policy) in policies.iter().enumerate() {
        let policy_path = format!("{path}.policies[{i}]");
        if policy.value <= 0 {
            p.push(
                format!("{policy_path}.value"),
                format!("must be > 0 (got {})", policy.value),
            );
        }
        p.within(
            &format!("{policy_path}.periodSeconds"),
            policy.period_seconds,
            1,
            1800,
            " seconds",
        );
    }
}

fn check_schedules(p: &mut Problems, spec: &ScalingPolicySpec) {
    if spec.schedules.len() > 16 {
        p.push(
            "spec.schedules",
            format!("at most 16 schedules (got {})", spec.schedules.len()),
        );
    }
    for (i, s) in spec.schedules.iter().enumerate() {
        match crate::plan::schedule::Schedule::parse(s, i) {
            Err(e) => p.push(format!("spec.schedules[{i}].{}", e.field), e.message),
            Ok(_) => {
                if let Some(n) = s.min_replicas
                    && n > spec.max_replicas
                {
                    p.push(
                        format!("spec.schedules[{i}].minReplicas"),
                        format!(
                            "must be <= spec.maxReplicas ({}), got {n}; raise maxReplicas for the event too",
                            spec.max_replicas
                        ),
                    );
                }
            }
        }
    }
}

fn check_fallback(p: &mut Problems, spec: &ScalingPolicySpec) {
    let fallback = &spec.fallback;
    match (fallback.kind, fallback.replicas) {
        (FallbackType::Replicas, None) => p.push(
            "spec.fallback.replicas",
            "is required when type is Replicas; set the replica floor to hold while metrics are missing",
        ),
        (FallbackType::HoldCurrent, Some(_)) => p.push(
            "spec.fallback.replicas",
            "must not be set when type is HoldCurrent; remove it or set type: Replicas",
        ),
        (FallbackType::Replicas, Some(n)) if n < spec.min_replicas || n > spec.max_replicas => p.push(
            "spec.fallback.replicas",
            format!(
                "must be between spec.minReplicas and spec.maxReplicas ({}..{}) (got {n})",
                spec.min_replicas, spec.max_replicas
            ),
        ),
        _ => {}
    }
}
