//! Between two fits of a model, its forecast is kept on the newest data by a tracker that
//! every new sample updates in constant time.
//!
//! At a fit the model's path is laid out at the series' own step from the fit onwards. Each
//! new sample then moves two numbers:
//! - a level correction: the residual (actual − path), exponentially smoothed with a
//!   half-life the backtest chooses per metric from [`LEVEL_HALF_LIVES`] (0 takes the newest
//!   residual as it is). The forecast is the path plus this offset: the model's shape at
//!   the level the data shows now. Short horizons are mostly level; the model supplies the
//!   slope of the day.
//! - a scale: the exponentially weighted mean absolute change from one sample to the next
//!   (half-life [`SCALE_HALF_LIFE_S`]). Forecast errors are measured in this unit, so one
//!   calibration serves busy and quiet hours, calm and bursty ones.
//!
//! Baseline models (seasonal naive, the PHPA peer) are refitted at every sample instead and
//! not corrected: they are compared as published.

/// Half-lives of the level correction the backtest chooses from, in samples.
pub const LEVEL_HALF_LIVES: [f64; 5] = [0.0, 1.0, 3.0, 10.0, 30.0];
/// Half-life of the scale, in seconds (at least four samples).
pub const SCALE_HALF_LIFE_S: f64 = 3_600.0;

/// A model's path since its last fit, and the corrections the samples since then imply.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracker {
    step: u64,
    /// Time of `path[0]`: the end of the history the model was fitted on.
    start: i64,
    path: Vec<f64>,
    /// Samples consumed since the fit.
    consumed: usize,
    /// Weight of the newest residual in the offset; `None`: no correction.
    alpha: Option<f64>,
    offset: f64,
    scale_decay: f64,
    scale: f64,
    mean: f64,
    last: f64,
}

impl Tracker {
    /// A tracker for `path` (one value per `step` seconds from `start`), fitted on history
    /// whose newest values are `recent` (at least one); `half_life` is the level
    /// correction's in samples, `None` to leave the path as the model gave it.
    pub fn new(
        path: Vec<f64>,
        start: i64,
        step: u64,
        recent: &[f64],
        half_life: Option<f64>,
    ) -> Self {
        let step = step.max(1);
        let samples = (SCALE_HALF_LIFE_S / step as f64).max(4.0);
        let scale_decay = 0.5_f64.powf(1.0 / samples);
        let (mut scale, mut weight) = (0.0, 0.0);
        for pair in recent.windows(2) {
            scale = scale_decay * scale + (pair[1] - pair[0]).abs();
            weight = scale_decay * weight + 1.0;
        }
        let mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
        Self {
            step,
            start,
            path,
            consumed: 0,
            alpha: half_life.map(|h| {
                if h > 0.0 {
                    1.0 - 0.5_f64.powf(1.0 / h)
                } else {
                    1.0
                }
            }),
            offset: 0.0,
            scale_decay,
            scale: if weight > 0.0 { scale / weight } else { 0.0 },
            mean: mean.max(0.0),
            last: recent.last().copied().unwrap_or(0.0),
        }
    }

    /// Time just after the last sample consumed: where the next forecast starts.
    pub fn end(&self) -> i64 {
        self.start + (self.consumed as u64 * self.step) as i64
    }

    /// True when the path still reaches `offsets` samples past [`Tracker::end`].
    pub fn reaches(&self, offsets: usize) -> bool {
        self.consumed + offsets <= self.path.len()
    }

    /// Consumes the sample at [`Tracker::end`].
    pub fn update(&mut self, value: f64) {
        let error = (value - self.point(0)).abs();
        self.scale += (1.0 - self.scale_decay) * (error - self.scale);
        if let Some(alpha) = self.alpha {
            let expected = self.path.get(self.consumed).copied().unwrap_or(0.0);
            self.offset += alpha * (value - expected - self.offset);
        }
        self.last = value;
        self.consumed += 1;
    }

    /// The forecast for the sample `h` steps after [`Tracker::end`].
    pub fn point(&self, h: usize) -> f64 {
        let base = self.path.get(self.consumed + h).copied().unwrap_or(0.0);
        (base + self.offset).max(0.0)
    }

    /// The unit errors are measured in: recent mean absolute change between samples, never
    /// below a thousandth of the level at the fit.
    pub fn scale(&self) -> f64 {
        self.scale.max(1e-3 * self.mean).max(1e-9)
    }

    /// The newest sample consumed (or the last of the history at the fit).
    pub fn last(&self) -> f64 {
        self.last
    }
}

/// A model path at a coarse step laid onto the native step: each coarse value stands at the
/// middle of its interval and the native values are interpolated linearly between them.
/// `last` is the coarse history's newest value, ending where the path starts; `factor` is
/// the coarse step in native steps; `len` native values are produced.
pub fn to_native(last: f64, path: &[f64], factor: usize, len: usize) -> Vec<f64> {
    if factor <= 1 {
        let mut out: Vec<f64> = path.iter().copied().take(len).collect();
        let fill = out.last().copied().unwrap_or(last);
        out.resize(len, fill);
        return out;
    }
    let f = factor as f64;
    // Coarse midpoints in native steps from the path's start: the history value at −f/2,
    // path value k at (k + ½)·f. Native sample j sits at j + ½.
    let at = |k: isize| -> f64 {
        if k < 0 {
            last
        } else {
            path.get(k as usize)
                .or(path.last())
                .copied()
                .unwrap_or(last)
        }
    };
    (0..len)
        .map(|j| {
            let x = (j as f64 + 0.5) / f - 0.5;
            let k = x.floor();
            let frac = x - k;
            let k = k as isize;
            at(k) * (1.0 - frac) + at(k + 1) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_correction_follows_a_shifted_level() {
        let mut t = Tracker::new(vec![10.0; 100], 0, 60, &[10.0; 30], Some(3.0));
        assert_eq!(t.point(0), 10.0);
        for _ in 0..30 {
            t.update(20.0);
        }
        assert!(
            (t.point(0) - 20.0).abs() < 0.01,
            "after half an hour at 20 the forecast is 20: {}",
            t.point(0)
        );
        assert_eq!(t.end(), 1_800);
    }

    #[test]
    fn a_zero_half_life_takes_the_newest_residual() {
        let path: Vec<f64> = (0..10).map(|i| 10.0 + f64::from(i)).collect();
        let mut t = Tracker::new(path, 0, 60, &[10.0], Some(0.0));
        t.update(15.0);
        // The path said 10 where 15 came: the next values are the path's, 5 higher.
        assert_eq!((t.point(0), t.point(1)), (16.0, 17.0));
    }

    #[test]
    fn an_uncorrected_tracker_forecasts_its_path() {
        let mut t = Tracker::new((0..10).map(f64::from).collect(), 0, 60, &[1.0], None);
        t.update(100.0);
        assert_eq!(t.point(0), 1.0);
        assert_eq!(t.point(2), 3.0);
    }

    #[test]
    fn the_scale_is_the_recent_change_between_samples() {
        let recent: Vec<f64> = (0..50)
            .map(|i| if i % 2 == 0 { 8.0 } else { 12.0 })
            .collect();
        let t = Tracker::new(vec![10.0; 10], 0, 60, &recent, Some(10.0));
        assert!((t.scale() - 4.0).abs() < 1e-6, "{}", t.scale());
    }

    #[test]
    fn a_coarse_path_is_interpolated_between_midpoints() {
        let native = to_native(0.0, &[10.0, 20.0], 2, 4);
        // Midpoints: history 0 at −1, 10 at 1, 20 at 3 (native steps, sample j at j + ½);
        // past the last midpoint the path stays at its last value.
        assert_eq!(native, vec![7.5, 12.5, 17.5, 20.0]);
        assert_eq!(to_native(5.0, &[1.0, 2.0], 1, 3), vec![1.0, 2.0, 2.0]);
    }
}
