//! One HTTP attempt at a Prometheus range query: the request (a form-encoded POST to
//! `/api/v1/query_range`, which Prometheus, Thanos, Mimir, Cortex and VictoriaMetrics all
//! accept, so the query never appears in a URL), its headers and credentials, and the
//! answer read into samples or a [`MetricError`] that says what went wrong. Retries,
//! deadlines and the breaker are [`super::resilience`]'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_http_query::response::{Data, PromqlResult};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::credentials::Credentials;
use super::{MetricError, MetricSource};

/// Requests sent and bytes received, shared by every transport of one client.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// HTTP requests sent.
    pub requests: AtomicU64,
    /// Response body bytes received, after decompression.
    pub bytes: AtomicU64,
}

/// A Prometheus-compatible HTTP API at one base URL.
pub struct Transport {
    client: prometheus_http_query::Client,
    /// The HTTP client (TLS, timeouts), shared with transports to other addresses.
    pub(super) http: reqwest::Client,
    shown: String,
    headers: HeaderMap,
    credentials: Credentials,
    counters: Arc<TransportCounters>,
}

/// The URL as parsed and as shown in messages; credentials inside it are refused.
pub(super) fn parse_url(url: &str, flag: &str) -> Result<(String, String), MetricError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        MetricError::Config(format!(
            "{flag} is not a URL ({e}); give e.g. http://prometheus.monitoring:9090"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(MetricError::Config(format!(
            "{flag} must start with http:// or https:// (got scheme {:?})",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(MetricError::Config(format!(
            "{flag} must not hold credentials; use --prometheus-username with --prometheus-password-file, or --prometheus-bearer-token-file"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(MetricError::Config(format!(
            "{flag} must be the API's base URL without `?` or `#` parts"
        )));
    }
    let shown = parsed.as_str().trim_end_matches('/').to_string();
    Ok((shown.clone(), shown))
}

pub(super) fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), MetricError> {
    let bad = |why: &str| {
        MetricError::Config(format!(
            "--prometheus-header {why}; write it as `Name: value`, e.g. `X-Scope-OrgID: team-a`"
        ))
    };
    let (name, value) = text.split_once(':').ok_or_else(|| bad("has no `:`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        bad(&format!(
            "name {:?} is not a valid header name",
            name.trim()
        ))
    })?;
    let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
        bad(&format!(
            "{name} has a value with characters not allowed in a header"
        ))
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

impl Transport {
    /// A transport to `base` (as checked by [`parse_url`]).
    pub(super) fn new(
        http: reqwest::Client,
        (base, shown): (String, String),
        headers: HeaderMap,
        credentials: Credentials,
        counters: Arc<TransportCounters>,
    ) -> Result<Self, MetricError> {
        let client = prometheus_http_query::Client::from(http.clone(), &base).map_err(|e| {
            MetricError::Config(format!("cannot use {shown} as the Prometheus URL: {e}"))
        })?;
        Ok(Self {
            client,
            http,
            shown,
            headers,
            credentials,
            counters,
        })
    }

    /// The shared counters.
    pub(super) fn counters(&self) -> Arc<TransportCounters> {
        self.counters.clone()
    }

    /// One attempt at a range query.
    async fn send(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        let inner = self;
        let mut builder = inner.client.query_range(query, start, end, step as f64);
        for (name, value) in &inner.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(value) = inner.credentials.header()? {
            builder = builder.header(AUTHORIZATION, value);
        }
        inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let unavailable = |detail: String| MetricError::Unavailable {
            url: inner.shown.clone(),
            detail,
        };
        let response = builder
            .post_raw()
            .await
            .map_err(|e| unavailable(transport_detail(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(format!("reading the answer failed: {}", e.without_url())))?;
        inner
            .counters
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        let message = envelope
            .as_ref()
            .and_then(|e| e.error.clone())
            .map(|m| truncate(&m, 500));
        if status.is_server_error() {
            let detail = match &message {
                Some(m) => format!("HTTP {}: {m}", status.as_u16()),
                None => format!("HTTP {}", status.as_u16()),
            };
            return Err(unavailable(detail));
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(MetricError::Unauthorized {
                url: inner.shown.clone(),
                status: status.as_u16(),
            });
        }
        let bad = |detail: String| MetricError::BadResponse {
            url: inner.shown.clone(),
            detail,
        };
        let Some(envelope) = envelope else {
            return Err(bad(format!(
                "HTTP {} with a body that is not Prometheus JSON",
                status.as_u16()
            )));
        };
        if envelope.status != "success" {
            return match message {
                Some(message) => Err(MetricError::Query {
                    query: query.to_string(),
                    message,
                }),
                None => Err(bad(format!(
                    "HTTP {} with status {:?}",
                    status.as_u16(),
                    envelope.status
                ))),
            };
        }
        let Some(data) = envelope.data else {
            return Err(bad("a success without `data`".to_string()));
        };
        let series = match data.data() {
            Data::Matrix(m) => m,
            _ => {
                return Err(bad(
                    "a range query answered with something other than a matrix".to_string(),
                ));
            }
        };
        match series.len() {
            0 => Err(MetricError::NoData {
                query: query.to_string(),
                hint: String::new(),
            }),
            1 => {
                let samples: Vec<(i64, f64)> = series[0]
                    .samples()
                    .iter()
                    .map(|s| (s.timestamp().round() as i64, s.value()))
                    .collect();
                if let Some(first) = samples.first()
                    && samples.iter().all(|(_, v)| !v.is_finite())
                {
                    return Err(MetricError::NotFinite {
                        query: query.to_string(),
                        value: show_value(first.1),
                    });
                }
                Ok(samples.into_iter().filter(|(_, v)| v.is_finite()).collect())
            }
            count => Err(MetricError::MultipleSeries {
                query: query.to_string(),
                count,
            }),
        }
    }
}

impl MetricSource for Transport {
    async fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        self.send(query, start, end, step).await
    }

    fn name(&self) -> String {
        self.shown.clone()
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<PromqlResult>,
    #[serde(default)]
    error: Option<String>,
}

fn show_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v > 0.0 {
        "+Inf".to_string()
    } else {
        "-Inf".to_string()
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A transport error in words, without the URL.
fn transport_detail(error: &prometheus_http_query::Error) -> String {
    use std::error::Error as _;
    let mut detail = String::from("request failed");
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // reqwest's own error prints the URL; its causes (hyper, io) do not.
        if !text.contains("://") {
            detail = text;
        }
        source = cause.source();
    }
    detail
}
