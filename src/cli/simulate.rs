//! `prescaler simulate`: replay a trace (or a workload's Prometheus history) through the
//! policy and its baselines, and print the equal-cost comparison.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{parse_quantile, parse_unix_seconds, sources, with_progress};
use crate::metrics::PrometheusArgs;
use crate::policy::duration::{parse_positive_seconds, parse_seconds, parse_text};
use crate::policy::{self, Duration};
use crate::sim;
use crate::sim::run::{SimConfig, StrategyRun, Verdict};
use crate::sim::trace::Trace;

/// `prescaler simulate --json`.
#[derive(Serialize)]
struct SimulateJson<'a> {
    trace: &'a str,
    step_s: u64,
    capacity_per_pod: f64,
    startup_s: u64,
    strategies: &'a [StrategyRun],
    equal_cost: Option<Verdict>,
}

/// The trace `simulate` replays by default.
pub const DEFAULT_TRACE: &str = "examples/traces/nasa_http_jul1995_1min.csv";
/// The policy `simulate` uses by default.
pub const DEFAULT_POLICY: &str = "examples/web-requestrate.yaml";
/// A peak this many times the 99th percentile is taken for an outlier (the bundled traces'
/// peaks are within a few times theirs).
const OUTLIER_RATIO: f64 = 20.0;
/// The default policy's text, used when [`DEFAULT_POLICY`] is not there to read.
const DEFAULT_POLICY_YAML: &str = include_str!("../../examples/web-requestrate.yaml");

/// Options of `prescaler simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Trace file (`timestamp,value` CSV, value per interval). Ignored with --prometheus.
    #[arg(long, default_value = DEFAULT_TRACE, env = "PRESCALER_TRACE")]
    pub trace: PathBuf,
    /// Replay the workload's own recent history instead of a trace file: read --query from
    /// this Prometheus (the other --prometheus-* flags apply as for `run`).
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// With --prometheus: PromQL returning the workload's load in requests per second, one
    /// series, e.g. `sum(rate(http_requests_total{job="web"}[2m]))`.
    #[arg(
        long,
        value_name = "PROMQL",
        requires = "prometheus",
        env = "PRESCALER_QUERY"
    )]
    pub query: Option<String>,
    /// With --prometheus: how much history to read, ending now.
    #[arg(long, default_value = "14d", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_HISTORY")]
    pub history: u64,
    /// With --prometheus: resolution of the history read.
    #[arg(long, default_value = "1m", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_STEP")]
    pub step: u64,
    /// ScalingPolicy YAML; its first RequestRate or PromQL metric stands for the trace.
    #[arg(long, default_value = DEFAULT_POLICY, env = "PRESCALER_POLICY")]
    pub policy: PathBuf,
    /// Requests per second one Ready pod serves. Default: the trace's peak needs 20 pods.
    #[arg(
        long,
        env = "PRESCALER_CAPACITY_PER_POD",
        conflicts_with = "p95_pods",
        allow_negative_numbers = true
    )]
    pub capacity_per_pod: Option<f64>,
    /// Instead of --capacity-per-pod: choose the capacity so that the trace's
    /// 95th-percentile load needs this many pods.
    #[arg(long, env = "PRESCALER_P95_PODS", allow_negative_numbers = true)]
    pub p95_pods: Option<f64>,
    /// Time from requesting a pod to it being Ready.
    #[arg(long, default_value = "2m", allow_hyphen_values = true, value_parser = parse_seconds, env = "PRESCALER_STARTUP")]
    pub startup: u64,
    /// Time between decisions.
    #[arg(long, default_value = "15s", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_SYNC")]
    pub sync: u64,
    /// Per-replica target as a fraction of a pod's capacity (HPA users typically aim at 0.8).
    #[arg(long, default_value_t = 0.8, value_parser = parse_quantile, env = "PRESCALER_TARGET_UTILIZATION", allow_negative_numbers = true)]
    pub target_utilization: f64,
    /// Start of the simulated range, Unix seconds (default: once the policy's history is available).
    #[arg(long, env = "PRESCALER_FROM", value_parser = parse_unix_seconds, allow_negative_numbers = true)]
    pub from: Option<i64>,
    /// End of the simulated range, Unix seconds (default: the trace's end).
    #[arg(long, env = "PRESCALER_TO", value_parser = parse_unix_seconds, allow_negative_numbers = true)]
    pub to: Option<i64>,
    /// Where to write the SVG plot [default: simulate.svg, or none with --json].
    #[arg(long, env = "PRESCALER_SVG")]
    pub svg: Option<PathBuf>,
    /// Override the policy's `forecast.leadTime` (e.g. to try the real pod start-up time).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_text, env = "PRESCALER_LEAD_TIME")]
    pub lead_time: Option<Duration>,
    /// Override the policy's `forecast.quantile`.
    #[arg(long, value_parser = parse_quantile, env = "PRESCALER_QUANTILE", allow_negative_numbers = true)]
    pub quantile: Option<f64>,
    /// Override the policy's `forecast.headroom` (percent).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=1000), env = "PRESCALER_HEADROOM", allow_negative_numbers = true)]
    pub headroom: Option<i32>,
    /// Sweep the HPA's target and prescaler's quantile instead, and draw both
    /// cost-against-shortfall curves (to --svg, default frontier.svg) with the perfect
    /// forecast and the oracle as points.
    #[arg(long, env = "PRESCALER_FRONTIER")]
    pub frontier: bool,
    /// Print JSON instead of a table (no plot is written unless --svg is given explicitly).
    #[arg(long, env = "PRESCALER_JSON")]
    pub json: bool,
}

/// Runs `prescaler simulate`.
pub fn run(args: &SimulateArgs) -> crate::Result<()> {
    let trace = match &args.prometheus.url {
        Some(_) => {
            let query = args.query.as_deref().ok_or_else(|| {
                crate::Error::Usage(
                    "--prometheus needs --query, e.g. --query 'sum(rate(http_requests_total{job=\"web\"}[2m]))'"
                        .to_string(),
                )
            })?;
            sources::trace_from_prometheus(&args.prometheus, query, args.history, args.step)?
        }
        None if args.trace.as_os_str() == DEFAULT_TRACE && !args.trace.exists() => {
            return Err(crate::Error::Usage(format!(
                "the default trace {DEFAULT_TRACE} is read from a checkout of prescaler; run from its root, or give --trace FILE (`timestamp,value` rows)"
            )));
        }
        None => Trace::load(&args.trace)?,
    };
    if let Some(warning) = trace.gap_warning() {
        eprintln!("{warning}");
    }
    if let Some(path) = &args.svg {
        sources::check_svg_path(path)?;
    }
    let path = || args.policy.clone();
    // The default policy is built in, so `simulate` works outside a checkout too.
    let builtin = (args.policy.as_os_str() == DEFAULT_POLICY).then_some(DEFAULT_POLICY_YAML);
    let policy = sources::read_policy(&args.policy, builtin)?;
    let mut policy = policy;
    let forecast = &mut policy.spec.forecast;
    // Auto learns how long new pods take to become Ready; the simulated ones take --startup.
    let learned = forecast.lead_time_mode == policy::LeadTimeMode::Auto && args.lead_time.is_none();
    if let Some(lead) = &args.lead_time {
        forecast.lead_time = lead.clone();
    } else if learned {
        forecast.lead_time = policy::Duration::new(format!("{}s", args.startup.max(1)));
    }
    if let Some(q) = args.quantile {
        forecast.quantile = q;
    }
    if let Some(h) = args.headroom {
        forecast.headroom = h;
    }
    policy::validate(&policy.spec).map_err(|source| crate::Error::PolicyInvalid {
        path: path(),
        source,
    })?;
    let (capacity, chosen) = match (args.capacity_per_pod, args.p95_pods) {
        (Some(c), _) if c > 0.0 && c.is_finite() => (c, String::new()),
        (Some(c), _) => {
            return Err(crate::Error::Usage(format!(
                "--capacity-per-pod must be > 0 (got {c})"
            )));
        }
        (None, Some(n)) if n > 0.0 && n.is_finite() => (
            sim::run::capacity_for_p95(&trace, n),
            format!(" (chosen so the trace's 95th-percentile load needs {n} pods)"),
        ),
        (None, Some(n)) => {
            return Err(crate::Error::Usage(format!(
                "--p95-pods must be > 0 (got {n})"
            )));
        }
        (None, None) => {
            if let Some(ratio) = sim::run::peak_over_p99(&trace).filter(|r| *r > OUTLIER_RATIO) {
                eprintln!(
                    "warning: the trace's peak is {ratio:.0}× its 99th percentile, so one outlier sets the capacity and the rest of the trace barely needs a pod; check that row, or set --p95-pods or --capacity-per-pod"
                );
            }
            (
                sim::run::capacity_for_peak(&trace, 20.0),
                " (chosen so the trace's peak needs 20 pods; set --capacity-per-pod)".to_string(),
            )
        }
    };
    if !(capacity > 0.0 && capacity.is_finite()) {
        return Err(crate::Error::Usage(format!(
            "{}: the load is zero where the capacity is chosen from (its peak, or its 95th percentile with --p95-pods), so there is nothing to scale; use a trace with traffic, or set --capacity-per-pod",
            trace.name
        )));
    }
    let config = SimConfig {
        capacity_per_pod: capacity,
        startup: args.startup,
        sync: args.sync,
        target_utilization: args.target_utilization,
        from: args.from,
        to: args.to,
    };
    if args.frontier {
        return run_frontier(args, &trace, &policy.spec, &config);
    }
    let report = with_progress(|progress| sim::run::run(&trace, &policy.spec, &config, progress))?;
    let mut out = std::io::stdout().lock();
    let verdict = sim::run::Verdict::of(&report);
    if args.json {
        let json = SimulateJson {
            trace: &report.trace,
            step_s: report.step_s,
            capacity_per_pod: report.capacity_per_pod,
            startup_s: report.startup_s,
            strategies: &report.runs,
            equal_cost: verdict,
        };
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
        if let Some(path) = &args.svg {
            sim::svg::write(&report, path).map_err(sources::plot_error(path))?;
        }
        return Ok(());
    }
    let f = &policy.spec.forecast;
    writeln!(
        out,
        "trace {} · policy {} · {:.1} days simulated, a decision every {}s",
        report.trace,
        args.policy.display(),
        report.load.len() as f64 * report.step_s as f64 / 86_400.0,
        report.step_s
    )?;
    writeln!(
        out,
        "capacity {:.3} req/s per pod{} · target {:.3} req/s per replica ({:.0}%) · pods Ready {}s after they are requested",
        report.capacity_per_pod,
        chosen,
        report.target,
        100.0 * args.target_utilization,
        report.startup_s
    )?;
    writeln!(
        out,
        "forecast: leadTime {}{} · quantile {} · headroom {}% · history {} · replicas {}–{}",
        f.lead_time,
        if learned {
            " (leadTimeMode Auto: the simulated pods' start-up)"
        } else {
            ""
        },
        f.quantile,
        f.headroom,
        f.history,
        policy.spec.min_replicas,
        policy.spec.max_replicas
    )?;
    if let Ok(lead) = f.lead_time.seconds()
        && args.startup > lead
    {
        writeln!(
            out,
            "warning: pods take {}s to become Ready but leadTime is {lead}s, so forecast capacity arrives late; set --lead-time (or spec.forecast.leadTime) to at least --startup",
            args.startup
        )?;
    }
    writeln!(out)?;
    write_table(&mut out, &report.runs)?;
    if let Some(outcomes) = report
        .run("prescaler")
        .and_then(|r| r.forecast_outcomes.as_ref())
    {
        let share = |k: &str| 100.0 * outcomes.get(k).copied().unwrap_or(0.0);
        let others: Vec<String> = outcomes
            .iter()
            .filter(|(k, _)| **k != "used")
            .map(|(k, v)| format!("{k} {:.0} %", 100.0 * v))
            .collect();
        let why = if others.is_empty() {
            String::new()
        } else {
            format!("; reactive only: {}", others.join(", "))
        };
        writeln!(
            out,
            "\nprescaler used its forecast in {:.0} % of decisions{why}",
            share("used")
        )?;
    }
    if let Some(verdict) = verdict {
        writeln!(out, "{verdict}")?;
    }
    let path = args
        .svg
        .clone()
        .unwrap_or_else(|| PathBuf::from("simulate.svg"));
    sim::svg::write(&report, &path).map_err(sources::plot_error(&path))?;
    writeln!(out, "\nplot: {}", path.display())?;
    Ok(())
}

fn run_frontier(
    args: &SimulateArgs,
    trace: &Trace,
    spec: &policy::ScalingPolicySpec,
    config: &SimConfig,
) -> crate::Result<()> {
    let frontier = with_progress(|progress| sim::frontier::run(trace, spec, config, progress))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&frontier)?)?;
        if let Some(path) = &args.svg {
            sim::frontier::write_svg(&frontier, path).map_err(sources::plot_error(path))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "trace {} · policy {} · capacity {:.3} req/s per pod · pods Ready {}s after they are requested",
        frontier.trace,
        args.policy.display(),
        config.capacity_per_pod,
        config.startup
    )?;
    writeln!(out)?;
    let mut runs: Vec<sim::run::StrategyRun> = frontier.hpa.clone();
    runs.extend(frontier.prescaler.iter().cloned());
    runs.push(frontier.perfect.clone());
    runs.push(frontier.oracle.clone());
    write_table(&mut out, &runs)?;
    writeln!(out, "\nat equal pod-hours, prescaler ÷ the HPA curve:")?;
    writeln!(
        out,
        "{:>9}{:>11}{:>22}{:>22}",
        "quantile", "pod-hours", "under-prov minutes", "unserved requests"
    )?;
    for e in &frontier.equal_cost {
        let ours = frontier
            .prescaler
            .iter()
            .find(|r| r.quantile == Some(e.quantile))
            .map(|r| &r.score);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.0} %", 100.0 * a / b),
            (Some(_), Some(_)) => "HPA has none".to_string(),
            _ => "outside the HPA sweep".to_string(),
        };
        writeln!(
            out,
            "{:>9}{:>11.1}{:>22}{:>22}",
            e.quantile,
            e.pod_hours,
            ratio(
                ours.map(|s| s.under_provisioned_minutes),
                e.hpa_under_provisioned_minutes
            ),
            ratio(ours.map(|s| s.unserved_fraction), e.hpa_unserved_fraction)
        )?;
    }
    let path = args
        .svg
        .clone()
        .unwrap_or_else(|| PathBuf::from("frontier.svg"));
    sim::frontier::write_svg(&frontier, &path).map_err(sources::plot_error(&path))?;
    writeln!(out, "\nplot: {}", path.display())?;
    Ok(())
}

fn write_table(out: &mut impl Write, runs: &[sim::run::StrategyRun]) -> std::io::Result<()> {
    let oracle_pod_hours = runs
        .iter()
        .find(|r| r.name == "oracle")
        .map_or(0.0, |r| r.score.pod_hours);
    writeln!(
        out,
        "{:<18}{:>14}{:>12}{:>11}{:>10}{:>9}{:>10}  setting",
        "strategy", "under-prov min", "unserved %", "pod-hours", "÷ oracle", "actions", "mean util",
    )?;
    for r in runs {
        let s = &r.score;
        let target = match (r.target_utilization, r.quantile) {
            (Some(u), _) => format!("target {u:.3}"),
            (None, Some(q)) => format!("quantile {q}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:<18}{:>14.1}{:>12.4}{:>11.1}{:>10.3}{:>9}{:>10.3}  {}",
            r.name,
            s.under_provisioned_minutes,
            100.0 * s.unserved_fraction,
            s.pod_hours,
            s.pod_hours / oracle_pod_hours.max(1e-9),
            s.scale_actions,
            s.mean_utilization,
            target
        )?;
    }
    Ok(())
}
