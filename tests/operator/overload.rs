//! An operator that cannot keep up: every policy is still served, in turn, and the backlog
//! shows on /metrics. The overload is made real, not mocked: a proxy in front of a real
//! Prometheus holds every query for a second, and one worker reconciles (`--concurrency
//! 1`) a dozen policies that each ask for a reconcile every second.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::kube_api::Emulator;
use crate::support::operator::{Operator, install_crd, policy, seed_deployment, seed_policy};
use crate::support::prometheus::{PrometheusServer, RecordingProxy, Series};

/// Monday 1995-07-10 12:00 UTC in the NASA trace becomes "now".
const AT: i64 = 805_377_600;

/// Full reconciles (the metrics read) per policy in the operator's log.
fn full_reconciles(log: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in log
        .lines()
        .filter(|l| l.contains("reconciled") && l.contains("full=true"))
    {
        if let Some(at) = line.find("policy=") {
            let name: String = line[at + "policy=".len()..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            *counts.entry(name).or_default() += 1;
        }
    }
    counts
}

fn queue_depth(port: u16) -> Option<f64> {
    let (_, text) = crate::support::prometheus::http_get(port, "/metrics")?;
    text.lines()
        .find(|l| l.starts_with("prescaler_reconcile_queue_depth "))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_operator_serves_every_policy_in_turn_and_shows_its_backlog() {
    let series = Series::constant(
        "http_requests_total",
        &[("job", "web")],
        &crate::forecast::nasa(),
        AT,
        4.0,
    )
    .history(3_600);
    let prometheus = PrometheusServer::start(vec![series]);
    prometheus.wait_until_scraped();
    let proxy = RecordingProxy::start(&prometheus.url());
    proxy.set_latency(Duration::from_secs(1));
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    let names: Vec<String> = (0..12).map(|i| format!("busy-{i:02}")).collect();
    for name in &names {
        seed_deployment(&emu, name, 2);
        seed_policy(
            &emu,
            policy(
                name,
                name,
                "Auto",
                r#"sum(http_requests_total{job="web"})"#,
                1.0,
            ),
        );
    }
    // A reconcile every second for each of 12 policies, by one worker whose reconciles
    // wait a second on Prometheus whenever they read it.
    let op = Operator::start(
        &emu,
        &proxy.url(),
        "overloaded",
        &["--leader-elect=false", "--concurrency", "1"],
    );
    let port = op.telemetry_port(Duration::from_secs(30)).await;
    let started = Instant::now();
    let mut deepest = 0.0_f64;
    while started.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        deepest = deepest.max(queue_depth(port).unwrap_or(0.0));
    }
    let counts = full_reconciles(&op.logs());
    let total: usize = counts.values().sum();
    eprintln!("full reconciles {counts:?} ({total}); deepest backlog {deepest}");
    // 12 policies for 40 s at 1 s ask for 480 reconciles.
    assert!(
        deepest >= 3.0,
        "prescaler_reconcile_queue_depth shows the backlog: deepest {deepest}, {total} reconciles made"
    );
    for name in &names {
        let n = counts.get(name).copied().unwrap_or(0);
        assert!(
            n >= 3,
            "{name} was reconciled {n} times while the fleet got {total}: {counts:?}"
        );
    }
    let (least, most) = (
        counts.values().min().copied().unwrap_or(0),
        counts.values().max().copied().unwrap_or(0),
    );
    assert!(
        most <= 3 * least.max(1),
        "served in turn, not some policies first: {counts:?}"
    );
}
