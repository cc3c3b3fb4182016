//! Forecast cost on a real 7-day, 1-minute history (NASA, 1–8 July 1995): each model's
//! fit + predict on the series the engine fits (coarsened to its model step), and the
//! engine's per-cycle forecast with its model choice cached and from cold.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prescaler::forecast::engine::{Engine, EngineConfig};
use prescaler::forecast::{ModelKind, Series};
use prescaler::sim::trace::Trace;

fn week() -> Series {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/traces/nasa_http_jul1995_1min.csv"
    );
    let trace = Trace::load(path.as_ref()).expect("bundled trace");
    let s = &trace.series;
    Series::new(s.start, s.step, s.values[..7 * 1440].to_vec())
}

fn models(c: &mut Criterion) {
    let history = week();
    // The engine fits a 7-day, 1-minute history at a 4-minute step for a 17-minute window.
    let coarse = history.coarsen(4);
    let mut group = c.benchmark_group("fit_predict_7d_1m");
    for kind in ModelKind::ALL {
        let model = kind.build(&[360]);
        group.bench_function(kind.name(), |b| {
            b.iter(|| black_box(model.fit_predict(black_box(&coarse.values), 5)))
        });
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    let history = week();
    let mut group = c.benchmark_group("engine_7d_1m");
    group.sample_size(10);
    let mut warm = Engine::new(EngineConfig::default());
    warm.forecast(&history).expect("NASA is forecastable");
    group.bench_function("forecast_with_choice_cached", |b| {
        b.iter(|| black_box(warm.forecast(black_box(&history))))
    });
    group.bench_function("forecast_with_model_choice", |b| {
        b.iter(|| black_box(Engine::new(EngineConfig::default()).forecast(black_box(&history))))
    });
    group.finish();
}

criterion_group!(benches, models, engine);
criterion_main!(benches);
