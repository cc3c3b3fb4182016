//! Fault hooks and bad input: injected failures and latency as kube-rs sees them, and
//! malformed requests answered with Status bodies.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::client::{api_error, deployment};
use crate::support::kube_api::Emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fail_delay_and_are_counted() {
    let emu = Emulator::start().await;
    let api: Api<Deployment> = Api::namespaced(emu.client().await, "default");
    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    emu.fail_next("GET", "/deployments/web", 2, 500);
    for _ in 0..2 {
        let status = api_error(api.get("web").await);
        assert_eq!(
            (status.code, status.reason.as_str()),
            (500, "InternalError")
        );
    }
    api.get("web").await.expect("the third get succeeds");
    assert_eq!(emu.count_requests("GET", "/deployments/web"), 3);
    assert_eq!(emu.requests().iter().filter(|r| r.status == 500).count(), 2);

    // kube-rs retries a 503 by itself: the emulator sees both attempts.
    emu.fail_next("PATCH", "/deployments/web/scale", 1, 503);
    let scale = Patch::Merge(json!({ "spec": { "replicas": 2 } }));
    api.patch_scale("web", &PatchParams::default(), &scale)
        .await
        .expect("the retried patch succeeds");
    assert_eq!(emu.count_requests("PATCH", "/scale"), 2);

    let latency = Duration::from_millis(800);
    emu.add_latency("*", "/deployments/web", latency);
    let start = std::time::Instant::now();
    api.get("web").await.expect("a slow get");
    assert!(start.elapsed() >= latency);
    emu.clear_faults();
    let start = std::time::Instant::now();
    api.get("web").await.expect("a fast get");
    assert!(start.elapsed() < latency);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_status_bodies() {
    use http_body_util::BodyExt;

    let emu = Emulator::start().await;
    let client = emu.client().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &deployment("web", 1))
        .await
        .expect("create");
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let cases: [(&str, String, &str, &[u8], u16); 9] = [
        ("POST", base.into(), "application/json", b"{not json", 400),
        ("POST", base.into(), "application/json", b"[1, 2]", 400),
        ("PATCH", format!("{base}/web"), "text/plain", b"{}", 415),
        (
            "PATCH",
            format!("{base}/web"),
            "application/json-patch+json",
            b"[{\"op\":\"jump\"}]",
            400,
        ),
        (
            "PATCH",
            format!("{base}/web/scale"),
            "application/merge-patch+json",
            b"{\"spec\":{\"replicas\":\"x\"}}",
            422,
        ),
        (
            "GET",
            format!("{base}?labelSelector=a%20in%20(b"),
            "",
            b"",
            400,
        ),
        (
            "GET",
            format!("{base}?watch=true&resourceVersion=abc"),
            "",
            b"",
            400,
        ),
        (
            "POST",
            base.into(),
            "application/vnd.kubernetes.protobuf",
            b"k8s\0\xff\xff",
            400,
        ),
        (
            "GET",
            "/apis/nothing.example.com/v1/things".into(),
            "",
            b"",
            404,
        ),
    ];
    for (method, path, content_type, body, code) in cases {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path.as_str())
            .header("content-type", content_type)
            .body(kube::client::Body::from(body.to_vec()))
            .expect("a request");
        let response = client.send(request).await.expect("a response");
        assert_eq!(response.status().as_u16(), code, "{method} {path}");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let status: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
        assert_eq!(status["kind"], "Status", "{method} {path}: {status}");
        assert_eq!(status["code"], code, "{method} {path}: {status}");
    }
    // The server is still serving.
    api.get("web").await.expect("get after bad requests");
}
