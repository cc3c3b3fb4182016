//! Targets other than a Deployment: a StatefulSet and a custom resource that has a `/scale`
//! subresource, found through discovery and scaled through `/scale` alone. The decision
//! comes from `spec.fallback` (Prometheus unreachable on purpose): a write that needs no
//! metrics, so what is under test is finding and writing the target.

use std::time::Duration;

use serde_json::json;

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    NO_PROMETHEUS, Operator, condition, eventually, get_policy, install_crd, policy, seed_policy,
};

const LIMIT: Duration = Duration::from_secs(40);

fn floor_policy(name: &str, api_version: &str, kind: &str, target: &str) -> serde_json::Value {
    let mut p = policy(name, target, "Auto", "sum(rate(x[1m]))", 10.0);
    p["spec"]["targetRef"] = json!({"apiVersion": api_version, "kind": kind, "name": target});
    p["spec"]["fallback"] = json!({"type": "Replicas", "replicas": 4});
    p
}

/// A CRD `Worker` in `example.com` with the scale subresource at the usual paths.
async fn install_worker_crd(emu: &Emulator) {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "workers.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "workers", "singular": "worker", "kind": "Worker"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                           "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector"}}
            }]
        }
    });
    emu.seed(crd).expect("the Worker CRD");
    // Served once the CRD exists; wait for discovery to list it.
    eventually(LIMIT, "workers served", || async {
        emu.seed(json!({
            "apiVersion": "example.com/v1", "kind": "Worker",
            "metadata": {"name": "queue", "namespace": "default"},
            "spec": {"replicas": 1},
            "status": {"replicas": 1, "selector": "app=queue"}
        }))
        .ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_and_a_custom_resource_are_scaled_through_their_scale_subresource() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    install_worker_crd(&emu).await;
    emu.seed(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"replicas": 2, "serviceName": "db",
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "db:1"}]}}},
        "status": {"replicas": 2, "readyReplicas": 2}
    }))
    .expect("seed the StatefulSet");
    seed_policy(&emu, floor_policy("db", "apps/v1", "StatefulSet", "db"));
    seed_policy(
        &emu,
        floor_policy("queue", "example.com/v1", "Worker", "queue"),
    );
    // A kind with no /scale is refused with the kinds that have one.
    seed_policy(&emu, floor_policy("map", "v1", "ConfigMap", "settings"));
    let _op = Operator::start(&emu, NO_PROMETHEUS, "targets", &["--leader-elect=false"]);

    let replicas = |plural: &str, group: &str, name: &str| {
        emu.object(group, plural, "default", name)
            .expect("the target")["spec"]["replicas"]
            .as_i64()
    };
    eventually(LIMIT, "both raised to the floor of 4", || async {
        (replicas("statefulsets", "apps", "db") == Some(4)
            && replicas("workers", "example.com", "queue") == Some(4))
        .then_some(())
    })
    .await;
    assert!(emu.count_requests("PATCH", "/statefulsets/db/scale") >= 1);
    assert!(emu.count_requests("PATCH", "/workers/queue/scale") >= 1);
    for name in ["db", "queue"] {
        let p = get_policy(&emu, name).await;
        assert_eq!(p["status"]["desiredReplicas"], 4, "{name}: {p}");
        assert_eq!(
            p["status"]["currentReplicas"],
            1 + (name == "db") as i64,
            "{name}: {p}"
        );
    }
    let map = eventually(LIMIT, "the ConfigMap target refused", || async {
        let p = get_policy(&emu, "map").await;
        condition(&p, "Ready").filter(|c| c["status"] == "False")
    })
    .await;
    let message = map["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("has no /scale subresource") && message.contains("StatefulSet"),
        "{map}"
    );
}
