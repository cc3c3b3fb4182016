//! A metric's reading and target in the form `kubectl get hpa` prints them: `310/80`,
//! `45%/70%`, `250m/500m`, `412Mi/512Mi`.

use crate::plan::Reading;
use crate::policy::{MetricSpec, MetricType};

/// The unit of a metric's workload-wide values; `None` for PromQL (the query's own).
pub fn unit(kind: MetricType) -> Option<&'static str> {
    match kind {
        MetricType::RequestRate => Some("req/s"),
        MetricType::Cpu => Some("cores"),
        MetricType::Memory => Some("bytes"),
        MetricType::PromQl => None,
    }
}

/// The per-replica target as the spec gives it.
pub fn target(metric: &MetricSpec) -> Option<String> {
    match metric.kind {
        MetricType::RequestRate | MetricType::PromQl => metric
            .request_rate
            .as_ref()
            .or(metric.promql.as_ref())
            .map(|q| short(q.target_per_replica)),
        MetricType::Cpu => metric.cpu.as_ref().and_then(|c| {
            c.target_utilization.map(|p| format!("{p}%")).or_else(|| {
                c.target_per_replica
                    .as_ref()
                    .map(|q| q.as_str().to_string())
            })
        }),
        MetricType::Memory => metric
            .memory
            .as_ref()
            .map(|m| m.target_average_value.as_str().to_string()),
    }
}

/// The current average per replica, in the form of [`target`]; a total is divided over
/// the target's `current` replicas, as the HPA algorithm divides it.
pub fn average(kind: MetricType, reading: &Reading, current: i32) -> String {
    let per = |value: f64| value / f64::from(current.max(1));
    let value = match *reading {
        Reading::Utilization {
            usage, requests, ..
        } => {
            return if requests > 0.0 {
                format!("{}%", (usage * 100.0 / requests).trunc())
            } else {
                "<unknown>".into()
            };
        }
        Reading::Value { value, .. } => return short(value),
        Reading::Total { value, .. } => per(value),
        Reading::PerPod { average, .. } => average,
    };
    match kind {
        MetricType::Cpu => cores(value),
        MetricType::Memory => bytes(value),
        MetricType::RequestRate | MetricType::PromQl => short(value),
    }
}

/// A number short enough for a table: whole above 100, otherwise three significant digits.
pub fn short(x: f64) -> String {
    if !x.is_finite() {
        return "<unknown>".into();
    }
    let a = x.abs();
    let text = if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.decimals$}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Cores as a Kubernetes quantity: `250m`, `2`, `1500m`.
fn cores(x: f64) -> String {
    let milli = (x * 1000.0).round();
    if milli % 1000.0 == 0.0 {
        format!("{}", milli / 1000.0)
    } else {
        format!("{milli}m")
    }
}

/// Bytes as a Kubernetes quantity in binary units: `412Mi`, `1536Ki`, `2Gi`.
fn bytes(x: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Ki", 1024.0),
    ];
    for (suffix, size) in UNITS {
        // A whole number of the unit, or at least 10 of it (rounded).
        if x >= size * 10.0 || (x >= size && (x / size).fract() == 0.0) {
            return format!("{}{suffix}", (x / size).round());
        }
    }
    format!("{}", x.round())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_kubectl_get_hpa() {
        assert_eq!(short(310.4), "310");
        assert_eq!(short(80.0), "80");
        assert_eq!(short(12.345), "12.3");
        assert_eq!(short(0.27), "0.27");
        assert_eq!(short(0.0253), "0.0253");
        assert_eq!(short(0.0), "0");
        assert_eq!(cores(0.25), "250m");
        assert_eq!(cores(2.0), "2");
        assert_eq!(bytes(412.0 * 1024.0 * 1024.0), "412Mi");
        assert_eq!(bytes(2.0 * 1024.0 * 1024.0 * 1024.0), "2Gi");
        assert_eq!(bytes(500.0), "500");
    }

    #[test]
    fn an_average_is_per_replica_in_the_targets_form() {
        let total = Reading::Total {
            value: 1240.0,
            target_per_replica: 80.0,
        };
        assert_eq!(average(MetricType::RequestRate, &total, 4), "310");
        let utilization = Reading::Utilization {
            usage: 1.8,
            requests: 4.0,
            target_percent: 70.0,
        };
        assert_eq!(average(MetricType::Cpu, &utilization, 4), "45%");
        let per_pod = Reading::PerPod {
            average: 0.25,
            target: 0.5,
        };
        assert_eq!(average(MetricType::Cpu, &per_pod, 4), "250m");
        let memory = Reading::PerPod {
            average: 412.0 * 1024.0 * 1024.0,
            target: 512.0 * 1024.0 * 1024.0,
        };
        assert_eq!(average(MetricType::Memory, &memory, 4), "412Mi");
    }
}
