//! Where `simulate` and `backtest` get their inputs: a policy file, and a workload's own
//! history from Prometheus as a trace.

use std::path::Path;

use crate::metrics::PrometheusArgs;
use crate::policy::{self, ScalingPolicy};
use crate::sim::trace::Trace;

/// Reads and parses a ScalingPolicy file, naming the file in every error. `builtin` is
/// used when `path` does not exist and is given (the default policy outside a checkout).
pub fn read_policy(path: &Path, builtin: Option<&str>) -> crate::Result<ScalingPolicy> {
    let text = match builtin {
        Some(text) if !path.exists() => text.to_string(),
        _ => policy::read_policy_file(path).map_err(|source| crate::Error::PolicyFile {
            path: path.to_path_buf(),
            source,
        })?,
    };
    ScalingPolicy::from_yaml(&text).map_err(|source| crate::Error::PolicyYaml {
        path: path.to_path_buf(),
        source,
    })
}

/// The query of a policy's first `RequestRate` or `PromQL` metric, the one a trace stands
/// for.
pub fn load_query(policy: &ScalingPolicy) -> Option<&str> {
    policy.spec.metrics.iter().find_map(|m| {
        m.request_rate
            .as_ref()
            .or(m.promql.as_ref())
            .map(|q| q.query.as_str())
    })
}

/// The workload's recent history from Prometheus as a trace: `span` seconds ending now at
/// `step`, rates (per second) turned into amounts per step, as trace files hold them.
pub fn trace_from_prometheus(
    prometheus: &PrometheusArgs,
    query: &str,
    span: u64,
    step: u64,
) -> crate::Result<Trace> {
    use crate::metrics::{HistoryCache, Prometheus, SeriesKey};
    let step = step.max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut series = runtime.block_on(async {
        let prometheus = Prometheus::new(prometheus)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let key = SeriesKey {
            namespace: String::new(),
            policy: "history".to_string(),
            metric: "load".to_string(),
        };
        HistoryCache::new(prometheus)
            .history(&key, query, span, step, now)
            .await
    })?;
    series.values.iter_mut().for_each(|v| *v *= step as f64);
    Ok(Trace {
        name: format!("prometheus {query}"),
        series,
    })
}

/// Refuses an `--svg` path that cannot be written, before the run rather than after it.
pub fn check_svg_path(path: &std::path::Path) -> crate::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if path.as_os_str().is_empty() || path.is_dir() {
        return Err(crate::Error::Usage(format!(
            "--svg {:?} is not a file name; give e.g. --svg plot.svg",
            path.display().to_string()
        )));
    }
    if !dir.is_dir() {
        return Err(crate::Error::Usage(format!(
            "--svg {}: the directory {} does not exist; create it or write the plot elsewhere",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The error of a plot that could not be written to `path`.
pub fn plot_error(
    path: &std::path::Path,
) -> impl FnOnce(crate::sim::svg::PlotError) -> crate::Error + '_ {
    move |source| crate::Error::Plot {
        path: path.to_path_buf(),
        source,
    }
}
