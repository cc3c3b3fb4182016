//! The reconcile's reads: the target and its `/scale`, the HPAs on it, and the metrics with
//! their forecasts. Everything [`super::evaluate::evaluate`] decides on comes from here.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::discovery::ApiResource;

use crate::plan::{HpaView, Timing};
use crate::policy::{LeadTimeMode, LeadTimeStatus, ScalingPolicy, ScalingPolicySpec, validate};

use super::context::Context;
use super::error::ReconcileError;
use super::evaluate::Facts;
use super::leadtime;
use super::observe::{Problem, observe};
use super::target::{self, ScaleView, TargetError};

/// The facts, and the target's API resource when it was found (the writes need it).
pub struct Gathered {
    /// What was read.
    pub facts: Facts,
    /// The target's API resource.
    pub resource: Option<ApiResource>,
}

/// An HPA as the mode rule sees it, for the policy called `policy`.
pub fn hpa_view(hpa: &HorizontalPodAutoscaler, policy: &str) -> HpaView {
    let spec = hpa.spec.as_ref();
    HpaView {
        name: hpa.name_any(),
        min_replicas: spec.and_then(|s| s.min_replicas).unwrap_or(1),
        max_replicas: spec.map_or(i32::MAX, |s| s.max_replicas),
        ours: target::floor_owner(hpa)
            .filter(|(owner, _)| owner == policy)
            .map(|(_, original)| original),
    }
}

/// Reads what the policy's evaluation needs. A failure worth a retry is an error; one only
/// the user can fix becomes a fact.
/// `spec` is the one the plan runs on ([`leadtime::effective`]).
pub async fn gather(
    policy: &ScalingPolicy,
    spec: &ScalingPolicySpec,
    ctx: &Context,
    namespace: &str,
    (timing, hold): (Timing, &crate::policy::annotations::Hold),
    now: i64,
) -> Result<Gathered, ReconcileError> {
    if let Err(errors) = validate(spec) {
        return Ok(Gathered {
            facts: Facts::Invalid(errors),
            resource: None,
        });
    }
    let name = policy.name_any();
    let (resource, scale) = match resolve_and_read(ctx, (namespace, &name), policy).await {
        Ok(found) => found,
        Err(e) if e.is_permanent() => {
            return Ok(Gathered {
                facts: Facts::NoTarget(Problem {
                    reason: e.reason(),
                    message: e.to_string(),
                    unavailable: false,
                }),
                resource: None,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let before = policy.status.as_ref().and_then(|s| s.lead_time.as_ref());
    let lead = lead_time(ctx, (namespace, &name), &policy.spec, before, &scale, now).await;
    let hpas = ctx
        .hpas_for(namespace, &spec.target_ref)
        .await
        .iter()
        .map(|h| hpa_view(h, &name))
        .collect();
    let metrics = match ctx.cache_for(policy).await {
        Err(problem) => Err(problem),
        Ok(cache) => {
            let observation = observe(
                &cache,
                &ctx.policies,
                namespace,
                &name,
                spec,
                &scale,
                timing,
                now,
                policy.status.as_ref().map_or(&[], |s| s.metrics.as_slice()),
            )
            .await;
            for (ok, took) in &observation.reads {
                ctx.metrics.prometheus_query(*ok, *took);
                ctx.policies.waited(namespace, &name, *took);
            }
            Ok(observation)
        }
    };
    Ok(Gathered {
        facts: Facts::Read {
            scale,
            hpas,
            rivals: ctx.rivals_of(policy),
            hold: hold.clone(),
            lead,
            metrics,
        },
        resource: Some(resource),
    })
}

async fn resolve_and_read(
    ctx: &Context,
    (namespace, name): (&str, &str),
    policy: &ScalingPolicy,
) -> Result<(ApiResource, ScaleView), TargetError> {
    let resource = ctx.resolve(&policy.spec.target_ref).await?;
    let read = target::read_scale(&ctx.client, &resource, namespace, &policy.spec.target_ref);
    let scale = ctx.policies.api_call(namespace, name, read).await?;
    Ok((resource, scale))
}

/// `status.leadTime`: the spec's, or with `leadTimeMode: Auto` what the pods tell when they
/// are due a look (else what status said). `spec` is the user's, not the effective one.
async fn lead_time(
    ctx: &Context,
    (namespace, name): (&str, &str),
    spec: &ScalingPolicySpec,
    before: Option<&LeadTimeStatus>,
    scale: &ScaleView,
    now: i64,
) -> LeadTimeStatus {
    if spec.forecast.lead_time_mode == LeadTimeMode::Fixed {
        return leadtime::from_spec(spec, String::new());
    }
    let seen = (scale.replicas, scale.observed);
    let every = std::time::Duration::from_secs(leadtime::LOOK_EVERY_S);
    if let Some(kept) = before.filter(|_| !ctx.policies.pods_due(namespace, name, seen, every)) {
        return kept.clone();
    }
    match leadtime::list_pods(&ctx.client, namespace, &scale.selector).await {
        Ok(pods) => {
            let measured = leadtime::measure(&pods, now);
            ctx.policies
                .pods_looked(namespace, name, seen, measured.starting);
            leadtime::learned(spec, before, &measured)
        }
        Err(error) => {
            tracing::warn!(%error, "could not list the target's pods for leadTimeMode Auto");
            // Not again before the next regular look: a refusal is not fixed in 15 s.
            ctx.policies.pods_looked(namespace, name, seen, false);
            leadtime::unreadable(spec, before, namespace, &error)
        }
    }
}
