//! The operator against a real cluster (kind, k3d or any other), gated: it runs only with
//! `PRESCALER_E2E_KUBECONFIG` set and `--ignored` (see README "Run it against a cluster").
//! It installs the CRD, a Deployment and a policy in namespace `prescaler-e2e`, runs the
//! real binary, and checks status, the scale write and the Events, then cleans up.
//! `PRESCALER_E2E_PROMETHEUS` may name a reachable Prometheus; without one the test checks
//! the fallback path, which needs no metrics.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "prescaler-e2e";

fn kubectl(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()))
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("kubectl finishes");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs a cluster"]
fn operator_scales_a_deployment_on_a_real_cluster() {
    let kubeconfig = std::env::var("PRESCALER_E2E_KUBECONFIG")
        .expect("set PRESCALER_E2E_KUBECONFIG to the kubeconfig of a disposable cluster");
    let prometheus =
        std::env::var("PRESCALER_E2E_PROMETHEUS").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    let crd = format!("{}/crds/scalingpolicy.yaml", env!("CARGO_MANIFEST_DIR"));
    kubectl(&kubeconfig, &["apply", "-f", &crd], None);
    kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "crd/scalingpolicies.autoscaling.prescaler.io",
        ],
        None,
    );
    let manifest = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: registry.k8s.io/pause:3.10}}]
---
apiVersion: autoscaling.prescaler.io/v1alpha1
kind: ScalingPolicy
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: RequestRate
    requestRate: {{query: 'sum(rate(prometheus_http_requests_total[1m]))', targetPerReplica: 100}}
  fallback: {{type: Replicas, replicas: 2}}
"#
    );
    kubectl(&kubeconfig, &["apply", "-f", "-"], Some(&manifest));
    let mut operator = Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .args([
            "run",
            "--kubeconfig",
            &kubeconfig,
            "--prometheus",
            &prometheus,
        ])
        .args([
            "--namespace",
            NAMESPACE,
            "--leader-elect=false",
            "--sync-period",
            "2s",
        ])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .spawn()
        .expect("the operator starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut desired = String::new();
    while Instant::now() < deadline {
        desired = kubectl(
            &kubeconfig,
            &[
                "get",
                "sp",
                "web",
                "-n",
                NAMESPACE,
                "-o",
                "jsonpath={.status.desiredReplicas}",
            ],
            None,
        );
        if !desired.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let replicas_now = || {
        kubectl(
            &kubeconfig,
            &[
                "get",
                "deploy",
                "web",
                "-n",
                NAMESPACE,
                "-o",
                "jsonpath={.spec.replicas}",
            ],
            None,
        )
    };
    if std::env::var("PRESCALER_E2E_PROMETHEUS").is_err() {
        // No metrics: the fallback raises the Deployment to 2 replicas.
        while Instant::now() < deadline && replicas_now().trim() != "2" {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let replicas = replicas_now();
    let describe = kubectl(
        &kubeconfig,
        &["describe", "sp", "web", "-n", NAMESPACE],
        None,
    );
    let _ = operator.kill();
    let _ = operator.wait();
    kubectl(
        &kubeconfig,
        &["delete", "namespace", NAMESPACE, "--wait=false"],
        None,
    );
    assert!(
        !desired.is_empty(),
        "status.desiredReplicas was never written:\n{describe}"
    );
    let desired: i32 = desired.trim().parse().expect("a number");
    assert!(desired >= 1, "{describe}");
    assert!(describe.contains("MetricsAvailable"), "{describe}");
    if std::env::var("PRESCALER_E2E_PROMETHEUS").is_err() {
        assert_eq!(replicas.trim(), "2", "fallback floor applied:\n{describe}");
    }
}
