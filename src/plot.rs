//! `sockleak plot`: a chart of a `--record` file, one line per group (the groups
//! with the highest peak), time on the x axis, and the pool size and warn level as
//! horizontal lines.
//!
//! The record is read line by line and never trusted: a line that is not a sample
//! (half-written at a crash, or from another file) is reported by number and
//! skipped; only a file with no sample at all is an error.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use crate::cli::PlotArgs;
use crate::exit::{self, UsageError};
use crate::model::TcpState;

/// The font text is drawn with, embedded so that no system font library is needed.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// One group's counts over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    /// (seconds since the first sample, count)
    pub points: Vec<(f64, u64)>,
    pub peak: u64,
}

/// What a record file holds, and which of its lines were not samples.
#[derive(Debug, Default)]
pub struct Record {
    pub start: Option<SystemTime>,
    pub samples: usize,
    pub series: Vec<Series>,
    pub pool_size: Option<u64>,
    /// (line number, why)
    pub bad_lines: Vec<(usize, String)>,
}

/// A stable identity for a group across samples, and a label for the legend.
fn group_identity(g: &Value) -> (String, String) {
    let f = |k: &str| match &g[k] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    };
    let id = [
        "pid",
        "process",
        "user",
        "attribution",
        "direction",
        "local",
        "remote",
        "local_port",
        "remote_port",
        "state",
        "netns",
    ]
    .iter()
    .map(|k| f(k).unwrap_or_default())
    .collect::<Vec<_>>()
    .join("|");
    let mut label = Vec::new();
    if let Some(p) = f("pid") {
        label.push(p);
    }
    match (f("process"), f("attribution").as_deref()) {
        (Some(p), _) => label.push(p),
        (None, Some("unowned")) => label.push("(unowned)".into()),
        (None, Some("unattributed")) => label.push("(unattributed)".into()),
        _ => {}
    }
    if let Some(u) = f("user").filter(|_| g["pid"].is_null()) {
        label.push(u);
    }
    match (f("local"), f("remote")) {
        (Some(l), None) => label.push(format!("<- {l}")),
        (None, Some(r)) => label.push(format!("-> {r}")),
        (Some(l), Some(r)) => label.push(format!("{l} <- {r}")),
        _ => {}
    }
    if let Some(s) = f("state") {
        label.push(s);
    }
    (id, label.join(" "))
}

/// Parse a record (NDJSON samples of `--watch --json/--record`).
pub fn read_record(input: impl BufRead, metric: TcpState) -> Record {
    let mut rec = Record::default();
    // id -> (label, points)
    let mut by_id: HashMap<String, (String, Vec<(f64, u64)>)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut times: Vec<f64> = Vec::new();
    for (i, line) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                rec.bad_lines.push((n, format!("read error: {e}")));
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                rec.bad_lines.push((n, format!("not JSON ({e})")));
                continue;
            }
        };
        let (Some(1), Some(time), Some(groups)) = (
            v["version"].as_u64(),
            v["time"].as_str(),
            v["groups"].as_array(),
        ) else {
            rec.bad_lines.push((
                n,
                "not a sockleak sample (needs version 1, time, groups)".into(),
            ));
            continue;
        };
        let Ok(t) = humantime::parse_rfc3339(time) else {
            rec.bad_lines.push((n, format!("bad time '{time}'")));
            continue;
        };
        // Prefer the millisecond `unix_time` of watch samples over the whole-second `time`.
        let t = v["unix_time"]
            .as_f64()
            .filter(|u| u.is_finite() && *u > 0.0 && *u < 1e11)
            .map_or(t, |u| {
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(u)
            });
        let start = *rec.start.get_or_insert(t);
        let x = t
            .duration_since(start)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if rec.pool_size.is_none() {
            rec.pool_size = v["pool_size"].as_u64();
        }
        times.push(x);
        let mut seen = std::collections::HashSet::new();
        for g in groups {
            let (id, label) = group_identity(g);
            let count = g["states"][metric.snake()].as_u64().unwrap_or(0);
            let entry = by_id.entry(id.clone()).or_insert_with(|| {
                order.push(id.clone());
                (label, Vec::new())
            });
            // A group listed twice in one sample (should not happen) counts once.
            if seen.insert(id) {
                entry.1.push((x, count));
            }
        }
        // A group missing from a sample had nothing matching: it is at zero then.
        for id in &order {
            if !seen.contains(id) {
                let e = by_id.get_mut(id).expect("ordered ids exist");
                if e.1.last().is_some_and(|(t, _)| *t < x) {
                    e.1.push((x, 0));
                }
            }
        }
        rec.samples += 1;
    }
    rec.series = order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .map(|(label, points)| Series {
            peak: points.iter().map(|(_, c)| *c).max().unwrap_or(0),
            label,
            points,
        })
        .collect();
    rec
}

pub fn run(args: &PlotArgs) -> Result<i32> {
    let ext = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => {
            return Err(UsageError(format!(
                "-o {}: the extension chooses the format: use .svg or .png",
                args.output.display()
            ))
            .into());
        }
    };
    // The output's directory first: a raw backend error after reading the whole
    // record would name neither the problem nor the fix.
    let dir = match args.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "-o {}: the directory {} does not exist (create it, or write elsewhere)",
            args.output.display(),
            dir.display()
        ))
        .into());
    }
    let file = std::fs::File::open(&args.input)
        .map_err(|e| UsageError(format!("{}: cannot read it: {e}", args.input.display())))?;
    // A `sockleak pool-log --json` document is drawn too (its routes' leases).
    let pool_log = crate::poollog::plot::load(&args.input)
        .map_err(|e| UsageError(format!("{}: {e:#}", args.input.display())))?;
    let labels = pool_log
        .as_ref()
        .map(crate::poollog::plot::PoolPlot::labels);
    let rec = match pool_log {
        Some(p) => Record {
            samples: 1,
            series: p.series,
            pool_size: p.limit,
            ..Record::default()
        },
        None => read_record(BufReader::new(file), args.metric),
    };
    let mut err = io::stderr().lock();
    for (n, why) in rec.bad_lines.iter().take(20) {
        let _ = writeln!(err, "{}: line {n} skipped: {why}", args.input.display());
    }
    if rec.bad_lines.len() > 20 {
        let _ = writeln!(
            err,
            "{}: {} more bad lines skipped",
            args.input.display(),
            rec.bad_lines.len() - 20
        );
    }
    if rec.samples == 0 {
        return Err(UsageError(format!(
            "{}: no sockleak samples in it (write one with: sockleak --watch --record FILE)",
            args.input.display()
        ))
        .into());
    }
    let pool = args.pool_size.or(rec.pool_size);
    let mut series = rec.series.clone();
    series.sort_by(|a, b| b.peak.cmp(&a.peak).then(a.label.cmp(&b.label)));
    series.truncate(args.top as usize);

    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font is invalid"))?;
    let size = (1100, 620);
    let opts = ChartOpts {
        metric: args.metric,
        pool,
        warn_pct: args.warn_at,
        start: rec.start,
        labels,
    };
    if svg {
        draw(
            SVGBackend::new(&args.output, size).into_drawing_area(),
            &series,
            &opts,
        )
    } else {
        draw(
            BitMapBackend::new(&args.output, size).into_drawing_area(),
            &series,
            &opts,
        )
    }
    .with_context(|| format!("cannot draw {}", args.output.display()))?;
    Ok(exit::OK)
}

/// An axis tick: whole numbers without a decimal point.
fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

struct ChartOpts {
    metric: TcpState,
    pool: Option<u64>,
    warn_pct: f64,
    start: Option<SystemTime>,
    /// Caption, y axis and start for a chart that is not of sockets.
    labels: Option<crate::poollog::plot::Labels>,
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[Series],
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
    let peak = series.iter().map(|s| s.peak).max().unwrap_or(0);
    let ymax = (peak.max(o.pool.unwrap_or(0)) as f64 * 1.1).max(1.0);
    let since = o
        .start
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .or_else(|| o.labels.as_ref().map(|l| l.since.clone()))
        .unwrap_or_default();
    let (caption, y_desc) = match &o.labels {
        Some(l) => (l.caption.clone(), l.y_desc.clone()),
        None => (
            format!("sockleak: {} sockets per group", o.metric.snake()),
            format!("{} sockets", o.metric.snake()),
        ),
    };
    // Hours of record read better in minutes or hours than as "30000" seconds. The
    // axis is built in that unit, so that its ticks are round numbers of it.
    let (unit, per) = if xmax > 7200.0 {
        ("hours", 3600.0)
    } else if xmax > 600.0 {
        ("minutes", 60.0)
    } else {
        ("seconds", 1.0)
    };
    let xmax = xmax / per;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(e)?;
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
        .map_err(e)?;
    // The pool and warn lines first, so that a group at the pool size is drawn
    // over its line rather than hidden under it.
    if let Some(pool) = o.pool {
        let warn = pool as f64 * o.warn_pct / 100.0;
        for (y, label, color) in [
            (pool as f64, format!("pool size {pool}"), RED),
            (
                warn,
                format!("warn {:.0}% ({warn:.0})", o.warn_pct),
                MAGENTA,
            ),
        ] {
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, y), (xmax, y)],
                    color.stroke_width(1),
                ))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    for (i, s) in series.iter().enumerate() {
        // Start at blue: red and magenta mark the pool and warn lines.
        let color = Palette99::pick(i + 3).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|(x, c)| (*x / per, *c as f64)),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(time: &str, groups: &str) -> String {
        format!("{{\"version\":1,\"sample\":1,\"time\":\"{time}\",\"groups\":[{groups}]}}\n")
    }

    #[test]
    fn reads_samples_and_reports_bad_lines() {
        let g = |n: u64| {
            format!(
                "{{\"pid\":7,\"process\":\"x\",\"remote\":\"10.0.0.1:5432\",\"states\":{{\"close_wait\":{n}}}}}"
            )
        };
        let mut text = String::new();
        text += &sample("2026-01-01T00:00:00Z", &g(1));
        text += "garbage\n";
        text += &sample("2026-01-01T00:00:02Z", &g(3));
        text += "{\"foreign\": true}\n";
        text += &sample("2026-01-01T00:00:04Z", "");
        text += &sample("2026-01-01T00:00:06Z", &g(5))[..30]; // torn last line
        let rec = read_record(text.as_bytes(), TcpState::CloseWait);
        assert_eq!(rec.samples, 3);
        assert_eq!(
            rec.bad_lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![2, 4, 6]
        );
        assert_eq!(rec.series.len(), 1);
        assert_eq!(rec.series[0].label, "7 x -> 10.0.0.1:5432");
        assert_eq!(rec.series[0].points, vec![(0.0, 1), (2.0, 3), (4.0, 0)]);
        assert_eq!(rec.series[0].peak, 3);
    }

    #[test]
    fn random_bytes_never_panic() {
        let base = sample(
            "2026-01-01T00:00:00Z",
            "{\"pid\":1,\"states\":{\"close_wait\":2}}",
        );
        let mut seed = 0x9E3779B97F4A7C15u64;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = base.clone().into_bytes();
            let i = (seed as usize) % b.len();
            b[i] = (seed >> 40) as u8;
            b.truncate(((seed >> 20) as usize) % (b.len() + 1));
            let _ = read_record(b.as_slice(), TcpState::CloseWait);
        }
    }
}
