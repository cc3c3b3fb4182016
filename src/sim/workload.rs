//! The simulated workload: load from a trace, pods that become Ready after a start-up delay,
//! and the scores of one strategy.

use crate::forecast::Series;

/// Load in requests per second at any instant: a trace's per-interval values divided by the
/// interval and interpolated linearly between interval midpoints (a 5-minute trace does not
/// turn into 5-minute steps no real traffic has).
#[derive(Clone, Debug)]
pub struct Load {
    start: f64,
    step: f64,
    rates: Vec<f64>,
}

impl Load {
    /// Load from a trace whose values are amounts per interval.
    pub fn from_trace(series: &Series) -> Self {
        let step = series.step.max(1) as f64;
        Self {
            start: series.start as f64 + step / 2.0,
            step,
            rates: series.values.iter().map(|v| v / step).collect(),
        }
    }

    /// Requests per second at `t` (Unix seconds).
    pub fn at(&self, t: f64) -> f64 {
        let x = (t - self.start) / self.step;
        if self.rates.is_empty() {
            return 0.0;
        }
        if x <= 0.0 {
            return self.rates[0];
        }
        let i = x.floor() as usize;
        if i + 1 >= self.rates.len() {
            return self.rates[self.rates.len() - 1];
        }
        let frac = x - i as f64;
        self.rates[i] + (self.rates[i + 1] - self.rates[i]) * frac
    }

    /// Mean load over [`from`, `to`), from eight evenly spaced samples.
    pub fn mean(&self, from: f64, to: f64) -> f64 {
        const N: usize = 8;
        let width = (to - from) / N as f64;
        (0..N)
            .map(|k| self.at(from + (k as f64 + 0.5) * width))
            .sum::<f64>()
            / N as f64
    }

    /// Highest load over [`from`, `to`], sampled every 15 seconds.
    pub fn peak(&self, from: f64, to: f64) -> f64 {
        let mut t = from;
        let mut peak = self.at(from);
        while t <= to {
            peak = peak.max(self.at(t));
            t += 15.0;
        }
        peak.max(self.at(to))
    }

    /// The load as a metrics pipeline would record it at `step` seconds (req/s, the mean of
    /// each step) from the trace's start to its end. At the trace's own step these are the
    /// trace's values; at a finer step, the interpolated load a finer scrape would see.
    pub fn at_step(&self, series: &Series, step: u64) -> Series {
        let step = step.max(1);
        if step == series.step {
            return Series {
                start: series.start,
                step,
                values: self.rates.clone(),
                gaps: Vec::new(),
            };
        }
        let n = (series.span_seconds() / step) as usize;
        let values = (0..n)
            .map(|i| {
                let from = series.start as f64 + (i as u64 * step) as f64;
                self.mean(from, from + step as f64)
            })
            .collect();
        Series {
            start: series.start,
            step,
            values,
            gaps: Vec::new(),
        }
    }

    /// Every per-second rate of the trace.
    pub fn rates(&self) -> &[f64] {
        &self.rates
    }
}

/// Pods of one strategy: each Ready at a time; scale-down removes not-yet-ready pods first,
/// as a ReplicaSet does, at once.
#[derive(Clone, Debug, Default)]
pub struct Pods {
    ready_at: Vec<i64>,
}

impl Pods {
    /// `n` pods, all Ready.
    pub fn ready(n: i32, now: i64) -> Self {
        Self {
            ready_at: vec![now; n.max(0) as usize],
        }
    }

    /// Pods requested (ready or starting).
    pub fn replicas(&self) -> i32 {
        self.ready_at.len() as i32
    }

    /// Pods Ready at `now`.
    pub fn ready_count(&self, now: i64) -> i32 {
        self.ready_at.iter().filter(|&&t| t <= now).count() as i32
    }

    /// Sets the replica count at `now`; new pods are Ready after `startup` seconds.
    pub fn scale(&mut self, replicas: i32, now: i64, startup: u64) {
        let replicas = replicas.max(0) as usize;
        if replicas > self.ready_at.len() {
            self.ready_at.resize(replicas, now + startup as i64);
        } else {
            self.ready_at.sort_unstable();
            self.ready_at.truncate(replicas);
        }
    }
}

/// Scores of one strategy over a run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Score {
    /// Minutes with load above Ready capacity.
    pub under_provisioned_minutes: f64,
    /// Unserved requests ÷ all requests.
    pub unserved_fraction: f64,
    /// Pod-hours of Ready and starting pods.
    pub pod_hours: f64,
    /// Replica changes.
    pub scale_actions: u64,
    /// Mean of served load ÷ Ready capacity, over steps with capacity.
    pub mean_utilization: f64,
}

/// Accumulates a [`Score`] step by step.
#[derive(Clone, Debug, Default)]
pub struct Scorer {
    score: Score,
    requests: f64,
    unserved: f64,
    utilization_sum: f64,
    utilization_steps: u64,
}

impl Scorer {
    /// Adds a step of `seconds` with mean `load` (req/s), `ready_capacity` (req/s) and
    /// `pods` requested.
    pub fn add(&mut self, seconds: f64, load: f64, ready_capacity: f64, pods: i32) {
        let short = (load - ready_capacity).max(0.0);
        if short > 1e-9 {
            self.score.under_provisioned_minutes += seconds / 60.0;
        }
        self.unserved += short * seconds;
        self.requests += load * seconds;
        self.score.pod_hours += f64::from(pods) * seconds / 3_600.0;
        if ready_capacity > 0.0 {
            self.utilization_sum += load.min(ready_capacity) / ready_capacity;
            self.utilization_steps += 1;
        }
    }

    /// Counts a replica change.
    pub fn scaled(&mut self) {
        self.score.scale_actions += 1;
    }

    /// The final scores.
    pub fn finish(mut self) -> Score {
        self.score.unserved_fraction = if self.requests > 0.0 {
            self.unserved / self.requests
        } else {
            0.0
        };
        self.score.mean_utilization = if self.utilization_steps > 0 {
            self.utilization_sum / self.utilization_steps as f64
        } else {
            0.0
        };
        self.score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_is_interpolated_between_interval_midpoints() {
        let series = Series::new(0, 300, vec![300.0, 600.0]);
        let load = Load::from_trace(&series);
        assert_eq!(load.at(150.0), 1.0);
        assert_eq!(load.at(300.0), 1.5);
        assert_eq!(load.at(450.0), 2.0);
    }

    #[test]
    fn new_pods_become_ready_after_startup_and_starting_pods_go_first() {
        let mut pods = Pods::ready(2, 0);
        pods.scale(4, 100, 120);
        assert_eq!(
            (
                pods.replicas(),
                pods.ready_count(100),
                pods.ready_count(220)
            ),
            (4, 2, 4)
        );
        pods.scale(3, 130, 120);
        assert_eq!((pods.ready_count(130), pods.ready_count(220)), (2, 3));
    }
}
