//! `simulate --frontier`: cost against shortfall, swept. The HPA's target and prescaler's
//! quantile each trace a curve of pod-hours against unserved requests and under-provisioned
//! minutes; the perfect forecast and the oracle are points. A strategy is better where its
//! curve lies below the other's at the same pod-hours.
//!
//! All prescaler points share one forecast engine (its model chosen and gated at the
//! policy's quantile), so the sweep costs one forecast run.

use plotters::prelude::*;
use serde::Serialize;

use super::run::{Replay, SimConfig, SimError, StrategyRun, replay};
use super::strategies::{Foresight, Strategy};
use super::trace::Trace;
use crate::policy::{ResolvedBehavior, ScalingPolicySpec};

/// The HPA targets swept (fraction of a pod's capacity).
pub const HPA_TARGETS: [f64; 13] = [
    0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95,
];
/// The forecast quantiles swept.
pub const QUANTILES: [f64; 8] = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98];

/// The sweep's result.
#[derive(Clone, Debug, Serialize)]
pub struct Frontier {
    /// Trace name.
    pub trace: String,
    /// The HPA at each swept target, ascending target.
    pub hpa: Vec<StrategyRun>,
    /// prescaler at each swept quantile, ascending quantile.
    pub prescaler: Vec<StrategyRun>,
    /// The policy's plan fed the true future.
    pub perfect: StrategyRun,
    /// Capacity equal to load.
    pub oracle: StrategyRun,
    /// Per prescaler point: the HPA curve at the same pod-hours.
    pub equal_cost: Vec<EqualCost>,
}

/// One prescaler point against the HPA curve at its pod-hours.
#[derive(Clone, Debug, Serialize)]
pub struct EqualCost {
    /// prescaler's quantile.
    pub quantile: f64,
    /// Its pod-hours.
    pub pod_hours: f64,
    /// The HPA's under-provisioned minutes there (interpolated between swept targets).
    pub hpa_under_provisioned_minutes: Option<f64>,
    /// The HPA's unserved fraction there.
    pub hpa_unserved_fraction: Option<f64>,
}

/// Linear interpolation of `value` along the HPA curve at `pod_hours`; `None` outside it.
fn along(hpa: &[StrategyRun], pod_hours: f64, value: impl Fn(&StrategyRun) -> f64) -> Option<f64> {
    let mut points: Vec<(f64, f64)> = hpa.iter().map(|r| (r.score.pod_hours, value(r))).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        (x0 <= pod_hours && pod_hours <= x1).then(|| {
            if x1 - x0 < 1e-12 {
                y0
            } else {
                y0 + (y1 - y0) * (pod_hours - x0) / (x1 - x0)
            }
        })
    })
}

/// Runs the sweep.
pub fn run(
    trace: &Trace,
    policy: &ScalingPolicySpec,
    config: &SimConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Frontier, SimError> {
    let replay: Replay<'_> = replay(trace, policy, config)?;
    let target = config.capacity_per_pod * config.target_utilization;
    let feed = replay.feed(policy, &QUANTILES);
    let mut ours: Vec<Strategy> = QUANTILES
        .iter()
        .map(|&q| replay.prescaler(policy, target, q, &feed))
        .chain(std::iter::once(Strategy::new(
            "perfect-forecast",
            target,
            ResolvedBehavior::resolve(policy.behavior.as_ref()),
            Foresight::Perfect,
        )))
        .collect();
    let mut runs = replay.run_all(&mut ours, progress);
    let perfect = runs.pop().ok_or(SimError::NoLoadMetric)?;
    for (run, q) in runs.iter_mut().zip(QUANTILES) {
        run.quantile = Some(q);
    }
    let hpa: Vec<StrategyRun> = HPA_TARGETS
        .iter()
        .map(|&u| {
            let mut run = replay.hpa("hpa", u);
            run.target_utilization = Some(u);
            run
        })
        .collect();
    let equal_cost = runs
        .iter()
        .map(|r| EqualCost {
            quantile: r.quantile.unwrap_or_default(),
            pod_hours: r.score.pod_hours,
            hpa_under_provisioned_minutes: along(&hpa, r.score.pod_hours, |h| {
                h.score.under_provisioned_minutes
            }),
            hpa_unserved_fraction: along(&hpa, r.score.pod_hours, |h| h.score.unserved_fraction),
        })
        .collect();
    Ok(Frontier {
        trace: trace.name.clone(),
        hpa,
        prescaler: runs,
        perfect,
        oracle: replay.oracle(),
        equal_cost,
    })
}

/// Writes the two cost-against-shortfall charts to `path`.
pub fn write_svg(frontier: &Frontier, path: &std::path::Path) -> Result<(), super::svg::PlotError> {
    let root = SVGBackend::new(path, (1300, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.draw_text(
        &format!(
            "{}: cost against shortfall — lower at the same pod-hours is better",
            frontier.trace
        ),
        &("sans-serif", 22).into_font().color(&BLACK),
        (20, 10),
    )?;
    let panels = body.split_evenly((1, 2));
    type Value = fn(&StrategyRun) -> f64;
    let charts: [(&str, Value); 2] = [
        ("unserved requests (%)", |r| {
            100.0 * r.score.unserved_fraction
        }),
        ("under-provisioned minutes", |r| {
            r.score.under_provisioned_minutes
        }),
    ];
    let all: Vec<&StrategyRun> = frontier
        .hpa
        .iter()
        .chain(&frontier.prescaler)
        .chain([&frontier.perfect, &frontier.oracle])
        .collect();
    let hours = all.iter().map(|r| r.score.pod_hours);
    let x_min = hours.clone().fold(f64::MAX, f64::min) * 0.95;
    let x_max = hours.fold(0.0, f64::max) * 1.05;
    for ((label, value), area) in charts.into_iter().zip(&panels) {
        // Shortfalls span orders of magnitude: a log axis, with "none" drawn at a floor
        // below the smallest one.
        let y_max = all.iter().map(|r| value(r)).fold(0.0, f64::max).max(1e-6) * 2.0;
        let smallest = all
            .iter()
            .map(|r| value(r))
            .filter(|v| *v > y_max * 1e-4)
            .fold(y_max / 4.0, f64::min);
        let floor = smallest / 2.0;
        let y = move |r: &StrategyRun| value(r).max(floor);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, (floor..y_max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("pod-hours")
            .y_desc(format!("{label}, log scale (none: at the bottom)"))
            .draw()?;
        let curve = |runs: &[StrategyRun]| -> Vec<(f64, f64)> {
            let mut points: Vec<(f64, f64)> =
                runs.iter().map(|r| (r.score.pod_hours, y(r))).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points
        };
        for (runs, color, name) in [
            (&frontier.hpa, RED, "HPA, target swept"),
            (&frontier.prescaler, BLUE, "prescaler, quantile swept"),
        ] {
            let points = curve(runs);
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
        for (run, color, name) in [
            (&frontier.perfect, GREEN, "perfect forecast (same plan)"),
            (&frontier.oracle, BLACK, "oracle"),
        ] {
            let point = (run.score.pod_hours, y(run));
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    point,
                    7,
                    color.filled(),
                )))?
                .label(name)
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, color.filled()));
        }
        for run in &frontier.prescaler {
            if let Some(q) = run.quantile {
                chart.draw_series(std::iter::once(Text::new(
                    format!("q {q}"),
                    (run.score.pod_hours, y(run)),
                    ("sans-serif", 12).into_font().color(&BLUE),
                )))?;
            }
        }
        for run in &frontier.hpa {
            if let Some(u) = run.target_utilization {
                chart.draw_series(std::iter::once(Text::new(
                    format!("{u}"),
                    (run.score.pod_hours, y(run)),
                    ("sans-serif", 12).into_font().color(&RED),
                )))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
