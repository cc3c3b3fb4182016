//! What can go wrong when reading a metric, as typed outcomes the controller can act on.
//!
//! Every message names the problem and the fix. None of them ever holds a credential: the
//! URL's user info is refused at start-up, requests carry the query in the body, and the
//! transport's own error is reported without its URL.

/// Why a metric could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// The connection settings cannot work (a flag, a file, a header).
    #[error("Prometheus configuration: {0}")]
    Config(String),
    /// Prometheus could not be reached or failed on its side (connection error, HTTP 5xx).
    #[error(
        "Prometheus at {url} is unavailable: {detail}; check that it is running and reachable from the operator"
    )]
    Unavailable {
        /// The base URL (without credentials).
        url: String,
        /// What happened, e.g. `connection refused` or `HTTP 503`.
        detail: String,
    },
    /// No answer in time.
    #[error(
        "Prometheus at {url} did not answer within {seconds}s; it may be overloaded (raise --prometheus-timeout or simplify the query)"
    )]
    Timeout {
        /// The base URL.
        url: String,
        /// The limit that ran out.
        seconds: f64,
    },
    /// Recent requests failed, so none are sent until the cool-down ends.
    #[error(
        "Prometheus at {url} failed {failures} times in a row; not asking again for {retry_in_s}s (circuit breaker open)"
    )]
    CircuitOpen {
        /// The base URL.
        url: String,
        /// Consecutive failures that opened the breaker.
        failures: u32,
        /// Seconds until the next probe.
        retry_in_s: u64,
    },
    /// Prometheus refused the credentials (HTTP 401 or 403).
    #[error(
        "Prometheus at {url} refused the request (HTTP {status}); check the bearer token file, basic-auth credentials or the Secret named in spec.prometheus.authSecretRef"
    )]
    Unauthorized {
        /// The base URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Prometheus rejected the query; `message` is its own words (e.g. a parse error).
    #[error("Prometheus rejected the query {query:?}: {message}")]
    Query {
        /// The query.
        query: String,
        /// Prometheus' message.
        message: String,
    },
    /// The answer was not a Prometheus API response (e.g. an HTML page from a proxy).
    #[error(
        "the answer from {url} is not a Prometheus API response ({detail}); check that the URL points at the Prometheus HTTP API (its path prefix included)"
    )]
    BadResponse {
        /// The base URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The query returned several series where one is needed.
    #[error(
        "query {query:?} returned {count} series; it must return exactly one: aggregate it, e.g. sum({query})"
    )]
    MultipleSeries {
        /// The query.
        query: String,
        /// How many series came back.
        count: usize,
    },
    /// The query returned nothing.
    #[error(
        "query {query:?} returned no data; check the metric name and labels in Prometheus' expression browser{hint}"
    )]
    NoData {
        /// The query.
        query: String,
        /// Extra advice for the built-in queries (may be empty).
        hint: String,
    },
    /// The query returned only NaN or infinite values.
    #[error(
        "query {query:?} returned {value} (not a finite number); guard divisions, e.g. `(a / b) or vector(0)`, or filter with `> 0`"
    )]
    NotFinite {
        /// The query.
        query: String,
        /// The value, e.g. `NaN` or `+Inf`.
        value: String,
    },
    /// The target's label selector cannot be turned into a PromQL matcher.
    #[error(
        "the target's label selector {selector:?} cannot be used: {reason}; set the metric's `query` to a PromQL expression instead"
    )]
    BadSelector {
        /// The selector.
        selector: String,
        /// What is wrong.
        reason: String,
    },
}

impl MetricError {
    /// CamelCase reason for status conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            MetricError::Config(_) => "Config",
            MetricError::Unavailable { .. } => "PrometheusUnavailable",
            MetricError::Timeout { .. } => "Timeout",
            MetricError::CircuitOpen { .. } => "CircuitOpen",
            MetricError::Unauthorized { .. } => "Unauthorized",
            MetricError::Query { .. } => "QueryError",
            MetricError::BadResponse { .. } => "BadResponse",
            MetricError::MultipleSeries { .. } => "MultipleSeries",
            MetricError::NoData { .. } => "NoData",
            MetricError::NotFinite { .. } => "NotFinite",
            MetricError::BadSelector { .. } => "BadSelector",
        }
    }

    /// True when Prometheus could not be reached or answered in time (connection error,
    /// 5xx, timeout, open circuit breaker): the data may be fine, the source is not.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            MetricError::Unavailable { .. }
                | MetricError::Timeout { .. }
                | MetricError::CircuitOpen { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_camel_case_and_unavailability_is_about_the_source() {
        let e = MetricError::Timeout {
            url: "http://p:9090".into(),
            seconds: 10.0,
        };
        assert_eq!(e.reason(), "Timeout");
        assert!(e.is_unavailable());
        let e = MetricError::MultipleSeries {
            query: "up".into(),
            count: 3,
        };
        assert_eq!(e.reason(), "MultipleSeries");
        assert!(!e.is_unavailable());
        assert_eq!(
            e.to_string(),
            "query \"up\" returned 3 series; it must return exactly one: aggregate it, e.g. sum(up)"
        );
    }
}
