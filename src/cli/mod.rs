//! The command line: parses and dispatches. `prescaler --help` is the reference; every flag
//! can also be set from the environment variable named in its help.

mod backtest;
mod explain;
mod forecast_plot;
mod simulate;
mod sources;

use std::io::Write;

use clap::{Parser, Subcommand};

use crate::controller::RunArgs;
use crate::policy;
use crate::telemetry::{self, LogFormat};

pub use backtest::BacktestArgs;
pub use explain::ExplainArgs;
pub use simulate::{DEFAULT_POLICY, DEFAULT_TRACE, SimulateArgs};

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
    /// What the operator would do now for a policy file, and why: each metric's reading,
    /// forecast and replicas, the decision and what limited it, read from a real Prometheus.
    Explain(ExplainArgs),
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
        Command::Backtest(args) => backtest::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Explain(args) => explain::run(&args),
    }
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

pub(crate) fn parse_quantile(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(q) if q > 0.0 && q < 1.0 => Ok(q),
        _ => Err(format!(
            "{text:?} is not a quantile; give a number strictly between 0 and 1, e.g. 0.9"
        )),
    }
}

/// Parses a Unix time in whole seconds, as the traces' timestamps are written.
pub(crate) fn parse_unix_seconds(text: &str) -> Result<i64, String> {
    text.trim().parse::<i64>().map_err(|_| {
        format!("{text:?} is not a Unix time in whole seconds, e.g. 804556800 for 1995-07-01 (`date -u -d 1995-07-01 +%s` prints it)")
    })
}

/// Parses a Kubernetes namespace name (an RFC 1123 label), so a typo is refused at start
/// rather than retried against the API server for ever.
pub(crate) fn parse_namespace(text: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    ok.then(|| text.to_string()).ok_or_else(|| {
        format!("{text:?} is not a namespace name: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
    })
}

/// Parses a Kubernetes object name (an RFC 1123 subdomain), e.g. a Lease's.
pub(crate) fn parse_object_name(text: &str) -> Result<String, String> {
    let ok = (1..=253).contains(&text.len())
        && text.split('.').all(|part| parse_namespace(part).is_ok());
    ok.then(|| text.to_string()).ok_or_else(|| {
        format!("{text:?} is not an object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")
    })
}

/// Runs `work` with a progress bar on a terminal (none when stderr is not one).
pub(crate) fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(u64, u64)) -> T) -> T {
    let bar = progress_bar();
    let result = work(&mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}
