//! The simulation as a picture: load against Ready capacity for each strategy, and a zoom
//! on the spike where the HPA fell furthest behind.

use plotters::prelude::*;

use super::run::SimReport;

/// Points per plotted line; longer runs are reduced to per-bucket maxima.
const POINTS: usize = 1_500;

fn reduce(values: &[f64], from: usize, to: usize) -> Vec<(f64, f64)> {
    let len = to.saturating_sub(from).max(1);
    let bucket = len.div_ceil(POINTS).max(1);
    (from..to)
        .step_by(bucket)
        .map(|i| {
            let end = (i + bucket).min(to);
            let peak = values[i..end].iter().copied().fold(0.0, f64::max);
            (i as f64, peak)
        })
        .collect()
}

/// Why a plot could not be drawn (the plotting backend's error).
pub type PlotError = Box<dyn std::error::Error + Send + Sync>;

/// Writes the SVG to `path`.
pub fn write(report: &SimReport, path: &std::path::Path) -> Result<(), PlotError> {
    let panels = report.runs.len() - 1;
    let root = SVGBackend::new(path, (1200, 260 * (panels as u32 + 1))).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels + 1, 1));
    let hours = |i: f64| i * report.step_s as f64 / 3_600.0;
    let n = report.load.len();
    let top = report.load.iter().copied().fold(0.0, f64::max) * 1.15;

    for (run, area) in report.runs.iter().take(panels).zip(&areas) {
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: under-provisioned {:.0} min, unserved {:.3}%, {:.0} pod-hours",
                    run.name,
                    run.score.under_provisioned_minutes,
                    100.0 * run.score.unserved_fraction,
                    run.score.pod_hours
                ),
                ("sans-serif", 18),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..hours(n as f64), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("hours since start")
            .y_desc("requests/s")
            .draw()?;
        let load = reduce(&report.load, 0, n)
            .into_iter()
            .map(|(i, v)| (hours(i), v));
        chart
            .draw_series(LineSeries::new(load, &BLACK))?
            .label("load");
        let capacity = reduce(&run.capacity, 0, n)
            .into_iter()
            .map(|(i, v)| (hours(i), v));
        chart
            .draw_series(LineSeries::new(capacity, &BLUE))?
            .label("Ready capacity");
    }

    // The worst spike for the HPA: the hour around its largest shortfall.
    let hpa = report
        .runs
        .iter()
        .find(|r| r.name == "hpa")
        .ok_or("no hpa run")?;
    let ours = report
        .runs
        .iter()
        .find(|r| r.name == "prescaler")
        .ok_or("no prescaler run")?;
    let worst = (0..n)
        .max_by(|&a, &b| {
            (report.load[a] - hpa.capacity[a]).total_cmp(&(report.load[b] - hpa.capacity[b]))
        })
        .unwrap_or(0);
    let half = (1_800 / report.step_s.max(1)) as usize;
    let (from, to) = (worst.saturating_sub(half), (worst + half).min(n));
    let zoom_top = report.load[from..to]
        .iter()
        .chain(&hpa.capacity[from..to])
        .chain(&ours.capacity[from..to])
        .copied()
        .fold(0.0, f64::max)
        * 1.15;
    let minutes = |i: usize| (i as f64 - worst as f64) * report.step_s as f64 / 60.0;
    let mut chart = ChartBuilder::on(&areas[panels])
        .caption(
            format!(
                "worst HPA shortfall, at hour {:.1}: load (black), hpa (red), prescaler (blue)",
                hours(worst as f64)
            ),
            ("sans-serif", 18),
        )
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(minutes(from)..minutes(to), 0.0..zoom_top.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("minutes from the worst moment")
        .y_desc("requests/s")
        .draw()?;
    for (values, color) in [
        (&report.load, BLACK),
        (&hpa.capacity, RED),
        (&ours.capacity, BLUE),
    ] {
        let points = (from..to).map(|i| (minutes(i), values[i]));
        chart.draw_series(LineSeries::new(points, &color))?;
    }
    root.present()?;
    Ok(())
}
