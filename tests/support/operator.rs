//! The real `prescaler run` binary, spawned against the API emulator, and the scene around
//! it: the ScalingPolicy CRD, a Deployment, policies.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

use super::kube_api::Emulator;

/// A Prometheus address where nothing listens: connections are refused at once, so the
/// operator sees Prometheus as unavailable.
pub const NO_PROMETHEUS: &str = "http://127.0.0.1:9";

/// The crate root, where `crds/` is.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A running operator process; killed on drop. Its log goes to a file kept for failures.
pub struct Operator {
    child: Option<std::process::Child>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Operator {
    /// Starts `prescaler run --kubeconfig <emulator> --prometheus <url>` with one-second
    /// sync periods and `extra` flags.
    pub fn start(emu: &Emulator, prometheus: &str, name: &str, extra: &[&str]) -> Self {
        Self::start_with_kubeconfig(emu.kubeconfig_path(), prometheus, name, extra)
    }

    /// [`Operator::start`] against the API server a kubeconfig file names (one that does
    /// not answer, say).
    pub fn start_with_kubeconfig(
        kubeconfig: &std::path::Path,
        prometheus: &str,
        name: &str,
        extra: &[&str],
    ) -> Self {
        let log = std::env::temp_dir().join(format!(
            "prescaler-operator-{}-{name}-{}.log",
            std::process::id(),
            fastrand_suffix()
        ));
        let file = std::fs::File::create(&log).expect("create the operator log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_prescaler"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--prometheus", prometheus])
            .args(["--sync-period", "1s", "--metrics-addr", "127.0.0.1:0"])
            .args(["--prometheus-timeout", "2s", "--prometheus-retries", "0"])
            .args(extra)
            .env("RUST_LOG", "info,prescaler=debug")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("the prescaler binary starts");
        Self {
            child: Some(child),
            log,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The address of its /metrics, /healthz and /readyz server, once it logged it.
    pub fn telemetry_addr(&self) -> Option<String> {
        let logs = self.logs();
        let rest = logs.split("telemetry listening").nth(1)?;
        let at = rest.find("127.0.0.1:")?;
        Some(
            rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect(),
        )
    }

    /// The port of its telemetry server, waiting up to `limit` for it to be logged.
    pub async fn telemetry_port(&self, limit: Duration) -> u16 {
        let addr = eventually(limit, "the telemetry address logged", || async {
            self.telemetry_addr()
        })
        .await;
        addr.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    /// The operator's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills the process at once (SIGKILL), as a crashed node would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!("operator log ({}):\n{}", self.log.display(), self.logs());
        }
    }
}

/// A suffix that keeps temporary file names of one test process apart.
pub fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64 % 1_000_000_007)
}

/// Installs the committed ScalingPolicy CRD.
pub async fn install_crd(emu: &Emulator) {
    let crds: Api<CustomResourceDefinition> = Api::all(emu.client().await);
    let text = std::fs::read_to_string(format!("{ROOT}/crds/scalingpolicy.yaml")).expect("CRD");
    let crd: CustomResourceDefinition = serde_norway::from_str(&text).expect("CRD YAML");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create the CRD");
}

/// Creates a Deployment `name` with `replicas`, selecting `app=<name>`.
pub fn seed_deployment(emu: &Emulator, name: &str, replicas: i32) {
    emu.seed(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
        },
        "status": {"replicas": replicas, "readyReplicas": replicas}
    }))
    .expect("seed the Deployment");
}

/// `spec.replicas` of Deployment `name` in `default`, as the emulator stores it.
pub fn deployment_replicas(emu: &Emulator, name: &str) -> i64 {
    emu.object("apps", "deployments", "default", name)
        .expect("the Deployment exists")["spec"]["replicas"]
        .as_i64()
        .unwrap_or(0)
}

/// Creates an HPA `name` on Deployment `target`.
pub fn seed_hpa(emu: &Emulator, name: &str, target: &str, min: i32) {
    emu.seed(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min, "maxReplicas": 50,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                         "target": {"type": "Utilization", "averageUtilization": 70}}}]
        }
    }))
    .expect("seed the HPA");
}

/// HPA `name` in `default`, as the emulator stores it.
pub fn hpa(emu: &Emulator, name: &str) -> Value {
    emu.object("autoscaling", "horizontalpodautoscalers", "default", name)
        .expect("the HPA exists")
}

/// Flags for a leader-elected operator named `identity`, with a 3 s Lease renewed every
/// second (a standby takes over within a few seconds of a leader's death).
pub fn elect(identity: &'static str) -> Vec<&'static str> {
    vec![
        "--leader-elect=true",
        "--leader-election-namespace",
        "default",
        "--lease-duration",
        "3s",
        "--lease-renew-period",
        "1s",
        "--identity",
        identity,
    ]
}

/// Creates a ScalingPolicy straight in the store (bypassing any validation a real API
/// server would do, as an old CRD version or a disabled webhook would let through).
pub fn seed_policy(emu: &Emulator, policy: Value) {
    emu.seed(policy).expect("seed the ScalingPolicy");
}

/// A ScalingPolicy on Deployment `target` with one RequestRate metric.
pub fn policy(name: &str, target: &str, mode: &str, query: &str, per_replica: f64) -> Value {
    json!({
        "apiVersion": "autoscaling.prescaler.io/v1alpha1", "kind": "ScalingPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1, "maxReplicas": 40, "mode": mode,
            "metrics": [{"type": "RequestRate", "name": "http",
                         "requestRate": {"query": query, "targetPerReplica": per_replica}}],
            "forecast": {"leadTime": "2m", "horizon": "10m", "history": "2d", "step": "1m",
                         "minHistory": "1d", "quantile": 0.9}
        }
    })
}

/// The policy as the emulator stores it.
pub async fn get_policy(emu: &Emulator, name: &str) -> Value {
    let client = emu.client().await;
    let resource = kube::discovery::ApiResource {
        group: "autoscaling.prescaler.io".into(),
        version: "v1alpha1".into(),
        api_version: "autoscaling.prescaler.io/v1alpha1".into(),
        kind: "ScalingPolicy".into(),
        plural: "scalingpolicies".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let object = api.get(name).await.expect("the policy exists");
    serde_json::to_value(object).expect("JSON")
}

/// The condition `type_` of a policy's status, if set.
pub fn condition(policy: &Value, type_: &str) -> Option<Value> {
    policy["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Polls `check` every 200 ms until it returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Events recorded for an object, as (type, reason, note).
pub async fn events_for(emu: &Emulator, name: &str) -> Vec<(String, String, String)> {
    let client = emu.client().await;
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let list = api.list(&Default::default()).await.expect("list Events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

/// The row of `kubectl get` output whose NAME is `name`, as (column, value) pairs, cut at
/// the header's column starts (values such as `412 at 14:05Z` hold spaces).
pub fn table_row(table: &str, name: &str) -> Vec<(String, String)> {
    let mut lines = table.lines();
    let header = lines.next().expect("a header");
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|&(i, c)| c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' '))
        .map(|(i, _)| i)
        .collect();
    let line = lines
        .find(|l| l.split_whitespace().any(|w| w == name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"));
    starts
        .iter()
        .enumerate()
        .map(|(k, &from)| {
            let to = starts
                .get(k + 1)
                .copied()
                .unwrap_or(line.len())
                .min(line.len());
            let column = header[from..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            (
                column,
                line.get(from..to).unwrap_or_default().trim().to_string(),
            )
        })
        .collect()
}
