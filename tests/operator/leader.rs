//! Two operator processes with leader election on a Lease: one writes; when it dies the
//! other takes over within the lease duration; no write happens twice.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    NO_PROMETHEUS, Operator, deployment_replicas, elect, eventually, install_crd, policy,
    seed_deployment, seed_policy,
};

fn holder(emu: &Emulator) -> Option<String> {
    emu.object("coordination.k8s.io", "leases", "default", "prescaler")?["spec"]["holderIdentity"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_writes_and_a_standby_takes_over_when_it_dies() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    seed_deployment(&emu, "web", 2);
    // Prometheus is unreachable on purpose: the fallback floor is the decision.
    let mut p = policy("web", "web", "Auto", "sum(rate(x[1m]))", 10.0);
    p["spec"]["fallback"] = json!({"type": "Replicas", "replicas": 4});
    seed_policy(&emu, p);
    let mut a = Operator::start(&emu, NO_PROMETHEUS, "leader-a", &elect("operator-a"));
    let mut b = Operator::start(&emu, NO_PROMETHEUS, "leader-b", &elect("operator-b"));

    let limit = Duration::from_secs(30);
    eventually(limit, "the leader scaled to 4", || async {
        (deployment_replicas(&emu, "web") == 4).then_some(())
    })
    .await;
    let first = holder(&emu).expect("a Lease holder");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        1,
        "only the leader wrote, once"
    );
    let status_writes = emu.count_requests("PATCH", "/scalingpolicies/web/status");

    // The leader dies without releasing; the policy changes meanwhile.
    let (dead, survivor) = if first == "operator-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    dead.kill();
    let resource = kube::discovery::ApiResource::erase::<prescaler::policy::ScalingPolicy>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(emu.client().await, "default", &resource);
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"fallback": {"type": "Replicas", "replicas": 6}}})),
    )
    .await
    .expect("patch the policy");
    eventually(
        Duration::from_secs(20),
        "the standby took over and scaled to 6",
        || async { (deployment_replicas(&emu, "web") == 6).then_some(()) },
    )
    .await;
    let second = holder(&emu).expect("a Lease holder");
    assert_ne!(second, first, "leadership moved");
    assert_eq!(
        emu.count_requests("PATCH", "/deployments/web/scale"),
        2,
        "no double writes"
    );
    assert!(emu.count_requests("PATCH", "/scalingpolicies/web/status") > status_writes);

    // An orderly shutdown releases the Lease at once.
    assert!(survivor.terminate(), "exits cleanly on SIGTERM");
    let after = holder(&emu).unwrap_or_default();
    assert!(after.is_empty(), "Lease released, holder now {after:?}");
}
