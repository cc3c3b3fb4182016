//! Watch streams: newline-delimited JSON events from a resourceVersion, with periodic
//! BOOKMARKs on request and an ERROR event carrying `410 Gone` for a too-old version.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::resources::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Body, Shared};
use super::status::ApiError;
use super::store::{Event, EventType, Store};
use super::table::{self, Format};

/// The longest a watch stays open when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Filter {
    def: ResourceDef,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// The event type this watch sees for `event`, if any: a change that makes an object
    /// start or stop matching the selectors is an ADDED or a DELETED.
    fn classify(&self, event: &Event) -> Option<EventType> {
        let ours = event.group == self.def.storage_group()
            && event.plural == self.def.plural
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == event.namespace);
        if !ours {
            return None;
        }
        let now = self.selects(&event.object);
        let before = event.previous.as_ref().map(|p| self.selects(p));
        match (event.kind, before) {
            (EventType::Modified, Some(false)) => now.then_some(EventType::Added),
            (EventType::Modified, Some(true)) if !now => Some(EventType::Deleted),
            (kind, _) => now.then_some(kind),
        }
    }
}

struct Encoder {
    def: ResourceDef,
    format: Format,
    columns_sent: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, object: &Value, rv: u64) -> Bytes {
        let object = Store::present(&self.def, object);
        let object = match self.format {
            Format::Table(include) => {
                let t = table::table(
                    &self.def,
                    &[object],
                    include,
                    &rv.to_string(),
                    !self.columns_sent,
                );
                self.columns_sent = true;
                t
            }
            Format::Metadata => table::partial(&object),
            Format::Object => object,
        };
        frame(&json!({ "type": kind, "object": object }))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object = json!({
            "kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": metadata,
        });
        frame(&json!({ "type": "BOOKMARK", "object": object }))
    }
}

fn frame(value: &Value) -> Bytes {
    let mut line = value.to_string();
    line.push('\n');
    Bytes::from(line)
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params.get(name).is_some_and(|v| v == "true" || v == "1")
}

/// Starts a watch of `def` (in `namespace`, or all) and returns the streaming body.
pub fn start(
    shared: &Arc<Shared>,
    def: ResourceDef,
    namespace: Option<String>,
    params: &HashMap<String, String>,
    format: Format,
) -> Result<Body, ApiError> {
    let filter = Filter {
        labels: LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(&def, params.get("fieldSelector").map_or("", String::as_str))?,
        def: def.clone(),
        namespace,
    };
    let bookmarks = flag(params, "allowWatchBookmarks");
    let send_initial = flag(params, "sendInitialEvents");
    let timeout = match params.get("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t:?}")))?,
        ),
        None => DEFAULT_TIMEOUT,
    };
    let from = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion: {rv:?}")))?,
        ),
    };
    let mut encoder = Encoder {
        def,
        format,
        columns_sent: false,
    };
    let mut opening: Vec<Bytes> = Vec::new();
    let (mut receiver, mut last) = {
        let store = shared.store();
        let receiver = store.subscribe();
        let now = store.resource_version();
        if from.is_none() || send_initial {
            for object in store.list(
                &filter.def,
                filter.namespace.as_deref(),
                &filter.labels,
                &filter.fields,
            ) {
                opening.push(encoder.line(EventType::Added.as_str(), &object, now));
            }
            if send_initial && bookmarks {
                opening.push(encoder.bookmark(now, true));
            }
            (receiver, now)
        } else {
            let from = from.unwrap_or_default();
            match store.events_since(from) {
                Ok(events) => {
                    for e in &events {
                        if let Some(kind) = filter.classify(e) {
                            opening.push(encoder.line(kind.as_str(), &e.object, e.rv));
                        }
                    }
                    (receiver, now.max(from))
                }
                Err(gone) => {
                    opening.push(frame(
                        &json!({ "type": "ERROR", "object": gone.to_status() }),
                    ));
                    let body = futures::stream::iter(
                        opening
                            .into_iter()
                            .map(|b| Ok::<_, Infallible>(Frame::data(b))),
                    );
                    return Ok(StreamBody::new(body).boxed());
                }
            }
        }
    };
    let (mut tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let mut cut = shared.faults.cut_signal();
    let mut shutdown = shared.shutdown.clone();
    let interval = shared.bookmark_interval.max(Duration::from_millis(1));
    tokio::spawn(async move {
        for line in opening {
            if tx.send(Ok(Frame::data(line))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            let line = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => {
                        if event.rv <= last {
                            continue;
                        }
                        last = event.rv;
                        let Some(kind) = filter.classify(&event) else {
                            continue;
                        };
                        encoder.line(kind.as_str(), &event.object, event.rv)
                    }
                    Err(RecvError::Lagged(_)) => {
                        let gone = ApiError::gone("the watch fell too far behind");
                        let line = frame(&json!({ "type": "ERROR", "object": gone.to_status() }));
                        let _ = tx.send(Ok(Frame::data(line))).await;
                        break;
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = ticker.tick(), if bookmarks => encoder.bookmark(last, false),
                _ = cut.changed() => break,
                _ = shutdown.changed() => break,
                _ = &mut deadline => break,
            };
            if tx.send(Ok(Frame::data(line))).await.is_err() {
                break;
            }
        }
    });
    Ok(StreamBody::new(rx).boxed())
}
