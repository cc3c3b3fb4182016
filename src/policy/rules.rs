//! CEL validation rules the CRD carries (`x-kubernetes-validations`), attached to the
//! generated schema of each type. The API server enforces them on create and update; the
//! same conditions are checked in code by [`super::validate`] for files that never reach an
//! API server (`prescaler simulate --policy`).

use schemars::Schema;
use serde_json::json;

use super::duration::cel_seconds;

fn add(schema: &mut Schema, rules: &[(&str, &str)]) {
    let list: Vec<_> = rules
        .iter()
        .map(|(rule, message)| json!({ "rule": rule, "message": message }))
        .collect();
    schema.insert("x-kubernetes-validations".into(), list.into());
}

/// Rules on `spec`.
pub fn spec(schema: &mut Schema) {
    // A metric's name as the operator uses it: `name`, else its type in lower case.
    let name = |m: &str| {
        format!(
            "(has({m}.name) ? {m}.name : ({m}.type == 'RequestRate' ? 'requestrate' : {m}.type == 'CPU' ? 'cpu' : {m}.type == 'Memory' ? 'memory' : 'promql'))"
        )
    };
    let unique = format!(
        "self.metrics.all(m, self.metrics.filter(n, {} == {}).size() == 1)",
        name("n"),
        name("m")
    );
    add(
        schema,
        &[
            (
                &unique,
                "metric names must be unique (a metric without a name is named after its type); set spec.metrics[].name",
            ),
            (
                "self.minReplicas <= self.maxReplicas",
                "minReplicas must be <= maxReplicas",
            ),
            ("size(self.metrics) > 0", "at least one metric is required"),
            (
                "!has(self.fallback) || !has(self.fallback.replicas) || (self.fallback.replicas >= self.minReplicas && self.fallback.replicas <= self.maxReplicas)",
                "fallback.replicas must be between minReplicas and maxReplicas",
            ),
            (
                "!has(self.schedules) || self.schedules.all(s, !has(s.minReplicas) || s.minReplicas <= self.maxReplicas)",
                "schedules[].minReplicas must be <= maxReplicas",
            ),
        ],
    );
}

/// Rules on each entry of `spec.metrics`.
pub fn metric(schema: &mut Schema) {
    add(
        schema,
        &[(
            "(self.type == 'RequestRate') == has(self.requestRate) && (self.type == 'CPU') == has(self.cpu) && (self.type == 'Memory') == has(self.memory) && (self.type == 'PromQL') == has(self.promql)",
            "a metric must carry exactly the block its type names: requestRate for RequestRate, cpu for CPU, memory for Memory, promql for PromQL",
        )],
    );
}

/// Rules on each entry of `spec.schedules` (the cron expression and the time zone are
/// checked by the operator: CEL cannot parse them).
pub fn schedule(schema: &mut Schema) {
    add(
        schema,
        &[
            (
                "has(self.minReplicas) != has(self.loadFactor)",
                "a schedule sets exactly one of minReplicas (a floor) and loadFactor (expected load, e.g. 3 for three times the usual)",
            ),
            (
                "!has(self.minReplicas) || self.minReplicas >= 1",
                "schedules[].minReplicas must be >= 1",
            ),
            (
                "!has(self.loadFactor) || (self.loadFactor >= 1.0 && self.loadFactor <= 100.0)",
                "schedules[].loadFactor must be between 1 and 100",
            ),
        ],
    );
}

/// Rules on `requestRate` and `promql` blocks.
pub fn positive_target(schema: &mut Schema) {
    add(
        schema,
        &[(
            "self.targetPerReplica > 0.0",
            "targetPerReplica must be > 0",
        )],
    );
}

/// Rules on `cpu` blocks.
pub fn cpu(schema: &mut Schema) {
    add(
        schema,
        &[
            (
                "has(self.targetUtilization) != has(self.targetPerReplica)",
                "set exactly one of targetUtilization and targetPerReplica",
            ),
            (
                "!has(self.targetUtilization) || self.targetUtilization > 0",
                "targetUtilization must be > 0",
            ),
            (
                "!has(self.targetPerReplica) || quantity(self.targetPerReplica).isGreaterThan(quantity('0'))",
                "targetPerReplica must be > 0",
            ),
        ],
    );
}

/// Rules on `memory` blocks.
pub fn memory(schema: &mut Schema) {
    add(
        schema,
        &[(
            "quantity(self.targetAverageValue).isGreaterThan(quantity('0'))",
            "targetAverageValue must be > 0",
        )],
    );
}

/// Rules on `spec.forecast`.
pub fn forecast(schema: &mut Schema) {
    let lead = format!("{} > 0", cel_seconds("self.leadTime"));
    let horizon = format!("{} > 0", cel_seconds("self.horizon"));
    let step = format!("{} > 0", cel_seconds("self.step"));
    let seasons = format!(
        "self.seasonality.all(p, {} >= 2 * {})",
        cel_seconds("self.history"),
        cel_seconds("p")
    );
    let min_history = format!(
        "{} <= {}",
        cel_seconds("self.minHistory"),
        cel_seconds("self.history")
    );
    let lead_bound = format!(
        "{} <= {}",
        cel_seconds("self.leadTime"),
        super::validate::MAX_LEAD_TIME_S
    );
    let horizon_bound = format!(
        "{} <= {}",
        cel_seconds("self.horizon"),
        super::validate::MAX_HORIZON_S
    );
    add(
        schema,
        &[
            (
                "self.quantile > 0.0 && self.quantile < 1.0",
                "quantile must be strictly between 0 and 1",
            ),
            (&lead, "leadTime must be > 0"),
            (&horizon, "horizon must be > 0"),
            (&step, "step must be > 0"),
            (
                &seasons,
                "history must be at least twice the longest seasonality",
            ),
            (&min_history, "minHistory must be <= history"),
            (&lead_bound, "leadTime must be at most 1h"),
            (&horizon_bound, "horizon must be at most 1d"),
        ],
    );
}

/// Rules on `spec.fallback`.
pub fn fallback(schema: &mut Schema) {
    add(
        schema,
        &[(
            "self.type == 'Replicas' ? has(self.replicas) : !has(self.replicas)",
            "replicas is required with type Replicas and not allowed with HoldCurrent",
        )],
    );
}
