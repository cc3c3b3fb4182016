//! Behavior defaults: the one place where an absent or partial `behavior` becomes HPA v2's.

use super::spec::{Behavior, RatePolicy, RatePolicyType, ScalingRules, SelectPolicy};

/// HPA's scale-down stabilization window when none is given.
pub const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: u32 = 300;

/// Rules for one direction with every field filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedRules {
    /// Seconds of recommendation history to stabilize over.
    pub stabilization_window_seconds: u32,
    /// How the policies combine.
    pub select_policy: SelectPolicy,
    /// The rate limits; never empty.
    pub policies: Vec<RatePolicy>,
}

/// A policy's behavior with HPA v2's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedBehavior {
    /// Rules for scaling up.
    pub scale_up: ResolvedRules,
    /// Rules for scaling down.
    pub scale_down: ResolvedRules,
}

fn rate(kind: RatePolicyType, value: i32, period_seconds: i32) -> RatePolicy {
    RatePolicy {
        kind,
        value,
        period_seconds,
    }
}

impl ResolvedBehavior {
    /// Fills what the user left out the way HPA v2 does: a missing direction takes the
    /// default rules, and within a direction each missing field takes its default
    /// (scale-up: 0s stabilization, Max of 100% and 4 pods per 15s; scale-down: 300s
    /// stabilization, 100% per 15s).
    pub fn resolve(behavior: Option<&Behavior>) -> Self {
        let behavior = behavior.cloned().unwrap_or_default();
        Self {
            scale_up: fill(
                behavior.scale_up.as_ref(),
                0,
                vec![
                    rate(RatePolicyType::Pods, 4, 15),
                    rate(RatePolicyType::Percent, 100, 15),
                ],
            ),
            scale_down: fill(
                behavior.scale_down.as_ref(),
                DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
                vec![rate(RatePolicyType::Percent, 100, 15)],
            ),
        }
    }

    /// The longest stabilization window of the two directions, in seconds: how much
    /// recommendation history a decision needs.
    pub fn longest_window_seconds(&self) -> u32 {
        self.scale_up
            .stabilization_window_seconds
            .max(self.scale_down.stabilization_window_seconds)
    }
}

fn fill(rules: Option<&ScalingRules>, window: u32, policies: Vec<RatePolicy>) -> ResolvedRules {
    let rules = rules.cloned().unwrap_or_default();
    ResolvedRules {
        stabilization_window_seconds: rules
            .stabilization_window_seconds
            .map_or(window, |s| s.clamp(0, 3_600) as u32),
        select_policy: rules.select_policy.unwrap_or_default(),
        policies: rules.policies.filter(|p| !p.is_empty()).unwrap_or(policies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_behavior_means_hpa_defaults() {
        let resolved = ResolvedBehavior::resolve(None);
        assert_eq!(resolved.scale_up.stabilization_window_seconds, 0);
        assert_eq!(resolved.scale_up.select_policy, SelectPolicy::Max);
        assert_eq!(
            resolved.scale_up.policies,
            vec![
                rate(RatePolicyType::Pods, 4, 15),
                rate(RatePolicyType::Percent, 100, 15)
            ]
        );
        assert_eq!(resolved.scale_down.stabilization_window_seconds, 300);
        assert_eq!(
            resolved.scale_down.policies,
            vec![rate(RatePolicyType::Percent, 100, 15)]
        );
    }

    #[test]
    fn an_empty_behavior_block_is_the_same_as_none() {
        assert_eq!(
            ResolvedBehavior::resolve(Some(&Behavior::default())),
            ResolvedBehavior::resolve(None)
        );
    }

    #[test]
    fn a_partial_direction_keeps_the_defaults_it_does_not_override() {
        let behavior = Behavior {
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: Some(60),
                ..Default::default()
            }),
            ..Default::default()
        };
        let resolved = ResolvedBehavior::resolve(Some(&behavior));
        assert_eq!(resolved.scale_down.stabilization_window_seconds, 60);
        assert_eq!(
            resolved.scale_down.policies,
            vec![rate(RatePolicyType::Percent, 100, 15)]
        );
        assert_eq!(resolved.scale_up, ResolvedBehavior::resolve(None).scale_up);
        assert_eq!(resolved.longest_window_seconds(), 60);
    }

    #[test]
    fn given_policies_replace_the_defaults() {
        let behavior = Behavior {
            scale_up: Some(ScalingRules {
                select_policy: Some(SelectPolicy::Min),
                policies: Some(vec![rate(RatePolicyType::Pods, 2, 60)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let resolved = ResolvedBehavior::resolve(Some(&behavior));
        assert_eq!(resolved.scale_up.select_policy, SelectPolicy::Min);
        assert_eq!(
            resolved.scale_up.policies,
            vec![rate(RatePolicyType::Pods, 2, 60)]
        );
    }
}
