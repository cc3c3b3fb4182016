//! kube-rs watches against the emulator: the runtime watcher, raw watches from a
//! resourceVersion, bookmarks, 410 Gone, selectors, and the event recorder.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Resource;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::events::{Event as Note, EventType as NoteType, Recorder};
use kube::runtime::watcher;
use serde_json::json;

use crate::client::deployment;
use crate::support::kube_api::{Emulator, Options};

/// The next watcher event other than the initial-list markers, in time.
async fn next_change<S>(events: &mut S) -> watcher::Event<Deployment>
where
    S: futures::Stream<Item = Result<watcher::Event<Deployment>, watcher::Error>> + Unpin,
{
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .expect("the watcher yields in time")
            .expect("no watch error")
            .expect("the watcher keeps running");
        match event {
            watcher::Event::Init | watcher::Event::InitDone => continue,
            other => return other,
        }
    }
}

fn name_of(event: &watcher::Event<Deployment>) -> (&'static str, String, i32) {
    let (kind, d) = match event {
        watcher::Event::Apply(d) => ("apply", d),
        watcher::Event::InitApply(d) => ("init", d),
        watcher::Event::Delete(d) => ("delete", d),
        _ => unreachable!("markers are skipped"),
    };
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or_default();
    (kind, d.metadata.name.clone().unwrap_or_default(), replicas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_watcher_sees_changes_in_order_and_recovers_after_a_cut() {
    let emu = Emulator::start().await;
    let api: Api<Deployment> = Api::namespaced(emu.client().await, "default");
    api.create(&PostParams::default(), &deployment("before", 1))
        .await
        .expect("create");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    assert_eq!(
        name_of(&next_change(&mut events).await),
        ("init", "before".into(), 1)
    );

    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    let scale = Patch::Merge(json!({ "spec": { "replicas": 3 } }));
    api.patch("web", &PatchParams::default(), &scale)
        .await
        .expect("patch");
    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(
        name_of(&next_change(&mut events).await),
        ("apply", "web".into(), 1)
    );
    assert_eq!(
        name_of(&next_change(&mut events).await),
        ("apply", "web".into(), 3)
    );
    assert_eq!(
        name_of(&next_change(&mut events).await),
        ("delete", "web".into(), 3)
    );

    let watches_before = emu
        .requests()
        .iter()
        .filter(|r| r.query.contains("watch=true"))
        .count();
    emu.cut_watches();
    api.create(&PostParams::default(), &deployment("after", 2))
        .await
        .expect("create");
    // Whether it resumes from its resourceVersion or lists again, the watcher sees it.
    loop {
        let (kind, name, replicas) = name_of(&next_change(&mut events).await);
        if name == "after" {
            assert!(kind == "apply" || kind == "init");
            assert_eq!(replicas, 2);
            break;
        }
    }
    let watches_after = emu
        .requests()
        .iter()
        .filter(|r| r.query.contains("watch=true"))
        .count();
    assert!(watches_after > watches_before, "the watcher watched again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_sends_bookmarks_and_expires_old_versions() {
    let emu = Emulator::start_with(Options {
        history_limit: 4,
        bookmark_interval: Duration::from_millis(200),
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(emu.client().await, "default");
    let lease = |name: &str| -> Lease {
        serde_json::from_value(json!({ "metadata": { "name": name } })).expect("a Lease")
    };
    let first = leases
        .create(&PostParams::default(), &lease("l0"))
        .await
        .expect("create");
    let from = first
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");
    leases
        .create(&PostParams::default(), &lease("l1"))
        .await
        .expect("create");

    let params = WatchParams::default().timeout(10);
    let mut resumed = leases.watch(&params, &from).await.expect("watch").boxed();
    let event = tokio::time::timeout(Duration::from_secs(5), resumed.try_next())
        .await
        .expect("an event in time")
        .expect("no error")
        .expect("an event");
    match event {
        WatchEvent::Added(l) => assert_eq!(l.metadata.name.as_deref(), Some("l1")),
        other => panic!("expected l1 ADDED, got {other:?}"),
    }
    drop(resumed);

    let mut bookmarked = leases
        .watch(&params, &emu.resource_version().to_string())
        .await
        .expect("watch")
        .boxed();
    let event = tokio::time::timeout(Duration::from_secs(5), bookmarked.try_next())
        .await
        .expect("a bookmark in time")
        .expect("no error")
        .expect("an event");
    assert!(matches!(event, WatchEvent::Bookmark(_)), "{event:?}");
    drop(bookmarked);

    for i in 2..8 {
        leases
            .create(&PostParams::default(), &lease(&format!("l{i}")))
            .await
            .expect("create");
    }
    let mut expired = leases.watch(&params, &from).await.expect("watch").boxed();
    let event = tokio::time::timeout(Duration::from_secs(5), expired.try_next())
        .await
        .expect("an event in time")
        .expect("no error")
        .expect("an event");
    match event {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

/// The next watch event other than a BOOKMARK, in time.
async fn next_watch_event<S>(events: &mut S) -> WatchEvent<Deployment>
where
    S: futures::Stream<Item = Result<WatchEvent<Deployment>, kube::Error>> + Unpin,
{
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .expect("an event in time")
            .expect("no error")
            .expect("an event");
        if !matches!(event, WatchEvent::Bookmark(_)) {
            return event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_watch_sees_objects_enter_and_leave_and_events_are_recorded() {
    let emu = Emulator::start().await;
    let client = emu.client().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let web = api
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    let rv = web
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");
    let params = WatchParams::default().labels("tier=front").timeout(10);
    let mut stream = api.watch(&params, &rv).await.expect("watch").boxed();
    let label =
        |tier: Option<&str>| Patch::Merge(json!({ "metadata": { "labels": { "tier": tier } } }));
    let pp = PatchParams::default();
    api.patch("web", &pp, &label(Some("front")))
        .await
        .expect("label");
    api.patch(
        "web",
        &pp,
        &Patch::Merge(json!({ "spec": { "replicas": 2 } })),
    )
    .await
    .expect("scale");
    api.patch("web", &pp, &label(None)).await.expect("unlabel");
    assert!(matches!(
        next_watch_event(&mut stream).await,
        WatchEvent::Added(_)
    ));
    assert!(matches!(
        next_watch_event(&mut stream).await,
        WatchEvent::Modified(_)
    ));
    assert!(matches!(
        next_watch_event(&mut stream).await,
        WatchEvent::Deleted(_)
    ));

    // kube-rs's event recorder creates an events.k8s.io/v1 Event, then patches its series.
    let recorder = Recorder::new(client.clone(), "prescaler".into());
    let note = Note {
        type_: NoteType::Normal,
        reason: "Scaled".into(),
        note: Some("web to 2 replicas".into()),
        action: "Scale".into(),
        secondary: None,
    };
    let reference = web.object_ref(&());
    for _ in 0..2 {
        recorder.publish(&note, &reference).await.expect("publish");
    }
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let list = events.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    let event = &list.items[0];
    assert_eq!(event.reason.as_deref(), Some("Scaled"));
    assert_eq!(event.series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        event.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("web")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_gets_its_initial_events() {
    let emu = Emulator::start().await;
    let api: Api<Deployment> = Api::namespaced(emu.client().await, "default");
    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher(api.clone(), config).boxed();
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .expect("the watcher yields in time")
            .expect("no watch error")
            .expect("the watcher keeps running");
        match event {
            watcher::Event::Init => seen.push("init".to_string()),
            watcher::Event::InitApply(d) => seen.push(d.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["init", "web"]);
    let list_requests = emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/deployments"))
        .filter(|r| !r.query.contains("watch=true"))
        .count();
    assert_eq!(list_requests, 0, "the initial state came over the watch");
}
