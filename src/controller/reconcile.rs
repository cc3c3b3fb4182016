//! One reconcile of one ScalingPolicy, as a pipeline: validate → resolve the target and read
//! its `/scale` → refuse to fight another autoscaler → metrics → forecast → decide → act by
//! mode → status and Events.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use crate::plan::{self, Inputs, Limit, Tolerance};
use crate::policy::status::condition;
use crate::policy::{Mode, ResolvedBehavior, ScalingPolicy, ScalingPolicyStatus, validate};

use super::context::Context;
use super::observe::{Observation, observe};
use super::report::{self, Wanted, changed, set_condition, store_plan_state};
use super::target::{self, FIELD_MANAGER, ScaleView, TargetError};

/// A reconcile that could not finish; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The target could not be read or written.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Another API call failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// The failure.
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// A short label for the operator's error counter.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Target(e) => e.reason(),
            ReconcileError::Api { .. } => "KubernetesApi",
        }
    }
}

fn api(what: &'static str) -> impl FnOnce(kube::Error) -> ReconcileError {
    move |source| ReconcileError::Api { what, source }
}

/// Events to publish after the status is written.
type Events = Vec<Event>;

fn event(type_: EventType, reason: &str, action: &str, note: String) -> Event {
    Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Reconciles one policy.
pub async fn reconcile(
    policy: Arc<ScalingPolicy>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let span = tracing::info_span!("reconcile", namespace = %namespace, policy = %name);
    let started = std::time::Instant::now();
    let result = reconcile_inner(&policy, &ctx, &namespace, &name)
        .instrument(span)
        .await;
    ctx.observe_reconcile(&namespace, &name, &result, started.elapsed());
    result
}

async fn reconcile_inner(
    policy: &ScalingPolicy,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Action, ReconcileError> {
    let sync = policy
        .spec
        .sync_period
        .as_ref()
        .and_then(|d| d.seconds().ok())
        .filter(|s| *s > 0)
        .map_or(ctx.sync_period, Duration::from_secs);
    if !ctx.is_leader() {
        // Standbys watch but never write; they look again once they lead.
        return Ok(Action::requeue(sync));
    }
    let generation = policy.metadata.generation;
    if let Some(wait) = ctx.too_soon(namespace, name, generation, sync) {
        let status = policy.status.as_ref();
        let invalid = status.is_some_and(|s| {
            s.observed_generation == generation
                && report::condition(&s.conditions, condition::READY)
                    .is_some_and(|c| c.reason == "InvalidSpec")
        });
        // An invalid spec waits for the user's next change, not for a timer.
        return Ok(if invalid {
            Action::await_change()
        } else {
            Action::requeue(wait)
        });
    }
    let now = unix_now();
    let before = policy.status.clone().unwrap_or_default();
    let mut status = before.clone();
    status.observed_generation = generation;
    let mut events = Events::new();
    let action = evaluate(policy, ctx, namespace, &mut status, &mut events, now, sync).await?;
    announce_transitions(&before, &status, &mut events);
    if !ctx.is_leader() {
        return Ok(Action::requeue(sync));
    }
    if status != before {
        let policies: Api<ScalingPolicy> = Api::namespaced(ctx.client.clone(), namespace);
        let patch = serde_json::json!({ "status": status });
        policies
            .patch_status(
                name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&patch),
            )
            .await
            .map_err(api("writing status"))?;
    }
    ctx.ran(namespace, name, generation);
    let reference = policy.object_ref(&());
    for e in events {
        if let Err(error) = ctx.recorder.publish(&e, &reference).await {
            tracing::warn!(%error, reason = %e.reason, "could not publish an Event");
        }
    }
    Ok(action)
}

/// Events for condition changes that are not tied to one write.
fn announce_transitions(
    before: &ScalingPolicyStatus,
    after: &ScalingPolicyStatus,
    events: &mut Events,
) {
    let b = &before.conditions;
    let a = &after.conditions;
    let get = |type_| report::condition(a, type_);
    if changed(b, a, condition::METRICS_AVAILABLE)
        && let Some(c) = get(condition::METRICS_AVAILABLE)
    {
        if c.status == "False" {
            events.push(event(
                EventType::Warning,
                "FallbackEntered",
                "Fallback",
                c.message.clone(),
            ));
        } else if report::condition(b, condition::METRICS_AVAILABLE).is_some() {
            events.push(event(
                EventType::Normal,
                "FallbackLeft",
                "Fallback",
                "metrics are readable again; scaling on them".to_string(),
            ));
        }
    }
    for type_ in [condition::READY, condition::SCALING_ACTIVE] {
        if changed(b, a, type_)
            && let Some(c) = get(type_)
            && c.status == "False"
            && c.reason != "ForecastOnly"
        {
            events.push(event(
                EventType::Warning,
                &c.reason,
                "Reconcile",
                c.message.clone(),
            ));
        }
    }
}

fn ready(status: &mut ScalingPolicyStatus, ok: bool, reason: &str, message: String, now: i64) {
    set(status, condition::READY, ok, reason, message, now);
}

fn set(
    status: &mut ScalingPolicyStatus,
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    now: i64,
) {
    let generation = status.observed_generation;
    set_condition(
        &mut status.conditions,
        Wanted {
            type_,
            status: ok,
            reason,
            message,
        },
        generation,
        now,
    );
}

#[allow(clippy::too_many_arguments)]
async fn evaluate(
    policy: &ScalingPolicy,
    ctx: &Context,
    namespace: &str,
    status: &mut ScalingPolicyStatus,
    events: &mut Events,
    now: i64,
    sync: Duration,
) -> Result<Action, ReconcileError> {
    let spec = &policy.spec;
    let name = policy.name_any();

    // 1. Validate: an invalid spec waits for the user to change it.
    if let Err(errors) = validate(spec) {
        ready(status, false, "InvalidSpec", errors.to_string(), now);
        return Ok(Action::await_change());
    }

    // 2. The target and its /scale.
    let target_ref = &spec.target_ref;
    let scale = match resolve_and_read(ctx, namespace, policy).await {
        Ok(found) => found,
        Err(e) if e.is_permanent() => {
            ready(status, false, e.reason(), e.to_string(), now);
            return Ok(Action::requeue(sync));
        }
        Err(e) => return Err(e.into()),
    };
    let (resource, scale) = scale;
    status.current_replicas = Some(scale.replicas);

    // 3. Refuse to fight: another HPA on the target.
    let hpas = ctx.hpas_for(namespace, target_ref).await;
    let hpa_names: Vec<String> = hpas.iter().map(|h| h.name_any()).collect();
    let may_write = match spec.mode {
        Mode::Auto if !hpas.is_empty() => {
            set(
                status,
                condition::SCALING_ACTIVE,
                false,
                "AutoscalerConflict",
                format!(
                    "HorizontalPodAutoscaler {} also scales {} {}; prescaler will not fight it and writes nothing. Delete the HPA, or set spec.mode: HPAFloor to feed it the forecast as its minReplicas",
                    hpa_names.join(", "),
                    target_ref.kind,
                    target_ref.name
                ),
                now,
            );
            false
        }
        Mode::HpaFloor if hpas.is_empty() => {
            set(
                status,
                condition::SCALING_ACTIVE,
                false,
                "HPANotFound",
                format!(
                    "spec.mode is HPAFloor but no HorizontalPodAutoscaler targets {} {}; create one, or set spec.mode: Auto",
                    target_ref.kind, target_ref.name
                ),
                now,
            );
            false
        }
        Mode::HpaFloor if hpas.len() > 1 => {
            set(
                status,
                condition::SCALING_ACTIVE,
                false,
                "AutoscalerConflict",
                format!(
                    "HorizontalPodAutoscalers {} all target {} {}; keep one so prescaler knows which floor to set",
                    hpa_names.join(", "),
                    target_ref.kind,
                    target_ref.name
                ),
                now,
            );
            false
        }
        Mode::ForecastOnly => {
            set(
                status,
                condition::SCALING_ACTIVE,
                false,
                "ForecastOnly",
                "spec.mode is ForecastOnly: replicas are computed and reported, never written"
                    .into(),
                now,
            );
            false
        }
        Mode::Auto => {
            set(
                status,
                condition::SCALING_ACTIVE,
                true,
                "Scaling",
                format!(
                    "prescaler sets the replicas of {} {}",
                    target_ref.kind, target_ref.name
                ),
                now,
            );
            true
        }
        Mode::HpaFloor => {
            set(
                status,
                condition::SCALING_ACTIVE,
                true,
                "HPAFloor",
                format!(
                    "prescaler sets minReplicas of HorizontalPodAutoscaler {}",
                    hpa_names.join(", ")
                ),
                now,
            );
            true
        }
    };

    // 4. Metrics and forecasts.
    let cache = match ctx.cache_for(policy).await {
        Ok(cache) => cache,
        Err(problem) => {
            ready(status, false, problem.reason, problem.message, now);
            return Ok(Action::requeue(sync));
        }
    };
    let timing = plan::Timing::from_policy(&spec.forecast, sync.as_secs());
    let observation = observe(
        &cache,
        &ctx.engines,
        namespace,
        &name,
        spec,
        &scale,
        timing,
        now,
    )
    .await;
    for (ok, took) in &observation.reads {
        ctx.metrics.prometheus_query(*ok, *took);
    }

    // 5. Decide.
    let behavior = ResolvedBehavior::resolve(spec.behavior.as_ref());
    let mut state = report::plan_state(status);
    let saved_events = (state.up_events.clone(), state.down_events.clone());
    let inputs = Inputs {
        now,
        current: scale.replicas,
        ready: scale.observed,
        min: spec.min_replicas,
        max: spec.max_replicas,
        metrics: &observation.inputs,
        headroom_percent: f64::from(spec.forecast.headroom),
        behavior: &behavior,
        fallback: &spec.fallback,
        tolerance: Tolerance::default(),
    };
    let decision = plan::decide(&inputs, &mut state);

    // 6. Act by mode.
    let mut wrote = false;
    // Leadership can be lost while metrics were read: check again right before writing.
    if may_write && ctx.is_leader() {
        match spec.mode {
            Mode::Auto if decision.replicas != scale.replicas => {
                target::write_scale(
                    &ctx.client,
                    &resource,
                    namespace,
                    target_ref,
                    decision.replicas,
                )
                .await?;
                wrote = true;
                status.last_scale_time = Some(report::time(now));
                let (reason, verb) = if decision.replicas > scale.replicas {
                    ("ScaledUp", "up")
                } else {
                    ("ScaledDown", "down")
                };
                events.push(event(
                    EventType::Normal,
                    reason,
                    "Scale",
                    format!(
                        "scaled {verb} {} {} from {} to {}: {}",
                        target_ref.kind,
                        target_ref.name,
                        scale.replicas,
                        decision.replicas,
                        explain(&decision, &observation)
                    ),
                ));
            }
            Mode::HpaFloor => {
                if let Some(hpa) = hpas.first() {
                    let floor = hpa_floor(spec, &decision, hpa);
                    wrote = set_hpa_floor(ctx, namespace, hpa, floor, events).await?;
                }
            }
            _ => {}
        }
    }
    if !wrote {
        // Nothing changed on the target: the rate limits must not count a change.
        state.up_events = saved_events.0;
        state.down_events = saved_events.1;
    }
    store_plan_state(status, &state);

    // 7. Status.
    status.desired_replicas = Some(decision.replicas);
    status.reactive_replicas = decision.reactive;
    status.predicted_replicas = decision.predictive;
    status.metrics = observation.statuses.clone();
    let mut models: Vec<&str> = observation
        .statuses
        .iter()
        .filter_map(|m| m.model.as_deref())
        .collect();
    models.dedup();
    status.model = (!models.is_empty()).then(|| models.join(","));
    conditions_after_decision(status, &decision, &observation, spec, now);
    ctx.record_policy(namespace, &name, status, &observation);
    Ok(Action::requeue(sync))
}

async fn resolve_and_read(
    ctx: &Context,
    namespace: &str,
    policy: &ScalingPolicy,
) -> Result<(kube::discovery::ApiResource, ScaleView), TargetError> {
    let resource = ctx.resolve(&policy.spec.target_ref).await?;
    let scale =
        target::read_scale(&ctx.client, &resource, namespace, &policy.spec.target_ref).await?;
    Ok((resource, scale))
}

/// The HPA's `minReplicas` in HPAFloor mode: the forecast's replicas within the policy's
/// bounds. Without metrics the floor is never lowered, only raised to a `Replicas` fallback.
fn hpa_floor(
    spec: &crate::policy::ScalingPolicySpec,
    decision: &plan::ScaleDecision,
    hpa: &HorizontalPodAutoscaler,
) -> i32 {
    let current = hpa.spec.as_ref().and_then(|s| s.min_replicas).unwrap_or(1);
    if decision.reactive.is_none() {
        let fallback = match spec.fallback.kind {
            crate::policy::FallbackType::Replicas => spec.fallback.replicas.unwrap_or(0),
            crate::policy::FallbackType::HoldCurrent => 0,
        };
        return current.max(fallback.min(spec.max_replicas));
    }
    decision
        .predictive
        .unwrap_or(spec.min_replicas)
        .clamp(spec.min_replicas, spec.max_replicas)
}

async fn set_hpa_floor(
    ctx: &Context,
    namespace: &str,
    hpa: &HorizontalPodAutoscaler,
    floor: i32,
    events: &mut Events,
) -> Result<bool, ReconcileError> {
    let current = hpa.spec.as_ref().and_then(|s| s.min_replicas).unwrap_or(1);
    let max = hpa.spec.as_ref().map_or(i32::MAX, |s| s.max_replicas);
    let floor = floor.min(max);
    if current == floor {
        return Ok(false);
    }
    target::write_hpa_floor(&ctx.client, namespace, &hpa.name_any(), floor)
        .await
        .map_err(api("writing the HPA's minReplicas"))?;
    events.push(event(
        EventType::Normal,
        "HPAFloorUpdated",
        "Scale",
        format!(
            "set minReplicas of HorizontalPodAutoscaler {} from {current} to {floor} (forecast)",
            hpa.name_any()
        ),
    ));
    Ok(true)
}

/// One sentence on why the decision is what it is.
fn explain(decision: &plan::ScaleDecision, observation: &Observation) -> String {
    let peak = observation
        .statuses
        .iter()
        .zip(&observation.inputs)
        .filter_map(|(s, i)| Some((s, i.forecast_need?.window, s.expected_peak_time.as_ref()?)))
        .map(|(s, value, at)| format!("{} forecast peak {value:.3} at {}", s.name, at.0))
        .next();
    let mut text = match decision.reason {
        plan::Reason::ForecastAhead => format!(
            "ForecastAhead: the forecast needs {} replicas, current load {}",
            decision.predictive.unwrap_or_default(),
            decision.reactive.unwrap_or_default()
        ),
        plan::Reason::CurrentLoad => format!(
            "CurrentLoad: current load needs {} replicas (forecast {})",
            decision.reactive.unwrap_or_default(),
            decision.predictive.unwrap_or_default()
        ),
        plan::Reason::ReactiveOnly => format!(
            "ReactiveOnly: no reliable forecast; current load needs {} replicas",
            decision.reactive.unwrap_or_default()
        ),
        plan::Reason::MetricsUnavailableHold | plan::Reason::MetricsUnavailableFloor => {
            format!(
                "{}: metrics unavailable, applying spec.fallback",
                decision.reason
            )
        }
    };
    if let Some(peak) = peak.filter(|_| decision.reason == plan::Reason::ForecastAhead) {
        text.push_str(&format!(" ({peak})"));
    }
    if let Some(limit) = decision.limited_by {
        text.push_str(&format!("; limited by {}", limit_word(limit)));
    }
    text
}

fn limit_word(limit: Limit) -> &'static str {
    match limit {
        Limit::MaxReplicas => "maxReplicas",
        Limit::MinReplicas => "minReplicas",
        Limit::ScaleUpPolicy => "a scale-up policy",
        Limit::ScaleDownPolicy => "a scale-down policy",
        Limit::Stabilization => "the stabilization window",
    }
}

fn conditions_after_decision(
    status: &mut ScalingPolicyStatus,
    decision: &plan::ScaleDecision,
    observation: &Observation,
    spec: &crate::policy::ScalingPolicySpec,
    now: i64,
) {
    ready(
        status,
        true,
        "Reconciled",
        format!(
            "desired {} replicas: {}",
            decision.replicas,
            explain(decision, observation)
        ),
        now,
    );
    match decision.limited_by {
        Some(limit) => set(
            status,
            condition::SCALING_LIMITED,
            true,
            limit_reason(limit),
            format!("the recommendation was cut by {}", limit_word(limit)),
            now,
        ),
        None => set(
            status,
            condition::SCALING_LIMITED,
            false,
            "DesiredWithinRange",
            "the recommendation is within minReplicas, maxReplicas and the behavior policies"
                .into(),
            now,
        ),
    }
    match &observation.metrics_problem {
        Some(problem) => {
            let fallback = match spec.fallback.kind {
                crate::policy::FallbackType::HoldCurrent => {
                    "holding the current replicas (spec.fallback HoldCurrent)".to_string()
                }
                crate::policy::FallbackType::Replicas => format!(
                    "keeping at least {} replicas (spec.fallback Replicas), never scaling down",
                    spec.fallback.replicas.unwrap_or(spec.min_replicas)
                ),
            };
            let message = if decision.reactive.is_none() {
                format!("{}; {fallback}", problem.message)
            } else {
                format!("{}; the other metrics decide", problem.message)
            };
            set(
                status,
                condition::METRICS_AVAILABLE,
                false,
                problem.reason,
                message,
                now,
            )
        }
        None => set(
            status,
            condition::METRICS_AVAILABLE,
            true,
            "MetricsRead",
            format!("{} metric(s) read from Prometheus", spec.metrics.len()),
            now,
        ),
    }
    match (&observation.forecast_problem, decision.predictive) {
        (Some(problem), _) => set(
            status,
            condition::FORECAST_RELIABLE,
            false,
            problem.reason,
            problem.message.clone(),
            now,
        ),
        (None, Some(_)) => set(
            status,
            condition::FORECAST_RELIABLE,
            true,
            "ForecastUsed",
            format!("models: {}", status.model.clone().unwrap_or_default()),
            now,
        ),
        (None, None) => set(
            status,
            condition::FORECAST_RELIABLE,
            false,
            "NoForecast",
            "no metric could be forecast this cycle; scaling reactively".into(),
            now,
        ),
    }
}

fn limit_reason(limit: Limit) -> &'static str {
    match limit {
        Limit::MaxReplicas => "TooManyReplicas",
        Limit::MinReplicas => "TooFewReplicas",
        Limit::ScaleUpPolicy => "ScaleUpLimit",
        Limit::ScaleDownPolicy => "ScaleDownLimit",
        Limit::Stabilization => "Stabilizing",
    }
}
