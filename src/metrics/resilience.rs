//! Resilience around any [`MetricSource`]: a deadline per read, a timeout per attempt,
//! retries with jittered back-off on [`MetricError::Unavailable`] (connection errors and
//! 5xx; never a 4xx or a query error), a limit on reads in flight, and a circuit breaker
//! that stops asking a source that keeps failing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::{MetricError, MetricSource};

/// How hard to try.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Longest one attempt may take.
    pub timeout: Duration,
    /// Further attempts after an unavailable answer.
    pub retries: u32,
    /// Longest one read may take, all attempts and waits included.
    pub deadline: Duration,
    /// Unavailable reads in a row that open the breaker (0: never).
    pub breaker_failures: u32,
    /// How long an open breaker refuses reads before one probe is let through.
    pub breaker_cooldown: Duration,
}

/// Reads through a [`Resilient`] source, for the operator's own metrics.
#[derive(Debug, Default)]
pub struct ReadCounters {
    /// Reads asked for.
    pub queries: AtomicU64,
    /// Reads that ended in an error, breaker refusals included.
    pub errors: AtomicU64,
    /// Wall time in reads, microseconds.
    pub latency_us: AtomicU64,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// A source with retries, deadlines, a concurrency limit and a circuit breaker.
pub struct Resilient<S> {
    source: S,
    settings: Settings,
    limit: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    counters: Arc<ReadCounters>,
}

impl<S: MetricSource> Resilient<S> {
    /// `source` with `settings`, sharing the limit on reads in flight and the counters with
    /// other sources; its breaker is its own.
    pub fn new(
        source: S,
        settings: Settings,
        limit: Arc<Semaphore>,
        counters: Arc<ReadCounters>,
    ) -> Self {
        Self {
            source,
            settings,
            limit,
            breaker: Mutex::new(Breaker::default()),
            counters,
        }
    }

    /// The source inside.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// The shared limit on reads in flight.
    pub fn limit(&self) -> Arc<Semaphore> {
        self.limit.clone()
    }

    /// The shared counters.
    pub fn counters(&self) -> Arc<ReadCounters> {
        self.counters.clone()
    }

    fn admits(&self) -> Result<(), MetricError> {
        if self.settings.breaker_failures == 0 {
            return Ok(());
        }
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        let Some(until) = b.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now < until || b.probing {
            return Err(MetricError::CircuitOpen {
                url: self.source.name(),
                failures: b.failures,
                retry_in_s: until.saturating_duration_since(now).as_secs_f64().ceil() as u64,
            });
        }
        b.probing = true;
        Ok(())
    }

    fn record(&self, result: &Result<Vec<(i64, f64)>, MetricError>) {
        let s = self.settings;
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        b.probing = false;
        match result {
            Err(e) if e.is_unavailable() => {
                b.failures += 1;
                if s.breaker_failures > 0 && b.failures >= s.breaker_failures {
                    b.open_until = Some(Instant::now() + s.breaker_cooldown);
                    tracing::warn!(
                        url = %self.source.name(),
                        failures = b.failures,
                        cooldown_s = s.breaker_cooldown.as_secs(),
                        "Prometheus circuit breaker open"
                    );
                }
            }
            _ => *b = Breaker::default(),
        }
    }

    async fn attempts(
        &self,
        query: &str,
        (start, end, step): (i64, i64, u64),
        deadline: Instant,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        let s = self.settings;
        let timed_out = |limit: Duration| MetricError::Timeout {
            url: self.source.name(),
            seconds: limit.as_secs_f64(),
        };
        let _permit = tokio::time::timeout_at(deadline.into(), self.limit.acquire())
            .await
            .map_err(|_| timed_out(s.deadline))?
            .map_err(|_| MetricError::Config("the client was shut down".to_string()))?;
        let mut attempt = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timed_out(s.deadline));
            }
            let limit = s.timeout.min(remaining);
            let result = tokio::time::timeout(limit, self.source.range(query, start, end, step))
                .await
                .unwrap_or_else(|_| Err(timed_out(limit)));
            match result {
                Ok(samples) => return Ok(samples),
                Err(e @ MetricError::Unavailable { .. }) if attempt < s.retries => {
                    let ceiling = Duration::from_millis(250 << attempt.min(4));
                    let pause = ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0);
                    if Instant::now() + pause >= deadline {
                        return Err(e);
                    }
                    tracing::debug!(url = %self.source.name(), attempt, error = %e, "retrying a Prometheus request");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<S: MetricSource> MetricSource for Resilient<S> {
    async fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        let counters = &self.counters;
        counters.queries.fetch_add(1, Ordering::Relaxed);
        let began = Instant::now();
        let result = match self.admits() {
            Err(e) => Err(e),
            Ok(()) => {
                let deadline = began + self.settings.deadline;
                let result = self
                    .attempts(query, (start, end, step.max(1)), deadline)
                    .await;
                self.record(&result);
                result
            }
        };
        counters
            .latency_us
            .fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(url = %self.source.name(), reason = e.reason(), error = %e, "Prometheus read failed");
        }
        result
    }

    fn cycle_deadline(&self) -> Duration {
        self.settings.deadline
    }

    fn name(&self) -> String {
        self.source.name()
    }
}

#[cfg(test)]
mod tests {
    //! Fake sources: the rules are about what the source answers, not about HTTP (the real
    //! Prometheus and a fault-injecting proxy are in tests/prometheus.rs).
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// One scripted answer; `None` hangs.
    type Answer = Option<Result<Vec<(i64, f64)>, MetricError>>;

    /// Answers with `answers[i]` on call `i` (the last one repeated).
    struct Scripted {
        answers: Vec<Answer>,
        calls: AtomicU32,
    }

    fn unavailable() -> MetricError {
        MetricError::Unavailable {
            url: "fake".into(),
            detail: "connection refused".into(),
        }
    }

    impl Scripted {
        fn new(answers: Vec<Answer>) -> Self {
            Self {
                answers,
                calls: AtomicU32::new(0),
            }
        }

        fn calls(&self) -> u32 {
            self.calls.load(Ordering::Relaxed)
        }
    }

    impl MetricSource for Scripted {
        async fn range(
            &self,
            _query: &str,
            _start: i64,
            _end: i64,
            _step: u64,
        ) -> Result<Vec<(i64, f64)>, MetricError> {
            let i = self.calls.fetch_add(1, Ordering::Relaxed) as usize;
            match self.answers[i.min(self.answers.len() - 1)].clone() {
                Some(answer) => answer,
                None => std::future::pending().await,
            }
        }

        fn name(&self) -> String {
            "fake".into()
        }
    }

    fn settings() -> Settings {
        Settings {
            timeout: Duration::from_millis(300),
            retries: 2,
            deadline: Duration::from_secs(5),
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(60),
        }
    }

    fn resilient(source: Scripted, settings: Settings) -> Resilient<Scripted> {
        Resilient::new(
            source,
            settings,
            Arc::new(Semaphore::new(4)),
            Arc::default(),
        )
    }

    #[tokio::test]
    async fn an_unavailable_source_is_asked_again() {
        let ok = Ok(vec![(60, 1.0)]);
        let r = resilient(
            Scripted::new(vec![Some(Err(unavailable())), Some(ok.clone())]),
            settings(),
        );
        assert_eq!(r.range("q", 0, 60, 60).await, ok);
        assert_eq!(r.source().calls(), 2);
    }

    #[tokio::test]
    async fn a_query_error_is_not_retried() {
        let bad = MetricError::Query {
            query: "q".into(),
            message: "parse error".into(),
        };
        let r = resilient(Scripted::new(vec![Some(Err(bad.clone()))]), settings());
        assert_eq!(r.range("q", 0, 60, 60).await, Err(bad));
        assert_eq!(r.source().calls(), 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_configured_count() {
        let r = resilient(Scripted::new(vec![Some(Err(unavailable()))]), settings());
        assert_eq!(r.range("q", 0, 60, 60).await, Err(unavailable()));
        assert_eq!(r.source().calls(), 3, "one attempt and two retries");
    }

    #[tokio::test]
    async fn a_source_that_hangs_times_out() {
        let r = resilient(Scripted::new(vec![None]), settings());
        let err = r.range("q", 0, 60, 60).await.unwrap_err();
        assert_eq!(
            err.reason(),
            MetricError::Timeout {
                url: String::new(),
                seconds: 0.0
            }
            .reason()
        );
    }

    #[tokio::test]
    async fn the_breaker_opens_after_failures_in_a_row_and_spares_the_source() {
        let settings = Settings {
            retries: 0,
            ..settings()
        };
        let r = resilient(Scripted::new(vec![Some(Err(unavailable()))]), settings);
        for _ in 0..3 {
            assert_eq!(r.range("q", 0, 60, 60).await, Err(unavailable()));
        }
        let refused = r.range("q", 0, 60, 60).await.unwrap_err();
        assert!(
            matches!(refused, MetricError::CircuitOpen { failures: 3, .. }),
            "{refused}"
        );
        assert_eq!(r.source().calls(), 3, "an open breaker does not ask");
        assert_eq!(r.counters().errors.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn one_success_closes_the_breaker() {
        let settings = Settings {
            retries: 0,
            breaker_cooldown: Duration::ZERO,
            ..settings()
        };
        let ok = Ok(vec![(60, 1.0)]);
        let mut answers = vec![Some(Err(unavailable())); 3];
        answers.push(Some(ok.clone()));
        let r = resilient(Scripted::new(answers), settings);
        for _ in 0..3 {
            let _ = r.range("q", 0, 60, 60).await;
        }
        assert_eq!(
            r.range("q", 0, 60, 60).await,
            ok,
            "the probe after the cooldown"
        );
        assert_eq!(r.range("q", 0, 60, 60).await, ok, "closed again");
    }
}
