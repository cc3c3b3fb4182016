//! The command line. `prescaler --help` is the reference; every flag can also be set from
//! the environment variable named in its help.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::forecast::ModelKind;
use crate::metrics::PrometheusArgs;
use crate::policy::{self, Duration};
use crate::sim;
use crate::sim::backtest::{self, BacktestConfig};
use crate::sim::run::SimConfig;
use crate::sim::trace::Trace;
use crate::telemetry::{self, LogFormat};

/// prescaler: scales Kubernetes workloads ahead of their traffic.
#[derive(Debug, Parser)]
#[command(name = "prescaler", version, about, long_about = None)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "PRESCALER_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
// Parsed once at start-up; boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator: watch ScalingPolicies and scale their targets ahead of the traffic.
    Run(RunArgs),
    /// Print the ScalingPolicy CustomResourceDefinition as YAML (`prescaler crd | kubectl apply -f -`).
    Crd,
    /// Replay a traffic trace through prescaler and its baselines (HPA, PHPA-style
    /// Holt-Winters, a perfect forecast, the oracle) and compare them.
    Simulate(SimulateArgs),
    /// Rolling-origin backtest of the forecasting models on a trace (`timestamp,value` CSV).
    Backtest(BacktestArgs),
}

/// Options of `prescaler run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Default Prometheus connection (a policy's `spec.prometheus` overrides the address).
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// kubeconfig file; without it, the in-cluster service account (or `$KUBECONFIG`).
    #[arg(long, value_name = "FILE", env = "PRESCALER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch ScalingPolicies in this namespace only (default: all namespaces).
    #[arg(long, value_name = "NAMESPACE", env = "PRESCALER_NAMESPACE")]
    pub namespace: Option<String>,
    /// Time between reconciles of a policy, unless its `spec.syncPeriod` says otherwise.
    #[arg(long, default_value = "15s", value_parser = parse_duration, env = "PRESCALER_SYNC_PERIOD")]
    pub sync_period: u64,
    /// Policies reconciled at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..), env = "PRESCALER_CONCURRENCY")]
    pub concurrency: u16,
    /// Elect a leader on a Lease so that only one of several replicas writes. Set
    /// `--leader-elect=false` when running a single replica.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", env = "PRESCALER_LEADER_ELECT")]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: the pod's own namespace, else `default`).
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "PRESCALER_LEADER_ELECTION_NAMESPACE"
    )]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(
        long,
        default_value = "prescaler",
        value_name = "NAME",
        env = "PRESCALER_LEADER_ELECTION_ID"
    )]
    pub leader_election_id: String,
    /// How long a leader holds the Lease without renewing it; a standby takes over after that.
    #[arg(long, default_value = "15s", value_parser = parse_duration, env = "PRESCALER_LEASE_DURATION")]
    pub lease_duration: u64,
    /// How often the leader renews the Lease and a standby tries to acquire it.
    #[arg(long, default_value = "2s", value_parser = parse_duration, env = "PRESCALER_LEASE_RENEW_PERIOD")]
    pub lease_renew_period: u64,
    /// This process's name in the Lease (default: `$POD_NAME`, else the host name and pid).
    #[arg(long, value_name = "NAME", env = "PRESCALER_IDENTITY")]
    pub identity: Option<String>,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        value_name = "ADDR",
        env = "PRESCALER_METRICS_ADDR"
    )]
    pub metrics_addr: std::net::SocketAddr,
}

/// The trace `simulate` replays by default.
pub const DEFAULT_TRACE: &str = "examples/traces/nasa_http_jul1995_1min.csv";
/// The policy `simulate` uses by default.
pub const DEFAULT_POLICY: &str = "examples/web-requestrate.yaml";

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
    #[arg(long, default_value = "14d", value_parser = parse_duration, env = "PRESCALER_HISTORY")]
    pub history: u64,
    /// With --prometheus: resolution of the history read.
    #[arg(long, default_value = "1m", value_parser = parse_duration, env = "PRESCALER_STEP")]
    pub step: u64,
    /// ScalingPolicy YAML; its first RequestRate or PromQL metric stands for the trace.
    #[arg(long, default_value = DEFAULT_POLICY, env = "PRESCALER_POLICY")]
    pub policy: PathBuf,
    /// Requests per second one Ready pod serves. Default: the trace's peak needs 20 pods.
    #[arg(long, env = "PRESCALER_CAPACITY_PER_POD", conflicts_with = "p95_pods")]
    pub capacity_per_pod: Option<f64>,
    /// Instead of --capacity-per-pod: choose the capacity so that the trace's
    /// 95th-percentile load needs this many pods.
    #[arg(long, env = "PRESCALER_P95_PODS")]
    pub p95_pods: Option<f64>,
    /// Time from requesting a pod to it being Ready.
    #[arg(long, default_value = "2m", value_parser = parse_duration, env = "PRESCALER_STARTUP")]
    pub startup: u64,
    /// Time between decisions.
    #[arg(long, default_value = "15s", value_parser = parse_duration, env = "PRESCALER_SYNC")]
    pub sync: u64,
    /// Per-replica target as a fraction of a pod's capacity (HPA users typically aim at 0.8).
    #[arg(long, default_value_t = 0.8, value_parser = parse_quantile, env = "PRESCALER_TARGET_UTILIZATION")]
    pub target_utilization: f64,
    /// Start of the simulated range, Unix seconds (default: once the policy's history is available).
    #[arg(long, env = "PRESCALER_FROM")]
    pub from: Option<i64>,
    /// End of the simulated range, Unix seconds (default: the trace's end).
    #[arg(long, env = "PRESCALER_TO")]
    pub to: Option<i64>,
    /// Where to write the SVG plot [default: simulate.svg, or none with --json].
    #[arg(long, env = "PRESCALER_SVG")]
    pub svg: Option<PathBuf>,
    /// Override the policy's `forecast.leadTime` (e.g. to try the real pod start-up time).
    #[arg(long, value_parser = parse_duration_text, env = "PRESCALER_LEAD_TIME")]
    pub lead_time: Option<Duration>,
    /// Override the policy's `forecast.quantile`.
    #[arg(long, value_parser = parse_quantile, env = "PRESCALER_QUANTILE")]
    pub quantile: Option<f64>,
    /// Override the policy's `forecast.headroom` (percent).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=1000), env = "PRESCALER_HEADROOM")]
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

/// Options of `prescaler backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Trace file: CSV with a `timestamp,value` header, one row per interval.
    #[arg(long, env = "PRESCALER_TRACE")]
    pub trace: PathBuf,
    /// Length of the scored planning window after the lead time.
    #[arg(long, default_value = "15m", value_parser = parse_duration, env = "PRESCALER_HORIZON")]
    pub horizon: u64,
    /// Time between a forecast and the start of the scored window (pod start-up time).
    #[arg(long, default_value = "2m", value_parser = parse_duration, env = "PRESCALER_LEAD")]
    pub lead: u64,
    /// History each forecast may use.
    #[arg(long, default_value = "7d", value_parser = parse_duration, env = "PRESCALER_HISTORY")]
    pub history: u64,
    /// Quantile scored by pinball loss and coverage.
    #[arg(long, default_value_t = 0.9, value_parser = parse_quantile, env = "PRESCALER_QUANTILE")]
    pub quantile: f64,
    /// Time between rolling origins.
    #[arg(long, default_value = "1h", value_parser = parse_duration, env = "PRESCALER_ORIGIN_EVERY")]
    pub origin_every: u64,
    /// Models to compare, comma-separated: auto, seasonal-naive, holt-winters, ets, mstl, linear, phpa.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "auto,seasonal-naive,holt-winters,ets,mstl,linear,phpa",
        value_parser = parse_model,
        env = "PRESCALER_MODELS"
    )]
    pub models: Vec<ModelChoice>,
    /// Print JSON instead of a table.
    #[arg(long, env = "PRESCALER_JSON")]
    pub json: bool,
}

/// `auto` or one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelChoice(pub Option<ModelKind>);

fn parse_model(text: &str) -> Result<ModelChoice, String> {
    if text == "auto" {
        return Ok(ModelChoice(None));
    }
    text.parse().map(|m| ModelChoice(Some(m)))
}

/// Parses a one-unit duration (`15s`, `2m`, `7d`) into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    Duration::new(text).seconds().map_err(|e| e.to_string())
}

fn parse_duration_text(text: &str) -> Result<Duration, String> {
    parse_duration(text).map(|_| Duration::new(text))
}

fn parse_quantile(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(q) if q > 0.0 && q < 1.0 => Ok(q),
        _ => Err(format!(
            "{text:?} is not a quantile; give a number strictly between 0 and 1, e.g. 0.9"
        )),
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> crate::Result<()> {
    telemetry::init_logging(cli.log_format)?;
    match cli.command {
        Command::Crd => {
            let yaml = policy::crd_yaml()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
            Ok(())
        }
        Command::Run(args) => crate::controller::run(args),
        Command::Backtest(args) => run_backtest(&args),
        Command::Simulate(args) => run_simulate(&args),
    }
}

/// The workload's recent history from Prometheus as a trace: rates (per second) become
/// amounts per step, as trace files hold them.
fn trace_from_prometheus(args: &SimulateArgs) -> crate::Result<Trace> {
    use crate::metrics::{HistoryCache, Prometheus, SeriesKey};
    let query = args.query.as_deref().ok_or_else(|| {
        crate::Error::Policy(
            "--prometheus needs --query, e.g. --query 'sum(rate(http_requests_total{job=\"web\"}[2m]))'"
                .to_string(),
        )
    })?;
    let step = args.step.max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let series = runtime.block_on(async {
        let prometheus = Prometheus::new(&args.prometheus)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let key = SeriesKey {
            namespace: String::new(),
            policy: "simulate".to_string(),
            metric: "load".to_string(),
        };
        HistoryCache::new(prometheus)
            .history(&key, query, args.history, step, now)
            .await
    })?;
    let mut series = series;
    series.values.iter_mut().for_each(|v| *v *= step as f64);
    Ok(Trace {
        name: format!("prometheus {query}"),
        series,
    })
}

fn run_simulate(args: &SimulateArgs) -> crate::Result<()> {
    let trace = match &args.prometheus.url {
        Some(_) => trace_from_prometheus(args)?,
        None => Trace::load(&args.trace)?,
    };
    let policy_text = std::fs::read_to_string(&args.policy)
        .map_err(|e| crate::Error::Policy(format!("cannot read {}: {e}", args.policy.display())))?;
    let policy = policy::ScalingPolicy::from_yaml(&policy_text)
        .map_err(|e| crate::Error::Policy(format!("{}: {e}", args.policy.display())))?;
    let mut policy = policy;
    let forecast = &mut policy.spec.forecast;
    if let Some(lead) = &args.lead_time {
        forecast.lead_time = lead.clone();
    }
    if let Some(q) = args.quantile {
        forecast.quantile = q;
    }
    if let Some(h) = args.headroom {
        forecast.headroom = h;
    }
    policy::validate(&policy.spec)
        .map_err(|e| crate::Error::Policy(format!("{}: {e}", args.policy.display())))?;
    let (capacity, chosen) = match (args.capacity_per_pod, args.p95_pods) {
        (Some(c), _) if c > 0.0 && c.is_finite() => (c, String::new()),
        (Some(c), _) => {
            return Err(crate::Error::Policy(format!(
                "--capacity-per-pod must be > 0 (got {c})"
            )));
        }
        (None, Some(n)) if n > 0.0 && n.is_finite() => (
            sim::run::capacity_for_p95(&trace, n),
            format!(" (chosen so the trace's 95th-percentile load needs {n} pods)"),
        ),
        (None, Some(n)) => {
            return Err(crate::Error::Policy(format!(
                "--p95-pods must be > 0 (got {n})"
            )));
        }
        (None, None) => (
            sim::run::capacity_for_peak(&trace, 20.0),
            " (chosen so the trace's peak needs 20 pods; set --capacity-per-pod)".to_string(),
        ),
    };
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
    let bar = progress_bar();
    let report = sim::run::run(&trace, &policy.spec, &config, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    let verdict = sim::run::Verdict::of(&report);
    if args.json {
        let json = serde_json::json!({
            "trace": report.trace,
            "step_s": report.step_s,
            "capacity_per_pod": report.capacity_per_pod,
            "startup_s": report.startup_s,
            "strategies": report.runs,
            "equal_cost": verdict,
        });
        writeln!(out, "{json}")?;
        if let Some(path) = &args.svg {
            sim::svg::write(&report, path).map_err(crate::Error::Plot)?;
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
        "forecast: leadTime {} · quantile {} · headroom {}% · history {} · replicas {}–{}",
        f.lead_time,
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
    sim::svg::write(&report, &path).map_err(crate::Error::Plot)?;
    writeln!(out, "\nplot: {}", path.display())?;
    Ok(())
}

fn run_frontier(
    args: &SimulateArgs,
    trace: &Trace,
    spec: &policy::ScalingPolicySpec,
    config: &SimConfig,
) -> crate::Result<()> {
    let bar = progress_bar();
    let frontier = sim::frontier::run(trace, spec, config, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&frontier)?)?;
        if let Some(path) = &args.svg {
            sim::frontier::write_svg(&frontier, path).map_err(crate::Error::Plot)?;
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
    sim::frontier::write_svg(&frontier, &path).map_err(crate::Error::Plot)?;
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

fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("simulating {bar:40} {percent}% {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

fn run_backtest(args: &BacktestArgs) -> crate::Result<()> {
    let trace = Trace::load(&args.trace)?;
    let config = BacktestConfig {
        horizon: args.horizon,
        lead: args.lead,
        history: args.history,
        quantile: args.quantile,
        origin_every: args.origin_every,
        models: args.models.iter().map(|m| m.0).collect(),
    };
    let reports = backtest::run(&trace.series, &config)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::json!({
            "trace": trace.name,
            "horizon_s": args.horizon,
            "lead_s": args.lead,
            "quantile": args.quantile,
            "models": reports,
        });
        writeln!(out, "{json}")?;
    } else {
        writeln!(
            out,
            "trace {} · step {}s · horizon {}s after a {}s lead · quantile {} · {} windows · coverage: share of scored points at or under the quantile",
            trace.name,
            trace.series.step,
            args.horizon,
            args.lead,
            args.quantile,
            reports.first().map_or(0, |r| r.summary.windows)
        )?;
        writeln!(
            out,
            "{:<16}{:>8}{:>9}{:>9}{:>10}{:>10}",
            "model", "MASE", "sMAPE%", "pinball", "coverage", "fit ms"
        )?;
        for r in &reports {
            let s = &r.summary;
            writeln!(
                out,
                "{:<16}{:>8.3}{:>9.2}{:>9.3}{:>10.3}{:>10.2}",
                r.name, s.mase, s.smape, s.pinball, s.coverage, r.fit_ms
            )?;
        }
    }
    Ok(())
}
