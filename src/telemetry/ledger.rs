//! What the operator's metrics remember between reconciles of a policy: the forecasts made
//! for a moment still ahead (so that, once it arrives, the forecast can be shown beside
//! what happened), and the replica-time totals behind the "is it worth it" counters.

use std::collections::VecDeque;

/// Forecasts kept per metric while they wait for their moment: leadTime ÷ syncPeriod of
/// them in steady state (8 at 2 m and 15 s); the cap bounds a policy with a long lead.
const MAX_PENDING: usize = 256;

/// A forecast made for one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Due {
    /// The moment it is for, Unix seconds.
    pub at: i64,
    /// The point (median) forecast.
    pub point: f64,
    /// The provisioned quantile.
    pub upper: Option<f64>,
}

/// What the "forecast made for now" series should show after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Matured {
    /// This forecast reached its moment: show it.
    Show(Due),
    /// Nothing reached its moment this time but forecasts are on their way: keep what is
    /// shown.
    Keep,
    /// No forecast is on its way: remove the series.
    Remove,
}

/// The forecasts of one metric that have not reached their moment yet.
#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<Due>,
}

impl Pending {
    /// Queues the forecast made now (if any) and takes out every one whose moment is at or
    /// before `now`, answering with the latest of them.
    pub fn advance(&mut self, now: i64, made: Option<Due>) -> Matured {
        if let Some(due) = made {
            // A shorter leadTime can make a new forecast due before queued ones.
            while self.queue.back().is_some_and(|last| last.at >= due.at) {
                self.queue.pop_back();
            }
            if self.queue.len() == MAX_PENDING {
                self.queue.pop_front();
            }
            self.queue.push_back(due);
        }
        let mut latest = None;
        while self.queue.front().is_some_and(|first| first.at <= now) {
            latest = self.queue.pop_front();
        }
        match latest {
            Some(due) => Matured::Show(due),
            None if self.queue.is_empty() => Matured::Remove,
            None => Matured::Keep,
        }
    }
}

/// One policy's replica numbers at one reconcile, for the time totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Unix seconds.
    pub at: i64,
    /// Replicas the target had.
    pub current: i32,
    /// Replicas the forecast held above what current load asked for (≥ 0).
    pub added: i32,
    /// True while the target had fewer replicas than current load asked for.
    pub short: bool,
}

/// Seconds to add to the time totals between two reconciles.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Increments {
    /// Replica-seconds the target ran.
    pub replica_s: f64,
    /// Replica-seconds the forecast added.
    pub added_s: f64,
    /// Seconds with fewer replicas than current load asked for.
    pub short_s: f64,
}

/// The time from `prev` to `next`, each number held at its `prev` value. A gap longer than
/// `max_gap_s` (this process did not lead, or could not read the metrics) counts nothing:
/// what happened then is not known here.
pub fn between(prev: Tally, next: Tally, max_gap_s: i64) -> Increments {
    let dt = next.at - prev.at;
    if dt <= 0 || dt > max_gap_s {
        return Increments::default();
    }
    let dt = dt as f64;
    Increments {
        replica_s: f64::from(prev.current.max(0)) * dt,
        added_s: f64::from(prev.added.max(0)) * dt,
        short_s: if prev.short { dt } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(at: i64, point: f64) -> Due {
        Due {
            at,
            point,
            upper: Some(point * 1.5),
        }
    }

    #[test]
    fn a_forecast_is_shown_once_its_moment_arrives() {
        let mut p = Pending::default();
        // A 30 s lead at a 15 s sync: nothing is due for the first 30 s.
        assert_eq!(p.advance(0, Some(due(30, 1.0))), Matured::Keep);
        assert_eq!(p.advance(15, Some(due(45, 2.0))), Matured::Keep);
        assert_eq!(
            p.advance(30, Some(due(60, 3.0))),
            Matured::Show(due(30, 1.0))
        );
        assert_eq!(
            p.advance(45, Some(due(75, 4.0))),
            Matured::Show(due(45, 2.0))
        );
        // A late reconcile shows the latest forecast due, not an older one.
        assert_eq!(
            p.advance(70, Some(due(100, 5.0))),
            Matured::Show(due(60, 3.0))
        );
    }

    #[test]
    fn without_new_forecasts_the_queue_drains_and_then_the_series_goes() {
        let mut p = Pending::default();
        p.advance(0, Some(due(30, 1.0)));
        p.advance(15, Some(due(45, 2.0)));
        assert_eq!(p.advance(30, None), Matured::Show(due(30, 1.0)));
        assert_eq!(p.advance(40, None), Matured::Keep);
        assert_eq!(p.advance(45, None), Matured::Show(due(45, 2.0)));
        assert_eq!(p.advance(60, None), Matured::Remove);
        assert_eq!(Pending::default().advance(0, None), Matured::Remove);
    }

    #[test]
    fn a_shorter_lead_drops_forecasts_that_would_show_out_of_order() {
        let mut p = Pending::default();
        p.advance(0, Some(due(120, 1.0)));
        p.advance(15, Some(due(135, 2.0)));
        // leadTime cut from 2 m to 30 s: the new forecast is due first.
        assert_eq!(p.advance(30, Some(due(60, 3.0))), Matured::Keep);
        assert_eq!(p.advance(60, None), Matured::Show(due(60, 3.0)));
        assert_eq!(p.advance(200, None), Matured::Remove);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut p = Pending::default();
        for t in 0..1000 {
            p.advance(t, Some(due(t + 100_000, 1.0)));
        }
        assert_eq!(p.queue.len(), MAX_PENDING);
    }

    #[test]
    fn time_totals_hold_each_number_until_the_next_reconcile() {
        let prev = Tally {
            at: 100,
            current: 4,
            added: 2,
            short: true,
        };
        let next = Tally { at: 115, ..prev };
        assert_eq!(
            between(prev, next, 60),
            Increments {
                replica_s: 60.0,
                added_s: 30.0,
                short_s: 15.0
            }
        );
        // Negative "added" (desired below reactive) adds nothing.
        let below = Tally { added: -1, ..prev };
        assert_eq!(between(below, next, 60).added_s, 0.0);
        // A gap past the limit, or a clock that went back, counts nothing.
        assert_eq!(
            between(prev, Tally { at: 200, ..prev }, 60),
            Increments::default()
        );
        assert_eq!(
            between(prev, Tally { at: 90, ..prev }, 60),
            Increments::default()
        );
    }
}
