//! The command line. `prescaler --help` is the reference; every flag can also be set from
//! the environment variable named in its help.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::forecast::ModelKind;
use crate::policy::{self, Duration};
use crate::sim::backtest::{self, BacktestConfig};
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
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the ScalingPolicy CustomResourceDefinition as YAML (`prescaler crd | kubectl apply -f -`).
    Crd,
    /// Rolling-origin backtest of the forecasting models on a trace (`timestamp,value` CSV).
    Backtest(BacktestArgs),
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

fn parse_duration(text: &str) -> Result<u64, String> {
    Duration::new(text).seconds().map_err(|e| e.to_string())
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
        Command::Backtest(args) => run_backtest(&args),
    }
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
    let reports = backtest::run(&trace.series, &config);
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::json!({
            "trace": trace.name,
            "horizon_s": args.horizon,
            "lead_s": args.lead,
            "quantile": args.quantile,
            "models": reports.iter().map(|r| serde_json::json!({
                "name": r.name,
                "mase": r.summary.mase,
                "smape": r.summary.smape,
                "pinball": r.summary.pinball,
                "coverage": r.summary.coverage,
                "fit_ms": r.fit_ms,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{json}")?;
    } else {
        writeln!(
            out,
            "trace {} · step {}s · horizon {}s after a {}s lead · quantile {} · {} windows",
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
