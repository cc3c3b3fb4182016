//! The reactive part: the HPA v2 replica calculation, metric by metric.

/// HPA's default tolerance: a usage ratio within ±10% of the target changes nothing.
pub const DEFAULT_TOLERANCE: f64 = 0.1;

/// Tolerances either side of a ratio of 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Ratios up to 1 + this count as "no change".
    pub scale_up: f64,
    /// Ratios down to 1 − this count as "no change".
    pub scale_down: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            scale_up: DEFAULT_TOLERANCE,
            scale_down: DEFAULT_TOLERANCE,
        }
    }
}

impl Tolerance {
    /// True when `ratio` is close enough to 1 to leave replicas alone (both ends included).
    pub fn holds(&self, ratio: f64) -> bool {
        1.0 - self.scale_down <= ratio && ratio <= 1.0 + self.scale_up
    }
}

/// A current reading of one metric, in the form the HPA algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    /// A total over the workload and a target per replica (`RequestRate`, `PromQL`): HPA's
    /// External/Object `AverageValue` rule — outside tolerance, ceil(total ÷ target).
    Total {
        /// The workload-wide value (e.g. requests per second).
        value: f64,
        /// The value one replica should carry.
        target_per_replica: f64,
    },
    /// A single value against a target for the whole workload: HPA's Object/External
    /// `Value` rule — outside tolerance, ceil(value ÷ target × ready pods).
    Value {
        /// The value.
        value: f64,
        /// The target value.
        target: f64,
    },
    /// Resource utilization (`CPU` with `targetUtilization`): usage and requests summed over
    /// ready pods.
    Utilization {
        /// Summed usage (cores).
        usage: f64,
        /// Summed requests (cores).
        requests: f64,
        /// Target utilization in percent of requests.
        target_percent: f64,
    },
    /// An average per pod and its target (`CPU` cores, `Memory`): HPA's Pods `AverageValue`.
    PerPod {
        /// Average value per ready pod.
        average: f64,
        /// The target average.
        target: f64,
    },
}

fn ceil_replicas(x: f64) -> i32 {
    if !x.is_finite() || x >= i32::MAX as f64 {
        i32::MAX
    } else {
        x.ceil().max(0.0) as i32
    }
}

impl Reading {
    /// The replicas this metric asks for, given the target's current replicas (`spec`,
    /// also what a total is divided over) and its ready pods.
    pub fn replicas(&self, current: i32, ready: i32, tolerance: Tolerance) -> i32 {
        match *self {
            Reading::Total {
                value,
                target_per_replica,
            } => {
                if current == 0 {
                    return ceil_replicas(value / target_per_replica);
                }
                let ratio = value / (target_per_replica * current as f64);
                if tolerance.holds(ratio) {
                    current
                } else {
                    ceil_replicas(value / target_per_replica)
                }
            }
            Reading::Value { value, target } => {
                let ratio = value / target;
                if current == 0 {
                    return ceil_replicas(ratio);
                }
                if tolerance.holds(ratio) {
                    current
                } else {
                    ceil_replicas(ratio * ready as f64)
                }
            }
            Reading::Utilization {
                usage,
                requests,
                target_percent,
            } => {
                if requests <= 0.0 {
                    return current;
                }
                let utilization = (usage * 100.0 / requests).trunc();
                let ratio = utilization / target_percent;
                if tolerance.holds(ratio) {
                    current
                } else {
                    ceil_replicas(ratio * ready as f64)
                }
            }
            Reading::PerPod { average, target } => {
                let ratio = average / target;
                if tolerance.holds(ratio) {
                    current
                } else {
                    ceil_replicas(ratio * ready as f64)
                }
            }
        }
    }
}

/// What the metrics together ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reactive {
    /// Every metric was read; the highest proposal.
    Replicas(i32),
    /// Some metrics are missing. HPA's rule: the readable ones may scale up, never down,
    /// so the proposal is at least the current count.
    Partial(i32),
    /// No metric could be read.
    Unavailable,
}

impl Reactive {
    /// The proposal, if any.
    pub fn replicas(self) -> Option<i32> {
        match self {
            Reactive::Replicas(n) | Reactive::Partial(n) => Some(n),
            Reactive::Unavailable => None,
        }
    }
}

/// HPA v2's proposal over several metrics: the maximum, with its missing-metric rules.
pub fn reactive(
    readings: &[Option<Reading>],
    current: i32,
    ready: i32,
    tolerance: Tolerance,
) -> Reactive {
    let proposals: Vec<i32> = readings
        .iter()
        .flatten()
        .map(|r| r.replicas(current, ready, tolerance))
        .collect();
    let Some(&highest) = proposals.iter().max() else {
        return Reactive::Unavailable;
    };
    if proposals.len() < readings.len() {
        Reactive::Partial(highest.max(current))
    } else {
        Reactive::Replicas(highest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_rate_within_tolerance_keeps_replicas() {
        let r = Reading::Total {
            value: 105.0,
            target_per_replica: 10.0,
        };
        assert_eq!(r.replicas(10, 10, Tolerance::default()), 10);
        let r = Reading::Total {
            value: 150.0,
            target_per_replica: 10.0,
        };
        assert_eq!(r.replicas(10, 10, Tolerance::default()), 15);
    }

    #[test]
    fn a_missing_metric_blocks_scale_down_but_not_up() {
        let low = Some(Reading::Total {
            value: 10.0,
            target_per_replica: 10.0,
        });
        let high = Some(Reading::Total {
            value: 200.0,
            target_per_replica: 10.0,
        });
        assert_eq!(
            reactive(&[low, None], 5, 5, Tolerance::default()),
            Reactive::Partial(5)
        );
        assert_eq!(
            reactive(&[high, None], 5, 5, Tolerance::default()),
            Reactive::Partial(20)
        );
        assert_eq!(
            reactive(&[None, None], 5, 5, Tolerance::default()),
            Reactive::Unavailable
        );
    }
}
