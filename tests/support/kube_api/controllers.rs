//! Controllers in miniature: Deployment and StatefulSet status follows `spec.replicas`
//! after a delay that stands for pod start-up; optionally with pods that are created at
//! once and become Ready after that delay.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::meta;
use super::selectors::{FieldSelector, LabelSelector};
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
/// With `pods`, the workload's pods (labelled with its `spec.selector.matchLabels`) follow
/// `spec.replicas` at once, newest removed first, and each new one turns Ready `delay`
/// after it was created.
pub async fn run_workloads(shared: Arc<Shared>, delay: Duration, pods: bool) {
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
        tokio::spawn(settle(shared.clone(), (delay, pods), plural, ns, name));
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
            (delay, pods),
            event.plural.clone(),
            event.namespace.clone(),
            name,
        ));
    }
}

async fn settle(
    shared: Arc<Shared>,
    (delay, pods): (Duration, bool),
    plural: String,
    ns: String,
    name: String,
) {
    let created = if pods {
        follow_with_pods(&shared, &plural, &ns, &name)
    } else {
        Vec::new()
    };
    tokio::time::sleep(delay).await;
    if !created.is_empty() {
        make_ready(&shared, &ns, &created);
    }
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

/// Creates or deletes the workload's pods to match its `spec.replicas`; returns the names
/// of the pods created (not Ready yet).
fn follow_with_pods(shared: &Shared, plural: &str, ns: &str, name: &str) -> Vec<String> {
    let mut store = shared.store();
    let (Some(def), Some(pod_def)) = (
        store.storage_def("apps", plural),
        store.storage_def("", "pods"),
    ) else {
        return Vec::new();
    };
    let Ok(workload) = store.get(&def, ns, name) else {
        return Vec::new();
    };
    let Some(labels) = workload
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .cloned()
    else {
        return Vec::new();
    };
    let selector: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let (Ok(selector), Ok(fields)) = (
        LabelSelector::parse(&selector.join(",")),
        FieldSelector::parse(&pod_def, ""),
    ) else {
        return Vec::new();
    };
    let want = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let mut have = store.list(&pod_def, Some(ns), &selector, &fields);
    have.sort_by_key(|p| {
        meta::meta_str(p, "creationTimestamp")
            .unwrap_or_default()
            .to_string()
    });
    while have.len() > want {
        let pod = have.pop().expect("more pods than wanted");
        let _ = store.delete(
            &pod_def,
            ns,
            meta::meta_str(&pod, "name").unwrap_or_default(),
        );
    }
    let mut created = Vec::new();
    for _ in have.len()..want {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": format!("{name}-"), "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "emulated"}]},
            "status": {
                "phase": "Pending",
                "conditions": [{
                    "type": "Ready",
                    "status": "False",
                    "lastTransitionTime": meta::now_rfc3339(),
                }],
            },
        });
        if let Ok(pod) = store.create(&pod_def, ns, pod, true) {
            created.push(meta::meta_str(&pod, "name").unwrap_or_default().to_string());
        }
    }
    created
}

/// Turns the named pods Ready now (those still there).
fn make_ready(shared: &Shared, ns: &str, names: &[String]) {
    let mut store = shared.store();
    let Some(def) = store.storage_def("", "pods") else {
        return;
    };
    for name in names {
        let Ok(mut pod) = store.get(&def, ns, name) else {
            continue;
        };
        pod["status"] = json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": meta::now_rfc3339()}],
        });
        let _ = store.update(&def, ns, name, pod, Part::Status);
    }
}
