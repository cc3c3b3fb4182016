//! Shards: operator processes started with `--shard i/N` split the policies between them by
//! a stable hash, each shard a leader-elected group on its own Lease. Who wrote what is
//! read from two independent records: the emulator's request log (every `PATCH …/scale`)
//! and each process's own `prescaler_scale_writes_total`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use prescaler::shard::Shard;
use serde_json::json;

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    NO_PROMETHEUS, Operator, elect, eventually, install_crd, policy, seed_deployment, seed_policy,
};
use crate::support::prometheus::http_get;

const POLICIES: usize = 300;
const LIMIT: Duration = Duration::from_secs(180);

fn name(i: usize) -> String {
    format!("p-{i}")
}

/// A process serving `shard`, and its telemetry port.
struct Member {
    op: Operator,
    identity: &'static str,
    shard: Shard,
    port: u16,
}

async fn member(emu: &Emulator, identity: &'static str, shard: Shard) -> Member {
    let mut args = elect(identity);
    let flag = shard.to_string();
    args.extend(["--shard", flag.as_str()]);
    let op = Operator::start(emu, NO_PROMETHEUS, identity, &args);
    let port = op.telemetry_port(LIMIT).await;
    Member {
        op,
        identity,
        shard,
        port,
    }
}

/// Per policy, the scale writes this process has made (either direction).
fn writes(member: &Member) -> BTreeMap<String, u64> {
    let (_, text) = http_get(member.port, "/metrics").expect("/metrics answers");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("prescaler_scale_writes_total{") else {
            continue;
        };
        let policy = rest
            .split("policy=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a policy label");
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a value");
        *out.entry(policy.to_string()).or_insert(0) += value as u64;
    }
    out.retain(|_, n| *n > 0);
    out
}

/// What each process wrote since `before`.
fn since(
    members: &[&Member],
    before: &BTreeMap<&str, BTreeMap<String, u64>>,
) -> Vec<(Shard, BTreeSet<String>)> {
    members
        .iter()
        .map(|m| {
            let old = before.get(m.identity);
            let now = writes(m);
            let new: BTreeSet<String> = now
                .into_iter()
                .filter(|(p, n)| old.and_then(|o| o.get(p)).copied().unwrap_or(0) < *n)
                .map(|(p, _)| p)
                .collect();
            (m.shard, new)
        })
        .collect()
}

fn snapshot(members: &[&Member]) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
    members.iter().map(|m| (m.identity, writes(m))).collect()
}

/// The policies `shard` owns.
fn owned(shard: Shard) -> BTreeSet<String> {
    (0..POLICIES)
        .map(name)
        .filter(|p| shard.owns("default", p))
        .collect()
}

fn scale_patches(emu: &Emulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/scale"))
        .count()
}

fn holder(emu: &Emulator, lease: &str) -> Option<String> {
    emu.object("coordination.k8s.io", "leases", "default", lease)?["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

async fn all_at(emu: &Emulator, replicas: i64, what: &str) {
    eventually(LIMIT, what, || async {
        (0..POLICIES)
            .all(|i| {
                emu.object("apps", "deployments", "default", &format!("w-{i}"))
                    .and_then(|d| d["spec"]["replicas"].as_i64())
                    == Some(replicas)
            })
            .then_some(())
    })
    .await;
}

/// Sets every policy's fallback floor, so that each owner writes its targets once.
async fn floor_all(emu: &Emulator, replicas: i32) {
    let resource = kube::discovery::ApiResource::erase::<prescaler::policy::ScalingPolicy>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(emu.client().await, "default", &resource);
    let patch = json!({"spec": {"fallback": {"type": "Replicas", "replicas": replicas}}});
    for i in 0..POLICIES {
        api.patch(&name(i), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch the policy");
    }
}

/// Each writing process wrote exactly the policies its shard owns: no overlap, no gap.
fn assert_partition(wrote: &[(Shard, BTreeSet<String>)], count: u32, when: &str) {
    let mut seen = BTreeSet::new();
    for (shard, policies) in wrote {
        if policies.is_empty() {
            continue;
        }
        assert_eq!(
            shard.count, count,
            "{when}: a shard of {} wrote",
            shard.count
        );
        assert_eq!(
            *policies,
            owned(*shard),
            "{when}: shard {shard} wrote another's policies"
        );
        for p in policies {
            assert!(seen.insert(p.clone()), "{when}: {p} had two writers");
        }
    }
    assert_eq!(seen.len(), POLICIES, "{when}: some policy had no writer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_fleet_fail_over_alone_and_change_count_without_a_double_write() {
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    for i in 0..POLICIES {
        seed_deployment(&emu, &format!("w-{i}"), 2);
        // Prometheus is unreachable on purpose: the fallback floor is each decision, and
        // changing it makes every owner write once.
        let mut p = policy(
            &name(i),
            &format!("w-{i}"),
            "Auto",
            "sum(rate(x[1m]))",
            10.0,
        );
        p["spec"]["fallback"] = json!({"type": "Replicas", "replicas": 4});
        p["spec"]["syncPeriod"] = json!("30s");
        seed_policy(&emu, p);
    }
    let of3 = |index| Shard { index, count: 3 };
    let s0a = member(&emu, "s0-a", of3(0)).await;
    let s0b = member(&emu, "s0-b", of3(0)).await;
    let s1 = member(&emu, "s1", of3(1)).await;
    let mut s2 = member(&emu, "s2", of3(2)).await;

    // 1. Three shards split the 300 policies.
    all_at(&emu, 4, "every target at its floor of 4").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(scale_patches(&emu), POLICIES, "each target written once");
    let old = [&s0a, &s0b, &s1, &s2];
    assert_partition(&since(&old, &BTreeMap::new()), 3, "three shards");
    let sizes: Vec<usize> = (0..3).map(|i| owned(of3(i)).len()).collect();
    assert!(
        sizes.iter().all(|n| (70..=130).contains(n)),
        "uneven split {sizes:?}"
    );

    // 2. Shard 0's leader dies without releasing: its standby takes over its policies and
    // only those; the other shards go on writing theirs.
    let leader = holder(&emu, "prescaler-shard-0-of-3").expect("shard 0 has a leader");
    let (mut dead, standby) = if leader == "s0-a" {
        (s0a, s0b)
    } else {
        (s0b, s0a)
    };
    dead.op.kill();
    let live = [&standby, &s1, &s2];
    let before = snapshot(&live);
    floor_all(&emu, 6).await;
    all_at(
        &emu,
        6,
        "every target at the new floor of 6, shard 0's by the standby",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(scale_patches(&emu), 2 * POLICIES, "no write twice");
    let wrote = since(&live, &before);
    assert_eq!(wrote[0].1, owned(of3(0)), "the standby took shard 0 alone");
    assert_partition(&wrote, 3, "after the failover");
    assert_eq!(
        holder(&emu, "prescaler-shard-0-of-3").as_deref(),
        Some(standby.identity)
    );

    // 3. Four shards start while the three still run: the older Leases keep their
    // policies, and the new count writes nothing.
    let of4 = |index| Shard { index, count: 4 };
    let new = [
        member(&emu, "n0", of4(0)).await,
        member(&emu, "n1", of4(1)).await,
        member(&emu, "n2", of4(2)).await,
        member(&emu, "n3", of4(3)).await,
    ];
    eventually(LIMIT, "the four new Leases held", || async {
        (0..4)
            .all(|i| holder(&emu, &format!("prescaler-shard-{i}-of-4")).is_some())
            .then_some(())
    })
    .await;
    // Past the guard's first renew period and a Lease list.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let everyone: Vec<&Member> = live.iter().copied().chain(new.iter()).collect();
    let before = snapshot(&everyone);
    floor_all(&emu, 8).await;
    all_at(&emu, 8, "every target at 8 while both counts run").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        scale_patches(&emu),
        3 * POLICIES,
        "no write twice while both counts run"
    );
    assert_partition(&since(&everyone, &before), 3, "both counts running");

    // 4. A change lands as the old count shuts down: every target is still written once.
    floor_all(&emu, 10).await;
    let mut standby = standby;
    let mut s1 = s1;
    for m in [&mut standby, &mut s1, &mut s2] {
        assert!(m.op.terminate(), "{} exits cleanly on SIGTERM", m.identity);
    }
    all_at(&emu, 10, "every target at 10 across the handover").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        scale_patches(&emu),
        4 * POLICIES,
        "no write twice across the handover"
    );

    // 5. The four shards now own the fleet between them.
    let four: Vec<&Member> = new.iter().collect();
    let before = snapshot(&four);
    floor_all(&emu, 12).await;
    all_at(&emu, 12, "every target at 12 by the four shards").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        scale_patches(&emu),
        5 * POLICIES,
        "each target written once"
    );
    assert_partition(&since(&four, &before), 4, "four shards");
}
