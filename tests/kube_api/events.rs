//! Events served at both `v1` and `events.k8s.io/v1`: what kube-rs's recorder publishes
//! shows up in the real `kubectl describe`, and each version's field selectors.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event as Note, EventType as NoteType, Recorder};
use serde_json::json;

use crate::client::{api_error, deployment};
use crate::support::kube_api::Emulator;

fn note(reason: &str, text: &str) -> Note {
    Note {
        type_: NoteType::Normal,
        reason: reason.into(),
        note: Some(text.into()),
        action: "Scale".into(),
        secondary: None,
    }
}

fn names(list: &kube::core::ObjectList<CoreEvent>) -> Vec<String> {
    list.items
        .iter()
        .map(|e| e.message.clone().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_shows_what_the_recorder_published() {
    let emu = Emulator::start().await;
    let client = emu.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let web = deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create web");
    let api = deployments
        .create(&PostParams::default(), &deployment("api", 1))
        .await
        .expect("create api");
    let recorder = Recorder::new(client.clone(), "prescaler".into());
    let scaled = note(
        "PredictedScaleUp",
        "web to 4 replicas ahead of the morning peak",
    );
    for _ in 0..2 {
        recorder
            .publish(&scaled, &web.object_ref(&()))
            .await
            .expect("publish on web");
    }
    recorder
        .publish(
            &note("Held", "api stays at 1 replica"),
            &api.object_ref(&()),
        )
        .await
        .expect("publish on api");

    let out = emu
        .kubectl()
        .args(["describe", "deployment", "web"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("kubectl describe finishes")
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl describe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = stdout
        .split_once("Events:")
        .unwrap_or_else(|| panic!("no Events section in:\n{stdout}"))
        .1;
    let row = events
        .lines()
        .find(|l| l.contains("PredictedScaleUp"))
        .unwrap_or_else(|| panic!("the recorded reason is not listed:\n{stdout}"));
    for part in [
        "Normal",
        "(x2 over",
        "prescaler",
        "web to 4 replicas ahead of the morning peak",
    ] {
        assert!(row.contains(part), "{part:?} missing from {row:?}");
    }
    assert!(
        !events.contains("Held"),
        "api's Event listed for web:\n{stdout}"
    );

    // kubectl found them through core v1 with a field selector on the involved object.
    let query = emu
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path == "/api/v1/namespaces/default/events")
        .expect("kubectl listed core v1 Events")
        .query;
    let selector: String = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "fieldSelector")
        .map(|(_, v)| v.into_owned())
        .expect("a field selector");
    for field in [
        "involvedObject.name=web",
        "involvedObject.namespace=default",
        "involvedObject.kind=Deployment",
    ] {
        assert!(selector.contains(field), "{field} not in {selector}");
    }

    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let on_web = core
        .list(&ListParams::default().fields("involvedObject.name=web"))
        .await
        .expect("list by involvedObject.name");
    assert_eq!(
        names(&on_web),
        ["web to 4 replicas ahead of the morning peak"]
    );
    let event = &on_web.items[0];
    assert_eq!(event.reporting_component.as_deref(), Some("prescaler"));
    assert_eq!(event.involved_object.uid, web.metadata.uid);
    assert_eq!(event.series.as_ref().and_then(|s| s.count), Some(2));
    let on_other = core
        .list(&ListParams::default().fields("involvedObject.name=other"))
        .await
        .expect("list by another name");
    assert!(on_other.items.is_empty(), "{:?}", names(&on_other));
    let held = core
        .list(&ListParams::default().fields("reason=Held,source=prescaler,type=Normal"))
        .await
        .expect("list by reason, source and type");
    assert_eq!(names(&held), ["api stays at 1 replica"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_through_either_version_is_seen_through_the_other() {
    let emu = Emulator::start().await;
    let client = emu.client().await;
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let new: Api<Event> = Api::namespaced(client, "default");
    let mut watch = new
        .watch(
            &WatchParams::default().fields("regarding.name=web,reportingController=kubelet"),
            "0",
        )
        .await
        .expect("watch events.k8s.io")
        .boxed();

    let written: CoreEvent = serde_json::from_value(json!({
        "metadata": { "name": "web.1" },
        "involvedObject": { "kind": "Deployment", "name": "web", "namespace": "default",
                            "apiVersion": "apps/v1" },
        "reason": "Pulled", "message": "image pulled", "type": "Normal",
        "source": { "component": "kubelet", "host": "node-1" },
        "reportingComponent": "kubelet", "reportingInstance": "node-1",
        "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:05:00Z",
        "count": 3,
    }))
    .expect("a valid core Event");
    core.create(&PostParams::default(), &written)
        .await
        .expect("create through core v1");

    let seen = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.try_next())
            .await
            .expect("a watch event in time")
            .expect("no watch error")
            .expect("the watch stays open");
        match event {
            WatchEvent::Added(e) => break e,
            WatchEvent::Bookmark(_) => continue,
            other => panic!("expected ADDED, got {other:?}"),
        }
    };
    let read = new.get("web.1").await.expect("get through events.k8s.io");
    for event in [&seen, &read] {
        assert_eq!(event.note.as_deref(), Some("image pulled"));
        assert_eq!(event.reporting_controller.as_deref(), Some("kubelet"));
        assert_eq!(event.reporting_instance.as_deref(), Some("node-1"));
        assert_eq!(event.deprecated_count, Some(3));
        assert_eq!(
            event
                .deprecated_source
                .as_ref()
                .and_then(|s| s.host.as_deref()),
            Some("node-1")
        );
        assert_eq!(
            event.regarding.as_ref().and_then(|r| r.kind.as_deref()),
            Some("Deployment")
        );
        assert!(event.deprecated_first_timestamp.is_some());
    }

    // A write through events.k8s.io is what core v1 reads, at the next resourceVersion.
    let mut changed = read.clone();
    changed.note = Some("image pulled again".into());
    let updated = new
        .replace("web.1", &PostParams::default(), &changed)
        .await
        .expect("update through events.k8s.io");
    let now = core.get("web.1").await.expect("get through core v1");
    assert_eq!(now.message.as_deref(), Some("image pulled again"));
    assert_eq!(
        now.metadata.resource_version,
        updated.metadata.resource_version
    );
    assert_eq!(
        now.source.and_then(|s| s.component).as_deref(),
        Some("kubelet")
    );

    // Each version knows its own field labels only.
    let wrong = new
        .list(&ListParams::default().fields("involvedObject.name=web"))
        .await;
    let status = api_error(wrong);
    assert_eq!(status.code, 400);
    assert!(status.message.contains("involvedObject.name"), "{status:?}");
    let wrong = core
        .list(&ListParams::default().fields("regarding.name=web"))
        .await;
    assert_eq!(api_error(wrong).code, 400);

    new.delete("web.1", &DeleteParams::default())
        .await
        .expect("delete through events.k8s.io");
    assert_eq!(api_error(core.get("web.1").await).code, 404);
}
