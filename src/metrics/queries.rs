//! The PromQL behind each metric type, and the translation of a target's label selector
//! into PromQL matchers that no label value can break out of.
//!
//! cAdvisor's container series carry `namespace`, `pod` and `container` but not the pod's
//! labels or owner, so the built-in CPU and Memory queries join them with series of
//! kube-state-metrics that name the target's pods. For the workload kinds whose pods
//! kube-state-metrics traces by default — a Deployment (or an Argo Rollout) through its
//! ReplicaSets, a StatefulSet, DaemonSet or ReplicaSet directly — that is its ownership
//! series, `kube_pod_owner` and `kube_replicaset_owner`, which a stock install exports. For any
//! other kind the pods are found by the `/scale` selector in `kube_pod_labels`, where a pod
//! label `app.kubernetes.io/name` appears as `label_app_kubernetes_io_name` — exported only
//! for the labels listed in kube-state-metrics' `--metric-labels-allowlist`.
//! docs/prometheus.md shows each query.

use super::MetricError;
use crate::policy::{MetricSpec, MetricType};

/// `rate()` window of the built-in CPU query: four samples at a 30 s scrape interval.
pub const RATE_WINDOW: &str = "2m";

/// The queries of one policy metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricQueries {
    /// The workload-wide total the forecast runs on (RequestRate/PromQL: the user's query;
    /// CPU: summed core usage of the target's pods; Memory: summed working-set bytes).
    pub value: String,
    /// For CPU `targetUtilization` only: the summed CPU requests (cores) of the target's
    /// Running pods, from kube-state-metrics.
    pub requests: Option<String>,
    /// True when `value` is a built-in query (CPU or Memory without a `query` override).
    pub built_in: bool,
}

impl MetricQueries {
    /// `error` with advice for the built-in queries added to a NoData outcome.
    pub fn explain(&self, error: MetricError) -> MetricError {
        match error {
            MetricError::NoData { query, hint } if self.built_in && hint.is_empty() => {
                MetricError::NoData {
                    query,
                    hint: BUILT_IN_HINT.to_string(),
                }
            }
            other => other,
        }
    }
}

/// The scale target whose pods the built-in queries measure.
#[derive(Clone, Copy, Debug)]
pub struct Pods<'a> {
    /// The target's kind, e.g. `Deployment`.
    pub kind: &'a str,
    /// The target's name.
    pub name: &'a str,
    /// The `status.selector` of its `/scale` subresource, e.g. `app=web,tier in (a,b)`.
    pub selector: &'a str,
}

/// The queries of `metric` for the target `pods` in `namespace`.
pub fn queries(
    metric: &MetricSpec,
    namespace: &str,
    pods: &Pods<'_>,
) -> Result<MetricQueries, MetricError> {
    let missing = |block: &str| {
        MetricError::Config(format!(
            "metric {:?} of type {} has no `{block}` block; add it",
            metric.effective_name(),
            metric.kind.as_str()
        ))
    };
    match metric.kind {
        MetricType::RequestRate => {
            let target = metric
                .request_rate
                .as_ref()
                .ok_or_else(|| missing("requestRate"))?;
            Ok(MetricQueries {
                value: target.query.clone(),
                requests: None,
                built_in: false,
            })
        }
        MetricType::PromQl => {
            let target = metric.promql.as_ref().ok_or_else(|| missing("promql"))?;
            Ok(MetricQueries {
                value: target.query.clone(),
                requests: None,
                built_in: false,
            })
        }
        MetricType::Cpu => {
            let cpu = metric.cpu.as_ref().ok_or_else(|| missing("cpu"))?;
            let pods = pod_set(namespace, pods)?;
            let value = match &cpu.query {
                Some(q) => q.clone(),
                None => cpu_usage(namespace, &pods),
            };
            let requests = cpu
                .target_utilization
                .is_some()
                .then(|| cpu_requests(namespace, &pods));
            Ok(MetricQueries {
                value,
                requests,
                built_in: cpu.query.is_none(),
            })
        }
        MetricType::Memory => {
            let memory = metric.memory.as_ref().ok_or_else(|| missing("memory"))?;
            let value = match &memory.query {
                Some(q) => q.clone(),
                None => memory_working_set(namespace, &pod_set(namespace, pods)?),
            };
            Ok(MetricQueries {
                value,
                requests: None,
                built_in: memory.query.is_none(),
            })
        }
    }
}

/// Advice added to a NoData error of a built-in query.
const BUILT_IN_HINT: &str = "; the built-in CPU and Memory queries need cAdvisor metrics (kubelet /metrics/cadvisor) and kube-state-metrics (kube_pod_owner and kube_replicaset_owner for Deployments, StatefulSets, DaemonSets and ReplicaSets; for other kinds the selector's pod labels in kube_pod_labels, via --metric-labels-allowlist=pods=[...])";

/// The target's pods as a PromQL vector: one series per pod, labelled `namespace` and `pod`,
/// of value 1.
fn pod_set(namespace: &str, pods: &Pods<'_>) -> Result<String, MetricError> {
    let ns = quote(namespace);
    let name = quote(pods.name);
    Ok(match pods.kind {
        // Pods belong to ReplicaSets, which belong to the Deployment (or Rollout).
        "Deployment" | "Rollout" => format!(
            "max by (namespace, pod) (label_replace(kube_pod_owner{{namespace={ns}, owner_kind=\"ReplicaSet\"}}, \"replicaset\", \"$1\", \"owner_name\", \"(.*)\") * on (namespace, replicaset) group_left () max by (namespace, replicaset) (kube_replicaset_owner{{namespace={ns}, owner_kind={}, owner_name={name}}}))",
            quote(pods.kind)
        ),
        "StatefulSet" | "DaemonSet" | "ReplicaSet" => format!(
            "max by (namespace, pod) (kube_pod_owner{{namespace={ns}, owner_kind={}, owner_name={name}}})",
            quote(pods.kind)
        ),
        _ => pod_selector(namespace, pods.selector)?,
    })
}

/// `kube_pod_labels` restricted to the pods `selector` matches, one series per pod.
fn pod_selector(namespace: &str, selector: &str) -> Result<String, MetricError> {
    let mut matchers = vec![format!("namespace={}", quote(namespace))];
    matchers.extend(selector_matchers(selector)?);
    Ok(format!(
        "max by (namespace, pod) (kube_pod_labels{{{}}})",
        matchers.join(", ")
    ))
}

fn containers(metric: &str, namespace: &str) -> String {
    format!(
        "{metric}{{namespace={}, container!=\"\", container!=\"POD\"}}",
        quote(namespace)
    )
}

fn cpu_usage(namespace: &str, pods: &str) -> String {
    format!(
        "sum(max by (namespace, pod, container) (rate({}[{RATE_WINDOW}])) * on (namespace, pod) group_left () {pods})",
        containers("container_cpu_usage_seconds_total", namespace)
    )
}

fn memory_working_set(namespace: &str, pods: &str) -> String {
    format!(
        "sum(max by (namespace, pod, container) ({}) * on (namespace, pod) group_left () {pods})",
        containers("container_memory_working_set_bytes", namespace)
    )
}

fn cpu_requests(namespace: &str, pods: &str) -> String {
    let ns = quote(namespace);
    format!(
        "sum(sum by (namespace, pod) (kube_pod_container_resource_requests{{namespace={ns}, resource=\"cpu\"}}) * on (namespace, pod) group_left () {pods} * on (namespace, pod) group_left () (max by (namespace, pod) (kube_pod_status_phase{{namespace={ns}, phase=\"Running\"}}) == 1))"
    )
}

/// A PromQL string literal holding `value` exactly: backslash, quote and control
/// characters are escaped, so the value can never end the string early.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regular expression matching exactly `value` (RE2 metacharacters escaped).
fn regex_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `kube_pod_labels` label for a pod label key, as kube-state-metrics names it.
fn label_name(key: &str) -> String {
    let body: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("label_{body}")
}

/// One requirement of a Kubernetes label selector.
#[derive(Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// PromQL matchers for a selector string.
fn selector_matchers(selector: &str) -> Result<Vec<String>, MetricError> {
    Ok(parse_selector(selector)?
        .into_iter()
        .map(|r| match r {
            Requirement::Equals(k, v) => format!("{}={}", label_name(&k), quote(&v)),
            Requirement::NotEquals(k, v) => format!("{}!={}", label_name(&k), quote(&v)),
            Requirement::In(k, vs) => format!("{}=~{}", label_name(&k), quote(&alternation(&vs))),
            Requirement::NotIn(k, vs) => {
                format!("{}!~{}", label_name(&k), quote(&alternation(&vs)))
            }
            Requirement::Exists(k) => format!("{}!=\"\"", label_name(&k)),
            Requirement::NotExists(k) => format!("{}=\"\"", label_name(&k)),
        })
        .collect())
}

fn alternation(values: &[String]) -> String {
    values
        .iter()
        .map(|v| regex_literal(v))
        .collect::<Vec<_>>()
        .join("|")
}

/// Splits a selector at top-level commas (commas inside `( … )` belong to a set).
fn split_requirements(selector: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut begin = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[begin..i]);
                begin = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return None;
        }
    }
    if depth != 0 {
        return None;
    }
    parts.push(&selector[begin..]);
    Some(parts)
}

fn parse_selector(selector: &str) -> Result<Vec<Requirement>, MetricError> {
    let bad = |reason: String| MetricError::BadSelector {
        selector: selector.to_string(),
        reason,
    };
    if selector.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parts = split_requirements(selector)
        .ok_or_else(|| bad("its parentheses do not balance".to_string()))?;
    parts
        .into_iter()
        .map(|part| parse_requirement(part.trim()).map_err(bad))
        .collect()
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if part.is_empty() {
        return Err("it has an empty requirement (two commas in a row?)".to_string());
    }
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(key_of(key.trim())?));
    }
    for (op, negated) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = part.split_once(op) {
            let key = key_of(k.trim())?;
            let value = value_of(v.trim())?;
            return Ok(if negated {
                Requirement::NotEquals(key, value)
            } else {
                Requirement::Equals(key, value)
            });
        }
    }
    if let Some(open) = part.find('(') {
        let head = part[..open].trim();
        let body = part[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("{part:?} has text after its closing parenthesis"))?;
        let (key, negated) = if let Some(k) = head.strip_suffix(" notin") {
            (k, true)
        } else if let Some(k) = head.strip_suffix(" in") {
            (k, false)
        } else {
            return Err(format!("{part:?} is not `key in (…)` or `key notin (…)`"));
        };
        let key = key_of(key.trim())?;
        let values = body
            .split(',')
            .map(|v| value_of(v.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if values.iter().all(String::is_empty) {
            return Err(format!("{part:?} has an empty value set"));
        }
        return Ok(if negated {
            Requirement::NotIn(key, values)
        } else {
            Requirement::In(key, values)
        });
    }
    Ok(Requirement::Exists(key_of(part)?))
}

/// A label key: `[prefix/]name` of letters, digits, `-`, `_`, `.`.
fn key_of(key: &str) -> Result<String, String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let ok = match key.split_once('/') {
        Some((prefix, name)) => valid(prefix) && valid(name) && name.len() <= 63,
        None => valid(key) && key.len() <= 63,
    };
    if ok {
        Ok(key.to_string())
    } else {
        Err(format!("{key:?} is not a valid label key"))
    }
}

/// A label value: letters, digits, `-`, `_`, `.`, at most 63 characters (may be empty).
fn value_of(value: &str) -> Result<String, String> {
    if value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a valid label value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_selector_form_becomes_a_matcher() {
        let m = selector_matchers(
            "app=web,tier in (a, b.c),env!=prod,app.kubernetes.io/name==x,canary,!legacy,zone notin (z1)",
        )
        .unwrap();
        assert_eq!(
            m,
            [
                r#"label_app="web""#,
                r#"label_tier=~"a|b\\.c""#,
                r#"label_env!="prod""#,
                r#"label_app_kubernetes_io_name="x""#,
                r#"label_canary!="""#,
                r#"label_legacy="""#,
                r#"label_zone!~"z1""#,
            ]
        );
    }

    #[test]
    fn a_value_cannot_break_out_of_its_string() {
        assert_eq!(quote(r#"a"} or up{x="\"#), r#""a\"} or up{x=\"\\""#);
        let err = selector_matchers(r#"app=web"} or vector(1) #"#).unwrap_err();
        assert_eq!(err.reason(), "BadSelector");
        assert!(err.to_string().contains("not a valid label value"), "{err}");
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for s in [
            "app in (a",
            "app=web,,x=y",
            "tier in ()",
            "app lt (3)",
            "a b=c",
        ] {
            assert!(selector_matchers(s).is_err(), "{s:?} should be refused");
        }
        assert_eq!(selector_matchers("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn the_namespace_is_escaped_too() {
        let pods = pod_selector("we\"ird", "app=web").unwrap();
        assert_eq!(
            pods,
            r#"max by (namespace, pod) (kube_pod_labels{namespace="we\"ird", label_app="web"})"#
        );
    }

    #[test]
    fn workload_kinds_find_their_pods_by_owner_and_other_kinds_by_labels() {
        let of = |kind, name| Pods {
            kind,
            name,
            selector: "app=web",
        };
        let deployment = pod_set("shop", &of("Deployment", "we\"b")).unwrap();
        assert!(
            deployment.contains(r#"kube_replicaset_owner{namespace="shop", owner_kind="Deployment", owner_name="we\"b"}"#),
            "{deployment}"
        );
        assert!(!deployment.contains("kube_pod_labels"), "{deployment}");
        let statefulset = pod_set("shop", &of("StatefulSet", "db")).unwrap();
        assert_eq!(
            statefulset,
            r#"max by (namespace, pod) (kube_pod_owner{namespace="shop", owner_kind="StatefulSet", owner_name="db"})"#
        );
        let custom = pod_set("shop", &of("Worker", "queue")).unwrap();
        assert!(custom.contains(r#"kube_pod_labels{namespace="shop", label_app="web"}"#));
    }
}
