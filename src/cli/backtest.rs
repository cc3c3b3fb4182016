//! `prescaler backtest`: rolling-origin backtest of the forecasting models on a trace.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use std::path::Path;

use super::{parse_quantile, sources};
use crate::forecast::ModelKind;
use crate::metrics::PrometheusArgs;
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
    /// Trace file: CSV with a `timestamp,value` header, one row per interval. Not with
    /// --prometheus.
    #[arg(long, env = "PRESCALER_TRACE", conflicts_with = "prometheus")]
    pub trace: Option<PathBuf>,
    /// Backtest on the workload's own recent history instead of a trace file: read --query
    /// (or the --policy's first RequestRate or PromQL query) from this Prometheus; the other
    /// --prometheus-* flags apply as for `run`.
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// With --prometheus: PromQL returning the load, one series.
    #[arg(
        long,
        value_name = "PROMQL",
        requires = "prometheus",
        env = "PRESCALER_QUERY"
    )]
    pub query: Option<String>,
    /// With --prometheus: how much history to read, ending now.
    #[arg(long, default_value = "14d", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_SPAN")]
    pub span: u64,
    /// With --prometheus: resolution of the history read.
    #[arg(long, default_value = "1m", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_STEP")]
    pub step: u64,
    /// ScalingPolicy YAML: its spec.forecast gives the lead time, horizon, history,
    /// quantile and model (a flag given as well wins), and its first RequestRate or PromQL
    /// query is read with --prometheus when --query is not given.
    #[arg(long, env = "PRESCALER_POLICY")]
    pub policy: Option<PathBuf>,
    /// Length of the scored planning window after the lead time [default: 15m, or the
    /// policy's horizon].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_HORIZON")]
    pub horizon: Option<u64>,
    /// Time between a forecast and the start of the scored window (pod start-up time)
    /// [default: 2m, or the policy's leadTime].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seconds, env = "PRESCALER_LEAD")]
    pub lead: Option<u64>,
    /// History each forecast may use [default: 7d, or the policy's history].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_HISTORY")]
    pub history: Option<u64>,
    /// Quantile scored by pinball loss and coverage [default: 0.9, or the policy's].
    #[arg(long, value_parser = parse_quantile, env = "PRESCALER_QUANTILE")]
    pub quantile: Option<f64>,
    /// Time between rolling origins.
    #[arg(long, default_value = "1h", allow_hyphen_values = true, value_parser = parse_positive_seconds, env = "PRESCALER_ORIGIN_EVERY")]
    pub origin_every: u64,
    /// Models to compare, comma-separated: auto, seasonal-naive, holt-winters, ets, mstl,
    /// linear, phpa [default: all of them; with --policy, its model and the seasonal naive
    /// baseline].
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_model,
        env = "PRESCALER_MODELS"
    )]
    pub models: Vec<ModelChoice>,
    /// Print JSON instead of a table.
    #[arg(long, env = "PRESCALER_JSON")]
    pub json: bool,
}

const ALL_MODELS: [Option<ModelKind>; 7] = [
    None,
    Some(ModelKind::SeasonalNaive),
    Some(ModelKind::HoltWinters),
    Some(ModelKind::Ets),
    Some(ModelKind::Mstl),
    Some(ModelKind::Linear),
    Some(ModelKind::Phpa),
];

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
    let policy = args
        .policy
        .as_deref()
        .map(|path| sources::read_policy(path, None))
        .transpose()?;
    let trace = match (&args.prometheus.url, &args.trace) {
        (Some(_), _) => {
            let query = args
                .query
                .as_deref()
                .or_else(|| policy.as_ref().and_then(sources::load_query))
                .ok_or_else(|| {
                    crate::Error::Usage(
                        "--prometheus needs --query PROMQL, or a --policy with a RequestRate or PromQL metric".into(),
                    )
                })?;
            sources::trace_from_prometheus(&args.prometheus, query, args.span, args.step)?
        }
        (None, Some(path)) => Trace::load(path)?,
        (None, None) => {
            return Err(crate::Error::Usage(
                "give --trace FILE (`timestamp,value` rows), or --prometheus URL with --query PROMQL (or --policy)".into(),
            ));
        }
    };
    if let Some(warning) = trace.gap_warning() {
        eprintln!("{warning}");
    }
    let forecast = policy.as_ref().map(|p| &p.spec.forecast);
    let seconds = |d: &crate::policy::Duration, field: &str| {
        d.seconds().map_err(|e| {
            crate::Error::Usage(format!(
                "{}: spec.forecast.{field}: {e}",
                args.policy.as_deref().unwrap_or(Path::new("")).display()
            ))
        })
    };
    let from_policy =
        |field: &str, d: Option<&crate::policy::Duration>| -> crate::Result<Option<u64>> {
            d.map(|d| seconds(d, field)).transpose()
        };
    let lead = match args.lead {
        Some(l) => l,
        None => from_policy("leadTime", forecast.map(|f| &f.lead_time))?.unwrap_or(120),
    };
    let horizon = match args.horizon {
        Some(h) => h,
        None => from_policy("horizon", forecast.map(|f| &f.horizon))?.unwrap_or(900),
    };
    let history = match args.history {
        Some(h) => h,
        None => from_policy("history", forecast.map(|f| &f.history))?.unwrap_or(7 * 86_400),
    };
    let quantile = args
        .quantile
        .or(forecast.map(|f| f.quantile))
        .unwrap_or(0.9);
    let models: Vec<Option<ModelKind>> = if !args.models.is_empty() {
        args.models.iter().map(|m| m.0).collect()
    } else if let Some(f) = forecast {
        let chosen = ModelKind::from_policy(f.model);
        let mut models = vec![chosen];
        if chosen != Some(ModelKind::SeasonalNaive) {
            models.push(Some(ModelKind::SeasonalNaive));
        }
        models
    } else {
        ALL_MODELS.to_vec()
    };
    let config = BacktestConfig {
        horizon,
        lead,
        history,
        quantile,
        origin_every: args.origin_every,
        models,
    };
    let reports = backtest::run(&trace.series, &config)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = BacktestJson {
            trace: &trace.name,
            horizon_s: horizon,
            lead_s: lead,
            quantile,
            models: &reports,
        };
        writeln!(out, "{}", serde_json::to_string(&json)?)?;
    } else {
        writeln!(
            out,
            "trace {} · step {}s · horizon {}s after a {}s lead · quantile {} · {} windows · coverage: share of scored points at or under the quantile",
            trace.name,
            trace.series.step,
            horizon,
            lead,
            quantile,
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
