//! Builder-style ScalingPolicy fixtures: `Policy::test().with_min(2)`.

use prescaler::policy::{
    CpuTarget, Duration, MemoryTarget, MetricSpec, MetricType, Quantity, QueryTarget,
    ScalingPolicy, ScalingPolicySpec, TargetRef,
};
use serde_json::{Value, json};

/// A valid policy to start from, changed one field at a time by a test.
pub struct Policy(pub ScalingPolicySpec);

impl Policy {
    /// A web Deployment scaled on request rate between 1 and 10 replicas, all else default.
    pub fn test() -> Self {
        Self(ScalingPolicySpec {
            target_ref: TargetRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
            },
            min_replicas: 1,
            max_replicas: 10,
            mode: Default::default(),
            metrics: vec![request_rate(50.0)],
            forecast: Default::default(),
            behavior: None,
            fallback: Default::default(),
            schedules: Vec::new(),
            sync_period: None,
            prometheus: None,
        })
    }

    pub fn with_min(mut self, n: i32) -> Self {
        self.0.min_replicas = n;
        self
    }

    pub fn with_max(mut self, n: i32) -> Self {
        self.0.max_replicas = n;
        self
    }

    pub fn with_metrics(mut self, metrics: Vec<MetricSpec>) -> Self {
        self.0.metrics = metrics;
        self
    }

    pub fn with_history(mut self, history: &str) -> Self {
        self.0.forecast.history = Duration::new(history);
        self
    }

    pub fn with_seasonality(mut self, periods: &[&str]) -> Self {
        self.0.forecast.seasonality = periods.iter().map(|p| Duration::new(*p)).collect();
        self
    }

    /// Any other change.
    pub fn edit(mut self, change: impl FnOnce(&mut ScalingPolicySpec)) -> Self {
        change(&mut self.0);
        self
    }

    pub fn spec(self) -> ScalingPolicySpec {
        self.0
    }

    /// The whole object as the API server would receive it.
    pub fn object(&self) -> Value {
        let mut policy = ScalingPolicy::new("web", self.0.clone());
        policy.metadata.namespace = Some("default".into());
        let mut value = serde_json::to_value(&policy).expect("policy serialises");
        value["apiVersion"] = json!("autoscaling.prescaler.io/v1alpha1");
        value
    }
}

fn metric(kind: MetricType) -> MetricSpec {
    MetricSpec {
        kind,
        name: None,
        request_rate: None,
        cpu: None,
        memory: None,
        promql: None,
    }
}

pub fn query(target: f64) -> QueryTarget {
    QueryTarget {
        query: "sum(rate(http_requests_total{job=\"web\"}[2m]))".into(),
        target_per_replica: target,
    }
}

pub fn request_rate(target: f64) -> MetricSpec {
    MetricSpec {
        request_rate: Some(query(target)),
        ..metric(MetricType::RequestRate)
    }
}

pub fn promql(target: f64) -> MetricSpec {
    MetricSpec {
        promql: Some(query(target)),
        ..metric(MetricType::PromQl)
    }
}

pub fn cpu_utilization(percent: i32) -> MetricSpec {
    MetricSpec {
        cpu: Some(CpuTarget {
            target_utilization: Some(percent),
            target_per_replica: None,
            query: None,
        }),
        ..metric(MetricType::Cpu)
    }
}

pub fn cpu_cores(cores: &str) -> MetricSpec {
    MetricSpec {
        cpu: Some(CpuTarget {
            target_utilization: None,
            target_per_replica: Some(Quantity::new(cores)),
            query: None,
        }),
        ..metric(MetricType::Cpu)
    }
}

pub fn memory(value: &str) -> MetricSpec {
    MetricSpec {
        memory: Some(MemoryTarget {
            target_average_value: Quantity::new(value),
            query: None,
        }),
        ..metric(MetricType::Memory)
    }
}

/// A metric of `kind` with no settings block at all.
pub fn bare(kind: MetricType) -> MetricSpec {
    metric(kind)
}
