//! Leader election against the API emulator: candidates race for a real Lease over HTTP,
//! with optimistic concurrency, crashes, releases and injected API failures.

#[allow(dead_code)] // shared harness: this crate uses the API emulator only
mod support;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use prescaler::leader::{Elector, LeaderError, Leadership, LeaseConfig};
use serde_json::{Value, json};

use support::kube_api::Emulator;

/// Short timings so that a takeover after expiry happens within seconds.
const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(300);
/// How long a poll waits before the test fails; generous for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

fn config(identity: &str, lease_duration: Duration) -> LeaseConfig {
    LeaseConfig {
        namespace: "default".into(),
        name: "prescaler".into(),
        identity: identity.into(),
        lease_duration,
        renew_period: RENEW,
    }
}

struct Candidate {
    id: &'static str,
    leadership: Leadership,
    elector: Elector,
}

async fn candidates(emu: &Emulator, ids: &[&'static str], lease: Duration) -> Vec<Candidate> {
    let mut all = Vec::new();
    for id in ids {
        let (leadership, elector) = Elector::spawn(emu.client().await, config(id, lease));
        all.push(Candidate {
            id,
            leadership,
            elector,
        });
    }
    all
}

/// Polls `check` every 20 ms until it returns `Some`, failing the test after [`PATIENCE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next change of `leadership`, failing the test after [`PATIENCE`].
async fn next_change(leadership: &mut Leadership) -> bool {
    tokio::time::timeout(PATIENCE, leadership.changed())
        .await
        .expect("leadership changes in time")
}

/// The indices of the candidates that lead now.
fn leaders(all: &[Candidate]) -> Vec<usize> {
    (0..all.len())
        .filter(|&i| all[i].leadership.is_leader())
        .collect()
}

/// Waits until exactly one candidate leads and returns its index.
async fn one_leader(all: &[Candidate]) -> usize {
    eventually("exactly one leader", || match leaders(all)[..] {
        [one] => Some(one),
        _ => None,
    })
    .await
}

/// The Lease's spec straight from the emulator's store (no HTTP, so no injected faults).
fn lease_spec(emu: &Emulator) -> Value {
    emu.object("coordination.k8s.io", "leases", "default", "prescaler")
        .expect("the Lease exists")["spec"]
        .clone()
}

/// Samples the candidates for a few renew periods: never two leaders, and the one that
/// leads is the one the Lease names.
async fn assert_single_leader_for_a_while(emu: &Emulator, all: &[Candidate]) -> usize {
    let leader = one_leader(all).await;
    for _ in 0..40 {
        let now = leaders(all);
        assert!(now.len() <= 1, "two leaders at once: {now:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(leaders(all), [leader], "leadership stayed where it was");
    assert_eq!(lease_spec(emu)["holderIdentity"], all[leader].id);
    leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_racing_to_create_the_lease_elect_exactly_one_leader() {
    let emu = Emulator::start().await;
    let all = candidates(&emu, &["a", "b", "c"], LEASE).await;
    let leader = assert_single_leader_for_a_while(&emu, &all).await;

    let spec = lease_spec(&emu);
    assert_eq!(spec["holderIdentity"], all[leader].id);
    assert_eq!(spec["leaseDurationSeconds"], 2);
    assert_eq!(spec["leaseTransitions"], 0);
    assert!(spec["acquireTime"].is_string(), "{spec}");

    // The leader renews: renewTime moves on, acquireTime stays.
    let first_renew = spec["renewTime"].clone();
    let renewed = eventually("a renewal", || {
        let now = lease_spec(&emu);
        (now["renewTime"] != first_renew).then_some(now)
    })
    .await;
    assert_eq!(renewed["acquireTime"], spec["acquireTime"]);
    assert_eq!(renewed["holderIdentity"], all[leader].id);
    assert_eq!(renewed["leaseTransitions"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_racing_for_a_free_lease_elect_exactly_one_leader() {
    let emu = Emulator::start().await;
    let leases: Api<Lease> = Api::namespaced(emu.client().await, "default");
    let free: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "prescaler" },
        "spec": { "leaseDurationSeconds": 2, "leaseTransitions": 4 },
    }))
    .expect("a Lease");
    leases
        .create(&PostParams::default(), &free)
        .await
        .expect("create a free Lease");

    let all = candidates(&emu, &["a", "b", "c"], LEASE).await;
    let leader = assert_single_leader_for_a_while(&emu, &all).await;
    let spec = lease_spec(&emu);
    assert_eq!(spec["holderIdentity"], all[leader].id);
    assert_eq!(
        spec["leaseTransitions"], 5,
        "taking a free Lease is a transition"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_once_its_lease_expires() {
    let emu = Emulator::start().await;
    let mut all = candidates(&emu, &["a", "b"], LEASE).await;
    let leader = one_leader(&all).await;
    let before = lease_spec(&emu);
    let crashed = all.remove(leader);
    let mut crashed_leadership = crashed.leadership.clone();
    drop(crashed.elector);

    // Dropping the elector stops it like a crash: leadership is lost inside the process,
    // but the Lease is not released and still names the crashed leader.
    if crashed_leadership.is_leader() {
        assert!(!next_change(&mut crashed_leadership).await);
    }
    assert_eq!(lease_spec(&emu)["holderIdentity"], crashed.id);

    let standby = &all[0];
    eventually("the standby to take over", || {
        standby.leadership.is_leader().then_some(())
    })
    .await;
    let after = lease_spec(&emu);
    assert_eq!(after["holderIdentity"], standby.id);
    assert_eq!(after["leaseTransitions"], 1);
    assert_ne!(after["acquireTime"], before["acquireTime"]);
    assert!(!crashed_leadership.is_leader());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_without_waiting_for_it_to_expire() {
    let emu = Emulator::start().await;
    // A lease far longer than the test's patience: only a release lets the standby in.
    let lease = Duration::from_secs(120);
    let mut all = candidates(&emu, &["a", "b"], lease).await;
    let leader = one_leader(&all).await;
    let leaving = all.remove(leader);
    let watcher = leaving.leadership.clone();
    leaving.elector.release().await.expect("release");
    assert!(!watcher.is_leader(), "released means no longer leading");

    let standby = &all[0];
    eventually("the standby to take over the released Lease", || {
        standby.leadership.is_leader().then_some(())
    })
    .await;
    let spec = lease_spec(&emu);
    assert_eq!(spec["holderIdentity"], standby.id);
    assert_eq!(spec["leaseTransitions"], 1);
    assert_eq!(spec["leaseDurationSeconds"], 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_a_standby_leaves_the_leader_alone() {
    let emu = Emulator::start().await;
    let mut all = candidates(&emu, &["a", "b"], LEASE).await;
    let leader = one_leader(&all).await;
    let standby = all.remove(1 - leader);
    standby.elector.release().await.expect("release a standby");
    let leader = &all[0];
    assert!(leader.leadership.is_leader());
    assert_eq!(lease_spec(&emu)["holderIdentity"], leader.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let emu = Emulator::start().await;
    let all = candidates(&emu, &["a", "b"], LEASE).await;
    let leader = one_leader(&all).await;
    let mut leadership = all[leader].leadership.clone();

    emu.fail_next("*", "/leases/prescaler", 1_000_000, 500);
    assert!(!next_change(&mut leadership).await, "the leader steps down");
    // It stepped down while the Lease still named it: nobody else could have started.
    assert_eq!(lease_spec(&emu)["holderIdentity"], all[leader].id);
    assert!(leaders(&all).is_empty());

    // When the API recovers, the election recovers by itself.
    emu.clear_faults();
    let again = one_leader(&all).await;
    assert_eq!(lease_spec(&emu)["holderIdentity"], all[again].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_api_server_hangs_steps_down_at_its_renew_deadline() {
    let emu = Emulator::start().await;
    let all = candidates(&emu, &["a"], LEASE).await;
    one_leader(&all).await;
    let mut leadership = all[0].leadership.clone();

    // Far longer than the test waits: only the renew deadline can end leadership here.
    emu.add_latency("*", "/leases/prescaler", Duration::from_secs(600));
    assert!(!next_change(&mut leadership).await, "the leader steps down");
    assert_eq!(lease_spec(&emu)["holderIdentity"], "a");

    emu.clear_faults();
    assert!(
        next_change(&mut leadership).await,
        "leads again once the API answers"
    );
    assert_eq!(
        lease_spec(&emu)["leaseTransitions"],
        0,
        "renewing its own Lease is no transition"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configuration_ends_the_task_with_an_error_naming_the_flag() {
    let emu = Emulator::start().await;
    let bad = LeaseConfig {
        renew_period: Duration::from_secs(2),
        ..config("a", LEASE)
    };
    let (leadership, mut elector) = Elector::spawn(emu.client().await, bad);
    let err = elector
        .join()
        .await
        .expect_err("the task ends with an error");
    assert!(
        matches!(
            err,
            LeaderError::InvalidConfig {
                flag: "--lease-renew-period",
                ..
            }
        ),
        "{err}"
    );
    assert!(!leadership.is_leader());
    assert!(matches!(elector.join().await, Err(LeaderError::Ended)));
    assert_eq!(emu.count_requests("*", "/leases"), 0, "nothing was written");
}
