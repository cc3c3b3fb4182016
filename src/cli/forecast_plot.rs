//! `prescaler explain --svg`: per metric, the last hour, the forecast with its band over
//! the planning window, the capacity of the replicas now and of the decision, and the
//! moment pods requested now would be Ready.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::controller::explain::{Explanation, MetricForecast};
use crate::sim::svg::{CAPACITY as FORECAST, LOAD, PlotError, legend};

const BAND: RGBColor = RGBColor(158, 202, 225);
const NOW: RGBColor = RGBColor(127, 127, 127);
const DESIRED: RGBColor = RGBColor(44, 160, 44);

/// Writes the plot of `e` to `path`; `replicas` is the target's count now.
pub fn write(e: &Explanation, replicas: i32, path: &std::path::Path) -> Result<(), PlotError> {
    let shown: Vec<&MetricForecast> = e
        .forecasts
        .iter()
        .filter(|m| !m.recent.is_empty() || !m.path.is_empty())
        .collect();
    let panels = shown.len().max(1);
    let root = SVGBackend::new(path, (1000, 340 * panels as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    if shown.is_empty() {
        root.titled(
            "no metric could be read, so there is nothing to plot",
            ("sans-serif", 18),
        )?;
    }
    let desired = e.status.desired_replicas;
    for (m, area) in shown.iter().zip(root.split_evenly((panels, 1))) {
        panel(e, m, (replicas, desired), &area)?;
    }
    root.present()?;
    Ok(())
}

fn panel(
    e: &Explanation,
    m: &MetricForecast,
    (replicas, desired): (i32, Option<i32>),
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
) -> Result<(), PlotError> {
    let minutes = |t: i64| (t - e.now) as f64 / 60.0;
    let capacity = |n: i32| f64::from(n) * m.per_replica;
    let top = m
        .recent
        .iter()
        .map(|p| p.1)
        .chain(m.path.iter().map(|p| p.2.unwrap_or(p.1)))
        .chain([capacity(replicas), capacity(desired.unwrap_or(0))])
        .fold(0.0, f64::max)
        * 1.15;
    let from = m.recent.first().map_or(-60.0, |p| minutes(p.0)).min(0.0);
    let to = m
        .path
        .last()
        .map_or(minutes(e.now + e.lead_s as i64), |p| minutes(p.0))
        .max(1.0);
    let unit = m.unit.as_deref().unwrap_or("the query's unit");
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "metric {}: the last hour and the forecast (quantile {}); {} per replica at target",
                m.metric,
                m.quantile,
                crate::controller::targets::short(m.per_replica)
            ),
            ("sans-serif", 17),
        )
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(from..to, 0.0..top.max(1e-9))?;
    chart
        .configure_mesh()
        .x_desc("minutes from now")
        .y_desc(unit)
        .draw()?;
    if m.path.iter().any(|p| p.2.is_some()) {
        let band: Vec<(f64, f64)> = m
            .path
            .iter()
            .map(|p| (minutes(p.0), p.1))
            .chain(
                m.path
                    .iter()
                    .rev()
                    .map(|p| (minutes(p.0), p.2.unwrap_or(p.1))),
            )
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, BAND.mix(0.6).filled())))?
            .label(format!("forecast band: point to quantile {}", m.quantile))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], BAND.filled()));
    }
    line(
        &mut chart,
        m.recent.iter().map(|p| (minutes(p.0), p.1)).collect(),
        (LOAD, "history".into()),
    )?;
    line(
        &mut chart,
        m.path.iter().map(|p| (minutes(p.0), p.1)).collect(),
        (FORECAST, "forecast (point)".into()),
    )?;
    if m.per_replica > 0.0 {
        let mut levels = vec![(
            replicas,
            NOW,
            format!("capacity of the {replicas} replicas now"),
        )];
        if let Some(d) = desired.filter(|d| *d != replicas) {
            levels.push((d, DESIRED, format!("capacity of the {d} replicas decided")));
        }
        for (n, color, label) in levels {
            let at = capacity(n);
            line(&mut chart, vec![(from, at), (to, at)], (color, label))?;
        }
    }
    let ready = minutes(e.now + e.lead_s as i64);
    chart
        .draw_series(LineSeries::new(
            [(ready, 0.0), (ready, top)],
            NOW.mix(0.8).stroke_width(1),
        ))?
        .label(format!(
            "pods requested now are Ready (leadTime {}s)",
            e.lead_s
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], NOW.mix(0.8)));
    legend(&mut chart)?;
    Ok(())
}

/// A line two pixels wide, with its entry in the legend.
fn line<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: Vec<(f64, f64)>,
    (color, label): (RGBColor, String),
) -> Result<(), PlotError> {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    Ok(())
}
