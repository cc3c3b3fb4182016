//! `prescaler explain`: one reconcile's reads and decision for a policy file, against a
//! real Prometheus, without a cluster: the same observe and evaluate steps the operator
//! runs, with the target's replicas given instead of read from `/scale`.

use crate::metrics::{HistoryCache, Prometheus};
use crate::plan::{ScaleDecision, Timing};
use crate::policy::annotations::Hold;
use crate::policy::{ScalingPolicySpec, ScalingPolicyStatus};

use super::evaluate::{Facts, Write, evaluate};
use super::observe::observe;
use super::state::PolicyStates;
use super::target::ScaleView;

/// What the operator would do now, and why.
#[derive(Debug)]
pub struct Explanation {
    /// The status it would write: per metric readings, forecasts and replicas; conditions.
    pub status: ScalingPolicyStatus,
    /// The decision, when metrics were readable enough to make one.
    pub decision: Option<ScaleDecision>,
    /// The decision in one sentence.
    pub why: String,
    /// The write it would make, in words (`None`: the replicas are already right).
    pub write: Option<String>,
    /// Per metric, in spec order: its recent history and its forecast over the window.
    pub forecasts: Vec<MetricForecast>,
    /// When the decision was made, and when pods requested then would be Ready.
    pub now: i64,
    /// The lead time the plan used, seconds.
    pub lead_s: u64,
}

/// One metric's recent history and forecast, for the text, JSON and plot of `explain`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MetricForecast {
    /// The metric's name.
    pub metric: String,
    /// The unit of its values (`req/s`, `cores`, `bytes`), when known.
    pub unit: Option<String>,
    /// What one replica carries at the target, in the same unit.
    pub per_replica: f64,
    /// The provisioned quantile.
    pub quantile: f64,
    /// The last hour of history: (unix time, value).
    pub recent: Vec<(i64, f64)>,
    /// The forecast: (unix time, point, provisioned quantile).
    pub path: Vec<(i64, f64, Option<f64>)>,
    /// Whether the plan used it; `false` when the model's error or rolling skill closed
    /// the gate (`ForecastReliable=False`) and the path only shows what it said.
    pub used: bool,
}

/// The target's replicas and pod selector, as its `/scale` gives them.
pub fn scale_of(replicas: i32, selector: &str) -> ScaleView {
    ScaleView {
        replicas,
        observed: replicas,
        selector: selector.to_string(),
    }
}

/// A live policy's target `/scale`, read through the API server.
pub async fn read_target(
    client: &kube::Client,
    namespace: &str,
    spec: &ScalingPolicySpec,
) -> Result<ScaleView, super::target::TargetError> {
    let resource = super::target::resolve(client, &spec.target_ref).await?;
    super::target::read_scale(client, &resource, namespace, &spec.target_ref).await
}

/// The HPAs on a live policy's target, as the mode rule sees them (an HPA in Auto mode is
/// a conflict; HPAFloor writes into it).
pub async fn read_hpas(
    client: &kube::Client,
    namespace: &str,
    (name, spec): (&str, &ScalingPolicySpec),
) -> Result<Vec<crate::plan::HpaView>, kube::Error> {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    let api: kube::Api<HorizontalPodAutoscaler> = kube::Api::namespaced(client.clone(), namespace);
    let all = api.list(&kube::api::ListParams::default()).await?.items;
    Ok(
        super::target::matching_hpas(all.iter(), namespace, &spec.target_ref)
            .iter()
            .map(|h| super::gather::hpa_view(h, name))
            .collect(),
    )
}

/// Runs one gather-and-evaluate for `spec` with the target at `scale` and the HPAs on it, under the pause
/// annotations' `hold`, from the status `before` (a live policy's, so stabilization and
/// rate limits are the operator's), at `now`.
#[allow(clippy::too_many_arguments)]
pub async fn explain(
    spec: &ScalingPolicySpec,
    (namespace, name): (&str, &str),
    prometheus: Prometheus,
    (scale, hpas): (ScaleView, Vec<crate::plan::HpaView>),
    hold: Hold,
    before: &ScalingPolicyStatus,
    sync_s: u64,
    now: i64,
) -> Explanation {
    let cache = HistoryCache::new(prometheus);
    let states = PolicyStates::default();
    // A live policy's learned lead time, as the operator would use it; a file's own.
    let lead = before
        .lead_time
        .clone()
        .unwrap_or_else(|| super::leadtime::from_spec(spec, String::new()));
    let spec = &*super::leadtime::effective(spec, Some(&lead));
    let timing = Timing::from_policy(&spec.forecast, sync_s);
    let observation = observe(
        &cache,
        &states,
        namespace,
        name,
        spec,
        &scale,
        timing,
        now,
        // Explain shows the full model choice, not one read back from the status.
        &[],
    )
    .await;
    let forecasts = observation
        .statuses
        .iter()
        .zip(&observation.observed)
        .zip(&observation.inputs)
        .map(|((status, observed), input)| MetricForecast {
            metric: status.name.clone(),
            unit: status.unit.clone(),
            per_replica: input.per_replica,
            quantile: spec.forecast.quantile,
            recent: observed.recent.clone(),
            path: observed.path.clone(),
            used: observed.peak.is_some(),
        })
        .collect();
    let facts = Facts::Read {
        scale,
        hpas,
        rivals: Vec::new(),
        hold,
        lead,
        metrics: Ok(observation),
    };
    let evaluation = evaluate(spec, &facts, before, None, now);
    let target = format!("{} {}", spec.target_ref.kind, spec.target_ref.name);
    let write = evaluation.write.as_ref().map(|w| match w {
        Write::Scale { from, to } => format!("scale {target} from {from} to {to}"),
        Write::HpaFloor { hpa, from, to, .. } => {
            format!("set minReplicas of HorizontalPodAutoscaler {hpa} from {from} to {to}")
        }
        Write::RestoreHpa { hpa, to } => {
            format!("restore minReplicas of HorizontalPodAutoscaler {hpa} to {to}")
        }
    });
    Explanation {
        why: evaluation.why().to_string(),
        decision: evaluation.decision,
        write,
        status: evaluation.status,
        forecasts,
        now,
        lead_s: timing.lead,
    }
}
