//! Per-series incremental history: the first read of a series fetches its whole window in
//! chunks within Prometheus' 11,000-points-per-series limit; every later read asks for the
//! tail since the last cached point only (one range query), re-reading that point, whose
//! `rate()` may have been computed before its last scrape arrived — until it was read
//! [`SETTLED_AFTER_S`] after its time; a read before the next step is due then asks nothing.
//!
//! Memory: each series keeps `history / step + 1` values on a fixed time grid as 32-bit
//! floats, 4 bytes each (a missing step is a NaN; seven significant digits are far more
//! than a request rate or a CPU reading carries), plus its query text and about 200 bytes
//! of bookkeeping: the default 14 days at a 1-minute step is 20,161 values, about 81 KB. A
//! window needing more than [`MAX_POINTS_PER_SERIES`] values is refused, so no series ever
//! holds more than 512 KiB.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{MetricError, MetricSource};
use crate::forecast::Series;

/// Most points Prometheus returns for one series in one range query.
pub const MAX_POINTS_PER_QUERY: u64 = 11_000;
/// Most values one cached series may hold (512 KiB).
pub const MAX_POINTS_PER_SERIES: u64 = 131_072;
/// Missing steps interpolated silently; longer gaps are recorded in [`Series::gaps`].
const MAX_GAP_STEPS: usize = 10;
/// Seconds after a step's time from which its value is taken as final: every sample up to
/// that time has been scraped and stored (scrapes time out after 10 s by default). The newest
/// step is read again on every call until then, and not after.
pub const SETTLED_AFTER_S: i64 = 30;
/// Bookkeeping bytes of one cached series besides its values and query.
const ENTRY_OVERHEAD: usize = 200;

/// Which cached series: one metric of one policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The policy's namespace.
    pub namespace: String,
    /// The policy's name.
    pub policy: String,
    /// The metric's effective name (or a name for a helper series, e.g. `cpu/requests`).
    pub metric: String,
}

struct Entry {
    query: String,
    step: u64,
    /// Time of `values[0]`, a multiple of `step`.
    first: i64,
    /// One value per step; NaN where Prometheus had none. Single precision: seven
    /// significant digits are far finer than any forecast's error, and two weeks at one
    /// sample a minute then fit in about 81 KB per series. Only what Prometheus has is
    /// held: a workload two days old keeps two days, not a window of mostly gaps.
    values: VecDeque<f32>,
    /// The most values the window holds.
    window: usize,
    /// When Prometheus was last asked (Unix seconds).
    read_at: i64,
}

impl Entry {
    fn last(&self) -> i64 {
        self.first + (self.values.len() as i64 - 1) * self.step as i64
    }

    fn put(&mut self, samples: &[(i64, f64)]) {
        let step = self.step as i64;
        for &(t, v) in samples {
            if t < self.first {
                continue;
            }
            let i = ((t - self.first) / step) as usize;
            if i >= self.values.len() {
                let need = i + 1;
                if need > self.values.capacity() {
                    // Room for some growth, never past the window.
                    let target = (need + need / 8 + 64).min(self.window).max(need);
                    self.values.reserve_exact(target - self.values.len());
                }
                self.values.resize(need, f32::NAN);
            }
            self.values[i] = v as f32;
        }
    }

    fn trim(&mut self, start: i64) {
        while self.first < start && !self.values.is_empty() {
            self.values.pop_front();
            self.first += self.step as i64;
        }
    }

    fn bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<f32>() + self.query.capacity() + ENTRY_OVERHEAD
    }

    fn series(&self) -> Series {
        let step = self.step as i64;
        let samples: Vec<(i64, f64)> = self
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| (self.first + i as i64 * step, f64::from(*v)))
            .collect();
        Series::from_samples(&samples, self.step, MAX_GAP_STEPS)
    }
}

#[derive(Default)]
struct Slot {
    entry: tokio::sync::Mutex<Option<Entry>>,
    bytes: AtomicUsize,
}

struct Inner<S> {
    source: S,
    slots: Mutex<HashMap<SeriesKey, Arc<Slot>>>,
}

/// Incremental history of many series over one [`MetricSource`]. Cheap to clone (the
/// cache is shared); safe to use from many tasks (reads of one series are serialised,
/// different series proceed in parallel).
pub struct HistoryCache<S: MetricSource> {
    inner: Arc<Inner<S>>,
}

impl<S: MetricSource> Clone for HistoryCache<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: MetricSource> HistoryCache<S> {
    /// An empty cache reading from `source`.
    pub fn new(source: S) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The source this cache reads from.
    pub fn source(&self) -> &S {
        &self.inner.source
    }

    /// The last `window_s` seconds of `query` at `step_s` up to `now`, on a grid of multiples
    /// of `step_s`. The first call for a key (or after its query, step or window moved on
    /// entirely) fetches the whole window; later calls fetch the tail only. The whole call
    /// is bounded by the source's [`MetricSource::cycle_deadline`].
    pub async fn history(
        &self,
        key: &SeriesKey,
        query: &str,
        window_s: u64,
        step_s: u64,
        now: i64,
    ) -> Result<Series, MetricError> {
        self.history_from(&self.inner.source, key, query, window_s, step_s, now)
            .await
    }

    /// As [`HistoryCache::history`], reading from `source` instead of the cache's own (a
    /// policy with its own `spec.prometheus`); keys must not be shared between sources.
    pub async fn history_from(
        &self,
        source: &S,
        key: &SeriesKey,
        query: &str,
        window_s: u64,
        step_s: u64,
        now: i64,
    ) -> Result<Series, MetricError> {
        let step = step_s.max(1);
        let points = (window_s / step).max(1);
        if points + 1 > MAX_POINTS_PER_SERIES {
            return Err(MetricError::Config(format!(
                "a history of {window_s}s at a {step}s step is {} points; at most {MAX_POINTS_PER_SERIES} are kept per series: raise forecast.step or shorten forecast.history",
                points + 1
            )));
        }
        let slot = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key.clone()).or_default().clone()
        };
        let deadline = source.cycle_deadline();
        let work = async {
            let mut guard = slot.entry.lock().await;
            let end = now.div_euclid(step as i64) * step as i64;
            let start = end - (points * step) as i64;
            let reusable = guard.as_ref().is_some_and(|e| {
                e.query == query
                    && e.step == step
                    && !e.values.is_empty()
                    && e.last() >= start
                    && e.last() <= end
            });
            if let (true, Some(entry)) = (reusable, guard.as_mut()) {
                // Nothing to ask while the newest step is the cached one and was read once it
                // had settled: its value can no longer change.
                let settled = entry.last() == end && entry.read_at - end >= SETTLED_AFTER_S;
                if !settled {
                    let samples = source.range(query, entry.last(), end, step).await?;
                    // Trim first, so the deque never grows past the window (and its capacity).
                    entry.trim(start);
                    entry.put(&samples);
                    entry.read_at = now;
                }
            } else {
                let samples = fetch_window(source, query, start, end, step).await?;
                // The window starts at the oldest sample Prometheus has, on the step grid.
                let oldest = samples.iter().map(|s| s.0).filter(|t| *t >= start).min();
                let first =
                    oldest.map_or(start, |t| start + (t - start) / step as i64 * step as i64);
                let mut entry = Entry {
                    query: query.to_string(),
                    step,
                    first,
                    values: VecDeque::new(),
                    window: points as usize + 1,
                    read_at: now,
                };
                entry.put(&samples);
                *guard = Some(entry);
            }
            let entry = guard.as_ref().ok_or_else(|| no_data(query))?;
            slot.bytes.store(entry.bytes(), Ordering::Relaxed);
            let series = entry.series();
            if series.is_empty() {
                return Err(no_data(query));
            }
            Ok(series)
        };
        tokio::time::timeout(deadline, work)
            .await
            .unwrap_or_else(|_| {
                Err(MetricError::Timeout {
                    url: source.name(),
                    seconds: deadline.as_secs_f64(),
                })
            })
    }

    /// Drops every series of a policy (call it when the policy is deleted).
    pub fn forget(&self, namespace: &str, policy: &str) {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|k, _| !(k.namespace == namespace && k.policy == policy));
    }

    /// Number of cached series.
    pub fn len(&self) -> usize {
        self.inner
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the cached series (values, queries and bookkeeping).
    pub fn memory_bytes(&self) -> usize {
        let slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .values()
            .map(|s| s.bytes.load(Ordering::Relaxed).max(ENTRY_OVERHEAD))
            .sum()
    }
}

fn no_data(query: &str) -> MetricError {
    MetricError::NoData {
        query: query.to_string(),
        hint: String::new(),
    }
}

/// The whole window in chunks of at most [`MAX_POINTS_PER_QUERY`] points, fetched
/// concurrently (the source's own limit caps how many are in flight). A chunk before the
/// series existed is empty, not an error; only a window with no data at all is.
async fn fetch_window<S: MetricSource>(
    source: &S,
    query: &str,
    start: i64,
    end: i64,
    step: u64,
) -> Result<Vec<(i64, f64)>, MetricError> {
    let span = ((MAX_POINTS_PER_QUERY - 1) * step) as i64;
    let mut chunks = Vec::new();
    let mut from = start;
    while from <= end {
        let to = (from + span).min(end);
        chunks.push((from, to));
        from = to + step as i64;
    }
    let results =
        futures::future::join_all(chunks.iter().map(|&(a, b)| source.range(query, a, b, step)))
            .await;
    let mut samples = Vec::new();
    let mut empty = None;
    for result in results {
        match result {
            Ok(mut s) => samples.append(&mut s),
            Err(e @ (MetricError::NoData { .. } | MetricError::NotFinite { .. })) => {
                if empty.is_none() || matches!(e, MetricError::NotFinite { .. }) {
                    empty = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    match (samples.is_empty(), empty) {
        (true, Some(e)) => Err(e),
        _ => Ok(samples),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// A source with a known answer: value = t / 60 at every step; counts its calls and the
    /// points asked for. (A stand-in for Prometheus to pin the chunking arithmetic; the
    /// integration tests run the same cache against the real server.)
    #[derive(Default)]
    struct Ramp {
        calls: AtomicU64,
        largest: AtomicU64,
        /// No samples before this time (a young workload).
        since: i64,
    }

    impl MetricSource for Ramp {
        async fn range(
            &self,
            _query: &str,
            start: i64,
            end: i64,
            step: u64,
        ) -> Result<Vec<(i64, f64)>, MetricError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let points = ((end - start) as u64) / step + 1;
            self.largest.fetch_max(points, Ordering::Relaxed);
            Ok((0..points)
                .map(|k| {
                    let t = start + (k * step) as i64;
                    (t, t as f64 / 60.0)
                })
                .filter(|(t, _)| *t >= self.since)
                .collect())
        }
    }

    fn key(metric: &str) -> SeriesKey {
        SeriesKey {
            namespace: "shop".into(),
            policy: "web".into(),
            metric: metric.into(),
        }
    }

    #[tokio::test]
    async fn first_read_is_chunked_and_later_reads_fetch_the_tail() {
        let cache = HistoryCache::new(Ramp::default());
        let now = 1_700_000_000;
        let week = 7 * 86_400;
        let s = cache
            .history(&key("http"), "q", week, 30, now)
            .await
            .unwrap();
        assert_eq!(s.len() as u64, week / 30 + 1);
        let source = cache.source();
        assert_eq!(
            source.calls.load(Ordering::Relaxed),
            2,
            "20,161 points need two chunks"
        );
        assert!(source.largest.load(Ordering::Relaxed) <= MAX_POINTS_PER_QUERY);
        assert_eq!(s.end(), now.div_euclid(30) * 30 + 30);

        let s = cache
            .history(&key("http"), "q", week, 30, now + 95)
            .await
            .unwrap();
        assert_eq!(source.calls.load(Ordering::Relaxed), 3);
        assert_eq!(
            s.len() as u64,
            week / 30 + 1,
            "the window slides, it does not grow"
        );
        let expected = ((now + 95).div_euclid(30) * 30) as f64 / 60.0;
        let last = *s.values.last().unwrap();
        assert!(
            (last - expected).abs() <= expected * 1e-6,
            "the newest sample, kept to seven digits: {last} vs {expected}"
        );
        let bytes = cache.memory_bytes();
        assert!((20_161 * 4..20_161 * 4 + 4096).contains(&bytes), "{bytes}");

        cache
            .history(&key("http"), "changed", week, 30, now + 95)
            .await
            .unwrap();
        assert_eq!(
            source.calls.load(Ordering::Relaxed),
            5,
            "a new query refetches"
        );
        cache.forget("shop", "web");
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn the_newest_step_is_read_again_until_it_settles_and_then_not() {
        let cache = HistoryCache::new(Ramp::default());
        let step = 60;
        let t = 1_700_000_040_i64.div_euclid(step) * step;
        let calls = || cache.source().calls.load(Ordering::Relaxed);
        let mut asked = Vec::new();
        for offset in [5, 20, 35, 50, 65, 80, 95, 110] {
            let before = calls();
            let s = cache
                .history(&key("http"), "q", 86_400, step as u64, t + offset)
                .await
                .unwrap();
            let newest = (t + offset).div_euclid(step) * step;
            let (got, want) = (*s.values.last().unwrap(), newest as f64 / 60.0);
            assert!((got - want).abs() <= want * 1e-6, "{got} vs {want}");
            asked.push(calls() - before);
        }
        // 5 s, 20 s after the step: asked (it may still change); 35 s: asked, and final;
        // 50 s: nothing asked. The next step (65 s) is asked for at once, and so on.
        assert_eq!(asked, vec![1, 1, 1, 0, 1, 1, 1, 0]);
    }

    #[tokio::test]
    async fn a_young_series_holds_the_days_it_has_not_the_whole_window() {
        let now = 1_700_000_000;
        let (day, week) = (86_400, 7 * 86_400);
        let cache = HistoryCache::new(Ramp {
            since: now - 2 * day as i64,
            ..Ramp::default()
        });
        let s = cache
            .history(&key("http"), "q", week, 60, now)
            .await
            .unwrap();
        let first = (now - 2 * day as i64 + 59).div_euclid(60) * 60;
        assert_eq!(s.start, first, "from the first sample");
        assert_eq!(s.len() as i64, (s.end() - first) / 60, "no gaps");
        let two_days = s.len() * 4;
        let bytes = cache.memory_bytes();
        assert!(
            bytes < two_days * 5 / 4,
            "{bytes} bytes for {two_days} of samples (a week would be {})",
            (week / 60 + 1) * 4
        );
        // An hour later the series has grown by an hour, and still starts where it did.
        let before = s.len();
        let s = cache
            .history(&key("http"), "q", week, 60, now + 3_600)
            .await
            .unwrap();
        assert_eq!(s.len(), before + 60);
        assert_eq!(s.start, first);
    }

    #[tokio::test]
    async fn a_clock_that_jumps_either_way_refetches_a_window_ending_at_the_new_now() {
        let cache = HistoryCache::new(Ramp::default());
        let now = 1_700_000_000;
        let day = 86_400;
        cache
            .history(&key("http"), "q", day, 60, now)
            .await
            .unwrap();
        for jumped in [now - 3_600, now + 2 * day as i64] {
            let s = cache
                .history(&key("http"), "q", day, 60, jumped)
                .await
                .unwrap();
            let end = jumped.div_euclid(60) * 60;
            assert_eq!(s.len() as u64, day / 60 + 1, "a whole window, not a gap");
            let last = *s.values.last().unwrap();
            let expected = end as f64 / 60.0;
            assert!(
                (last - expected).abs() <= expected * 1e-6,
                "ends at the new now: {last} vs {expected}"
            );
        }
    }

    #[tokio::test]
    async fn a_window_beyond_the_bound_is_refused() {
        let cache = HistoryCache::new(Ramp::default());
        let err = cache
            .history(&key("x"), "q", 30 * 86_400, 1, 0)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "Config");
        assert!(err.to_string().contains("forecast.step"), "{err}");
    }
}
