//! Controllers in miniature: Deployment and StatefulSet status follows `spec.replicas`
//! after a delay that stands for pod start-up.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::server::Shared;
use super::store::{EventType, Part};

fn wanted_status(kind_is_sts: bool, object: &Value) -> Value {
    let replicas = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut status = object
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    status.insert("observedGeneration".into(), json!(generation));
    let mut counts = vec![
        "replicas",
        "readyReplicas",
        "availableReplicas",
        "updatedReplicas",
    ];
    if kind_is_sts {
        counts.push("currentReplicas");
    }
    for field in counts {
        if replicas > 0 {
            status.insert(field.into(), json!(replicas));
        } else {
            status.remove(field);
        }
    }
    Value::Object(status)
}

/// Runs until the emulator stops: after each change to a Deployment or StatefulSet whose
/// status lags its spec, waits `delay` and then sets the status from the spec then current.
pub async fn run_workloads(shared: Arc<Shared>, delay: Duration) {
    let (mut events, existing) = {
        let store = shared.store();
        let existing: Vec<(String, String, String)> = store
            .all()
            .filter(|o| {
                o["apiVersion"] == json!("apps/v1")
                    && (o["kind"] == json!("Deployment") || o["kind"] == json!("StatefulSet"))
            })
            .map(|o| {
                let meta = |k: &str| o["metadata"][k].as_str().unwrap_or_default().to_string();
                let plural = if o["kind"] == json!("Deployment") {
                    "deployments"
                } else {
                    "statefulsets"
                };
                (plural.to_string(), meta("namespace"), meta("name"))
            })
            .collect();
        (store.subscribe(), existing)
    };
    let mut shutdown = shared.shutdown.clone();
    for (plural, ns, name) in existing {
        tokio::spawn(settle(shared.clone(), delay, plural, ns, name));
    }
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.changed() => return,
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        if event.group != "apps"
            || !(event.plural == "deployments" || event.plural == "statefulsets")
            || event.kind == EventType::Deleted
        {
            continue;
        }
        let sts = event.plural == "statefulsets";
        if event.object.get("status") == Some(&wanted_status(sts, &event.object)) {
            continue;
        }
        let name = event.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        tokio::spawn(settle(
            shared.clone(),
            delay,
            event.plural.clone(),
            event.namespace.clone(),
            name,
        ));
    }
}

async fn settle(shared: Arc<Shared>, delay: Duration, plural: String, ns: String, name: String) {
    tokio::time::sleep(delay).await;
    let mut store = shared.store();
    let Some(def) = store.storage_def("apps", &plural) else {
        return;
    };
    let Ok(current) = store.get(&def, &ns, &name) else {
        return;
    };
    let status = wanted_status(plural == "statefulsets", &current);
    if current.get("status") == Some(&status) {
        return;
    }
    let mut new = current;
    new["status"] = status;
    let _ = store.update(&def, &ns, &name, new, Part::Status);
}
