//! Annotations on a ScalingPolicy that an admin sets during an incident or a launch, the
//! way KEDA's `autoscaling.keda.sh/paused` and `paused-replicas` work: no spec edit, no
//! new generation, undone by removing them.

use std::collections::BTreeMap;

/// `"true"`: write nothing; the decision is still computed and reported.
pub const PAUSED: &str = "autoscaling.prescaler.io/paused";

/// A replica count: hold the target there (in HPAFloor mode: hold the HPA's floor there).
pub const PAUSED_REPLICAS: &str = "autoscaling.prescaler.io/paused-replicas";

/// What the annotations ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// No annotation: scale as the spec says.
    None,
    /// Write nothing.
    Paused,
    /// Hold the replicas (or the HPA's floor) at this count.
    Pinned(i32),
    /// An annotation whose value cannot be read. It is treated as a pause — whoever set
    /// it wanted scaling to stop — and the message names the annotation and the fix.
    Invalid(String),
}

/// Reads the hold from a policy's annotations. `paused-replicas` wins over `paused`, as in
/// KEDA, so that `paused: "true"` plus a count holds at the count.
pub fn hold(annotations: &BTreeMap<String, String>) -> Hold {
    if let Some(value) = annotations.get(PAUSED_REPLICAS) {
        return match value.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Hold::Pinned(n),
            _ => Hold::Invalid(format!(
                "annotation {PAUSED_REPLICAS} must be a replica count such as \"3\" (got {value:?}); scaling is paused until it is fixed or removed"
            )),
        };
    }
    match annotations.get(PAUSED).map(|v| v.trim()) {
        None => Hold::None,
        Some(v) if v.eq_ignore_ascii_case("true") => Hold::Paused,
        Some(v) if v.eq_ignore_ascii_case("false") => Hold::None,
        Some(v) => Hold::Invalid(format!(
            "annotation {PAUSED} must be \"true\" or \"false\" (got {v:?}); scaling is paused until it is fixed or removed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pairs: &[(&str, &str)]) -> Hold {
        hold(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_annotations_read_as_an_admin_means_them() {
        assert_eq!(of(&[]), Hold::None);
        assert_eq!(of(&[("other", "true")]), Hold::None);
        assert_eq!(of(&[(PAUSED, "true")]), Hold::Paused);
        assert_eq!(of(&[(PAUSED, "True")]), Hold::Paused);
        assert_eq!(of(&[(PAUSED, "false")]), Hold::None);
        assert_eq!(of(&[(PAUSED_REPLICAS, "5")]), Hold::Pinned(5));
        assert_eq!(of(&[(PAUSED_REPLICAS, " 0 ")]), Hold::Pinned(0));
        assert_eq!(
            of(&[(PAUSED, "true"), (PAUSED_REPLICAS, "3")]),
            Hold::Pinned(3)
        );
    }

    #[test]
    fn a_value_that_cannot_be_read_pauses_and_names_the_fix() {
        for (key, value) in [
            (PAUSED, "yes"),
            (PAUSED, ""),
            (PAUSED_REPLICAS, "-1"),
            (PAUSED_REPLICAS, "five"),
            (PAUSED_REPLICAS, "99999999999"),
        ] {
            let Hold::Invalid(message) = of(&[(key, value)]) else {
                panic!("{key}={value:?} is not refused");
            };
            assert!(message.contains(key), "{message}");
            assert!(message.contains(&format!("{value:?}")), "{message}");
            assert!(message.contains("paused"), "{message}");
        }
    }
}
