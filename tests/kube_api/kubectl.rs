//! The real `kubectl`, spawned with `KUBECONFIG` pointing at the emulator.

use crate::support::operator::table_row;
use std::process::{Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::ROOT;
use crate::support::kube_api::Emulator;

async fn kubectl(emu: &Emulator, args: &[&str]) -> Output {
    let run = emu.kubectl().args(args).output();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .expect("kubectl runs")
}

async fn kubectl_ok(emu: &Emulator, args: &[&str]) -> String {
    let out = kubectl(emu, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `kubectl apply -f -` with `manifest` on stdin.
async fn kubectl_apply_stdin(emu: &Emulator, manifest: &str) -> String {
    let mut child = emu
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(manifest.as_bytes())
        .await
        .expect("write the manifest");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("kubectl apply finishes")
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: { app: web }
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: nginx:1.27
";

fn example_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(format!("{ROOT}/examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

/// The namespaces the example policies live in.
fn example_namespaces(files: &[String]) -> Vec<String> {
    let mut namespaces: Vec<String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("readable example");
            let doc: Value = serde_norway::from_str(&text).expect("YAML example");
            doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_crd_and_the_examples_and_prints_the_columns() {
    let emu = Emulator::start().await;
    let crd = format!("{ROOT}/crds/scalingpolicy.yaml");
    let out = kubectl_ok(&emu, &["apply", "-f", &crd]).await;
    assert!(out.contains("created"), "{out}");
    let crds = kubectl_ok(&emu, &["get", "crd"]).await;
    assert!(crds.contains("NAME"), "{crds}");
    assert!(
        crds.contains("scalingpolicies.autoscaling.prescaler.io"),
        "{crds}"
    );

    let files = example_files();
    assert!(!files.is_empty());
    for ns in example_namespaces(&files) {
        if ns != "default" {
            kubectl_ok(&emu, &["create", "namespace", &ns]).await;
        }
    }
    for file in &files {
        let out = kubectl_ok(&emu, &["apply", "-f", file]).await;
        assert!(out.contains("created"), "{file}: {out}");
    }
    // Applying again finds nothing to change, with or without client-side validation.
    for file in &files {
        let out = kubectl_ok(&emu, &["apply", "-f", file]).await;
        assert!(out.contains("unchanged"), "{file}: {out}");
        let out = kubectl_ok(&emu, &["apply", "--validate=false", "-f", file]).await;
        assert!(out.contains("unchanged"), "{file}: {out}");
    }

    // The schema's defaults were applied on create.
    let fallback = kubectl_ok(
        &emu,
        &[
            "get",
            "sp",
            "storefront",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.fallback.type}",
        ],
    )
    .await;
    assert_eq!(fallback, "HoldCurrent");

    let status = json!({ "status": {
        "currentReplicas": 4, "desiredReplicas": 6, "reactiveReplicas": 4,
        "predictedReplicas": 6, "model": "HoltWinters", "targets": "310/80",
        "reason": "ForecastAhead", "forecastPeak": "412 at 14:05Z",
        "leadTime": { "value": "47s", "source": "Pods", "podsMeasured": 12 },
        "conditions": [
            { "type": "ForecastReliable", "status": "True", "reason": "ForecastUsed",
              "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z" },
            { "type": "Ready", "status": "True", "reason": "Reconciled",
              "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z" },
        ],
    } })
    .to_string();
    kubectl_ok(
        &emu,
        &[
            "patch",
            "sp",
            "storefront",
            "-n",
            "shop",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ],
    )
    .await;

    // One line tells the story, as `kubectl get hpa` does; -o wide adds the inputs.
    let table = kubectl_ok(&emu, &["get", "sp", "-A"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + files.len(), "{table}");
    let storefront = table_row(&table, "storefront");
    assert_eq!(
        storefront,
        [
            ("NAMESPACE", "shop"),
            ("NAME", "storefront"),
            ("TARGET", "storefront"),
            ("TARGETS", "310/80"),
            ("CURRENT", "4"),
            ("DESIRED", "6"),
            ("REASON", "ForecastAhead"),
            ("FORECAST", "412 at 14:05Z"),
            ("MODE", "Auto"),
            ("READY", "True"),
            ("AGE", storefront[10].1.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
        "{table}"
    );
    assert!(
        storefront[10].1.ends_with('s'),
        "an age in seconds: {table}"
    );
    let wide = kubectl_ok(&emu, &["get", "sp", "-A", "-o", "wide"]).await;
    let storefront = table_row(&wide, "storefront");
    assert_eq!(
        storefront[11..],
        [
            ("MIN", "2"),
            ("MAX", "40"),
            ("REACTIVE", "4"),
            ("PREDICTED", "6"),
            ("MODEL", "HoltWinters"),
            ("LEAD", "47s"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
        "{wide}"
    );

    let out = kubectl_ok(&emu, &["delete", "sp", "storefront", "-n", "shop"]).await;
    assert!(out.contains("deleted"), "{out}");
    let gone = kubectl(&emu, &["get", "sp", "storefront", "-n", "shop"]).await;
    assert!(!gone.status.success());
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(
        stderr.contains("NotFound") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(
        emu.object(
            "autoscaling.prescaler.io",
            "scalingpolicies",
            "shop",
            "storefront"
        )
        .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_goes_through_the_scale_subresource() {
    let emu = Emulator::start().await;
    emu.run_workload_controller(Duration::from_millis(50));
    let out = kubectl_apply_stdin(&emu, DEPLOYMENT).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");

    let out = kubectl_ok(&emu, &["scale", "deployment", "web", "--replicas=5"]).await;
    assert!(out.contains("scaled"), "{out}");
    let scale_writes: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/deployments/web/scale") && r.method != "GET")
        .collect();
    assert_eq!(scale_writes.len(), 1, "{scale_writes:?}");
    assert_eq!(scale_writes[0].content_type, "application/merge-patch+json");
    assert_eq!(
        emu.count_requests(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web/scale"
        ),
        1
    );
    let web = emu
        .object("apps", "deployments", "default", "web")
        .expect("the deployment");
    assert_eq!(web["spec"]["replicas"], 5);
    assert_eq!(web["metadata"]["generation"], 2);

    // The status follows, and kubectl sees it.
    let ready = kubectl_ok(
        &emu,
        &[
            "wait",
            "deployment/web",
            "--for=jsonpath={.status.readyReplicas}=5",
            "--timeout=10s",
        ],
    )
    .await;
    assert!(ready.contains("condition met"), "{ready}");
    let rollout = kubectl_ok(
        &emu,
        &["rollout", "status", "deployment/web", "--timeout=10s"],
    )
    .await;
    assert!(rollout.contains("successfully rolled out"), "{rollout}");

    // Re-applying the manifest with a new image patches only what changed.
    let changed = DEPLOYMENT.replace("nginx:1.27", "nginx:1.28");
    let out = kubectl_apply_stdin(&emu, &changed).await;
    assert!(out.contains("configured"), "{out}");
    let web = emu
        .object("apps", "deployments", "default", "web")
        .expect("the deployment");
    let containers = &web["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1), "{web}");
    assert_eq!(containers[0]["image"], "nginx:1.28");
    assert_eq!(containers[0]["name"], "web");

    // Typed kubectl commands send protobuf, which the emulator refuses rather than lose
    // everything but the metadata.
    let typed = kubectl(&emu, &["create", "deployment", "x", "--image=nginx"]).await;
    assert!(!typed.status.success());
    let stderr = String::from_utf8_lossy(&typed.stderr);
    assert!(stderr.contains("decodes only the metadata"), "{stderr}");

    let out = kubectl_ok(&emu, &["delete", "deployment", "web"]).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(
        emu.object("apps", "deployments", "default", "web")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_streams_a_change() {
    let emu = Emulator::start().await;
    kubectl_apply_stdin(&emu, DEPLOYMENT).await;
    let mut child = emu
        .kubectl()
        .args(["get", "deployments", "--watch", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("kubectl prints a line in time")
            .expect("readable stdout")
            .expect("kubectl is still running")
    };
    let header = next_line().await;
    assert!(
        header.contains("EVENT") && header.contains("NAME"),
        "{header}"
    );
    let added = next_line().await;
    assert!(added.contains("ADDED") && added.contains("web"), "{added}");

    let client = emu.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 7 } })),
        )
        .await
        .expect("scale");
    let modified = next_line().await;
    assert!(
        modified.contains("MODIFIED") && modified.contains("web"),
        "{modified}"
    );
    assert!(modified.split_whitespace().any(|c| c == "7"), "{modified}");
    child.kill().await.expect("kubectl stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_documents_the_new_fields() {
    let emu = Emulator::start().await;
    let crd = format!("{ROOT}/crds/scalingpolicy.yaml");
    kubectl_ok(&emu, &["apply", "-f", &crd]).await;
    for (path, words) in [
        ("scalingpolicy.spec.schedules", "leadTime` before its start"),
        (
            "scalingpolicy.spec.schedules.start",
            "five-field cron expression",
        ),
        ("scalingpolicy.spec.schedules.loadFactor", "times the load"),
        ("scalingpolicy.status.targets", "kubectl get hpa"),
        ("scalingpolicy.status.reason", "NoSkill"),
        ("scalingpolicy.status.decidedBy", "decided"),
        ("scalingpolicy.status.metrics.target", "per replica"),
        ("scalingpolicy.status.lastWouldScaleTime", "ForecastOnly"),
        (
            "scalingpolicy.spec.forecast.leadTimeMode",
            "90th percentile of creation to Ready",
        ),
        (
            "scalingpolicy.status.leadTime.source",
            "learned from the target's new pods",
        ),
        (
            "scalingpolicy.status.leadTime.podsMeasured",
            "creation-to-Ready",
        ),
    ] {
        let out = kubectl_ok(&emu, &["explain", path]).await;
        let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains(words), "kubectl explain {path}:\n{out}");
    }
}
