//! Drawing the chart: one line per group, time on the x axis, and the pool size and
//! warn level as horizontal lines, on any plotters backend (SVG or PNG).

use std::time::SystemTime;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::record::PlotLine;
use crate::model::{Percent, TcpState};

/// An axis tick: whole numbers without a decimal point.
fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub struct ChartOpts {
    pub metric: TcpState,
    pub pool: Option<u64>,
    pub warn_at: Percent,
    pub start: Option<SystemTime>,
    /// Caption, y axis and start for a chart that is not of sockets (a pool log).
    pub labels: Option<super::pool_log::Labels>,
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[PlotLine],
    o: &ChartOpts,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    root.fill(&WHITE).map_err(e)?;
    let xmax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(x, _)| *x))
        .fold(1.0f64, f64::max);
    // Hours of record read better in minutes or hours than as "30000" seconds. The
    // axis is built in that unit, so that its ticks are round numbers of it.
    let (unit, per) = if xmax > 7200.0 {
        ("hours", 3600.0)
    } else if xmax > 600.0 {
        ("minutes", 60.0)
    } else {
        ("seconds", 1.0)
    };
    let peak = series.iter().map(|s| s.peak).max().unwrap_or(0);
    let top_pool = series.iter().filter_map(|s| s.pool).max().unwrap_or(0);
    let pool = o.pool.unwrap_or(top_pool);
    let ymax = (peak.max(pool) as f64 * 1.1).max(1.0);
    let caption = match &o.labels {
        Some(l) => l.caption.clone(),
        None => format!("sockleak: {} sockets per group", o.metric.snake()),
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..xmax / per, 0f64..ymax)
        .map_err(e)?;
    mesh(&mut chart, o, unit, ymax).map_err(e)?;
    // The pool and warn lines first, so that a group at the pool size is drawn
    // over its line rather than hidden under it.
    pool_lines(&mut chart, o, xmax / per).map_err(e)?;
    if o.pool.is_none() {
        own_pool_lines(&mut chart, series, xmax / per).map_err(e)?;
    }
    // Wide lines first: a line equal to one of them is drawn over it.
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_by_key(|&i| !series[i].wide);
    for i in order {
        let s = &series[i];
        // Start at blue: red and magenta mark the pool and warn lines.
        let color = Palette99::pick(i + 3).to_rgba();
        let style = match s.wide {
            true => color.mix(0.35).stroke_width(7),
            false => color.stroke_width(2),
        };
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|(x, c)| (*x / per, *c as f64)),
                style,
            ))
            .map_err(e)?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// The axes, their labels and the grid.
fn mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    o: &ChartOpts,
    unit: &str,
    ymax: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let since = o
        .start
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .or_else(|| o.labels.as_ref().map(|l| l.since.clone()))
        .unwrap_or_default();
    let y_desc = match &o.labels {
        Some(l) => l.y_desc.clone(),
        None => format!("{} sockets", o.metric.snake()),
    };
    let x_label = |x: &f64| tick(*x);
    // Counts are whole: at most one tick per unit, and no "0.5 sockets" label.
    let y_label = |y: &f64| {
        if (y - y.round()).abs() < 1e-9 {
            format!("{y:.0}")
        } else {
            String::new()
        }
    };
    let y_ticks = (ymax.floor() as usize + 1).clamp(2, 11);
    chart
        .configure_mesh()
        .x_desc(format!("{unit} since {since}"))
        .y_desc(y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .y_labels(y_ticks)
        .label_style(("sans-serif", 14))
        .draw()
}

/// The pool size and the warn level as horizontal lines, when the pool is known.
fn pool_lines<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    o: &ChartOpts,
    xmax: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let Some(pool) = o.pool else {
        return Ok(());
    };
    let warn = o.warn_at.of_ceil(pool);
    for (y, label, color) in [
        (pool as f64, format!("pool size {pool}"), RED),
        (
            warn as f64,
            format!("warn {:.0}% ({warn})", o.warn_at.get()),
            MAGENTA,
        ),
    ] {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, y), (xmax, y)],
                color.stroke_width(1),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    Ok(())
}

/// Groups with pools of different sizes: each one's pool as a thin line in its
/// own colour.
fn own_pool_lines<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    series: &[PlotLine],
    xmax: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, s) in series.iter().enumerate() {
        let Some(pool) = s.pool else { continue };
        let color = Palette99::pick(i + 3).to_rgba();
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, pool as f64), (xmax, pool as f64)],
                color.stroke_width(1),
            ))?
            .label(format!("pool {pool}: {}", s.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warn_line_is_at_the_count_it_names() {
        // `--watch` warns from the share of the pool, and counts are whole: 75%
        // of 10 is drawn (and named) at 8, not 7.5.
        let warn_level = |pool| Percent::WARN_DEFAULT.of_ceil(pool);
        assert_eq!(warn_level(10), 8, "75% of 10 is reached at 8 sockets");
        assert_eq!(warn_level(20), 15);
        assert_eq!(warn_level(1024), 768);
    }
}
