//! Forecast cost on a real 7-day, 1-minute history (NASA, 1–8 July 1995): each model's
//! fit + predict on the series the engine fits (coarsened to its model step), and the
//! engine's cost per new sample (the per-cycle cost: a sync without a new sample reuses the
//! last forecast) with its hourly refit amortised in, and from cold (the model choice).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prescaler::forecast::engine::{Engine, EngineConfig};
use prescaler::forecast::{ModelKind, Series};
use prescaler::sim::trace::Trace;

fn nasa() -> Series {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/traces/nasa_http_jul1995_1min.csv"
    );
    Trace::load(path.as_ref()).expect("bundled trace").series
}

/// The 7 days of history ending `extra` minutes after 8 July 1995 04:00 UTC.
fn week_plus(s: &Series, extra: usize) -> Series {
    Series::new(
        s.start + (extra as u64 * s.step) as i64,
        s.step,
        s.values[extra..7 * 1440 + extra].to_vec(),
    )
}

fn week() -> Series {
    week_plus(&nasa(), 0)
}

fn models(c: &mut Criterion) {
    let history = week();
    // The engine fits a 7-day, 1-minute history at a 5-minute step.
    let coarse = history.coarsen(5);
    let mut group = c.benchmark_group("fit_predict_7d_1m");
    for kind in ModelKind::ALL {
        let model = kind.build(&[288]);
        // A fit covers the next hour and the horizon: 16 model steps.
        group.bench_function(kind.name(), |b| {
            b.iter(|| black_box(model.fit_predict(black_box(&coarse.values), 16)))
        });
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    let trace = nasa();
    // One day of histories, each a sample later than the one before: every call brings one
    // new sample, and every 60th a refit.
    let days: Vec<Series> = (0..1_440).map(|i| week_plus(&trace, i)).collect();
    let mut group = c.benchmark_group("engine_7d_1m");
    group.sample_size(20);
    let mut warm = Engine::new(EngineConfig::default());
    warm.forecast(&days[0])
        .expect("NASA is forecastable or gated");
    group.bench_function("forecast_per_new_sample", |b| {
        b.iter_custom(|iters| {
            let mut engine = warm.clone();
            let started = std::time::Instant::now();
            for i in 0..iters {
                let _ = black_box(engine.forecast(black_box(&days[1 + i as usize % 1_439])));
            }
            started.elapsed()
        })
    });
    group.bench_function("forecast_without_a_new_sample", |b| {
        b.iter(|| black_box(warm.forecast(black_box(&days[0]))))
    });
    group.sample_size(10);
    let history = week();
    group.bench_function("forecast_with_model_choice", |b| {
        b.iter(|| black_box(Engine::new(EngineConfig::default()).forecast(black_box(&history))))
    });
    group.finish();
}

criterion_group!(benches, models, engine);
criterion_main!(benches);
