//! `prescaler backtest`: rolling-origin backtest of the forecasting models on a trace.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::parse_quantile;
use crate::forecast::ModelKind;
use crate::policy::duration::{parse_positive_seconds, parse_seconds};
use crate::sim::backtest::{self, BacktestConfig, ModelReport};
use crate::sim::trace::Trace;

/// `prescaler backtest --json`.
#[derive(Serialize)]
struct BacktestJson<'a> {
    trace: &'a str,
    horizon_s: u64,
    lead_s: u64,
    quantile: f64,
    models: &'a [ModelReport],
}

/// Options of `prescaler backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Trace file: CSV with a `timestamp,value` header, one row per interval.
    #[arg(long, env = "PRESCALER_TRACE")]
    pub trace: PathBuf,
    /// Length of the scored planning window after the lead time.
    #[arg(long, default_value = "15m", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_HORIZON")]
    pub horizon: u64,
    /// Time between a forecast and the start of the scored window (pod start-up time).
    #[arg(long, default_value = "2m", allow_hyphen_values = true, value_parser = parse_seconds, env = "PRESCALER_LEAD")]
    pub lead: u64,
    /// History each forecast may use.
    #[arg(long, default_value = "7d", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_HISTORY")]
    pub history: u64,
    /// Quantile scored by pinball loss and coverage.
    #[arg(long, default_value_t = 0.9, value_parser = parse_quantile, env = "PRESCALER_QUANTILE")]
    pub quantile: f64,
    /// Time between rolling origins.
    #[arg(long, default_value = "1h", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_ORIGIN_EVERY")]
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

/// Runs `prescaler backtest`.
pub fn run(args: &BacktestArgs) -> crate::Result<()> {
    let trace = Trace::load(&args.trace)?;
    if let Some(warning) = trace.gap_warning() {
        eprintln!("{warning}");
    }
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
        let json = BacktestJson {
            trace: &trace.name,
            horizon_s: args.horizon,
            lead_s: args.lead,
            quantile: args.quantile,
            models: &reports,
        };
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
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
