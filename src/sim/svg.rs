//! The simulation as a picture: load against Ready capacity for each strategy, and a zoom
//! on the spike where the HPA fell furthest behind.

use plotters::coord::types::RangedCoordf64;
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

/// Colours: the load, the strategy's Ready capacity, the shortfall between them.
pub(crate) const LOAD: RGBColor = BLACK;
pub(crate) const CAPACITY: RGBColor = RGBColor(31, 119, 180);
const HPA: RGBColor = RGBColor(214, 39, 40);
const SHORT: RGBColor = RGBColor(255, 90, 90);

/// Writes the SVG to `path`: a panel per strategy (load, Ready capacity, the shortfall
/// shaded), then the hour around the HPA's worst shortfall beside the hour around
/// prescaler's, each with both strategies.
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
                    "{}: under-provisioned {:.0} min, unserved {:.3}%, {:.0} pod-hours, {} scale actions",
                    run.name,
                    run.score.under_provisioned_minutes,
                    100.0 * run.score.unserved_fraction,
                    run.score.pod_hours,
                    run.score.scale_actions
                ),
                ("sans-serif", 18),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..hours(n as f64), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("hours since the start")
            .y_desc("requests/s")
            .draw()?;
        // The shortfall: per plotted bucket, from the capacity up to the load where the
        // load is higher.
        let bucket = n.div_ceil(POINTS).max(1);
        let shortfall = (0..n).step_by(bucket).filter_map(|i| {
            let end = (i + bucket).min(n);
            let worst = (i..end).max_by(|&a, &b| {
                (report.load[a] - run.capacity[a]).total_cmp(&(report.load[b] - run.capacity[b]))
            })?;
            (report.load[worst] > run.capacity[worst]).then(|| {
                Rectangle::new(
                    [
                        (hours(i as f64), run.capacity[worst]),
                        (hours(end as f64), report.load[worst]),
                    ],
                    SHORT.filled(),
                )
            })
        });
        chart
            .draw_series(shortfall)?
            .label("shortfall (load above Ready capacity)")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], SHORT.filled()));
        let load = reduce(&report.load, 0, n)
            .into_iter()
            .map(|(i, v)| (hours(i), v));
        chart
            .draw_series(LineSeries::new(load, &LOAD))?
            .label("load")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], LOAD));
        let capacity = reduce(&run.capacity, 0, n)
            .into_iter()
            .map(|(i, v)| (hours(i), v));
        chart
            .draw_series(LineSeries::new(capacity, &CAPACITY))?
            .label("Ready capacity")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], CAPACITY));
        legend(&mut chart)?;
    }

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
    let zooms = areas[panels].split_evenly((1, 2));
    for ((whose, run), area) in [("HPA", hpa), ("prescaler", ours)].iter().zip(&zooms) {
        zoom(report, whose, &run.capacity, hpa, ours, area)?;
    }
    root.present()?;
    Ok(())
}

/// The hour around the moment `capacity` fell furthest below the load, with the load,
/// the HPA's and prescaler's Ready capacity, and the featured strategy's shortfall shaded.
fn zoom(
    report: &SimReport,
    whose: &str,
    capacity: &[f64],
    hpa: &super::run::StrategyRun,
    ours: &super::run::StrategyRun,
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
) -> Result<(), PlotError> {
    let n = report.load.len();
    let worst = (0..n)
        .max_by(|&a, &b| (report.load[a] - capacity[a]).total_cmp(&(report.load[b] - capacity[b])))
        .unwrap_or(0);
    let short = report.load.get(worst).copied().unwrap_or(0.0)
        - capacity.get(worst).copied().unwrap_or(0.0);
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
    let step_min = report.step_s as f64 / 60.0;
    let caption = if short > 0.0 {
        format!(
            "{whose}'s worst shortfall, hour {:.1}: {:.3} req/s short",
            worst as f64 * report.step_s as f64 / 3_600.0,
            short
        )
    } else {
        format!("{whose} is never short of the load")
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(
            minutes(from)..minutes(to).max(minutes(from) + 1.0),
            0.0..zoom_top.max(1e-9),
        )?;
    chart
        .configure_mesh()
        .x_desc("minutes from that moment")
        .y_desc("requests/s")
        .draw()?;
    let shaded = (from..to)
        .filter(|&i| report.load[i] > capacity[i])
        .map(|i| {
            Rectangle::new(
                [
                    (minutes(i), capacity[i]),
                    (minutes(i) + step_min, report.load[i]),
                ],
                SHORT.filled(),
            )
        });
    chart
        .draw_series(shaded)?
        .label(format!("{whose} shortfall"))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], SHORT.filled()));
    for (values, color, label) in [
        (&report.load, LOAD, "load"),
        (&hpa.capacity, HPA, "HPA Ready capacity"),
        (&ours.capacity, CAPACITY, "prescaler Ready capacity"),
    ] {
        let points = (from..to).map(|i| (minutes(i), values[i]));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    legend(&mut chart)?;
    Ok(())
}

/// The key in the upper left corner, over a translucent white box.
pub(crate) fn legend<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}
