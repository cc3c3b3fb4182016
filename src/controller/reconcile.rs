//! One reconcile of one ScalingPolicy, as a pipeline: gather (every read: the target's
//! `/scale`, its HPAs, the metrics and forecasts) → evaluate (pure: the decision, the write,
//! the status, the Events) → apply (the write, recorded once made) → status and Events.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use crate::plan;
use crate::policy::ScalingPolicy;

use super::context::{Context, PolicyRecord};
use super::error::{ReconcileError, api};
use super::evaluate::{Evaluation, Facts, Next, Write, evaluate, invalid_at};
use super::gather::{Gathered, gather};
use super::leadtime;
use super::queue::Action;
use super::target::{self, FIELD_MANAGER};
use crate::telemetry::Direction;

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
    // Entered before anything can fail, so the janitor finds every policy it touched.
    ctx.policies.enter(&namespace, &name);
    let started = std::time::Instant::now();
    let result = reconcile_inner(&policy, &ctx, &namespace, &name)
        .instrument(span)
        .await;
    let took = started.elapsed();
    ctx.observe_reconcile(&namespace, &name, &result, took);
    // The waits for Prometheus and for the API server apart from the rest, which is the
    // operator's own share: what sizing depends on. Read only when logged.
    if tracing::enabled!(tracing::Level::DEBUG) {
        let (prometheus, kubernetes, full) = ctx.policies.last_run(&namespace, &name, started);
        tracing::debug!(
            %namespace,
            policy = %name,
            took_us = took.as_micros() as u64,
            prometheus_us = prometheus.as_micros() as u64,
            api_us = kubernetes.as_micros() as u64,
            full,
            "reconciled"
        );
    }
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
    ctx.policies.syncs_every(namespace, name, sync);
    if !ctx.may_write(namespace, name) {
        // Standbys and other shards watch but never write; they look again once they lead.
        return Ok(Action::requeue(sync));
    }
    let generation = policy.metadata.generation;
    let hold = crate::policy::annotations::hold(policy.annotations());
    let version = (generation, hold);
    if let Some(wait) = ctx.policies.too_soon(namespace, name, &version, sync) {
        // An invalid spec waits for the user's next change, not for a timer.
        return Ok(if invalid_at(policy.status.as_ref(), generation) {
            Action::await_change()
        } else {
            Action::requeue(wait)
        });
    }
    let now = unix_now();
    let stored = policy.status.clone().unwrap_or_default();
    let before = ctx.policies.before(namespace, name, &stored, now);
    // The plan runs on the lead time learned so far (leadTimeMode Auto).
    let spec = leadtime::effective(&policy.spec, before.lead_time.as_ref());
    let timing = plan::Timing::from_policy(&spec.forecast, sync.as_secs());

    // gather → evaluate → apply → status.
    let gathered = gather(policy, &spec, ctx, namespace, (timing, &version.1), now).await?;
    let mut evaluation = evaluate(&spec, &gathered.facts, &before, generation, now);
    let written = apply(ctx, policy, namespace, &gathered, &mut evaluation, now).await?;
    if !ctx.may_write(namespace, name) {
        return Ok(Action::requeue(sync));
    }
    let status = &evaluation.status;
    // Only the newest recommendation's time moved: kept here, written with the next change
    // a user can see, or once the stored time lags by the refresh bound.
    let held = super::report::only_refreshed(&stored, status).then(|| {
        (
            stored.recommendations.clone(),
            status.recommendations.clone(),
        )
    });
    if held.is_none() && *status != stored {
        let policies: Api<ScalingPolicy> = Api::namespaced(ctx.client.clone(), namespace);
        // Only what changed, with `null` for what was removed: a merge patch of the whole
        // status could not clear a field.
        let patch = match (serde_json::to_value(&stored), serde_json::to_value(status)) {
            (Ok(old), Ok(new)) => {
                serde_json::json!({ "status": super::report::merge_patch(&old, &new) })
            }
            _ => serde_json::json!({ "status": status }),
        };
        tracing::debug!(%namespace, policy = %name, patch = %patch["status"], "status written");
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(&patch);
        let write = policies.patch_status(name, &params, &patch);
        ctx.policies
            .api_call(namespace, name, write)
            .await
            .map_err(api("writing status"))?;
    }
    ctx.policies.settle(namespace, name, held);
    ctx.policies.ran(namespace, name, version);
    if let Some(Write::Scale { from, to } | Write::HpaFloor { from, to, .. }) = &evaluation.write
        && written
    {
        let direction = if to > from {
            Direction::Up
        } else {
            Direction::Down
        };
        ctx.metrics.scale_written(namespace, name, direction);
    }
    if let Facts::Read {
        metrics: Ok(observation),
        ..
    } = &gathered.facts
    {
        ctx.record_policy(
            namespace,
            name,
            PolicyRecord {
                spec: &spec,
                status,
                observation,
                now,
                sync_s: sync.as_secs(),
            },
        );
    }
    let reference = policy.object_ref(&());
    for e in &evaluation.events {
        if let Err(error) = ctx.recorder.publish(e, &reference).await {
            tracing::warn!(%error, reason = %e.reason, "could not publish an Event");
        }
    }
    Ok(match evaluation.next {
        Next::AwaitChange => Action::await_change(),
        Next::Sync => Action::requeue(sync),
    })
}

/// Makes the evaluation's write, if this process still leads, and records it once made;
/// true when it was made.
async fn apply(
    ctx: &Context,
    policy: &ScalingPolicy,
    namespace: &str,
    gathered: &Gathered,
    evaluation: &mut Evaluation,
    now: i64,
) -> Result<bool, ReconcileError> {
    let (Some(write), Some(resource)) = (&evaluation.write, &gathered.resource) else {
        return Ok(false);
    };
    // Leadership can be lost while metrics were read: check again right before writing.
    if !ctx.may_write(namespace, &policy.name_any()) {
        return Ok(false);
    }
    match write {
        Write::Scale { to, .. } => {
            let write = target::write_scale(
                &ctx.client,
                resource,
                namespace,
                &policy.spec.target_ref,
                *to,
            );
            let written = ctx
                .policies
                .api_call(namespace, &policy.name_any(), write)
                .await;
            match written {
                // Only the user can fix a refused write: say so on the policy, do not retry
                // with backoff.
                Err(e) if e.is_permanent() => {
                    evaluation.refused(e.reason(), e.to_string(), now);
                    return Ok(false);
                }
                other => other?,
            }
        }
        Write::HpaFloor {
            hpa,
            from,
            to,
            keep_original,
        } => {
            let name = policy.name_any();
            let keep = keep_original.then_some((name.as_str(), *from));
            target::write_hpa_floor(&ctx.client, namespace, hpa, *to, keep)
                .await
                .map_err(api("writing the HPA's minReplicas"))?;
        }
        Write::RestoreHpa { hpa, to } => {
            target::restore_hpa_floor(&ctx.client, namespace, hpa, *to)
                .await
                .map_err(api("restoring the HPA's minReplicas"))?;
        }
    }
    evaluation.written(now);
    Ok(true)
}
