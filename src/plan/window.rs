//! The planning windows: what the replica count held now has to cover.
//!
//! A pod requested now is Ready at now + leadTime, and a pod removed now can only be back
//! after leadTime too. The next decision comes one sync period later. So the count held at
//! `now` must carry the load over [now, now + leadTime + sync]: no earlier decision can still
//! add capacity for that span, and no later one can add it in time. That is all a scale-up
//! provisions for; beyond it, the next decisions take over.
//!
//! Scale-down looks further: pods are removed only when the forecast says the lower count
//! suffices over [now, now + leadTime + horizon]. Removing a pod that is needed again a few
//! minutes later saves little and costs two actions, so `spec.forecast.horizon` is the flap
//! guard of forecast-aware scale-down (a longer horizon: fewer actions, more pod-hours).
//!
//! The controller and `simulate` both derive the windows here, from the same settings.

/// Seconds of scale-down stabilization while every metric has a reliable forecast, unless
/// the policy's own window is shorter. The forecast already covers the time a removed pod
/// would need to come back, so this only keeps a single odd reading from removing pods.
pub const FORECAST_SCALE_DOWN_WINDOW_S: u32 = 60;

/// When capacity has to be there, as Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The decision's time: the start of both windows.
    pub from: i64,
    /// End of what a scale-up provisions for: now + leadTime + one sync period.
    pub to: i64,
    /// End of what a lower count must cover before pods are removed: now + leadTime +
    /// horizon (never before `to`).
    pub hold_to: i64,
}

/// The timing a policy's decisions follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Seconds from requesting a pod to it being Ready (`spec.forecast.leadTime`).
    pub lead: u64,
    /// Seconds past the lead time a lower count must suffice (`spec.forecast.horizon`).
    pub horizon: u64,
    /// Seconds between decisions.
    pub sync: u64,
}

impl Timing {
    /// The windows of a decision at `now`.
    pub fn window(&self, now: i64) -> Window {
        let to = now + self.reach() as i64;
        Window {
            from: now,
            to,
            hold_to: to.max(now + (self.lead + self.horizon) as i64),
        }
    }

    /// Seconds after "now" that a scale-up provisions for.
    pub fn reach(&self) -> u64 {
        self.lead + self.sync.max(1)
    }

    /// Seconds after "now" that the forecast has to reach for both windows.
    pub fn hold_reach(&self) -> u64 {
        self.reach().max(self.lead + self.horizon)
    }

    /// The timing of a policy decided every `sync` seconds: its leadTime and horizon.
    pub fn from_policy(forecast: &crate::policy::ForecastSpec, sync: u64) -> Self {
        let defaults = crate::policy::ForecastSpec::default();
        let secs = |d: &crate::policy::Duration, fallback: &crate::policy::Duration| {
            d.seconds().or_else(|_| fallback.seconds()).unwrap_or(0)
        };
        Self {
            lead: secs(&forecast.lead_time, &defaults.lead_time),
            horizon: secs(&forecast.horizon, &defaults.horizon),
            sync,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_up_reaches_one_sync_past_the_lead_time_and_scale_down_the_horizon() {
        let t = Timing {
            lead: 120,
            horizon: 900,
            sync: 15,
        };
        assert_eq!(
            t.window(1_000),
            Window {
                from: 1_000,
                to: 1_135,
                hold_to: 2_020,
            }
        );
        let short = Timing { horizon: 5, ..t };
        assert_eq!(
            short.window(0).hold_to,
            135,
            "never shorter than scale-up's"
        );
    }
}
