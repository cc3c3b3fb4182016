//! Minimal Prometheus access used until the full source lands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::forecast::Series;
use crate::policy::{MetricSpec, MetricType};

use super::PrometheusArgs;

/// Credentials for a per-policy Prometheus.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Bearer token.
    Bearer(String),
    /// Basic auth.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
}

/// Errors.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    /// Unreachable.
    #[error("Prometheus is unavailable: {0}")]
    Unavailable(String),
    /// Bad query.
    #[error("query failed: {0}")]
    Query(String),
    /// No data.
    #[error("the query returned no data")]
    NoData,
    /// Too many series.
    #[error("the query returned {0} series; aggregate it, e.g. sum(...)")]
    MultipleSeries(usize),
    /// Config.
    #[error("{0}")]
    Config(String),
}

impl MetricError {
    /// Reason word.
    pub fn reason(&self) -> &'static str {
        match self {
            MetricError::Unavailable(_) => "PrometheusUnavailable",
            MetricError::Query(_) => "QueryError",
            MetricError::NoData => "NoData",
            MetricError::MultipleSeries(_) => "MultipleSeries",
            MetricError::Config(_) => "Config",
        }
    }
    /// Unreachable?
    pub fn is_unavailable(&self) -> bool {
        matches!(self, MetricError::Unavailable(_))
    }
}

/// A Prometheus.
#[derive(Clone)]
pub struct Prometheus {
    client: prometheus_http_query::Client,
}

impl Prometheus {
    /// From flags.
    pub fn new(args: &PrometheusArgs) -> Result<Self, MetricError> {
        let url = args
            .url
            .as_deref()
            .ok_or_else(|| MetricError::Config("set --prometheus".into()))?;
        Self::at(url)
    }
    fn at(url: &str) -> Result<Self, MetricError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| MetricError::Config(e.to_string()))?;
        let client = prometheus_http_query::Client::from(http, url)
            .map_err(|e| MetricError::Config(e.to_string()))?;
        Ok(Self { client })
    }
    /// Another address.
    pub fn with_address(&self, url: &str, _auth: Option<Auth>) -> Result<Self, MetricError> {
        Self::at(url)
    }
}

/// A metric source.
pub trait MetricSource: Send + Sync + 'static {
    /// Range query.
    fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> impl std::future::Future<Output = Result<Vec<(i64, f64)>, MetricError>> + Send;
}

impl MetricSource for Prometheus {
    async fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        let response = self
            .client
            .query_range(query, start, end, step as f64)
            .get()
            .await
            .map_err(|e| match e {
                prometheus_http_query::Error::Prometheus(p) => MetricError::Query(p.to_string()),
                other => MetricError::Unavailable(other.to_string()),
            })?;
        let matrix = response
            .data()
            .as_matrix()
            .ok_or_else(|| MetricError::Query("not a matrix".into()))?;
        match matrix.as_slice() {
            [] => Err(MetricError::NoData),
            [one] => Ok(one
                .samples()
                .iter()
                .map(|s| (s.timestamp() as i64, s.value()))
                .collect()),
            many => Err(MetricError::MultipleSeries(many.len())),
        }
    }
}

/// Cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// Namespace.
    pub namespace: String,
    /// Policy.
    pub policy: String,
    /// Metric.
    pub metric: String,
}

/// History cache (refetches everything).
pub struct HistoryCache<S: MetricSource> {
    source: Arc<S>,
    sizes: Arc<Mutex<HashMap<SeriesKey, usize>>>,
}

impl<S: MetricSource> Clone for HistoryCache<S> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            sizes: self.sizes.clone(),
        }
    }
}

impl<S: MetricSource> HistoryCache<S> {
    /// New.
    pub fn new(source: S) -> Self {
        Self {
            source: Arc::new(source),
            sizes: Arc::default(),
        }
    }
    /// History.
    pub async fn history(
        &self,
        key: &SeriesKey,
        query: &str,
        window_s: u64,
        step_s: u64,
        now: i64,
    ) -> Result<Series, MetricError> {
        let step = step_s.max(1);
        let start = now - window_s.min(step * 10_000) as i64;
        let samples = self.source.range(query, start, now, step).await?;
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), samples.len() * 16);
        Ok(Series::from_samples(&samples, step, 5))
    }
    /// Forget.
    pub fn forget(&self, namespace: &str, policy: &str) {
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| !(k.namespace == namespace && k.policy == policy));
    }
    /// Memory.
    pub fn memory_bytes(&self) -> usize {
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

/// Queries of one metric.
pub struct MetricQueries {
    /// Workload total.
    pub value: String,
    /// CPU requests.
    pub requests: Option<String>,
}

/// Builds the queries.
pub fn queries(
    metric: &MetricSpec,
    namespace: &str,
    selector: &str,
) -> Result<MetricQueries, MetricError> {
    let _ = (namespace, selector);
    match metric.kind {
        MetricType::RequestRate => Ok(MetricQueries {
            value: metric
                .request_rate
                .as_ref()
                .map(|q| q.query.clone())
                .unwrap_or_default(),
            requests: None,
        }),
        MetricType::PromQl => Ok(MetricQueries {
            value: metric
                .promql
                .as_ref()
                .map(|q| q.query.clone())
                .unwrap_or_default(),
            requests: None,
        }),
        _ => Err(MetricError::Config(
            "CPU/Memory queries not available".into(),
        )),
    }
}
