//! kube-rs, configured from the emulator's kubeconfig as the operator will be: reads,
//! writes, subresources, CRDs, faults and the workload controller.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use prescaler::policy::ScalingPolicy;
use serde_json::json;

use crate::ROOT;
use crate::support::kube_api::Emulator;
use crate::support::policy::Policy;

/// A Deployment labelled and selected by `app: <name>`, with a status that a create
/// through the API drops.
pub fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": name } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": "nginx:1.27" }] },
            },
        },
        "status": { "replicas": 42 },
    }))
    .expect("a valid Deployment")
}

/// The `Status` of a request that must have failed.
pub fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_status_and_patch_scale_change_only_their_part() {
    let emu = Emulator::start().await;
    let api: Api<Deployment> = Api::namespaced(emu.client().await, "default");
    let created = api
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .expect("create");
    assert!(created.status.is_none(), "create drops the status");
    assert_eq!(created.metadata.generation, Some(1));

    let status = Patch::Merge(json!({
        "spec": { "replicas": 9 },
        "status": { "replicas": 2, "readyReplicas": 1 },
    }));
    let after = api
        .patch_status("web", &PatchParams::default(), &status)
        .await
        .expect("patch status");
    let spec = after.spec.clone().expect("spec");
    let st = after.status.clone().expect("status");
    assert_eq!(spec.replicas, Some(2), "a status patch leaves the spec");
    assert_eq!((st.replicas, st.ready_replicas), (Some(2), Some(1)));
    assert_eq!(after.metadata.generation, Some(1));

    let scale = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 4 } })),
        )
        .await
        .expect("patch scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(4));
    let scale_status = scale.status.expect("scale status");
    assert_eq!(scale_status.replicas, 2);
    assert_eq!(scale_status.selector.as_deref(), Some("app=web"));
    let now = api.get("web").await.expect("get");
    assert_eq!(now.spec.as_ref().and_then(|s| s.replicas), Some(4));
    assert_eq!(now.status, after.status, "a scale patch leaves the status");
    assert_eq!(now.metadata.generation, Some(2));
    let read = api.get_scale("web").await.expect("get scale");
    assert_eq!(read.spec.and_then(|s| s.replicas), Some(4));

    // Writes to the main resource leave the status; metadata changes keep the generation.
    let main = Patch::Merge(json!({
        "metadata": { "labels": { "tier": "front" } },
        "status": { "replicas": 99 },
    }));
    let labelled = api
        .patch("web", &PatchParams::default(), &main)
        .await
        .expect("patch");
    assert_eq!(labelled.status, after.status);
    assert_eq!(labelled.metadata.generation, Some(2));

    // A custom resource's status subresource, through the crate's own type.
    let crds: Api<CustomResourceDefinition> = Api::all(emu.client().await);
    let text = std::fs::read_to_string(format!("{ROOT}/crds/scalingpolicy.yaml")).expect("CRD");
    let crd: CustomResourceDefinition = serde_norway::from_str(&text).expect("CRD YAML");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    let policies: Api<ScalingPolicy> = Api::namespaced(emu.client().await, "default");
    let policy = ScalingPolicy::new("web", Policy::test().spec());
    let created = policies
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
    assert_eq!(
        created.spec.forecast.lead_time.to_string(),
        "2m",
        "defaults"
    );
    let status = Patch::Merge(json!({
        "spec": { "minReplicas": 5 },
        "status": { "currentReplicas": 3, "desiredReplicas": 4 },
    }));
    let patched = policies
        .patch_status("web", &PatchParams::default(), &status)
        .await
        .expect("patch policy status");
    assert_eq!(patched.spec.min_replicas, 1);
    let raw = emu
        .object(
            "autoscaling.prescaler.io",
            "scalingpolicies",
            "default",
            "web",
        )
        .expect("stored policy");
    assert_eq!(raw["status"]["currentReplicas"], 3);
    assert_eq!(raw["metadata"]["generation"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_replace_gets_409_conflict() {
    let emu = Emulator::start().await;
    let api: Api<Deployment> = Api::namespaced(emu.client().await, "default");
    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    let mut stale = api.get("web").await.expect("get");
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "replicas": 2 } })),
    )
    .await
    .expect("patch");
    if let Some(spec) = stale.spec.as_mut() {
        spec.replicas = Some(5);
    }
    let status = api_error(api.replace("web", &PostParams::default(), &stale).await);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("the object has been modified"),
        "{status:?}"
    );

    let mut fresh = api.get("web").await.expect("get");
    if let Some(spec) = fresh.spec.as_mut() {
        spec.replicas = Some(5);
    }
    let replaced = api
        .replace("web", &PostParams::default(), &fresh)
        .await
        .expect("a fresh replace");
    assert_eq!(replaced.metadata.generation, Some(3));
    assert_ne!(
        replaced.metadata.resource_version,
        fresh.metadata.resource_version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_follow_the_api_semantics() {
    let emu = Emulator::start().await;
    let client = emu.client().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    let exists = api_error(
        api.create(&PostParams::default(), &deployment("web", 1))
            .await,
    );
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    let missing = api_error(api.get("nope").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "deployments.apps \"nope\" not found");
    let elsewhere: Api<Deployment> = Api::namespaced(client.clone(), "missing");
    let no_ns = api_error(
        elsewhere
            .create(&PostParams::default(), &deployment("web", 1))
            .await,
    );
    assert_eq!(no_ns.code, 404);

    let mut generated = deployment("", 1);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("worker-".into());
    let generated = api
        .create(&PostParams::default(), &generated)
        .await
        .expect("create with generateName");
    let generated_name = generated.metadata.name.clone().expect("a name");
    assert!(generated_name.starts_with("worker-") && generated_name.len() == 12);
    assert!(generated.metadata.uid.is_some());
    assert!(generated.metadata.creation_timestamp.is_some());

    let mut labelled = deployment("db", 1);
    labelled.metadata.labels = Some(
        [
            ("app".to_string(), "db".to_string()),
            ("tier".into(), "back".into()),
        ]
        .into(),
    );
    api.create(&PostParams::default(), &labelled)
        .await
        .expect("create");
    let names = |list: kube::core::ObjectList<Deployment>| {
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        names.sort();
        names
    };
    for (selector, expected) in [
        ("app=web", vec!["web"]),
        ("app!=web", vec!["db", generated_name.as_str()]),
        ("app in (db,web)", vec!["db", "web"]),
        ("app notin (db),tier", vec![]),
        ("tier", vec!["db"]),
        ("!tier", vec![generated_name.as_str(), "web"]),
    ] {
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list");
        let mut expected: Vec<String> = expected.into_iter().map(String::from).collect();
        expected.sort();
        assert_eq!(names(list), expected, "{selector}");
    }
    let metadata = api
        .list_metadata(&ListParams::default().labels("tier"))
        .await
        .expect("list metadata");
    assert_eq!(metadata.items.len(), 1);
    assert_eq!(
        metadata.items[0].types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    let one = api.get_metadata("db").await.expect("get metadata");
    assert_eq!(
        one.metadata
            .labels
            .and_then(|l| l.get("tier").cloned())
            .as_deref(),
        Some("back")
    );
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=db"))
        .await
        .expect("list");
    assert_eq!(names(by_name), ["db"]);
    let bad = api_error(
        api.list(&ListParams::default().fields("spec.replicas=1"))
            .await,
    );
    assert_eq!(bad.code, 400);

    // JSON patch, and server-side apply creating then merging, with its manager recorded.
    let json_patch: json_patch::Patch = serde_json::from_value(json!([
        { "op": "replace", "path": "/spec/replicas", "value": 6 },
    ]))
    .expect("a JSON patch");
    let patched = api
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::<()>::Json(json_patch),
        )
        .await
        .expect("json patch");
    assert_eq!(patched.spec.and_then(|s| s.replicas), Some(6));
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let apply = PatchParams::apply("prescaler-test");
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "leader" },
        "spec": { "holderIdentity": "a", "leaseDurationSeconds": 15 },
    });
    leases
        .patch("leader", &apply, &Patch::Apply(&lease))
        .await
        .expect("apply creates");
    let applied = leases
        .patch(
            "leader",
            &apply,
            &Patch::Apply(json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "spec": { "holderIdentity": "b" },
            })),
        )
        .await
        .expect("apply merges");
    let spec = applied.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    let managers: Vec<_> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.manager, m.operation))
        .collect();
    assert_eq!(
        managers,
        [(Some("prescaler-test".into()), Some("Apply".into()))]
    );

    // A dry run persists nothing; a create must not carry a resourceVersion.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let planned = api
        .create(&dry, &deployment("planned", 1))
        .await
        .expect("dry run");
    assert_eq!(planned.metadata.name.as_deref(), Some("planned"));
    assert_eq!(api_error(api.get("planned").await).code, 404);
    let mut with_rv = deployment("rv", 1);
    with_rv.metadata.resource_version = Some("5".into());
    let rejected = api_error(api.create(&PostParams::default(), &with_rv).await);
    assert_eq!(rejected.code, 400);

    // Delete a collection by label.
    let swept = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=back"),
        )
        .await
        .expect("delete collection");
    let swept = swept.left().expect("the deleted objects");
    assert_eq!(swept.items.len(), 1);
    assert_eq!(api_error(api.get("db").await).code, 404);
    api.get("web").await.expect("web is left");

    // A write that changes nothing keeps the resourceVersion.
    let before = api.get("web").await.expect("get");
    let same = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 1 } })),
        )
        .await
        .expect("no-op patch");
    assert_eq!(
        same.metadata.resource_version,
        before.metadata.resource_version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_controller_follows_spec_replicas_after_a_delay() {
    let emu = Emulator::start().await;
    // An object already there when the controller starts, seeded with a lagging status.
    let mut seeded = serde_json::to_value(deployment("seeded", 2)).expect("JSON");
    seeded["status"] = json!({ "replicas": 2, "readyReplicas": 1 });
    let seeded = emu.seed(seeded).expect("seed");
    assert_eq!(
        seeded["status"]["readyReplicas"], 1,
        "seeding keeps the status"
    );
    emu.run_workload_controller(Duration::from_millis(500));
    let api: Api<Deployment> = Api::namespaced(emu.client().await, "default");
    api.create(&PostParams::default(), &deployment("web", 3))
        .await
        .expect("create");
    let ready = |d: &Deployment| d.status.as_ref().and_then(|s| s.ready_replicas);
    assert_eq!(
        ready(&api.get("web").await.expect("get")),
        None,
        "not ready at once"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let d = api.get("web").await.expect("get");
        if ready(&d) == Some(3) {
            let status = d.status.expect("status");
            assert_eq!(status.available_replicas, Some(3));
            assert_eq!(status.observed_generation, Some(1));
            let seeded = api.get("seeded").await.expect("get");
            assert_eq!(seeded.status.and_then(|s| s.ready_replicas), Some(2));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status never followed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_serves_its_resource_with_defaults_and_a_scale_subresource() {
    let emu = Emulator::start().await;
    let kubeconfig = std::fs::read_to_string(emu.kubeconfig_path()).expect("a kubeconfig");
    assert!(
        kubeconfig.contains(&format!("server: {}", emu.url())),
        "{kubeconfig}"
    );
    let client = emu.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": "workers.example.com" },
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": { "plural": "workers", "singular": "worker", "kind": "Worker",
                       "shortNames": ["wk"] },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "properties": {
                    "spec": { "type": "object", "properties": {
                        "replicas": { "type": "integer", "default": 1 },
                        "image": { "type": "string" },
                    } },
                    "status": { "type": "object", "properties": {
                        "replicas": { "type": "integer" },
                        "selector": { "type": "string" },
                    } },
                } } },
                "subresources": { "status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector",
                } },
            }],
        },
    }))
    .expect("a CRD");
    let created = crds
        .create(&PostParams::default(), &crd)
        .await
        .expect("create the CRD");
    let established = created
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let (resource, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Worker"))
        .expect("the CRD's kind is discovered");
    assert_eq!(resource.plural, "workers");
    assert!(matches!(caps.scope, Scope::Namespaced));

    let workers: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let worker = DynamicObject::new("w1", &resource).data(json!({ "spec": { "image": "x" } }));
    let created = workers
        .create(&PostParams::default(), &worker)
        .await
        .expect("create a Worker");
    assert_eq!(created.data["spec"]["replicas"], 1, "the schema default");

    let status = Patch::Merge(json!({ "status": { "replicas": 1, "selector": "app=w1" } }));
    workers
        .patch_status("w1", &PatchParams::default(), &status)
        .await
        .expect("patch the status");
    let scale = workers.get_scale("w1").await.expect("get the scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    let scale_status = scale.status.expect("a scale status");
    assert_eq!(
        (scale_status.replicas, scale_status.selector.as_deref()),
        (1, Some("app=w1"))
    );
    let three = Patch::Merge(json!({ "spec": { "replicas": 3 } }));
    workers
        .patch_scale("w1", &PatchParams::default(), &three)
        .await
        .expect("patch the scale");
    let now = workers.get("w1").await.expect("get");
    assert_eq!(now.data["spec"]["replicas"], 3);
    assert_eq!(now.data["status"]["replicas"], 1);
    assert_eq!(now.metadata.generation, Some(2));

    crds.delete("workers.example.com", &DeleteParams::default())
        .await
        .expect("delete the CRD");
    let gone = api_error(workers.get("w1").await);
    assert_eq!(gone.code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_a_deletion_and_namespaces_take_their_objects_along() {
    let emu = Emulator::start().await;
    let client = emu.client().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let shop = serde_json::from_value(json!({ "metadata": { "name": "shop" } })).expect("ns");
    namespaces
        .create(&PostParams::default(), &shop)
        .await
        .expect("create the namespace");
    let api: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let mut held = deployment("held", 1);
    held.metadata.finalizers = Some(vec!["prescaler.io/cleanup".into()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("create");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let pending = api.get("held").await.expect("still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let release = Patch::Merge(json!({ "metadata": { "finalizers": null } }));
    api.patch("held", &PatchParams::default(), &release)
        .await
        .expect("remove the finalizer");
    assert_eq!(api_error(api.get("held").await).code, 404);

    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    namespaces
        .delete("shop", &DeleteParams::default())
        .await
        .expect("delete the namespace");
    assert!(emu.object("apps", "deployments", "shop", "web").is_none());
    assert_eq!(api_error(namespaces.get("shop").await).code, 404);
}
