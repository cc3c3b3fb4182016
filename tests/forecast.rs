//! Forecasting on awkward and on real data: sane output or a typed error, never a panic or NaN.

use prescaler::forecast::engine::{Engine, EngineConfig, Unreliable};
use prescaler::forecast::{ModelKind, Series};
use prescaler::sim::backtest::{self, BacktestConfig};
use prescaler::sim::trace::Trace;

const STEP: u64 = 300;
const DAY: usize = 288;

fn daily(days: usize) -> Vec<f64> {
    (0..days * DAY)
        .map(|t| 100.0 + 50.0 * (2.0 * std::f64::consts::PI * t as f64 / DAY as f64).sin())
        .collect()
}

fn edge_cases() -> Vec<(&'static str, Vec<f64>)> {
    let mut spike = vec![10.0; 3 * DAY];
    spike[2 * DAY] = 10_000.0;
    let mut step_change = vec![10.0; 3 * DAY];
    step_change[2 * DAY..].iter_mut().for_each(|v| *v = 80.0);
    let mut nan_runs = daily(3);
    nan_runs[100..160].iter_mut().for_each(|v| *v = f64::NAN);
    nan_runs[700..705]
        .iter_mut()
        .for_each(|v| *v = f64::INFINITY);
    let noisy_negative: Vec<f64> = (0..3 * DAY)
        .map(|t| ((t * 7919) % 11) as f64 - 5.0)
        .collect();
    vec![
        ("constant", vec![42.0; 3 * DAY]),
        ("all zero", vec![0.0; 3 * DAY]),
        ("single spike", spike),
        ("step change", step_change),
        ("very short", daily(3)[..40].to_vec()),
        ("NaN and Inf runs", nan_runs),
        ("huge values", daily(3).iter().map(|v| v * 1e10).collect()),
        ("negative noise", noisy_negative),
    ]
}

#[test]
fn every_model_gives_finite_non_negative_forecasts_or_a_typed_error_on_edge_cases() {
    for (name, values) in edge_cases() {
        let series = Series::new(0, STEP, values);
        for kind in ModelKind::ALL {
            let model = kind.build(&[DAY]);
            match model.fit_predict(&series.values, 12) {
                Ok(forecast) => {
                    assert_eq!(forecast.len(), 12, "{kind} on {name}");
                    assert!(
                        forecast.iter().all(|v| v.is_finite() && *v >= 0.0),
                        "{kind} on {name} gave {forecast:?}"
                    );
                }
                Err(e) => assert!(!e.to_string().is_empty(), "{kind} on {name}: empty error"),
            }
        }
    }
}

#[test]
fn the_engine_forecasts_or_says_why_on_edge_cases() {
    for (name, values) in edge_cases() {
        let series = Series::new(0, STEP, values);
        let mut engine = Engine::new(EngineConfig {
            min_history: 3_600,
            ..EngineConfig::default()
        });
        match engine.forecast(&series) {
            Ok(f) => {
                assert!(!f.point.is_empty(), "{name}");
                for path in std::iter::once(&f.point).chain(f.quantiles.iter().map(|q| &q.values)) {
                    assert!(
                        path.iter().all(|v| v.is_finite() && *v >= 0.0),
                        "{name}: {path:?}"
                    );
                }
                let p90 = f.quantile(0.9).expect("the policy quantile is produced");
                let p50 = f.quantile(0.5).expect("the median is produced");
                assert!(
                    p90.iter().zip(p50).all(|(hi, lo)| hi >= lo),
                    "{name}: 0.9 below 0.5"
                );
            }
            Err(e) => assert!(!e.to_string().is_empty(), "{name}"),
        }
    }
}

#[test]
fn too_little_history_is_reported_with_the_amounts() {
    let series = Series::new(0, STEP, daily(1)[..24].to_vec());
    let mut engine = Engine::new(EngineConfig::default());
    assert_eq!(
        engine.forecast(&series),
        Err(Unreliable::TooLittleHistory {
            have_s: 24 * STEP,
            need_s: 86_400
        })
    );
}

#[test]
fn a_clean_daily_season_is_forecast_closely_and_the_quantile_sits_above() {
    let series = Series::new(0, STEP, daily(6));
    let mut engine = Engine::new(EngineConfig {
        seasonality: vec![],
        ..EngineConfig::default()
    });
    let f = engine
        .forecast(&series)
        .expect("a clean series is forecastable");
    let truth = daily(7);
    for (h, p) in f.point.iter().enumerate() {
        let t = truth[6 * DAY + h];
        assert!((p - t).abs() < 5.0, "step {h}: forecast {p} vs truth {t}");
    }
    let selection = engine.selection().expect("a model was chosen");
    assert_eq!(
        selection.periods,
        vec![86_400],
        "the daily season is detected"
    );
}

#[test]
fn auto_beats_seasonal_naive_and_its_quantile_covers_on_a_real_trace() {
    let trace = Trace::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/traces/nasa_http_jul1995_1min.csv"
        )
        .as_ref(),
    )
    .expect("bundled trace");
    let config = BacktestConfig {
        horizon: 900,
        lead: 120,
        history: 7 * 86_400,
        quantile: 0.9,
        origin_every: 4 * 3_600,
        models: vec![None, Some(ModelKind::SeasonalNaive)],
    };
    let reports = backtest::run(&trace.series, &config);
    let (auto, naive) = (&reports[0].summary, &reports[1].summary);
    assert!(auto.windows > 100, "{auto:?}");
    assert!(
        auto.mase <= 0.9 * naive.mase,
        "auto {auto:?} vs seasonal naive {naive:?}"
    );
    assert!(
        (0.8..=0.97).contains(&auto.coverage),
        "0.9 quantile coverage {auto:?}"
    );
}
