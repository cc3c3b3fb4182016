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
    let reports = backtest::run(&trace.series, &config).expect("windows to score");
    let (auto, naive) = (&reports[0].summary, &reports[1].summary);
    assert!(auto.windows > 100, "{auto:?}");
    assert!(
        auto.mase <= 0.9 * naive.mase,
        "auto {auto:?} vs seasonal naive {naive:?}"
    );
    assert!(
        (0.85..=0.95).contains(&auto.coverage),
        "the 0.9 band covers its points nine times in ten: {auto:?}"
    );
}

/// A random walk: nothing beats its last value.
fn random_walk(n: usize) -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut level = 1_000.0;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            level = (level + (state % 2001) as f64 / 10.0 - 100.0).max(0.0);
            level
        })
        .collect()
}

#[test]
fn a_metric_no_model_forecasts_better_than_its_last_value_is_left_to_reacting() {
    let series = Series::new(0, 60, random_walk(3 * 1_440));
    let mut engine = Engine::new(EngineConfig::default());
    match engine.forecast(&series) {
        Err(Unreliable::NoSkill { ratio, .. }) => assert!(ratio >= 1.0, "{ratio}"),
        other => panic!("a random walk has no forecast worth using: {other:?}"),
    }
    // What the model said is still there to show, starting now.
    let gated = engine.gated().expect("the gated forecast");
    assert_eq!(gated.start, series.end());
    assert!(!gated.point.is_empty());
}

#[test]
fn the_forecast_follows_each_new_sample_without_choosing_the_model_again() {
    let values = daily(6);
    let mut engine = Engine::new(EngineConfig {
        model: Some(ModelKind::Mstl),
        ..EngineConfig::default()
    });
    let history = Series::new(0, STEP, values[..5 * DAY].to_vec());
    let first = engine
        .forecast(&history)
        .expect("a clean season is forecast");
    assert!(engine.gated().is_none(), "a forecast in use is not gated");
    let chosen_at = engine.selection().map(|s| s.evaluated_at);
    assert_eq!(
        engine.forecast(&history),
        Ok(first.clone()),
        "the same history, the same forecast"
    );
    let mut twin = engine.clone();
    let mut expected = history.clone();
    expected.values.push(values[5 * DAY]);
    let mut high = history.clone();
    high.values.push(values[5 * DAY] + 30.0);
    let next = engine.forecast(&high).expect("one more sample");
    assert_eq!(next.start, first.start + STEP as i64);
    assert_eq!(
        engine.selection().map(|s| s.evaluated_at),
        chosen_at,
        "a new sample updates the forecast, it does not re-run the model choice"
    );
    let usual = twin.forecast(&expected).expect("one more sample");
    assert!(
        next.point[0] > usual.point[0],
        "a sample 30 above the season raises the next forecast: {} vs {}",
        next.point[0],
        usual.point[0]
    );
}

#[test]
fn the_default_two_weeks_of_history_learn_the_week_on_real_traffic() {
    let trace = Trace::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/traces/nasa_http_jul1995_1min.csv"
        )
        .as_ref(),
    )
    .expect("bundled trace");
    // NASA's weekends carry about 0.6× a weekday's traffic.
    let s = &trace.series;
    let two_weeks = Series::new(s.start, s.step, s.values[..14 * 1_440].to_vec());
    let mut engine = Engine::new(EngineConfig {
        model: Some(ModelKind::Mstl),
        ..EngineConfig::default()
    });
    let _ = engine.forecast(&two_weeks);
    let periods = &engine.selection().expect("a model was evaluated").periods;
    assert!(
        periods.contains(&604_800),
        "the weekly season is found in the default history: {periods:?}"
    );
}

#[test]
fn an_engine_resuming_a_chosen_model_backtests_it_alone_and_chooses_in_full_later() {
    let values = daily(6);
    let history = Series::new(0, STEP, values[..5 * DAY].to_vec());
    let config = EngineConfig::default();

    // A new leader reads "holt-winters" from the status: that model alone is backtested.
    let mut resumed = Engine::resuming(config.clone(), ModelKind::HoltWinters, 0.5);
    resumed
        .forecast(&history)
        .expect("a clean season is forecast");
    let selection = resumed.selection().expect("a selection").clone();
    assert_eq!(selection.model, ModelKind::HoltWinters);
    assert_eq!(selection.scores.len(), 1, "{:?}", selection.scores);
    // The full choice is due half a re-choice period from now, not a whole one.
    let now = history.end();
    assert_eq!(
        selection.evaluated_at + config.reselect_every as i64,
        now + config.reselect_every as i64 / 2
    );

    // Due at once (jitter 0): the next new sample runs the full choice among every candidate.
    let mut due = Engine::resuming(config.clone(), ModelKind::HoltWinters, 0.0);
    due.forecast(&history).expect("a clean season is forecast");
    let mut later = history.clone();
    later.values.push(values[5 * DAY]);
    due.forecast(&later).expect("one more sample");
    let full = due.selection().expect("a selection");
    assert_eq!(
        full.scores.len(),
        ModelKind::CANDIDATES.len(),
        "{:?}",
        full.scores
    );

    // A model that is not a candidate is no hint: the engine chooses in full from the start.
    let mut fresh = Engine::resuming(config, ModelKind::Phpa, 0.5);
    fresh
        .forecast(&history)
        .expect("a clean season is forecast");
    assert!(fresh.selection().expect("a selection").scores.len() > 1);
}

#[test]
fn an_engine_taking_a_kept_choice_forecasts_as_the_engine_that_made_it() {
    use prescaler::forecast::resume;
    let values = daily(6);
    let history = Series::new(0, STEP, values[..5 * DAY].to_vec());
    let config = EngineConfig::default();

    // The leader chooses among every candidate and keeps its choice as status text.
    let mut leader = Engine::new(config.clone());
    let made = leader
        .forecast(&history)
        .expect("a clean season is forecast");
    let chosen = leader.selection().expect("a selection").clone();
    let text = resume::encode(&chosen, &config);

    // A new leader takes the choice up: the same model, seasons and schedule, no backtest
    // (the choice's time is the first leader's), and the same bands within single precision.
    let kept = resume::decode(&text, &config).expect("the text decodes");
    let mut next = Engine::new(config.clone()).with_choice(kept);
    let resumed = next.forecast(&history).expect("forecasts at once");
    let selection = next.selection().expect("a selection");
    assert_eq!(selection.model, chosen.model);
    assert_eq!(selection.periods, chosen.periods);
    assert_eq!(selection.evaluated_at, chosen.evaluated_at);
    assert_eq!(selection.scores, chosen.scores);
    assert_eq!(next.skill(), leader.skill());
    let upper = |f: &prescaler::forecast::Forecast| f.quantile(config.quantile).unwrap().to_vec();
    for (a, b) in upper(&made).iter().zip(upper(&resumed)) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }

    // Under other settings the text is no choice at all, and the engine chooses by backtest.
    let other = EngineConfig {
        quantile: 0.95,
        ..config
    };
    assert!(resume::decode(&text, &other).is_none());
}
