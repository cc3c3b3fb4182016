//! Fault injection (failed requests, latency, cut watches) and the request log.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// One request as the emulator received it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    /// The status code sent (200 for a watch that was started).
    pub status: u16,
}

#[derive(Clone, Debug)]
struct Matcher {
    method: Option<String>,
    path_contains: String,
}

impl Matcher {
    fn new(method: &str, path_contains: &str) -> Self {
        let method = (!method.is_empty() && method != "*").then(|| method.to_ascii_uppercase());
        Self {
            method,
            path_contains: path_contains.into(),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && path.contains(&self.path_contains)
    }
}

#[derive(Debug)]
struct Failure {
    matcher: Matcher,
    remaining: usize,
    code: u16,
}

#[derive(Default)]
struct Rules {
    failures: Vec<Failure>,
    latencies: Vec<(Matcher, Duration)>,
    log: Vec<RequestRecord>,
}

/// The fault rules and the log, shared by the server and the test.
pub struct Faults {
    rules: Mutex<Rules>,
    cut: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rules: Mutex::new(Rules::default()),
            cut: watch::channel(0).0,
        }
    }
}

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails the next `count` requests whose method is `method` (`*` for any) and whose
    /// path contains `path_contains`, with `code`.
    pub fn fail_next(&self, method: &str, path_contains: &str, count: usize, code: u16) {
        self.rules().failures.push(Failure {
            matcher: Matcher::new(method, path_contains),
            remaining: count,
            code,
        });
    }

    /// Delays every matching request by `delay` before it is handled.
    pub fn add_latency(&self, method: &str, path_contains: &str, delay: Duration) {
        self.rules()
            .latencies
            .push((Matcher::new(method, path_contains), delay));
    }

    /// Removes every failure and latency rule.
    pub fn clear(&self) {
        let mut rules = self.rules();
        rules.failures.clear();
        rules.latencies.clear();
    }

    /// The delay and, if the request is to fail, the code, consuming one failure.
    pub fn on_request(&self, method: &str, path: &str) -> (Duration, Option<u16>) {
        let mut rules = self.rules();
        let delay = rules
            .latencies
            .iter()
            .filter(|(m, _)| m.matches(method, path))
            .map(|(_, d)| *d)
            .sum();
        let mut code = None;
        if let Some(f) = rules
            .failures
            .iter_mut()
            .find(|f| f.remaining > 0 && f.matcher.matches(method, path))
        {
            f.remaining -= 1;
            code = Some(f.code);
        }
        rules.failures.retain(|f| f.remaining > 0);
        (delay, code)
    }

    pub fn log(&self, record: RequestRecord) {
        self.rules().log.push(record);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.rules().log.clone()
    }

    /// How many logged requests match `method` (`*` for any) and `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        let matcher = Matcher::new(method, path_contains);
        self.rules()
            .log
            .iter()
            .filter(|r| matcher.matches(&r.method, &r.path))
            .count()
    }

    /// Ends every open watch stream.
    pub fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn cut_signal(&self) -> watch::Receiver<u64> {
        self.cut.subscribe()
    }
}
