//! `prescaler explain`: what the operator would do now for a policy file, and why.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::sources;
use crate::controller::explain::{self, Explanation};
use crate::metrics::{Prometheus, PrometheusArgs};
use crate::policy::ScalingPolicy;
use crate::policy::annotations::Hold;
use crate::policy::duration::parse_positive_seconds;
use crate::policy::{self, ScalingPolicyStatus};

/// Options of `prescaler explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A ScalingPolicy in the cluster to explain, by name: its spec, its status (so
    /// stabilization and rate limits are the operator's), its pause annotations and its
    /// target's `/scale` are read through --kubeconfig.
    #[arg(value_name = "NAME", conflicts_with = "policy")]
    pub name: Option<String>,
    /// A ScalingPolicy YAML file to explain instead, with the target at --replicas.
    #[arg(long, env = "PRESCALER_POLICY")]
    pub policy: Option<PathBuf>,
    /// kubeconfig file for NAME (not used with --policy); without it, the in-cluster service account (or
    /// `$KUBECONFIG`).
    #[arg(
        long,
        value_name = "FILE",
        env = "PRESCALER_KUBECONFIG",
        requires = "name"
    )]
    pub kubeconfig: Option<PathBuf>,
    /// The Prometheus its metrics are read from (the other --prometheus-* flags apply as
    /// for `run`).
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// With --policy: the target's replicas now (what `/scale` would say) [default: the
    /// policy's minReplicas].
    #[arg(long, env = "PRESCALER_REPLICAS", conflicts_with = "name")]
    pub replicas: Option<i32>,
    /// The target's pod label selector, for kinds whose built-in CPU and Memory queries
    /// find pods by labels (not Deployments, StatefulSets, DaemonSets, ReplicaSets).
    #[arg(long, default_value = "", env = "PRESCALER_SELECTOR")]
    pub selector: String,
    /// The namespace the policy is in [default: its metadata.namespace, or default].
    #[arg(long, env = "PRESCALER_NAMESPACE")]
    pub namespace: Option<String>,
    /// The sync period the planning window adds to the lead time.
    #[arg(long, default_value = "15s", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_SYNC")]
    pub sync: u64,
    /// Print JSON (the status the operator would write, the decision and the write).
    #[arg(long, env = "PRESCALER_JSON")]
    pub json: bool,
    /// Also write an SVG plot: per metric the last hour, the forecast with its band, the
    /// capacity of the replicas now and of the decision, and when new pods would be Ready.
    #[arg(long, value_name = "FILE", env = "PRESCALER_SVG")]
    pub svg: Option<PathBuf>,
}

/// `prescaler explain --json`.
#[derive(Serialize)]
struct ExplainJson<'a> {
    policy: &'a str,
    namespace: &'a str,
    replicas: i32,
    desired_replicas: Option<i32>,
    reactive_replicas: Option<i32>,
    predicted_replicas: Option<i32>,
    reason: Option<&'a str>,
    limited_by: Option<String>,
    why: &'a str,
    write: Option<&'a str>,
    lead_s: u64,
    forecasts: &'a [explain::MetricForecast],
    status: &'a ScalingPolicyStatus,
}

/// Runs `prescaler explain`.
pub fn run(args: &ExplainArgs) -> crate::Result<()> {
    if args.name.is_none() && args.policy.is_none() {
        return Err(crate::Error::Usage(
            "give a policy NAME in the cluster (with --kubeconfig), or --policy FILE".into(),
        ));
    }
    if args.prometheus.url.is_none() {
        return Err(crate::Error::Usage(
            "explain reads the policy's metrics: give --prometheus URL (e.g. http://localhost:9090 after kubectl port-forward)".into(),
        ));
    }
    if let Some(path) = &args.svg {
        sources::check_svg_path(path)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let now = crate::controller::reconcile::unix_now();
    let prometheus = Prometheus::new(&args.prometheus)?;
    let (policy, namespace, (scale, hpas), hold, before) = match (&args.name, &args.policy) {
        (Some(name), _) => {
            let namespace = args.namespace.clone().unwrap_or_else(|| "default".into());
            runtime.block_on(live(args, name, &namespace))?
        }
        (None, Some(path)) => {
            let policy = sources::read_policy(path, None)?;
            policy::validate(&policy.spec).map_err(|source| crate::Error::PolicyInvalid {
                path: path.clone(),
                source,
            })?;
            let namespace = args
                .namespace
                .clone()
                .or(policy.metadata.namespace.clone())
                .unwrap_or_else(|| "default".into());
            let replicas = args.replicas.unwrap_or(policy.spec.min_replicas);
            if replicas < 0 {
                return Err(crate::Error::Usage(format!(
                    "--replicas must be 0 or more (got {replicas})"
                )));
            }
            let scale = explain::scale_of(replicas, &args.selector);
            (
                policy,
                namespace,
                (scale, Vec::new()),
                Hold::None,
                ScalingPolicyStatus::default(),
            )
        }
        (None, None) => {
            return Err(crate::Error::Usage(
                "give a policy NAME in the cluster, or --policy FILE".into(),
            ));
        }
    };
    let name = policy
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| "policy".into());
    let replicas = scale.replicas;
    let e = runtime.block_on(explain::explain(
        &policy.spec,
        (&namespace, &name),
        prometheus,
        (scale, hpas),
        hold,
        &before,
        args.sync,
        now,
    ));
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = ExplainJson {
            policy: &name,
            namespace: &namespace,
            replicas,
            desired_replicas: e.status.desired_replicas,
            reactive_replicas: e.status.reactive_replicas,
            predicted_replicas: e.status.predicted_replicas,
            reason: e.status.reason.as_deref(),
            limited_by: e
                .decision
                .and_then(|d| d.limited_by)
                .map(|l| format!("{l:?}")),
            why: &e.why,
            write: e.write.as_deref(),
            lead_s: e.lead_s,
            forecasts: &e.forecasts,
            status: &e.status,
        };
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
    } else {
        write_text(&mut out, &policy.spec, (&namespace, &name), replicas, &e)?;
    }
    if let Some(path) = &args.svg {
        super::forecast_plot::write(&e, replicas, path).map_err(sources::plot_error(path))?;
    }
    Ok(())
}

/// A live policy, its hold, its status and its target's `/scale`.
async fn live(
    args: &ExplainArgs,
    name: &str,
    namespace: &str,
) -> crate::Result<(
    ScalingPolicy,
    String,
    (
        crate::controller::target::ScaleView,
        Vec<crate::plan::HpaView>,
    ),
    Hold,
    ScalingPolicyStatus,
)> {
    let client = crate::controller::client(args.kubeconfig.as_deref()).await?;
    let api: kube::Api<ScalingPolicy> = kube::Api::namespaced(client.clone(), namespace);
    let policy = api.get(name).await.map_err(|source| crate::Error::Kube {
        what: "cannot read the ScalingPolicy (check NAME and --namespace)",
        source,
    })?;
    policy::validate(&policy.spec).map_err(|source| crate::Error::PolicyInvalid {
        path: PathBuf::from(format!("scalingpolicy {namespace}/{name}")),
        source,
    })?;
    let scale = explain::read_target(&client, namespace, &policy.spec)
        .await
        .map_err(|e| crate::Error::Usage(format!("{namespace}/{name}: {e}")))?;
    let hpas = explain::read_hpas(&client, namespace, (name, &policy.spec))
        .await
        .map_err(|source| crate::Error::Kube {
            what: "cannot list the HorizontalPodAutoscalers in the policy's namespace",
            source,
        })?;
    let hold = policy::annotations::hold(kube::ResourceExt::annotations(&policy));
    let before = policy.status.clone().unwrap_or_default();
    Ok((policy, namespace.to_string(), (scale, hpas), hold, before))
}

fn write_text(
    out: &mut impl Write,
    spec: &policy::ScalingPolicySpec,
    (namespace, name): (&str, &str),
    replicas: i32,
    e: &Explanation,
) -> std::io::Result<()> {
    let s = &e.status;
    let lead = s.lead_time.as_ref().map_or_else(
        || spec.forecast.lead_time.to_string(),
        |l| format!("{} (from {})", l.value, l.source),
    );
    writeln!(
        out,
        "policy {namespace}/{name} · {} {} at {replicas} replicas · leadTime {lead} · quantile {}",
        spec.target_ref.kind, spec.target_ref.name, spec.forecast.quantile
    )?;
    let opt = |v: Option<i32>| v.map_or("-".to_string(), |v| v.to_string());
    for m in &s.metrics {
        let unit = m
            .unit
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        writeln!(out, "metric {}:", m.name)?;
        writeln!(
            out,
            "  now       {}{unit} for the workload; {}/{} per replica → {} replicas",
            m.current
                .map_or("unreadable".to_string(), |v| format!("{v:.4}")),
            m.average.as_deref().unwrap_or("<unknown>"),
            m.target.as_deref().unwrap_or("?"),
            opt(m.reactive_replicas)
        )?;
        match (m.expected_peak, &m.expected_peak_time) {
            (Some(peak), Some(at)) => writeln!(
                out,
                "  forecast  peak {peak:.4}{unit} at {} (quantile {}) → {} replicas",
                at.0,
                spec.forecast.quantile,
                opt(m.predicted_replicas)
            )?,
            _ if e
                .forecasts
                .iter()
                .any(|f| f.metric == m.name && !f.path.is_empty()) =>
            {
                writeln!(
                    out,
                    "  forecast  not used (ForecastReliable=False); the model said:"
                )?
            }
            _ => writeln!(out, "  forecast  none")?,
        }
        if let Some(f) = e.forecasts.iter().find(|f| f.metric == m.name) {
            write_path(out, f, e)?;
        }
        if let Some(model) = &m.model {
            writeln!(
                out,
                "  model     {model}, backtest MASE {}",
                m.backtest_error
                    .map_or("-".to_string(), |v| format!("{v:.3}"))
            )?;
        }
    }
    writeln!(
        out,
        "decision  {} replicas (reactive {}, predicted {}); {}",
        opt(s.desired_replicas),
        opt(s.reactive_replicas),
        opt(s.predicted_replicas),
        e.why
    )?;
    for c in &s.conditions {
        writeln!(
            out,
            "  {:<17} {:<5} {}: {}",
            c.type_, c.status, c.reason, c.message
        )?;
    }
    match &e.write {
        Some(w) => writeln!(out, "would {w}")?,
        None => writeln!(out, "would write nothing: the replicas are already right")?,
    }
    Ok(())
}

/// Rows of the forecast over the window: at most eight, the moment new pods would be Ready
/// and the end among them.
fn write_path(
    out: &mut impl Write,
    f: &explain::MetricForecast,
    e: &Explanation,
) -> std::io::Result<()> {
    let ahead: Vec<&(i64, f64, Option<f64>)> = f.path.iter().filter(|p| p.0 >= e.now).collect();
    if ahead.is_empty() {
        return Ok(());
    }
    let ready = e.now + e.lead_s as i64;
    let every = ahead.len().div_ceil(8).max(1);
    let lead_row = ahead.iter().position(|p| p.0 >= ready);
    writeln!(
        out,
        "  window    point / quantile {} → replicas at target:",
        f.quantile
    )?;
    for (i, (t, point, upper)) in ahead.iter().copied().enumerate() {
        if i % every != 0 && Some(i) != lead_row && i + 1 != ahead.len() {
            continue;
        }
        let upper = upper.unwrap_or(*point);
        let replicas = if f.per_replica > 0.0 {
            format!("{}", (upper / f.per_replica).ceil() as i64)
        } else {
            "-".into()
        };
        let at = crate::controller::report::time(*t).0;
        let mark = if Some(i) == lead_row {
            "  ← new pods Ready"
        } else {
            ""
        };
        writeln!(
            out,
            "    +{:>3}m {} {point:>12.4} / {upper:<12.4} → {replicas}{mark}",
            (t - e.now) / 60,
            at.strftime("%H:%MZ"),
        )?;
    }
    Ok(())
}
