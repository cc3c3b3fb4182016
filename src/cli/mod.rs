//! The command line: parses and dispatches. `prescaler --help` is the reference; every flag
//! can also be set from the environment variable named in its help.

mod backtest;
mod simulate;

use std::io::Write;

use clap::{Parser, Subcommand};

use crate::controller::RunArgs;
use crate::policy;
use crate::telemetry::{self, LogFormat};

pub use backtest::BacktestArgs;
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
