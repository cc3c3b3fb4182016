//! The process's life as Kubernetes sees it: `/readyz` turns 200 once the policy watch has
//! synced, and SIGTERM ends the real binary promptly in every state — the API server
//! unreachable, the CRD not installed — so a rollout never waits for the kubelet's SIGKILL,
//! and a leader releases its Lease on the way out.

use std::time::Duration;

use crate::support::kube_api::Emulator;
use crate::support::operator::{NO_PROMETHEUS, Operator, eventually, fastrand_suffix, install_crd};
use crate::support::prometheus::http_get;

const LIMIT: Duration = Duration::from_secs(30);

/// A kubeconfig naming an API server where nothing listens.
fn unreachable_kubeconfig() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "prescaler-unreachable-{}-{}.kubeconfig",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: \"http://127.0.0.1:1\"}\n  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .expect("write a kubeconfig");
    path
}

fn elect(identity: &'static str) -> Vec<&'static str> {
    vec![
        "--leader-elect=true",
        "--leader-election-namespace",
        "default",
        "--identity",
        identity,
    ]
}

async fn logged(op: &Operator, what: &str, text: &str) {
    eventually(LIMIT, what, || async {
        op.logs().contains(text).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_it_while_the_api_server_is_unreachable() {
    let kubeconfig = unreachable_kubeconfig();
    for (name, extra) in [
        ("unreachable-single", vec!["--leader-elect=false"]),
        ("unreachable-elected", elect("unreachable")),
    ] {
        let mut op = Operator::start_with_kubeconfig(&kubeconfig, NO_PROMETHEUS, name, &extra);
        logged(
            &op,
            "the failing watch reported at warn",
            "cannot reach the Kubernetes API server",
        )
        .await;
        assert!(
            op.terminate(),
            "{name}: exits cleanly on SIGTERM, within the grace period:\n{}",
            op.logs()
        );
    }
    std::fs::remove_file(kubeconfig).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_it_while_the_crd_is_not_installed_and_the_lease_is_released() {
    // No CRD: every list of scalingpolicies answers 404.
    let emu = Emulator::start().await;
    let mut op = Operator::start(&emu, NO_PROMETHEUS, "no-crd", &elect("no-crd"));
    logged(&op, "the missing CRD named", "is the CRD installed?").await;
    eventually(LIMIT, "the Lease taken", || async {
        let lease = emu.object("coordination.k8s.io", "leases", "default", "prescaler")?;
        (lease["spec"]["holderIdentity"] == "no-crd").then_some(())
    })
    .await;
    assert!(
        op.terminate(),
        "exits cleanly on SIGTERM, within the grace period:\n{}",
        op.logs()
    );
    let lease = emu
        .object("coordination.k8s.io", "leases", "default", "prescaler")
        .expect("the Lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "released for a standby to take at once: {lease}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_ready_once_the_policy_watch_has_synced() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    let op = Operator::start(&emu, NO_PROMETHEUS, "ready", &["--leader-elect=false"]);
    let port = op.telemetry_port(LIMIT).await;
    // Once never: the controller and the janitor both waited on the store, and only one
    // of two waiters is ever woken.
    eventually(LIMIT, "/readyz answering 200", || async {
        (http_get(port, "/readyz").map(|(status, _)| status) == Some(200)).then_some(())
    })
    .await;
    assert!(
        op.logs().contains("ScalingPolicy watch synced"),
        "{}",
        op.logs()
    );
    // Written to a file, not a terminal: plain `key=value` lines a log collector can read,
    // without colour codes.
    let logs = op.logs();
    assert!(!logs.contains('\u{1b}'), "colour codes in {logs}");
    assert!(
        logs.contains("telemetry listening addr=127.0.0.1:"),
        "{logs}"
    );
}
