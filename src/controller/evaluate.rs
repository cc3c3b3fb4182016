//! The reconcile's pure step: from the spec, what was gathered, the status before and the
//! time, to the decision, the write to make (if any), the new status and the Events. No
//! I/O happens here, so every mode and fallback path is unit-tested below.

use kube::runtime::events::{Event, EventType};

use crate::plan::{
    self, Gate, HpaView, Inputs, Limit, PlanState, ScaleDecision, Tolerance, Writes, gate,
    hpa_floor, record_scale,
};
use crate::policy::annotations::{self, Hold};
use crate::policy::status::condition;
use crate::policy::{
    ConditionReason, FallbackType, LeadTimeMode, LeadTimeStatus, ResolvedBehavior,
    ScalingPolicySpec, ScalingPolicyStatus, SpecErrors,
};

use super::leadtime;
use super::observe::{Observation, Problem};
use super::report::{self, Wanted, changed, set_condition, store_plan_state};
use super::target::ScaleView;

/// What one reconcile read from the cluster and from Prometheus.
// One per reconcile and never stored: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Facts {
    /// The spec breaks a rule; nothing was read.
    Invalid(SpecErrors),
    /// The target cannot be found or read, for a reason only the user can fix.
    NoTarget(Problem),
    /// The target's `/scale` and the HPAs on it were read; then the metrics, unless their
    /// source could not be set up.
    Read {
        /// The target's `/scale`.
        scale: ScaleView,
        /// The HPAs that scale the target.
        hpas: Vec<HpaView>,
        /// Older ScalingPolicies (by name) that scale the same target and may write.
        rivals: Vec<String>,
        /// What the pause annotations ask for.
        hold: Hold,
        /// The lead time in use and where it comes from.
        lead: LeadTimeStatus,
        /// The metrics and their forecasts, or why there is no source for them.
        metrics: Result<Observation, Problem>,
    },
}

/// When to look at the policy again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// After the sync period.
    Sync,
    /// When the user changes the policy (an invalid spec).
    AwaitChange,
}

/// A write the evaluation asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Set the target's `/scale` `spec.replicas`.
    Scale {
        /// Replicas now.
        from: i32,
        /// Replicas to set.
        to: i32,
    },
    /// Set an HPA's `minReplicas`.
    HpaFloor {
        /// The HPA.
        hpa: String,
        /// Its minReplicas now.
        from: i32,
        /// The floor to set.
        to: i32,
        /// True the first time: `from` is the HPA's own minReplicas, kept on it (an
        /// annotation) to be put back later.
        keep_original: bool,
    },
    /// Put back the `minReplicas` an HPA had before this policy raised it, because the
    /// policy no longer sets it (its mode changed).
    RestoreHpa {
        /// The HPA.
        hpa: String,
        /// Its own minReplicas.
        to: i32,
    },
}

/// The outcome of [`evaluate`].
pub struct Evaluation {
    /// The status to write (before any write is recorded by [`Evaluation::written`]).
    pub status: ScalingPolicyStatus,
    /// The write to make, if any.
    pub write: Option<Write>,
    /// Events to publish after the status.
    pub events: Vec<Event>,
    /// When to reconcile again.
    pub next: Next,
    /// The decision, when one was made.
    pub decision: Option<ScaleDecision>,
    state: PlanState,
    why: String,
    target: String,
    before_ready: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
}

fn event(type_: EventType, reason: &str, action: &str, note: String) -> Event {
    Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    }
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

/// True when the status says the spec at this generation was found invalid: such a policy
/// waits for the user's next change, not for a timer.
pub fn invalid_at(status: Option<&ScalingPolicyStatus>, generation: Option<i64>) -> bool {
    status.is_some_and(|s| {
        s.observed_generation == generation
            && report::condition(&s.conditions, condition::READY)
                .is_some_and(|c| c.reason == ConditionReason::InvalidSpec.as_str())
    })
}

/// Evaluates one policy: pure, and the same for every caller.
pub fn evaluate(
    spec: &ScalingPolicySpec,
    facts: &Facts,
    before: &ScalingPolicyStatus,
    generation: Option<i64>,
    now: i64,
) -> Evaluation {
    let mut status = before.clone();
    status.observed_generation = generation;
    let target = format!("{} {}", spec.target_ref.kind, spec.target_ref.name);
    let mut out = Evaluation {
        status,
        write: None,
        events: Vec::new(),
        next: Next::Sync,
        decision: None,
        state: PlanState::default(),
        why: String::new(),
        target,
        before_ready: report::condition(&before.conditions, condition::READY).cloned(),
    };
    let status = &mut out.status;
    let ready = |status: &mut ScalingPolicyStatus, ok, reason: &str, message| {
        set(status, condition::READY, ok, reason, message, now)
    };
    match facts {
        Facts::Invalid(errors) => {
            ready(
                status,
                false,
                ConditionReason::InvalidSpec.as_str(),
                errors.to_string(),
            );
            out.next = Next::AwaitChange;
        }
        Facts::NoTarget(problem) => {
            ready(status, false, problem.reason, problem.message.clone());
        }
        Facts::Read {
            scale,
            hpas,
            rivals,
            hold,
            lead,
            metrics,
        } => {
            status.current_replicas = Some(scale.replicas);
            status.lead_time = Some(lead.clone());
            if spec.forecast.lead_time_mode == LeadTimeMode::Auto {
                out.events
                    .extend(lead_time_event(before.lead_time.as_ref(), lead));
            }
            let resuming = report::condition(&before.conditions, condition::SCALING_ACTIVE)
                .is_some_and(|c| c.reason == ConditionReason::Paused.as_str());
            let mut gate = gate(spec.mode, &spec.target_ref, hpas, rivals);
            let allowed = gate.active();
            let pin = held(&mut gate, hold, spec, scale.replicas, resuming);
            // A pause keeps everything as it is, an HPA's raised floor included.
            let stopped = allowed && !gate.active();
            set(
                status,
                condition::SCALING_ACTIVE,
                gate.active() && pin.is_none(),
                gate.reason.as_str(),
                gate.message.clone(),
                now,
            );
            match metrics {
                Err(problem) => {
                    ready(status, false, problem.reason, problem.message.clone());
                    status.reason = Some(problem.reason.to_string());
                }
                Ok(observation) => decide(&mut out, spec, scale, &gate, observation, now),
            }
            if let Some(n) = pin {
                pin_to(&mut out, &gate, scale, n);
            }
            if spec.mode == crate::policy::Mode::ForecastOnly {
                would_scale(&mut out, before, scale.replicas, now);
                would_have(&mut out.status, before, scale.replicas, now);
            } else {
                out.status.would_have = None;
            }
            // Nothing written for a reason other than the mode: that is the story.
            if (stopped || pin.is_some() || !allowed)
                && spec.mode != crate::policy::Mode::ForecastOnly
            {
                out.status.reason = Some(gate.reason.as_str().to_string());
            }
            if !matches!(gate.writes, Writes::HpaFloor(_)) && out.write.is_none() && !stopped {
                out.write = restore(hpas);
            }
        }
    }
    announce_transitions(before, &out.status, &mut out.events);
    out
}

/// With `leadTimeMode: Auto`, an Event when the lead time in use changes, and a Warning
/// when the pods cannot be read (once per cause).
fn lead_time_event(before: Option<&LeadTimeStatus>, now: &LeadTimeStatus) -> Option<Event> {
    let same = |b: &LeadTimeStatus| b.value == now.value && b.source == now.source;
    if now.message.starts_with(leadtime::UNREADABLE) {
        if before.is_some_and(|b| b.message == now.message) {
            return None;
        }
        return Some(event(
            EventType::Warning,
            "LeadTimeNotLearned",
            "Learn",
            now.message.clone(),
        ));
    }
    match before {
        Some(b) if same(b) => return None,
        None if now.source != leadtime::FROM_PODS => return None,
        _ => {}
    }
    let was = before.map_or(String::new(), |b| {
        format!(" (was {} from {})", b.value, b.source)
    });
    Some(event(
        EventType::Normal,
        "LeadTimeLearned",
        "Learn",
        format!(
            "leadTime {} from {}: {}{was}",
            now.value, now.source, now.message
        ),
    ))
}

/// Applies the pause annotations, and HPA's rule that a target at 0 replicas is not
/// autoscaled, to what the mode rule allows. Returns the count to hold at, when one is
/// pinned and something may be written. A conflict or ForecastOnly keeps its own reason:
/// nothing is written either way. A target at 0 replicas because a pin put it there
/// (`resuming`) is scaled again once the pin goes.
fn held(
    gate: &mut Gate,
    hold: &Hold,
    spec: &ScalingPolicySpec,
    current: i32,
    resuming: bool,
) -> Option<i32> {
    if !gate.active() {
        return None;
    }
    let target = format!("{} {}", spec.target_ref.kind, spec.target_ref.name);
    let stop = |reason, message| Gate {
        writes: Writes::Nothing,
        reason,
        message,
    };
    match hold {
        Hold::None if current == 0 && !resuming => {
            *gate = stop(
                ConditionReason::ScalingDisabled,
                format!(
                    "{target} has 0 replicas: as for an HPA, autoscaling is off until it is scaled to at least 1 (kubectl scale), or held with annotation {}",
                    annotations::PAUSED_REPLICAS
                ),
            );
            None
        }
        Hold::None => None,
        Hold::Paused => {
            *gate = stop(
                ConditionReason::Paused,
                format!(
                    "paused by annotation {}: {target} stays at {current} replicas; desiredReplicas shows what would be written. Remove the annotation to resume",
                    annotations::PAUSED
                ),
            );
            None
        }
        Hold::Invalid(message) => {
            *gate = stop(ConditionReason::InvalidAnnotation, message.clone());
            None
        }
        Hold::Pinned(n) => {
            let what = match &gate.writes {
                Writes::HpaFloor(hpa) => format!(
                    "minReplicas of HorizontalPodAutoscaler {} held at {}",
                    hpa.name,
                    (*n).max(1)
                ),
                _ => format!("{target} held at {n} replicas"),
            };
            gate.reason = ConditionReason::Paused;
            gate.message = format!(
                "{what} by annotation {}; desiredReplicas shows what would be written. Remove the annotation to resume",
                annotations::PAUSED_REPLICAS
            );
            Some(*n)
        }
    }
}

/// Shortest time between two WouldScale Events of one policy.
const WOULD_SCALE_EVERY_S: i64 = 300;

/// ForecastOnly leaves a record to judge it by: an Event each time the replicas it would
/// set change and differ from the target's, at most one per five minutes.
fn would_scale(out: &mut Evaluation, before: &ScalingPolicyStatus, current: i32, now: i64) {
    let Some(desired) = out.status.desired_replicas else {
        return;
    };
    let recent = before
        .last_would_scale_time
        .as_ref()
        .is_some_and(|t| now - t.0.as_second() < WOULD_SCALE_EVERY_S);
    if desired == current || before.desired_replicas == Some(desired) || recent {
        return;
    }
    let (reason, verb) = if desired > current {
        ("WouldScaleUp", "up")
    } else {
        ("WouldScaleDown", "down")
    };
    out.status.last_would_scale_time = Some(report::time(now));
    out.events.push(event(
        EventType::Normal,
        reason,
        "Scale",
        format!(
            "New size would be: {desired}; would scale {verb} {} from {current} (spec.mode is ForecastOnly, nothing written); reason: {}",
            out.target, out.why
        ),
    ));
}

/// Longest gap between two reconciles that ForecastOnly's record counts; a longer one (no
/// leader, no metrics) counts nothing.
const WOULD_HAVE_GAP_S: i64 = 300;

/// Adds the time since the last reconcile to ForecastOnly's 24-hour record, with the
/// numbers as they are now: the plan's replicas against the target's, and whether either
/// covered what current load asks for.
fn would_have(
    status: &mut ScalingPolicyStatus,
    before: &ScalingPolicyStatus,
    current: i32,
    now: i64,
) {
    let (Some(desired), Some(reactive)) = (status.desired_replicas, status.reactive_replicas)
    else {
        status.would_have = before.would_have.clone();
        return;
    };
    let mut record =
        before
            .would_have
            .clone()
            .unwrap_or_else(|| crate::policy::status::WouldHave {
                pod_hours_added: 0.0,
                pod_hours_saved: 0.0,
                minutes_short: 0.0,
                minutes_short_avoided: 0.0,
                last: report::time(now),
                hours: Vec::new(),
            });
    let dt = now - record.last.0.as_second();
    record.last = report::time(now);
    if dt > 0 && dt <= WOULD_HAVE_GAP_S {
        let dt = dt as f64;
        let hour = now - now.rem_euclid(3_600);
        if record.hours.last().is_none_or(|h| h.hour != hour) {
            record.hours.push(crate::policy::status::WouldHaveHour {
                hour,
                ..Default::default()
            });
        }
        let h = record.hours.last_mut().expect("just pushed");
        let gap = f64::from(desired - current);
        h.added += gap.max(0.0) * dt;
        h.saved += (-gap).max(0.0) * dt;
        if current < reactive {
            h.short += dt;
            if desired >= reactive {
                h.avoided += dt;
            }
        }
    }
    record.hours.retain(|h| h.hour > now - 24 * 3_600 - 3_600);
    let sum = |f: fn(&crate::policy::status::WouldHaveHour) -> f64| {
        record.hours.iter().map(f).sum::<f64>()
    };
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    record.pod_hours_added = round2(sum(|h| h.added) / 3_600.0);
    record.pod_hours_saved = round2(sum(|h| h.saved) / 3_600.0);
    record.minutes_short = round2(sum(|h| h.short) / 60.0);
    record.minutes_short_avoided = round2(sum(|h| h.avoided) / 60.0);
    status.would_have = Some(record);
}

/// Replaces the decision's write with the pinned count.
fn pin_to(out: &mut Evaluation, gate: &Gate, scale: &ScaleView, n: i32) {
    out.write = match &gate.writes {
        Writes::Scale => (scale.replicas != n).then_some(Write::Scale {
            from: scale.replicas,
            to: n,
        }),
        // An HPA's minReplicas is at least 1.
        Writes::HpaFloor(hpa) => (hpa.min_replicas != n.max(1)).then(|| Write::HpaFloor {
            hpa: hpa.name.clone(),
            from: hpa.min_replicas,
            to: n.max(1),
            keep_original: hpa.ours.is_none(),
        }),
        Writes::Nothing => None,
    };
    out.why = format!("held at {n} by annotation {}", annotations::PAUSED_REPLICAS);
}

/// The restore an HPA whose floor this policy raised is owed, once the policy no longer
/// sets it.
fn restore(hpas: &[HpaView]) -> Option<Write> {
    hpas.iter().find_map(|h| {
        h.ours.map(|to| Write::RestoreHpa {
            hpa: h.name.clone(),
            to,
        })
    })
}

fn decide(
    out: &mut Evaluation,
    spec: &ScalingPolicySpec,
    scale: &ScaleView,
    gate: &Gate,
    observation: &Observation,
    now: i64,
) {
    let behavior = ResolvedBehavior::resolve(spec.behavior.as_ref());
    let schedules = plan::schedule::parse_all(&spec.schedules);
    let lead_s = spec.forecast.lead_time.seconds().unwrap_or(0);
    let mut state = report::plan_state(&out.status);
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
        schedules: &schedules,
        lead_s,
    };
    let decision = plan::decide(&inputs, &mut state);
    out.write = match &gate.writes {
        Writes::Scale if decision.replicas != scale.replicas => Some(Write::Scale {
            from: scale.replicas,
            to: decision.replicas,
        }),
        Writes::HpaFloor(hpa) => hpa_floor(
            &decision,
            spec.min_replicas,
            spec.max_replicas,
            &spec.fallback,
            hpa,
        )
        .map(|to| Write::HpaFloor {
            hpa: hpa.name.clone(),
            from: hpa.min_replicas,
            to,
            keep_original: hpa.ours.is_none(),
        }),
        _ => None,
    };
    let status = &mut out.status;
    store_plan_state(status, &state);
    status.desired_replicas = Some(decision.replicas);
    status.reactive_replicas = decision.reactive;
    status.predicted_replicas = decision.predictive;
    status.metrics = observation.statuses.clone();
    // Per metric, what it asks for; the highest decides (HPA's rule over several metrics).
    let mut decided: Option<(usize, i32)> = None;
    for (i, (m, input)) in status
        .metrics
        .iter_mut()
        .zip(&observation.inputs)
        .enumerate()
    {
        let (reactive, predicted) = plan::decide::metric_replicas(&inputs, input);
        m.reactive_replicas = reactive;
        m.predicted_replicas = predicted;
        if let Some(ask) = reactive.max(predicted)
            && decided.is_none_or(|(_, best)| ask > best)
        {
            decided = Some((i, ask));
        }
    }
    let decider = decided
        .filter(|_| decision.reactive.is_some())
        .map(|(i, _)| &status.metrics[i]);
    status.decided_by = decider.map(|m| m.name.clone());
    status.forecast_peak = decider
        .filter(|m| m.predicted_replicas.is_some())
        .and_then(|m| Some(peak_text(m.expected_peak?, m.expected_peak_time.as_ref()?)));
    status.targets = targets_line(&status.metrics);
    status.reason = Some(reason_word(&decision, observation).to_string());
    let mut models: Vec<&str> = observation
        .statuses
        .iter()
        .filter_map(|m| m.model.as_deref())
        .collect();
    models.dedup();
    status.model = (!models.is_empty()).then(|| models.join(","));
    out.why = explain(
        &decision,
        decided.map(|(i, _)| &status.metrics[i]),
        observation,
    );
    if decision.reason == plan::Reason::Scheduled {
        let base = decision
            .reactive
            .map(|r| decision.predictive.map_or(r, |p| p.max(r)));
        if let Some((n, name)) = plan::schedule::floor(&schedules, now, lead_s, base) {
            out.why = format!(
                "Scheduled: schedule {name} asks for {n} replicas (current load needs {}, the forecast {})",
                decision.reactive.map_or("?".into(), |r| r.to_string()),
                decision.predictive.map_or("-".into(), |p| p.to_string())
            );
            if let Some(limit) = decision.limited_by {
                out.why
                    .push_str(&format!("; limited by {}", limit_word(limit)));
            }
        }
    }
    conditions_after_decision(status, &decision, &out.why, observation, spec, now);
    out.state = state;
    out.decision = Some(decision);
}

impl Evaluation {
    /// The decision in one sentence, as the Ready message and scale Events give it.
    pub fn why(&self) -> &str {
        &self.why
    }

    /// Records that the write was refused for a reason only the user can fix (a 403):
    /// Ready turns False with it — keeping its transition time while it stays so — and a
    /// Warning says it once.
    pub fn refused(&mut self, reason: &str, message: String, now: i64) {
        self.write = None;
        let again = self
            .before_ready
            .as_ref()
            .is_some_and(|c| c.status == "False" && c.reason == reason);
        // The transition is judged against Ready as it was before this evaluation, not
        // against the True the evaluation just set: put that back, then set the condition.
        if let (Some(before), Some(slot)) = (
            self.before_ready.clone(),
            self.status
                .conditions
                .iter_mut()
                .find(|c| c.type_ == condition::READY),
        ) {
            *slot = before;
        }
        set(
            &mut self.status,
            condition::READY,
            false,
            reason,
            message.clone(),
            now,
        );
        if !again {
            self.events
                .push(event(EventType::Warning, reason, "Scale", message));
        }
    }

    /// Records that [`Evaluation::write`] was made: a scale counts for the rate limits from
    /// now on and is announced; a floor is announced.
    pub fn written(&mut self, now: i64) {
        let Some(write) = &self.write else {
            return;
        };
        let event = match write {
            Write::Scale { from, to } => {
                record_scale(&mut self.state, now, *from, *to);
                store_plan_state(&mut self.status, &self.state);
                self.status.last_scale_time = Some(report::time(now));
                let (reason, verb) = if to > from {
                    ("ScaledUp", "up")
                } else {
                    ("ScaledDown", "down")
                };
                event(
                    EventType::Normal,
                    reason,
                    "Scale",
                    format!(
                        "New size: {to}; scaled {verb} {} from {from}; reason: {}",
                        self.target, self.why
                    ),
                )
            }
            Write::HpaFloor { hpa, from, to, .. } => event(
                EventType::Normal,
                "HPAFloorUpdated",
                "Scale",
                format!(
                    "set minReplicas of HorizontalPodAutoscaler {hpa} from {from} to {to} (forecast)"
                ),
            ),
            Write::RestoreHpa { hpa, to } => event(
                EventType::Normal,
                "HPAFloorRestored",
                "Scale",
                format!(
                    "restored minReplicas of HorizontalPodAutoscaler {hpa} to its own {to}: spec.mode is no longer HPAFloor"
                ),
            ),
        };
        self.events.insert(0, event);
    }
}

/// Events for condition changes that are not tied to one write.
fn announce_transitions(
    before: &ScalingPolicyStatus,
    after: &ScalingPolicyStatus,
    events: &mut Vec<Event>,
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
    let paused = ConditionReason::Paused.as_str();
    for type_ in [condition::READY, condition::SCALING_ACTIVE] {
        if changed(b, a, type_)
            && let Some(c) = get(type_)
            && c.status == "False"
            && c.reason != ConditionReason::ForecastOnly.as_str()
            // FallbackEntered says it.
            && c.reason != ConditionReason::FallbackActive.as_str()
        {
            // An admin's pause, or HPA's rule for 0 replicas, is news but not a fault.
            let quiet = c.reason == paused || c.reason == ConditionReason::ScalingDisabled.as_str();
            events.push(event(
                if quiet {
                    EventType::Normal
                } else {
                    EventType::Warning
                },
                &c.reason,
                "Reconcile",
                c.message.clone(),
            ));
        }
    }
    if report::condition(b, condition::SCALING_ACTIVE).is_some_and(|c| c.reason == paused)
        && get(condition::SCALING_ACTIVE).is_some_and(|c| c.reason != paused)
    {
        events.push(event(
            EventType::Normal,
            "Resumed",
            "Reconcile",
            "the pause annotation was removed; scaling again, with the stabilization window kept"
                .to_string(),
        ));
    }
}

/// The decision's reason as `kubectl get` shows it: a reactive decision because the
/// forecast had no skill says `NoSkill`.
fn reason_word(decision: &ScaleDecision, observation: &Observation) -> &'static str {
    let no_skill = observation
        .forecast_problem
        .as_ref()
        .is_some_and(|p| p.reason == "NoSkill");
    match decision.reason {
        plan::Reason::ReactiveOnly if no_skill => "NoSkill",
        plan::Reason::ForecastAhead => "ForecastAhead",
        plan::Reason::CurrentLoad => "CurrentLoad",
        plan::Reason::ReactiveOnly => "ReactiveOnly",
        plan::Reason::MetricsUnavailableHold => "MetricsUnavailableHold",
        plan::Reason::MetricsUnavailableFloor => "MetricsUnavailableFloor",
        plan::Reason::Scheduled => "Scheduled",
    }
}

/// HPA's TARGETS column: `310/80`, or `http: 310/80, cpu: 45%/70%`.
fn targets_line(metrics: &[crate::policy::MetricStatus]) -> Option<String> {
    let one = |m: &crate::policy::MetricStatus| {
        format!(
            "{}/{}",
            m.average.as_deref().unwrap_or("<unknown>"),
            m.target.as_deref().unwrap_or("?")
        )
    };
    match metrics {
        [] => None,
        [m] => Some(one(m)),
        all => Some(
            all.iter()
                .map(|m| format!("{}: {}", m.name, one(m)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

/// `412 at 14:05Z`.
fn peak_text(value: f64, at: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> String {
    let text = at.0.to_string();
    let clock = text.get(11..16).unwrap_or(&text);
    format!("{} at {clock}Z", super::targets::short(value))
}

/// One sentence on why the decision is what it is, naming the metric that decided with
/// its numbers, as HPA's Events do.
fn explain(
    decision: &ScaleDecision,
    decider: Option<&crate::policy::MetricStatus>,
    observation: &Observation,
) -> String {
    let word = reason_word(decision, observation);
    let unit = |m: &crate::policy::MetricStatus| {
        m.unit
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default()
    };
    let load = |m: &crate::policy::MetricStatus| {
        format!(
            "{} at {}/{} per replica",
            m.name,
            m.average.as_deref().unwrap_or("<unknown>"),
            m.target.as_deref().unwrap_or("?")
        )
    };
    let reactive = decision.reactive.unwrap_or_default();
    let predicted = decision.predictive.unwrap_or_default();
    let mut text = match (decision.reason, decider) {
        (plan::Reason::ForecastAhead, Some(m)) => {
            let peak = match (m.expected_peak, m.expected_peak_time.as_ref()) {
                (Some(v), Some(at)) => format!(" {}{}", peak_text(v, at), unit(m)),
                _ => String::new(),
            };
            format!(
                "{word}: {} forecast{peak} needs {predicted} replicas at target {} per replica (current load needs {reactive})",
                m.name,
                m.target.as_deref().unwrap_or("?")
            )
        }
        (plan::Reason::CurrentLoad, Some(m)) => format!(
            "{word}: {} needs {reactive} replicas (the forecast {predicted})",
            load(m)
        ),
        (plan::Reason::ReactiveOnly, Some(m)) => format!(
            "{word}: no reliable forecast; {} needs {reactive} replicas",
            load(m)
        ),
        (plan::Reason::MetricsUnavailableHold | plan::Reason::MetricsUnavailableFloor, _) => {
            format!("{word}: metrics unavailable, applying spec.fallback")
        }
        // Scheduled: replaced by the caller, which knows the schedule.
        (plan::Reason::Scheduled, _) | (_, None) => {
            format!("{word}: current load needs {reactive} replicas")
        }
    };
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

fn limit_reason(limit: Limit) -> ConditionReason {
    match limit {
        Limit::MaxReplicas => ConditionReason::TooManyReplicas,
        Limit::MinReplicas => ConditionReason::TooFewReplicas,
        Limit::ScaleUpPolicy => ConditionReason::ScaleUpLimit,
        Limit::ScaleDownPolicy => ConditionReason::ScaleDownLimit,
        Limit::Stabilization => ConditionReason::Stabilizing,
    }
}

fn conditions_after_decision(
    status: &mut ScalingPolicyStatus,
    decision: &ScaleDecision,
    why: &str,
    observation: &Observation,
    spec: &ScalingPolicySpec,
    now: i64,
) {
    if decision.reactive.is_none() {
        // Every metric is missing: spec.fallback holds the replicas and nothing follows
        // the load. Not ready, as an HPA that cannot get its metrics is not active.
        set(
            status,
            condition::READY,
            false,
            ConditionReason::FallbackActive.as_str(),
            format!(
                "desired {} replicas: {why}; see MetricsAvailable",
                decision.replicas
            ),
            now,
        );
    } else {
        set(
            status,
            condition::READY,
            true,
            ConditionReason::Reconciled.as_str(),
            format!("desired {} replicas: {why}", decision.replicas),
            now,
        );
    }
    match decision.limited_by {
        Some(limit) => set(
            status,
            condition::SCALING_LIMITED,
            true,
            limit_reason(limit).as_str(),
            format!("the recommendation was cut by {}", limit_word(limit)),
            now,
        ),
        None => set(
            status,
            condition::SCALING_LIMITED,
            false,
            ConditionReason::DesiredWithinRange.as_str(),
            "the recommendation is within minReplicas, maxReplicas and the behavior policies"
                .into(),
            now,
        ),
    }
    match &observation.metrics_problem {
        Some(problem) => {
            let fallback = match (
                spec.fallback.kind,
                plan::fallback_floor(&spec.fallback, spec.max_replicas),
            ) {
                (FallbackType::Replicas, Some(floor)) => format!(
                    "keeping at least {floor} replicas (spec.fallback Replicas), never scaling down"
                ),
                _ => "holding the current replicas (spec.fallback HoldCurrent)".to_string(),
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
            ConditionReason::MetricsRead.as_str(),
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
            ConditionReason::ForecastUsed.as_str(),
            format!("models: {}", status.model.clone().unwrap_or_default()),
            now,
        ),
        (None, None) => set(
            status,
            condition::FORECAST_RELIABLE,
            false,
            ConditionReason::NoForecast.as_str(),
            "no metric could be forecast this cycle; scaling reactively".into(),
            now,
        ),
    }
}

#[cfg(test)]
mod tests {
    //! One behaviour per test, over mode × conflicting HPAs × metrics state × forecast state.
    use super::*;
    use crate::plan::{MetricInput, Need, Reading};
    use crate::policy::{Fallback, Mode, ScalingPolicy};

    const NOW: i64 = 1_800_000_000;

    /// A policy scaling Deployment `web` on one request-rate metric, 10 req/s per replica,
    /// 1–20 replicas, and what was gathered for it.
    struct Scene {
        spec: ScalingPolicySpec,
        current: i32,
        hpas: Vec<HpaView>,
        rivals: Vec<String>,
        hold: Hold,
        metrics: Result<Observation, Problem>,
        before: ScalingPolicyStatus,
    }

    fn problem(reason: &'static str, message: &str) -> Problem {
        Problem {
            reason,
            message: message.into(),
            unavailable: true,
        }
    }

    impl Scene {
        fn new() -> Self {
            let policy = ScalingPolicy::from_yaml(
                r#"
apiVersion: autoscaling.prescaler.io/v1alpha1
kind: ScalingPolicy
metadata: {name: web, namespace: shop}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 20
  metrics:
    - type: RequestRate
      name: http
      requestRate: {query: 'sum(rate(http_requests_total[1m]))', targetPerReplica: 10}
"#,
            )
            .expect("fixture policy");
            Self {
                spec: policy.spec,
                current: 4,
                hpas: Vec::new(),
                rivals: Vec::new(),
                hold: Hold::None,
                metrics: Ok(Observation::default()),
                before: ScalingPolicyStatus::default(),
            }
            .load(40.0, None)
        }

        fn mode(mut self, mode: Mode) -> Self {
            self.spec.mode = mode;
            self
        }

        fn hpa(mut self, name: &str, min_replicas: i32) -> Self {
            self.hpas.push(HpaView {
                name: name.into(),
                min_replicas,
                max_replicas: 50,
                ours: None,
            });
            self
        }

        fn hold(mut self, hold: Hold) -> Self {
            self.hold = hold;
            self
        }

        /// The status a previous evaluation left.
        fn after(mut self, e: &Evaluation) -> Self {
            self.before = e.status.clone();
            self
        }

        fn rival(mut self, name: &str) -> Self {
            self.rivals.push(name.into());
            self
        }

        fn current(mut self, replicas: i32) -> Self {
            self.current = replicas;
            self
        }

        fn fallback_replicas(mut self, replicas: i32) -> Self {
            self.spec.fallback = Fallback {
                kind: FallbackType::Replicas,
                replicas: Some(replicas),
            };
            self
        }

        /// The metric reads `load` req/s; `need` is the forecast's, if reliable.
        fn load(mut self, load: f64, need: Option<f64>) -> Self {
            self.metrics = Ok(Observation {
                inputs: vec![MetricInput {
                    reading: Some(Reading::Total {
                        value: load,
                        target_per_replica: 10.0,
                    }),
                    forecast_need: need.map(Need::flat),
                    per_replica: 10.0,
                }],
                statuses: vec![crate::policy::MetricStatus {
                    name: "http".into(),
                    current: Some(load),
                    unit: Some("req/s".into()),
                    target: Some("10".into()),
                    average: Some(super::super::targets::short(
                        load / f64::from(self.current.max(1)),
                    )),
                    model: need.map(|_| "MSTL".to_string()),
                    expected_peak: need,
                    expected_peak_time: need.map(|_| report::time(NOW + 120)),
                    ..Default::default()
                }],
                observed: vec![Default::default()],
                ..Observation::default()
            });
            self
        }

        fn unreliable_forecast(mut self) -> Self {
            if let Ok(o) = &mut self.metrics {
                o.forecast_problem = Some(problem("NoSkill", "metric http: no skill"));
            }
            self
        }

        /// The metric could not be read this cycle.
        fn metrics_missing(mut self) -> Self {
            self.metrics = Ok(Observation {
                inputs: vec![MetricInput {
                    reading: None,
                    forecast_need: None,
                    per_replica: 0.0,
                }],
                statuses: vec![crate::policy::MetricStatus {
                    name: "http".into(),
                    ..Default::default()
                }],
                observed: vec![Default::default()],
                metrics_problem: Some(problem(
                    "PrometheusUnavailable",
                    "metric http: Prometheus did not answer",
                )),
                ..Observation::default()
            });
            self
        }

        fn no_metrics_source(mut self) -> Self {
            self.metrics = Err(problem(
                "PrometheusAuthSecret",
                "spec.prometheus.authSecretRef: cannot read Secret shop/prom",
            ));
            self
        }

        fn facts(&self) -> Facts {
            Facts::Read {
                scale: ScaleView {
                    replicas: self.current,
                    observed: self.current,
                    selector: "app=web".into(),
                },
                hpas: self.hpas.clone(),
                rivals: self.rivals.clone(),
                hold: self.hold.clone(),
                lead: super::leadtime::from_spec(&self.spec, String::new()),
                metrics: match &self.metrics {
                    Ok(o) => Ok(Observation {
                        inputs: o.inputs.clone(),
                        statuses: o.statuses.clone(),
                        observed: o.observed.clone(),
                        metrics_problem: o.metrics_problem.clone(),
                        forecast_problem: o.forecast_problem.clone(),
                        reads: Vec::new(),
                    }),
                    Err(p) => Err(p.clone()),
                },
            }
        }

        fn evaluate(&self) -> Evaluation {
            evaluate(&self.spec, &self.facts(), &self.before, Some(1), NOW)
        }
    }

    fn reason(e: &Evaluation, type_: &str) -> (String, String) {
        let c = report::condition(&e.status.conditions, type_)
            .unwrap_or_else(|| panic!("no {type_} condition"));
        (c.status.clone(), c.reason.clone())
    }

    fn is(e: &Evaluation, type_: &str, status: &str, why: ConditionReason) -> bool {
        reason(e, type_) == (status.to_string(), why.as_str().to_string())
    }

    fn event_reasons(e: &Evaluation) -> Vec<String> {
        e.events.iter().map(|e| e.reason.clone()).collect()
    }

    #[test]
    fn auto_scales_the_target_to_what_current_load_needs() {
        let e = Scene::new().load(70.0, None).evaluate();
        assert_eq!(e.write, Some(Write::Scale { from: 4, to: 7 }));
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "True",
            ConditionReason::Scaling
        ));
        assert!(is(
            &e,
            condition::READY,
            "True",
            ConditionReason::Reconciled
        ));
        assert_eq!(e.status.desired_replicas, Some(7));
        assert_eq!(e.next, Next::Sync);
    }

    #[test]
    fn a_reliable_forecast_raises_replicas_ahead_of_the_load() {
        let e = Scene::new().load(40.0, Some(70.0)).evaluate();
        assert_eq!(e.write, Some(Write::Scale { from: 4, to: 7 }));
        assert_eq!(e.status.predicted_replicas, Some(7));
        assert!(is(
            &e,
            condition::FORECAST_RELIABLE,
            "True",
            ConditionReason::ForecastUsed
        ));
        let ready = report::condition(&e.status.conditions, condition::READY).unwrap();
        assert!(ready.message.contains("ForecastAhead"), "{}", ready.message);
    }

    #[test]
    fn an_unreliable_forecast_leaves_the_hpa_answer_and_says_why() {
        let e = Scene::new()
            .load(70.0, None)
            .unreliable_forecast()
            .evaluate();
        assert_eq!(e.write, Some(Write::Scale { from: 4, to: 7 }));
        assert_eq!(e.status.predicted_replicas, None);
        assert_eq!(
            reason(&e, condition::FORECAST_RELIABLE),
            ("False".into(), "NoSkill".into())
        );
    }

    #[test]
    fn a_pause_writes_nothing_reports_the_decision_and_resumes_with_an_event() {
        let paused = Scene::new().load(70.0, None).hold(Hold::Paused).evaluate();
        assert_eq!(paused.write, None);
        assert_eq!(paused.status.desired_replicas, Some(7), "still computed");
        assert!(is(
            &paused,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::Paused
        ));
        let c = report::condition(&paused.status.conditions, condition::SCALING_ACTIVE).unwrap();
        assert!(c.message.contains(annotations::PAUSED), "{}", c.message);
        let event = paused.events.iter().find(|e| e.reason == "Paused").unwrap();
        assert_eq!(event.type_, EventType::Normal);

        let resumed = Scene::new().load(70.0, None).after(&paused).evaluate();
        assert_eq!(resumed.write, Some(Write::Scale { from: 4, to: 7 }));
        assert!(event_reasons(&resumed).contains(&"Resumed".to_string()));
    }

    #[test]
    fn a_pause_keeps_an_hpa_floor_where_it_is() {
        let mut scene = Scene::new().mode(Mode::Auto).load(70.0, None);
        scene.hpas.push(HpaView {
            name: "web".into(),
            min_replicas: 6,
            max_replicas: 50,
            ours: Some(2),
        });
        let e = scene.mode(Mode::HpaFloor).hold(Hold::Paused).evaluate();
        assert_eq!(e.write, None, "neither a new floor nor a restore");
    }

    #[test]
    fn pinned_replicas_are_written_and_held_against_the_load() {
        let e = Scene::new()
            .load(70.0, None)
            .hold(Hold::Pinned(2))
            .evaluate();
        assert_eq!(e.write, Some(Write::Scale { from: 4, to: 2 }));
        assert_eq!(e.status.desired_replicas, Some(7), "what would be written");
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::Paused
        ));
        let held = Scene::new()
            .current(2)
            .load(70.0, None)
            .hold(Hold::Pinned(2))
            .evaluate();
        assert_eq!(held.write, None);
        // In HPAFloor mode the pin is the HPA's floor, at least 1.
        let floor = Scene::new()
            .mode(Mode::HpaFloor)
            .hpa("web", 2)
            .load(70.0, None)
            .hold(Hold::Pinned(0))
            .evaluate();
        assert_eq!(
            floor.write,
            Some(Write::HpaFloor {
                hpa: "web".into(),
                from: 2,
                to: 1,
                keep_original: true
            })
        );
    }

    #[test]
    fn an_unreadable_annotation_pauses_and_says_what_to_fix() {
        let message = "annotation autoscaling.prescaler.io/paused must be \"true\" or \"false\"";
        let e = Scene::new()
            .load(70.0, None)
            .hold(Hold::Invalid(message.into()))
            .evaluate();
        assert_eq!(e.write, None);
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::InvalidAnnotation
        ));
        let event = e
            .events
            .iter()
            .find(|e| e.reason == "InvalidAnnotation")
            .unwrap();
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(event.note.as_deref(), Some(message));
    }

    #[test]
    fn a_target_at_zero_replicas_is_left_alone_unless_a_pin_put_it_there() {
        let e = Scene::new().current(0).load(70.0, None).evaluate();
        assert_eq!(e.write, None);
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::ScalingDisabled
        ));
        let pinned = Scene::new()
            .current(4)
            .load(70.0, None)
            .hold(Hold::Pinned(0))
            .evaluate();
        assert_eq!(pinned.write, Some(Write::Scale { from: 4, to: 0 }));
        let resumed = Scene::new()
            .current(0)
            .load(70.0, None)
            .after(&pinned)
            .evaluate();
        // Back up from 0 at the default scale-up rate (4 pods at a time from so few).
        assert_eq!(resumed.write, Some(Write::Scale { from: 0, to: 4 }));
    }

    #[test]
    fn status_says_which_metric_decided_and_why_in_kubectl_get_terms() {
        let e = Scene::new().load(40.0, Some(70.0)).evaluate();
        let s = &e.status;
        assert_eq!(s.targets.as_deref(), Some("10/10"));
        assert_eq!(s.reason.as_deref(), Some("ForecastAhead"));
        assert_eq!(s.decided_by.as_deref(), Some("http"));
        let at = report::time(NOW + 120).0.to_string();
        assert_eq!(
            s.forecast_peak.as_deref(),
            Some(format!("70 at {}Z", &at[11..16]).as_str())
        );
        assert_eq!(s.metrics[0].reactive_replicas, Some(4));
        assert_eq!(s.metrics[0].predicted_replicas, Some(7));
        let ready = report::condition(&s.conditions, condition::READY).unwrap();
        assert!(
            ready.message.contains("http forecast 70 at")
                && ready
                    .message
                    .contains("needs 7 replicas at target 10 per replica"),
            "{}",
            ready.message
        );

        // Of two metrics the one that asks for more decides; both show in TARGETS.
        let mut scene = Scene::new().load(40.0, None);
        if let Ok(o) = &mut scene.metrics {
            o.inputs.push(MetricInput {
                reading: Some(Reading::Utilization {
                    usage: 3.6,
                    requests: 4.0,
                    target_percent: 70.0,
                }),
                forecast_need: None,
                per_replica: 0.7,
            });
            o.statuses.push(crate::policy::MetricStatus {
                name: "cpu".into(),
                target: Some("70%".into()),
                average: Some("90%".into()),
                ..Default::default()
            });
            o.observed.push(Default::default());
        }
        let e = scene.evaluate();
        assert_eq!(
            e.status.targets.as_deref(),
            Some("http: 10/10, cpu: 90%/70%")
        );
        assert_eq!(e.status.decided_by.as_deref(), Some("cpu"));
        assert_eq!(e.status.metrics[1].reactive_replicas, Some(6));
        assert_eq!(e.status.reason.as_deref(), Some("ReactiveOnly"));

        // No skill says so; a pause says so.
        let e = Scene::new()
            .load(70.0, None)
            .unreliable_forecast()
            .evaluate();
        assert_eq!(e.status.reason.as_deref(), Some("NoSkill"));
        let e = Scene::new().load(70.0, None).hold(Hold::Paused).evaluate();
        assert_eq!(e.status.reason.as_deref(), Some("Paused"));
    }

    fn every_minute(min: Option<i32>, factor: Option<f64>) -> crate::policy::ScheduleSpec {
        crate::policy::ScheduleSpec {
            name: Some("launch".into()),
            start: "* * * * *".into(),
            time_zone: None,
            duration: crate::policy::Duration::new("1h"),
            min_replicas: min,
            load_factor: factor,
        }
    }

    #[test]
    fn a_scheduled_window_raises_the_replicas_and_says_so() {
        let mut scene = Scene::new().load(40.0, None);
        scene.spec.schedules = vec![every_minute(None, Some(2.0))];
        let e = scene.evaluate();
        assert_eq!(e.write, Some(Write::Scale { from: 4, to: 8 }));
        assert_eq!(e.status.reason.as_deref(), Some("Scheduled"));
        let ready = report::condition(&e.status.conditions, condition::READY).unwrap();
        assert!(
            ready
                .message
                .contains("schedule launch asks for 8 replicas"),
            "{}",
            ready.message
        );
        // Without metrics a floor still holds; a factor of an unknown load does not.
        let mut floor = Scene::new().metrics_missing();
        floor.spec.schedules = vec![every_minute(Some(9), None)];
        assert_eq!(
            floor.evaluate().write,
            Some(Write::Scale { from: 4, to: 9 }),
            "raised at once, as a Replicas fallback is"
        );
        let mut factor = Scene::new().metrics_missing();
        factor.spec.schedules = vec![every_minute(None, Some(2.0))];
        assert_eq!(factor.evaluate().write, None);
    }

    #[test]
    fn no_write_is_asked_when_the_replicas_are_already_right() {
        let e = Scene::new().load(40.0, None).evaluate();
        assert_eq!(e.write, None);
        assert_eq!(e.status.desired_replicas, Some(4));
    }

    #[test]
    fn a_scale_counts_for_the_rate_limits_only_once_written() {
        let scene = Scene::new().load(70.0, None);
        let unwritten = scene.evaluate();
        assert!(unwritten.status.scale_events.is_empty());
        assert!(unwritten.status.last_scale_time.is_none());
        assert!(!event_reasons(&unwritten).contains(&"ScaledUp".to_string()));

        let mut written = scene.evaluate();
        written.written(NOW);
        assert_eq!(written.status.scale_events.len(), 1);
        assert_eq!(written.status.scale_events[0].change, 3);
        assert_eq!(written.status.last_scale_time, Some(report::time(NOW)));
        let note = written.events[0].note.clone().unwrap_or_default();
        assert_eq!(written.events[0].reason, "ScaledUp");
        assert_eq!(
            note,
            "New size: 7; scaled up Deployment web from 4; reason: ReactiveOnly: no reliable forecast; http at 17.5/10 per replica needs 7 replicas",
            "the Event says what changed, which metric decided and its numbers"
        );
    }

    #[test]
    fn a_refused_write_turns_ready_false_once_and_keeps_its_transition_time() {
        let scene = Scene::new().load(70.0, None);
        let mut first = scene.evaluate();
        first.refused(
            "TargetForbidden",
            "may not patch deployments/scale".into(),
            NOW,
        );
        assert_eq!(first.write, None);
        assert_eq!(
            reason(&first, condition::READY),
            ("False".into(), "TargetForbidden".into())
        );
        assert!(event_reasons(&first).contains(&"TargetForbidden".to_string()));
        let mut again = evaluate(
            &scene.spec,
            &scene.facts(),
            &first.status,
            Some(1),
            NOW + 15,
        );
        again.refused(
            "TargetForbidden",
            "may not patch deployments/scale".into(),
            NOW + 15,
        );
        assert_eq!(
            again.status.conditions, first.status.conditions,
            "nothing new to write"
        );
        assert!(
            !event_reasons(&again).contains(&"TargetForbidden".to_string()),
            "one Warning, not one per sync"
        );
    }

    #[test]
    fn auto_writes_nothing_while_another_hpa_scales_the_target() {
        let e = Scene::new().load(70.0, None).hpa("web", 2).evaluate();
        assert_eq!(e.write, None);
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::AutoscalerConflict
        ));
        assert_eq!(e.status.desired_replicas, Some(7), "still reported");
        assert!(event_reasons(&e).contains(&"AutoscalerConflict".to_string()));
    }

    #[test]
    fn the_newer_of_two_policies_on_one_target_writes_nothing_and_says_which() {
        let e = Scene::new().load(70.0, None).rival("web-first").evaluate();
        assert_eq!(e.write, None);
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::PolicyConflict
        ));
        assert_eq!(e.status.desired_replicas, Some(7), "still reported");
        assert!(event_reasons(&e).contains(&"PolicyConflict".to_string()));
    }

    #[test]
    fn forecast_only_reports_and_never_writes_or_warns() {
        let e = Scene::new()
            .mode(Mode::ForecastOnly)
            .load(40.0, Some(70.0))
            .evaluate();
        assert_eq!(e.write, None);
        assert_eq!(e.status.desired_replicas, Some(7));
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::ForecastOnly
        ));
        assert!(
            e.events.iter().all(|e| e.type_ != EventType::Warning),
            "{:?}",
            event_reasons(&e)
        );
    }

    #[test]
    fn forecast_only_keeps_a_day_of_what_the_plan_would_have_changed() {
        // The target sits at 4 while load asks for 7 and the plan for 9.
        let scene = Scene::new().mode(Mode::ForecastOnly).load(70.0, Some(90.0));
        let first = scene.evaluate();
        let mut status = first.status.clone();
        for k in 1..=4 {
            let mut next = Scene::new().mode(Mode::ForecastOnly).load(70.0, Some(90.0));
            next.before = status.clone();
            let e = evaluate(
                &next.spec,
                &next.facts(),
                &next.before,
                Some(1),
                NOW + 15 * k,
            );
            status = e.status;
        }
        let w = status.would_have.clone().expect("a record");
        // 60 s with the plan at 8 (9, cut by the scale-up rate from 4) against the target's
        // 4: 240 replica-seconds; a minute short of the 7 load asks for, all of it covered
        // by the plan.
        assert_eq!(w.pod_hours_added, 0.07);
        assert_eq!(w.pod_hours_saved, 0.0);
        assert_eq!(w.minutes_short, 1.0);
        assert_eq!(w.minutes_short_avoided, 1.0);
        // A day later, the old hours are gone.
        let mut later = Scene::new()
            .mode(Mode::ForecastOnly)
            .load(40.0, None)
            .current(4);
        later.before = status.clone();
        later.before.would_have.as_mut().unwrap().last = report::time(NOW + 86_400 * 2 - 15);
        let e = evaluate(
            &later.spec,
            &later.facts(),
            &later.before,
            Some(1),
            NOW + 86_400 * 2,
        );
        let w = e.status.would_have.unwrap();
        assert_eq!((w.pod_hours_added, w.minutes_short), (0.0, 0.0));
        // Auto mode keeps no such record.
        let mut auto = Scene::new().load(70.0, Some(90.0));
        auto.before = status;
        assert!(auto.evaluate().status.would_have.is_none());
    }

    #[test]
    fn forecast_only_says_what_it_would_do_on_change_at_most_every_five_minutes() {
        let scene = Scene::new().mode(Mode::ForecastOnly).load(40.0, Some(70.0));
        let first = scene.evaluate();
        let would = first
            .events
            .iter()
            .find(|e| e.reason == "WouldScaleUp")
            .unwrap();
        let note = would.note.clone().unwrap_or_default();
        assert!(
            note.starts_with("New size would be: 7; would scale up Deployment web from 4"),
            "{note}"
        );
        assert!(note.contains("ForecastAhead"), "{note}");
        // The same answer again: no Event.
        let mut again = Scene::new().mode(Mode::ForecastOnly).load(40.0, Some(70.0));
        again.before = first.status.clone();
        assert!(
            !event_reasons(&again.evaluate())
                .iter()
                .any(|r| r.starts_with("Would"))
        );
        // A different answer within five minutes: none either.
        let mut soon = Scene::new().mode(Mode::ForecastOnly).load(40.0, Some(20.0));
        soon.before = first.status.clone();
        soon.before.desired_replicas = Some(9);
        assert!(
            !event_reasons(&soon.evaluate())
                .iter()
                .any(|r| r.starts_with("Would"))
        );
        // After five minutes, a lower answer is a WouldScaleDown.
        let mut later = soon;
        later.before.last_would_scale_time = Some(report::time(NOW - 301));
        let e = later.current(9).evaluate();
        assert!(
            event_reasons(&e).contains(&"WouldScaleDown".to_string()),
            "{:?}",
            event_reasons(&e)
        );
        // Auto mode never says "would".
        let auto = Scene::new().load(40.0, Some(70.0)).evaluate();
        assert!(!event_reasons(&auto).iter().any(|r| r.starts_with("Would")));
    }

    #[test]
    fn hpa_floor_sets_the_one_hpas_min_replicas_to_the_forecast() {
        let e = Scene::new()
            .mode(Mode::HpaFloor)
            .hpa("web", 2)
            .load(40.0, Some(90.0))
            .evaluate();
        assert_eq!(
            e.write,
            Some(Write::HpaFloor {
                hpa: "web".into(),
                from: 2,
                to: 9,
                keep_original: true
            })
        );
        assert!(is(
            &e,
            condition::SCALING_ACTIVE,
            "True",
            ConditionReason::HpaFloor
        ));
    }

    #[test]
    fn a_floor_this_policy_raised_is_put_back_once_it_no_longer_sets_it() {
        let mut scene = Scene::new().mode(Mode::ForecastOnly).hpa("web", 9);
        scene.hpas[0].ours = Some(2);
        let mut e = scene.evaluate();
        assert_eq!(
            e.write,
            Some(Write::RestoreHpa {
                hpa: "web".into(),
                to: 2
            })
        );
        e.written(NOW);
        assert_eq!(e.events[0].reason, "HPAFloorRestored");
        let mut kept = Scene::new()
            .mode(Mode::HpaFloor)
            .hpa("web", 9)
            .load(40.0, Some(70.0));
        kept.hpas[0].ours = Some(2);
        assert_eq!(
            kept.evaluate().write,
            Some(Write::HpaFloor {
                hpa: "web".into(),
                from: 9,
                to: 7,
                keep_original: false
            }),
            "while HPAFloor sets it, the first original stays recorded"
        );
    }

    #[test]
    fn hpa_floor_without_an_hpa_or_with_two_writes_nothing() {
        let none = Scene::new().mode(Mode::HpaFloor).evaluate();
        assert_eq!(none.write, None);
        assert!(is(
            &none,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::HpaNotFound
        ));
        let two = Scene::new()
            .mode(Mode::HpaFloor)
            .hpa("a", 2)
            .hpa("b", 2)
            .load(40.0, Some(90.0))
            .evaluate();
        assert_eq!(two.write, None);
        assert!(is(
            &two,
            condition::SCALING_ACTIVE,
            "False",
            ConditionReason::AutoscalerConflict
        ));
    }

    #[test]
    fn missing_metrics_hold_the_replicas_and_announce_the_fallback() {
        let e = Scene::new().current(9).metrics_missing().evaluate();
        assert_eq!(e.write, None, "never a scale-down on missing data");
        assert_eq!(e.status.desired_replicas, Some(9));
        let (status, why) = reason(&e, condition::METRICS_AVAILABLE);
        assert_eq!(
            (status.as_str(), why.as_str()),
            ("False", "PrometheusUnavailable")
        );
        assert!(event_reasons(&e).contains(&"FallbackEntered".to_string()));
    }

    #[test]
    fn missing_metrics_raise_to_a_replicas_fallback_but_never_lower() {
        let up = Scene::new()
            .current(3)
            .fallback_replicas(6)
            .metrics_missing()
            .evaluate();
        assert_eq!(up.write, Some(Write::Scale { from: 3, to: 6 }));
        let message = report::condition(&up.status.conditions, condition::METRICS_AVAILABLE)
            .unwrap()
            .message
            .clone();
        assert!(message.contains("at least 6 replicas"), "{message}");
        let high = Scene::new()
            .current(12)
            .fallback_replicas(6)
            .metrics_missing()
            .evaluate();
        assert_eq!(high.write, None);
    }

    #[test]
    fn missing_metrics_in_hpa_floor_mode_never_lower_the_floor() {
        let e = Scene::new()
            .mode(Mode::HpaFloor)
            .hpa("web", 8)
            .metrics_missing()
            .evaluate();
        assert_eq!(e.write, None);
        let raised = Scene::new()
            .mode(Mode::HpaFloor)
            .hpa("web", 2)
            .fallback_replicas(6)
            .metrics_missing()
            .evaluate();
        assert_eq!(
            raised.write,
            Some(Write::HpaFloor {
                hpa: "web".into(),
                from: 2,
                to: 6,
                keep_original: true
            })
        );
    }

    #[test]
    fn no_metrics_source_is_not_ready_and_writes_nothing() {
        let e = Scene::new().no_metrics_source().evaluate();
        assert_eq!(e.write, None);
        assert_eq!(
            reason(&e, condition::READY),
            ("False".into(), "PrometheusAuthSecret".into())
        );
        assert_eq!(e.status.current_replicas, Some(4));
        assert_eq!(e.next, Next::Sync);
    }

    #[test]
    fn an_invalid_spec_waits_for_the_users_change() {
        let scene = Scene::new();
        let errors = crate::policy::validate(&ScalingPolicySpec {
            min_replicas: 30,
            ..scene.spec.clone()
        })
        .expect_err("minReplicas above maxReplicas");
        let e = evaluate(
            &scene.spec,
            &Facts::Invalid(errors),
            &scene.before,
            Some(1),
            NOW,
        );
        assert_eq!(e.write, None);
        assert_eq!(e.next, Next::AwaitChange);
        assert!(is(
            &e,
            condition::READY,
            "False",
            ConditionReason::InvalidSpec
        ));
        assert!(invalid_at(Some(&e.status), Some(1)));
        assert!(
            !invalid_at(Some(&e.status), Some(2)),
            "a new generation is looked at"
        );
    }

    #[test]
    fn a_missing_target_is_not_ready_and_names_it() {
        let scene = Scene::new();
        let facts = Facts::NoTarget(problem("TargetNotFound", "Deployment web not found"));
        let e = evaluate(&scene.spec, &facts, &scene.before, Some(1), NOW);
        assert_eq!(e.write, None);
        assert_eq!(
            reason(&e, condition::READY),
            ("False".into(), "TargetNotFound".into())
        );
        assert_eq!(e.events.len(), 1, "one Warning on entering the state");
        let again = evaluate(&scene.spec, &facts, &e.status, Some(1), NOW + 15);
        assert!(again.events.is_empty(), "not repeated every sync");
    }

    #[test]
    fn a_learned_lead_time_is_announced_once_and_a_refusal_once_per_cause() {
        let status = |value: &str, source: &str, message: &str| LeadTimeStatus {
            value: value.into(),
            source: source.into(),
            message: message.into(),
            ..LeadTimeStatus::default()
        };
        let spec = status("2m", "Spec", "");
        let learned = status("47s", "Pods", "90th percentile ... 47s");
        assert!(
            lead_time_event(None, &spec).is_none(),
            "nothing learned yet"
        );
        let e = lead_time_event(Some(&spec), &learned).expect("an Event");
        assert_eq!(e.reason, "LeadTimeLearned");
        assert_eq!(e.type_, EventType::Normal);
        assert!(
            e.note
                .unwrap()
                .contains("leadTime 47s from Pods: 90th percentile ... 47s (was 2m from Spec)")
        );
        assert!(lead_time_event(Some(&learned), &learned).is_none());
        let refused = status(
            "2m",
            "Spec",
            "cannot list pods in namespace shop (forbidden): ...",
        );
        let e = lead_time_event(Some(&spec), &refused).expect("a Warning");
        assert_eq!(
            (e.reason.as_str(), e.type_),
            ("LeadTimeNotLearned", EventType::Warning)
        );
        assert!(
            lead_time_event(Some(&refused), &refused).is_none(),
            "once per cause"
        );
    }
}
