//! What the operator itself costs: the real `prescaler run` binary reconciling N
//! ScalingPolicies (each on its own Deployment, all on one RequestRate query) against the
//! API emulator and a real Prometheus loaded with two days of the NASA trace, a recording
//! proxy in between counting range queries. Measured from outside the process: resident
//! memory (`VmRSS`), CPU time (`utime + stime`), full reconciles (each reads the target's
//! `/scale` once) and Prometheus range queries.
//!
//! Three runs side by side: 100 and 1,000 policies scaling reactively (their `minHistory`
//! of 7 days is more than the 2 days Prometheus holds, as for a workload younger than a
//! week), and a smaller set with forecasts on (`minHistory` 1 day), where the first
//! reconcile of each policy also chooses its forecast model.
//!
//! `cargo test --release --test operator -- --ignored --nocapture measure_operator_cost`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::kube_api::Emulator;
use crate::support::operator::{
    Operator, deployment_replicas, install_crd, policy, seed_deployment, seed_policy,
};
use crate::support::prometheus::{PrometheusServer, RecordingProxy, Series, TraceRate};

const DAY: u64 = 86_400;
/// Monday 1995-07-10 12:00 UTC in the NASA trace becomes "now".
const AT: i64 = 805_377_600;
/// Requests per second one replica carries.
const PER_REPLICA: f64 = 0.1;
/// The policies' sync period (the operator's default).
const SYNC_S: u64 = 15;
/// How long the steady state is sampled: four sync periods.
const WINDOW: Duration = Duration::from_secs(4 * SYNC_S);
const RANGE: &str = "/api/v1/query_range";

fn nasa() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces/nasa_http_jul1995_1min.csv")
}

/// The policy as the emulator stores it.
fn stored(emu: &Emulator, name: &str) -> Option<Value> {
    emu.object(
        "autoscaling.prescaler.io",
        "scalingpolicies",
        "default",
        name,
    )
}

/// The process's (resident bytes, CPU seconds in user and kernel mode).
fn sample_proc(pid: u32, ticks_per_s: f64) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which may hold spaces): state is the first, utime the
    // twelfth and stime the thirteenth.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    (rss_kb * 1024, ticks as f64 / ticks_per_s)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// What one run measured.
#[derive(Debug)]
struct Cost {
    label: &'static str,
    policies: usize,
    /// Start to every policy having a status.
    first_wall_s: f64,
    /// CPU seconds over that phase, less the later reconciles that fell in it.
    first_cpu_per_policy_ms: f64,
    first_queries_per_policy: f64,
    /// Median over sync-period bins of full reconciles per CPU second.
    reconciles_per_cpu_s: f64,
    /// Median CPU milliseconds per later reconcile.
    later_cpu_ms: f64,
    /// Range queries per policy per sync period, steady state.
    queries_per_policy_cycle: f64,
    /// API requests per later reconcile.
    api_per_reconcile: f64,
    /// Median resident memory over the window.
    rss: f64,
    /// Policies whose status shows a forecast in use.
    forecasting: usize,
}

async fn measure(
    prometheus: &PrometheusServer,
    label: &'static str,
    n: usize,
    forecasts: bool,
) -> Cost {
    let ticks = clock_ticks();
    let trace = TraceRate::load(&nasa());
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    let current = (trace.mean(AT - 120, AT) / PER_REPLICA).ceil() as i32;
    let query = r#"sum(rate(http_requests_total{job="web"}[2m]))"#;
    let names: Vec<String> = (0..n).map(|i| format!("web-{i:04}")).collect();
    for name in &names {
        seed_deployment(&emu, name, current);
        let mut p = policy(name, name, "Auto", query, PER_REPLICA);
        p["spec"]["syncPeriod"] = json!(format!("{SYNC_S}s"));
        p["spec"]["forecast"] = json!({
            "history": "7d", "step": "1m", "leadTime": "2m", "horizon": "10m",
            "minHistory": if forecasts { "1d" } else { "7d" }
        });
        seed_policy(&emu, p);
    }
    let proxy = RecordingProxy::start(&prometheus.url());
    // The harness passes `--sync-period 1s` (a repeated flag is an error); every policy
    // sets `spec.syncPeriod: 15s`, which takes precedence.
    let op = Operator::start(&emu, &proxy.url(), label, &["--leader-elect=false"]);
    let pid = op.pid().expect("running");
    let started = Instant::now();

    let has_status =
        |name: &str| stored(&emu, name).is_some_and(|p| p["status"]["conditions"].is_array());
    let deadline = started + Duration::from_secs(600);
    let mut pending: Vec<&String> = names.iter().collect();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} of {n} policies still without a status after 10 min",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        pending.retain(|name| !has_status(name));
    }
    let first_wall_s = started.elapsed().as_secs_f64();
    let (_, first_cpu) = sample_proc(pid, ticks);
    let first_reconciles = emu.count_requests("GET", "/scale");
    let first_queries = proxy.count(RANGE);
    assert!(first_reconciles >= n, "every policy read its target");

    // Steady state: one sample a second.
    let mut samples = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < WINDOW {
        let (rss, cpu) = sample_proc(pid, ticks);
        samples.push((
            t0.elapsed().as_secs_f64(),
            rss as f64,
            cpu,
            emu.count_requests("GET", "/scale"),
            proxy.count(RANGE),
            emu.count_requests("*", "/"),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (rss, cpu_end) = sample_proc(pid, ticks);
    samples.push((
        t0.elapsed().as_secs_f64(),
        rss as f64,
        cpu_end,
        emu.count_requests("GET", "/scale"),
        proxy.count(RANGE),
        emu.count_requests("*", "/"),
    ));
    // A policy's engine ran when its status names a model — whether the forecast then had
    // the skill to be used (predictedReplicas) or not (ForecastReliable=False NoSkill): the
    // cost is the same.
    let forecasting = names
        .iter()
        .filter(|name| stored(&emu, name).is_some_and(|p| p["status"]["model"].is_string()))
        .count();
    drop(op);

    // Per sync-period bins: reconciles, CPU, queries.
    let mut per_cpu_s = Vec::new();
    let mut cpu_ms = Vec::new();
    let mut bin_start = 0;
    for (i, s) in samples.iter().enumerate() {
        if s.0 - samples[bin_start].0 >= SYNC_S as f64 - 0.5 {
            let a = &samples[bin_start];
            let reconciles = (s.3 - a.3) as f64;
            let cpu = s.2 - a.2;
            if reconciles > 0.0 && cpu > 0.0 {
                per_cpu_s.push(reconciles / cpu);
                cpu_ms.push(cpu * 1000.0 / reconciles);
            }
            bin_start = i;
        }
    }
    let (a, b) = (&samples[0], &samples[samples.len() - 1]);
    let reconciles = (b.3 - a.3) as f64;
    let queries = (b.4 - a.4) as f64;
    let api = (b.5 - a.5) as f64;
    let cycles = (b.0 - a.0) / SYNC_S as f64;
    assert!(reconciles > 0.0, "no reconcile in the window");
    let later_cpu_ms = median(cpu_ms);
    // The later reconciles that happened before every policy had its first.
    let early_later = first_reconciles.saturating_sub(n) as f64;
    let first_cpu_ms = first_cpu * 1000.0 - early_later * later_cpu_ms;
    Cost {
        label,
        policies: n,
        first_wall_s,
        first_cpu_per_policy_ms: first_cpu_ms / n as f64,
        first_queries_per_policy: (first_queries as f64 - early_later * queries / reconciles)
            / n as f64,
        reconciles_per_cpu_s: median(per_cpu_s),
        later_cpu_ms,
        queries_per_policy_cycle: queries / (n as f64 * cycles),
        api_per_reconcile: api / reconciles,
        rss: median(samples.iter().map(|s| s.1).collect()),
        forecasting,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --release -- --ignored --nocapture"]
async fn measure_operator_cost() {
    let mut series =
        Series::new("http_requests_total", &[("job", "web")], &nasa(), AT).history(2 * DAY + 3600);
    series.sample_every = 60;
    let prometheus = PrometheusServer::start(vec![series]);
    prometheus.wait_until_scraped();

    let mut runs = Vec::new();
    for (label, n, forecasts) in [
        ("reactive", 100, false),
        ("reactive", 1000, false),
        ("forecast", 50, true),
    ] {
        let cost = measure(&prometheus, label, n, forecasts).await;
        eprintln!("{cost:?}");
        if forecasts {
            assert_eq!(
                cost.forecasting, n,
                "every policy runs its forecasting engine: {cost:?}"
            );
        } else {
            assert_eq!(cost.forecasting, 0, "no policy forecasts: {cost:?}");
        }
        runs.push(cost);
    }

    let mb = |b: f64| b / 1_048_576.0;
    println!(
        "\n| policies | scaling | first status after | CPU per first reconcile | range queries per first reconcile | later reconciles per CPU-second | CPU per later reconcile | range queries per policy per cycle | API requests per reconcile | RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for c in &runs {
        println!(
            "| {} | {} | {:.1} s | {:.1} ms | {:.2} | {:.0} | {:.2} ms | {:.2} | {:.2} | {:.1} MiB |",
            c.policies,
            c.label,
            c.first_wall_s,
            c.first_cpu_per_policy_ms,
            c.first_queries_per_policy,
            c.reconciles_per_cpu_s,
            c.later_cpu_ms,
            c.queries_per_policy_cycle,
            c.api_per_reconcile,
            mb(c.rss),
        );
    }
    let (small, large) = (&runs[0], &runs[1]);
    let per_policy = (large.rss - small.rss) / (large.policies - small.policies) as f64;
    let baseline = small.rss - per_policy * small.policies as f64;
    println!(
        "\nRSS per 1,000 policies: {:.1} MiB; baseline {:.1} MiB",
        mb(per_policy * 1000.0),
        mb(baseline),
    );
    assert!(per_policy > 0.0, "more policies take more memory: {runs:?}");
}

/// What one forecasting fleet measured.
#[derive(Debug)]
struct Fleet {
    policies: usize,
    /// The cold start was a restart on statuses that name their model (else a fresh fleet).
    restart: bool,
    /// Cold start to every policy's status naming its model.
    cold_s: f64,
    /// CPU seconds of that cold start, per policy.
    cold_cpu_ms: f64,
    /// Steady state: cores used (CPU seconds per second).
    cores: f64,
    /// Steady state: cores used by the standby, the emulator with this harness, and
    /// Prometheus (the machine has 2).
    others_cores: [f64; 3],
    /// Steady state: full reconciles per second (a fleet at its sync period needs
    /// policies ÷ syncPeriod), and CPU per full reconcile.
    reconciles_per_s: f64,
    cpu_ms_per_reconcile: f64,
    /// Median resident memory over the steady window.
    rss: f64,
    /// Reconcile latency without the wait for Prometheus, p50 and p99, ms.
    p50_ms: f64,
    p99_ms: f64,
    /// The same without the waits for the API server either: the operator's own time.
    own_ms: (f64, f64),
    /// Range queries and API requests per policy per sync period.
    queries_per_cycle: f64,
    api_per_cycle: f64,
    /// Status writes per policy per sync period.
    status_writes_per_cycle: f64,
    /// Scale-downs the leader wrote per policy per hour in the steady state: the load
    /// moves, and a scale-down the window allows is the plan working.
    steady_downs_per_hour: f64,
    /// The leader killed: seconds until the standby has run every policy's forecast.
    failover_s: f64,
    /// Scale-downs the standby wrote during that failover.
    failover_downs: u64,
    /// Of those, the ones below what the scale-down stabilization window held when the
    /// leader died (a recommendation in the last status still inside the window at the
    /// moment of the write): a lost memory, which must never happen.
    failover_early_downs: usize,
}

/// The replicas recommended within the last `window` seconds before `at`, from a policy's
/// status as stored: what a scale-down at `at` may not go below.
fn held_at(status: &Value, at: i64, window: i64) -> i64 {
    status["recommendations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            let time = r["time"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map_or(i64::MIN, |t| t.as_second());
            at - time < window
        })
        .filter_map(|r| r["replicas"].as_i64())
        .max()
        .unwrap_or(0)
}

/// Full reconciles in an operator's log: the policy, and the milliseconds it took without
/// the wait for Prometheus, and without that and the wait for the API server.
fn reconciles(log: &str) -> Vec<(String, f64, f64)> {
    let field = |line: &str, key: &str| -> Option<String> {
        let at = line.find(key)? + key.len();
        Some(
            line[at..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect::<String>()
                .trim_matches('"')
                .to_string(),
        )
    };
    log.lines()
        .filter(|l| l.contains("reconciled") && l.contains("took_us="))
        .filter_map(|l| {
            let took: f64 = field(l, "took_us=")?.parse().ok()?;
            let waited: f64 = field(l, "prometheus_us=")?.parse().ok()?;
            let api: f64 = field(l, "api_us=")?.parse().ok()?;
            // Only full reconciles (metrics read from Prometheus or the cache, the
            // forecast run): a standby's and a too-soon one return at once.
            (field(l, "full=")? == "true").then(|| {
                (
                    field(l, "policy=").unwrap_or_default(),
                    (took - waited) / 1000.0,
                    (took - waited - api) / 1000.0,
                )
            })
        })
        .collect()
}

/// The whole lines of the file at `path` from byte `offset` on; moves `offset` past them.
fn read_log_from(path: &Path, offset: &mut u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path)
        && file.seek(SeekFrom::Start(*offset)).is_ok()
    {
        let _ = file.read_to_string(&mut text);
    }
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    text.truncate(whole);
    *offset += whole as u64;
    text
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

fn down_writes(port: u16) -> u64 {
    let (_, text) = crate::support::prometheus::http_get(port, "/metrics").expect("/metrics");
    text.lines()
        .filter(|l| {
            l.starts_with("prescaler_scale_writes_total{") && l.contains("direction=\"down\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn fleet(prometheus: &PrometheusServer, n: usize, restart: bool) -> Fleet {
    use crate::support::operator::elect;
    let ticks = clock_ticks();
    let trace = TraceRate::load(&nasa());
    let emu = Emulator::start().await;
    install_crd(&emu).await;
    let current = (trace.mean(AT - 120, AT) / PER_REPLICA).ceil() as i32;
    let query = r#"sum(rate(http_requests_total{job="web"}[2m]))"#;
    let names: Vec<String> = (0..n).map(|i| format!("web-{i:05}")).collect();
    let fleet_policy = |name: &str| {
        let mut p = policy(name, name, "Auto", query, PER_REPLICA);
        p["spec"]["syncPeriod"] = json!(format!("{SYNC_S}s"));
        p["spec"]["forecast"] = json!({
            "history": "7d", "step": "1m", "leadTime": "2m", "horizon": "10m", "minHistory": "1d"
        });
        p
    };
    // The operator restarted on a fleet that forecasts already: each status keeps the
    // choice an earlier leader made. Every policy reads the same series, so one operator
    // choosing for the first policy gives every status its choice.
    let mut kept = None;
    if restart {
        seed_deployment(&emu, &names[0], current);
        seed_policy(&emu, fleet_policy(&names[0]));
        let mut earlier = Operator::start(&emu, &prometheus.url(), "fleet-earlier", &[]);
        let started = Instant::now();
        let metric = loop {
            let status = stored(&emu, &names[0]).map(|p| p["status"]["metrics"][0].clone());
            if let Some(m) = status.filter(|m| m["choice"].is_string()) {
                break m;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "no choice kept"
            );
            // Asleep on the async runtime, which serves the emulator this operator reads.
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        earlier.terminate();
        kept = Some(json!({"metrics": [{
            "name": metric["name"], "model": metric["model"],
            "backtestError": metric["backtestError"], "choice": metric["choice"]
        }]}));
    }
    for name in names.iter().skip(usize::from(restart)) {
        seed_deployment(&emu, name, current);
        let mut p = fleet_policy(name);
        if let Some(status) = &kept {
            p["status"] = status.clone();
        }
        seed_policy(&emu, p);
    }
    let proxy = RecordingProxy::start(&prometheus.url());
    // `PRESCALER_FLEET_CONCURRENCY=N` runs both replicas with `--concurrency N`.
    let concurrency = std::env::var("PRESCALER_FLEET_CONCURRENCY").ok();
    let flags = |identity: &'static str| {
        let mut flags: Vec<&str> = elect(identity);
        if let Some(c) = &concurrency {
            flags.extend(["--concurrency", c.as_str()]);
        }
        flags
    };
    let leader = Operator::start(&emu, &proxy.url(), "fleet-a", &flags("fleet-a"));
    let pid = leader.pid().expect("running");
    let started = Instant::now();
    // A reconcile that read the metrics ran the policy's forecast, and its status then names
    // the model. Read from the operator's log as it grows: looking up 10,000 policies in the
    // emulator, which shares the machine with the operator, would slow what is measured.
    let mut seen = std::collections::BTreeSet::new();
    let mut read_to = 0;
    while seen.len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "{} of {n} policies without a forecast after an hour",
            n - seen.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (policy, _, _) in reconciles(&read_log_from(&leader.log, &mut read_to)) {
            seen.insert(policy);
        }
    }
    let cold_s = started.elapsed().as_secs_f64();
    let (_, cold_cpu) = sample_proc(pid, ticks);
    let forecasting = tokio::task::block_in_place(|| {
        names
            .iter()
            .filter(|name| stored(&emu, name).is_some_and(|p| p["status"]["model"].is_string()))
            .count()
    });
    assert_eq!(forecasting, n, "every status names its model");
    // The standby starts once the leader is warm, as after a rollout.
    let standby = Operator::start(&emu, &proxy.url(), "fleet-b", &flags("fleet-b"));
    let standby_port = standby.telemetry_port(Duration::from_secs(60)).await;
    // Let the start-up burst settle for a sync period, then sample four.
    tokio::time::sleep(Duration::from_secs(SYNC_S)).await;
    let log_from = leader.logs().len();
    let leader_port = leader.telemetry_port(Duration::from_secs(60)).await;
    let downs0 = down_writes(leader_port);
    let (_, cpu0) = sample_proc(pid, ticks);
    let (q0, a0, s0) = (
        proxy.count(RANGE),
        emu.count_requests("*", "/"),
        emu.count_requests("PATCH", "/status"),
    );
    // The rest of the machine over the same window: the standby (watching), this process
    // (the emulator and the harness) and Prometheus.
    let others = || {
        let me = std::process::id();
        [
            standby.pid().expect("running"),
            me,
            prometheus.pid().expect("running"),
        ]
        .map(|p| sample_proc(p, ticks).1)
    };
    let others0 = others();
    let t0 = Instant::now();
    let mut rss = Vec::new();
    while t0.elapsed() < WINDOW {
        rss.push(sample_proc(pid, ticks).0 as f64);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (_, cpu1) = sample_proc(pid, ticks);
    let others1 = others();
    let wall = t0.elapsed().as_secs_f64();
    let others_cores = [0, 1, 2].map(|i| (others1[i] - others0[i]) / wall);
    let steady_downs_per_hour =
        (down_writes(leader_port) - downs0) as f64 * 3_600.0 / (wall * n as f64);
    let cycles = wall / SYNC_S as f64;
    let per_cycle = |d: usize| d as f64 / (n as f64 * cycles);
    let queries_per_cycle = per_cycle(proxy.count(RANGE) - q0);
    let api_per_cycle = per_cycle(emu.count_requests("*", "/") - a0);
    let status_writes_per_cycle = per_cycle(emu.count_requests("PATCH", "/status") - s0);
    let (latencies, own): (Vec<f64>, Vec<f64>) = reconciles(&leader.logs()[log_from..])
        .into_iter()
        .map(|(_, ms, own)| (ms, own))
        .unzip();
    let (p50_ms, p99_ms) = (
        percentile(latencies.clone(), 0.5),
        percentile(latencies.clone(), 0.99),
    );
    let own_ms = (percentile(own.clone(), 0.5), percentile(own, 0.99));

    // Failover: the leader dies without releasing its Lease. What it last stored, and
    // each target's replicas then.
    let downs_before = down_writes(standby_port);
    let mut leader = leader;
    leader.kill();
    let killed = Instant::now();
    // Looking up 10,000 objects takes a while: off the async workers, which serve the
    // emulator the standby talks to.
    let last: Vec<(Value, i64)> = tokio::task::block_in_place(|| {
        names
            .iter()
            .map(|name| {
                let status = stored(&emu, name).map_or(Value::Null, |p| p["status"].clone());
                (status, deployment_replicas(&emu, name))
            })
            .collect()
    });
    let mut replicas: Vec<i64> = last.iter().map(|(_, r)| *r).collect();
    // The scale-down stabilization window in force: the default 300 s, or 60 s while the
    // policy's forecast is reliable (each recommendation then covers the time a removed
    // pod needs to come back; `plan::scale_down_window`), as the new leader's status says.
    let down_window = |name: &str| {
        let reliable = stored(&emu, name).is_some_and(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "ForecastReliable" && c["status"] == "True")
            })
        });
        if reliable {
            i64::from(prescaler::plan::window::FORECAST_SCALE_DOWN_WINDOW_S)
        } else {
            300
        }
    };
    let mut early = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut read_to = std::fs::metadata(&standby.log).map_or(0, |m| m.len());
    // Every target is looked at every few seconds; a scale-down found is judged at the
    // previous look, the earliest it can have been made.
    let mut looked = (prescaler::controller::reconcile::unix_now(), Instant::now());
    let sweep = |since: i64, replicas: &mut Vec<i64>| {
        let mut early = 0;
        for (i, name) in names.iter().enumerate() {
            let r = deployment_replicas(&emu, name);
            if r < replicas[i] {
                let window = down_window(name);
                let held = held_at(&last[i].0, since, window);
                if r < held {
                    eprintln!(
                        "{name}: scaled down to {r} while its {window} s window held {held} ({})",
                        last[i].0["recommendations"]
                    );
                    early += 1;
                }
            }
            replicas[i] = r;
        }
        early
    };
    while seen.len() < n {
        assert!(
            killed.elapsed() < Duration::from_secs(3600),
            "{} of {n} policies not forecast by the standby after an hour",
            n - seen.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        if looked.1.elapsed() >= Duration::from_secs(5) {
            let since = looked.0;
            looked = (prescaler::controller::reconcile::unix_now(), Instant::now());
            early += tokio::task::block_in_place(|| sweep(since, &mut replicas));
        }
        // Only what the standby logged since the last look: its log grows by every
        // reconcile of every policy.
        let log = read_log_from(&standby.log, &mut read_to);
        for (policy, _, _) in reconciles(&log) {
            seen.insert(policy);
        }
    }
    let failover_s = killed.elapsed().as_secs_f64();
    early += tokio::task::block_in_place(|| sweep(looked.0, &mut replicas));
    let failover_downs = down_writes(standby_port) - downs_before;
    Fleet {
        policies: n,
        restart,
        cold_s,
        cold_cpu_ms: cold_cpu * 1000.0 / n as f64,
        cores: (cpu1 - cpu0) / wall,
        others_cores,
        reconciles_per_s: latencies.len() as f64 / wall,
        cpu_ms_per_reconcile: (cpu1 - cpu0) * 1000.0 / latencies.len().max(1) as f64,
        rss: median(rss),
        p50_ms,
        p99_ms,
        own_ms,
        queries_per_cycle,
        api_per_cycle,
        status_writes_per_cycle,
        steady_downs_per_hour,
        failover_s,
        failover_downs,
        failover_early_downs: early,
    }
}

/// Forecasting fleets of 100, 1,000 and 10,000 policies (`PRESCALER_FLEET` overrides, e.g.
/// `100,1000`) on one leader with a standby: the cold start, the steady state, and a
/// failover. All policies are forecasting (`minHistory` 1 day of the 2 Prometheus holds).
///
/// `cargo test --release --test operator -- --ignored --nocapture measure_fleet`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --release -- --ignored --nocapture"]
async fn measure_fleet() {
    let mut series =
        Series::new("http_requests_total", &[("job", "web")], &nasa(), AT).history(2 * DAY + 3600);
    series.sample_every = 60;
    let prometheus = PrometheusServer::start(vec![series]);
    prometheus.wait_until_scraped();
    let sizes: Vec<usize> = std::env::var("PRESCALER_FLEET")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1_000, 10_000]);
    // `PRESCALER_FLEET_RESTART=1`: the cold start is a restart on a fleet whose statuses
    // name their models, as after an upgrade, instead of a fresh install.
    let restart = std::env::var("PRESCALER_FLEET_RESTART").is_ok_and(|v| v == "1");
    let mut runs = Vec::new();
    for n in sizes {
        let run = fleet(&prometheus, n, restart).await;
        eprintln!("{run:?}");
        assert_eq!(
            run.failover_early_downs, 0,
            "no policy scaled down below what its stabilization window held: {run:?}"
        );
        runs.push(run);
    }
    let mb = |b: f64| b / 1_048_576.0;
    println!(
        "\n| forecasting policies | cold start | all forecasting after | CPU per cold first reconcile | steady cores | standby / emulator / Prometheus cores | reconciles per s (needed) | CPU per reconcile | cores at the full rate | RSS | reconcile p50 / p99 without Prometheus | … and without the API server | range queries per policy per cycle | API requests per policy per cycle | status writes per policy per cycle | steady scale-downs per policy-hour | failover: all forecasting after | scale-downs during failover (below the window's hold) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let needed = r.policies as f64 / SYNC_S as f64;
        println!(
            "| {} | {} | {:.1} s | {:.0} ms | {:.3} | {:.2} / {:.2} / {:.2} | {:.0} ({:.0}) | {:.2} ms | {:.2} | {:.0} MiB | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} s | {} ({}) |",
            r.policies,
            if r.restart { "restart" } else { "fresh" },
            r.cold_s,
            r.cold_cpu_ms,
            r.cores,
            r.others_cores[0],
            r.others_cores[1],
            r.others_cores[2],
            r.reconciles_per_s,
            needed,
            r.cpu_ms_per_reconcile,
            r.cpu_ms_per_reconcile * needed / 1000.0,
            mb(r.rss),
            r.p50_ms,
            r.p99_ms,
            r.own_ms.0,
            r.own_ms.1,
            r.queries_per_cycle,
            r.api_per_cycle,
            r.status_writes_per_cycle,
            r.steady_downs_per_hour,
            r.failover_s,
            r.failover_downs,
            r.failover_early_downs,
        );
    }
}
