//! What prescaler may do with its decision: the `spec.mode` rule (never fight another
//! autoscaler), the HPAFloor rule (the forecast as an HPA's `minReplicas`), and the one
//! floor that holds while metrics are missing.

use super::decide::{ScaleDecision, fallback_floor};
use crate::policy::{ConditionReason, Fallback, Mode, TargetRef};

/// An HPA that scales the target, as the mode rule sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpaView {
    /// Its name.
    pub name: String,
    /// `spec.minReplicas` (Kubernetes defaults it to 1).
    pub min_replicas: i32,
    /// `spec.maxReplicas`.
    pub max_replicas: i32,
    /// When this policy raised the HPA's floor: the `minReplicas` it had before, to put
    /// back once the policy no longer sets it.
    pub ours: Option<i32>,
}

/// What prescaler writes this cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writes {
    /// The target's `/scale`.
    Scale,
    /// The `minReplicas` of this HPA.
    HpaFloor(HpaView),
    /// Nothing: the decision is only reported.
    Nothing,
}

/// The mode rule's answer: what may be written, and the ScalingActive condition saying so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    /// What may be written.
    pub writes: Writes,
    /// ScalingActive's reason.
    pub reason: ConditionReason,
    /// ScalingActive's message.
    pub message: String,
}

impl Gate {
    /// ScalingActive's status: true when something may be written.
    pub fn active(&self) -> bool {
        self.writes != Writes::Nothing
    }
}

/// The mode rule: a policy writes nothing while an older ScalingPolicy (`older`, by name)
/// scales the same target; otherwise `Auto` writes `/scale` unless an HPA also scales the
/// target, `HPAFloor` needs exactly one HPA, and `ForecastOnly` writes nothing.
pub fn gate(mode: Mode, target: &TargetRef, hpas: &[HpaView], older: &[String]) -> Gate {
    if !older.is_empty() && mode != Mode::ForecastOnly {
        return Gate {
            writes: Writes::Nothing,
            reason: ConditionReason::PolicyConflict,
            message: format!(
                "ScalingPolicy {} already scales {} {}; two policies on one target would fight, so this newer one writes nothing. Delete one of them, or set spec.mode: ForecastOnly on this one",
                older.join(", "),
                target.kind,
                target.name
            ),
        };
    }
    let names = hpas
        .iter()
        .map(|h| h.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let (kind, name) = (&target.kind, &target.name);
    let (writes, reason, message) = match (mode, hpas) {
        (Mode::Auto, []) => (
            Writes::Scale,
            ConditionReason::Scaling,
            format!("prescaler sets the replicas of {kind} {name}"),
        ),
        (Mode::Auto, _) => (
            Writes::Nothing,
            ConditionReason::AutoscalerConflict,
            format!(
                "HorizontalPodAutoscaler {names} also scales {kind} {name}; prescaler will not fight it and writes nothing. Delete the HPA, or set spec.mode: HPAFloor to feed it the forecast as its minReplicas"
            ),
        ),
        (Mode::HpaFloor, []) => (
            Writes::Nothing,
            ConditionReason::HpaNotFound,
            format!(
                "spec.mode is HPAFloor but no HorizontalPodAutoscaler targets {kind} {name}; create one, or set spec.mode: Auto"
            ),
        ),
        (Mode::HpaFloor, [hpa]) => (
            Writes::HpaFloor(hpa.clone()),
            ConditionReason::HpaFloor,
            format!("prescaler sets minReplicas of HorizontalPodAutoscaler {names}"),
        ),
        (Mode::HpaFloor, _) => (
            Writes::Nothing,
            ConditionReason::AutoscalerConflict,
            format!(
                "HorizontalPodAutoscalers {names} all target {kind} {name}; keep one so prescaler knows which floor to set"
            ),
        ),
        (Mode::ForecastOnly, _) => (
            Writes::Nothing,
            ConditionReason::ForecastOnly,
            "spec.mode is ForecastOnly: replicas are computed and reported, never written".into(),
        ),
    };
    Gate {
        writes,
        reason,
        message,
    }
}

/// The HPA's `minReplicas` in HPAFloor mode, or `None` when it stays as it is: the
/// forecast's replicas within the policy's and the HPA's bounds. Without metrics the floor
/// is never lowered, only raised to a `Replicas` fallback.
pub fn hpa_floor(
    decision: &ScaleDecision,
    min: i32,
    max: i32,
    fallback: &Fallback,
    hpa: &HpaView,
) -> Option<i32> {
    let current = hpa.min_replicas;
    let floor = if decision.reactive.is_none() {
        current.max(fallback_floor(fallback, max).unwrap_or(current))
    } else {
        decision.predictive.unwrap_or(min).clamp(min, max)
    };
    let floor = floor.min(hpa.max_replicas);
    (floor != current).then_some(floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Reason;
    use crate::policy::FallbackType;

    fn target() -> TargetRef {
        TargetRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        }
    }

    fn hpa(name: &str, min: i32) -> HpaView {
        HpaView {
            name: name.into(),
            min_replicas: min,
            max_replicas: 30,
            ours: None,
        }
    }

    fn decision(reactive: Option<i32>, predictive: Option<i32>) -> ScaleDecision {
        ScaleDecision {
            replicas: reactive.unwrap_or(3),
            reactive,
            predictive,
            limited_by: None,
            reason: Reason::CurrentLoad,
        }
    }

    #[test]
    fn each_mode_writes_only_where_it_cannot_fight_another_autoscaler() {
        let one = [hpa("web", 2)];
        let two = [hpa("web", 2), hpa("web-2", 2)];
        let cases: [(Mode, &[HpaView], ConditionReason); 6] = [
            (Mode::Auto, &[], ConditionReason::Scaling),
            (Mode::Auto, &one, ConditionReason::AutoscalerConflict),
            (Mode::HpaFloor, &[], ConditionReason::HpaNotFound),
            (Mode::HpaFloor, &one, ConditionReason::HpaFloor),
            (Mode::HpaFloor, &two, ConditionReason::AutoscalerConflict),
            (Mode::ForecastOnly, &[], ConditionReason::ForecastOnly),
        ];
        for (mode, hpas, reason) in cases {
            let g = gate(mode, &target(), hpas, &[]);
            assert_eq!(g.reason, reason, "{mode:?} with {} HPA(s)", hpas.len());
            let expected = match reason {
                ConditionReason::Scaling => Writes::Scale,
                ConditionReason::HpaFloor => Writes::HpaFloor(one[0].clone()),
                _ => Writes::Nothing,
            };
            assert_eq!(g.writes, expected, "{mode:?} with {} HPA(s)", hpas.len());
        }
        let conflict = gate(Mode::Auto, &target(), &one, &[]);
        assert!(
            conflict.message.contains("HorizontalPodAutoscaler web")
                && conflict.message.contains("spec.mode: HPAFloor"),
            "names the HPA and the fix: {}",
            conflict.message
        );
    }

    #[test]
    fn the_newer_of_two_policies_on_one_target_writes_nothing() {
        let older = ["web-old".to_string()];
        for mode in [Mode::Auto, Mode::HpaFloor] {
            let g = gate(mode, &target(), &[hpa("web", 2)], &older);
            assert_eq!(
                (g.writes, g.reason),
                (Writes::Nothing, ConditionReason::PolicyConflict)
            );
            assert!(g.message.contains("ScalingPolicy web-old"), "{}", g.message);
        }
        let watching = gate(Mode::ForecastOnly, &target(), &[], &older);
        assert_eq!(
            watching.reason,
            ConditionReason::ForecastOnly,
            "a policy that never writes cannot fight"
        );
    }

    #[test]
    fn the_hpa_floor_follows_the_forecast_within_bounds() {
        let fallback = Fallback::default();
        let h = hpa("web", 2);
        assert_eq!(
            hpa_floor(&decision(Some(3), Some(7)), 1, 20, &fallback, &h),
            Some(7)
        );
        assert_eq!(
            hpa_floor(&decision(Some(3), Some(70)), 1, 20, &fallback, &h),
            Some(20),
            "maxReplicas caps it"
        );
        assert_eq!(
            hpa_floor(&decision(Some(3), None), 2, 20, &fallback, &h),
            None,
            "no forecast: minReplicas, which it already is"
        );
        assert_eq!(
            hpa_floor(&decision(Some(3), Some(50)), 1, 40, &fallback, &h),
            Some(30),
            "never above the HPA's own maxReplicas"
        );
    }

    #[test]
    fn without_metrics_the_floor_is_never_lowered() {
        let hold = Fallback::default();
        let floor = Fallback {
            kind: FallbackType::Replicas,
            replicas: Some(6),
        };
        let blind = decision(None, None);
        assert_eq!(hpa_floor(&blind, 1, 20, &hold, &hpa("web", 9)), None);
        assert_eq!(hpa_floor(&blind, 1, 20, &floor, &hpa("web", 9)), None);
        assert_eq!(hpa_floor(&blind, 1, 20, &floor, &hpa("web", 2)), Some(6));
        assert_eq!(fallback_floor(&floor, 4), Some(4), "within maxReplicas");
        assert_eq!(fallback_floor(&hold, 4), None);
    }
}
