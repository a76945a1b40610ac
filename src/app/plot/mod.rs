//! `sockleak plot`: a chart of a `--record` file, one line per group (the groups
//! with the highest peak), time on the x axis, and the pool size and warn level as
//! horizontal lines. Only a record with no sample at all is an error.

mod chart;
pub mod pool_log;
pub mod record;

use std::io::{self, BufReader, Write};

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

use crate::config::Plot;
use crate::exit::{self, UsageError};
use chart::ChartOpts;
use record::Record;

/// The font text is drawn with, embedded so that no system font library is needed.
const FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans-subset.ttf");

pub fn run(p: Plot) -> Result<i32> {
    // A `sockleak pool-log --json` document is drawn too (its routes' leases).
    let pool_log = pool_log::load(&p.input)
        .map_err(|e| UsageError(format!("{}: {e:#}", p.input.display())))?;
    let labels = pool_log.as_ref().map(pool_log::PoolPlot::labels);
    let rec = match pool_log {
        Some(log) => Record {
            samples: 1,
            series: log.series,
            pool_size: log.limit,
            ..Record::default()
        },
        None => record::read_record(BufReader::new(&p.record), p.metric),
    };
    report_bad_lines(&p, &rec);
    if rec.samples == 0 {
        return Err(UsageError(format!(
            "{}: no sockleak samples in it (write one with: sockleak --watch --record FILE)",
            p.input.display()
        ))
        .into());
    }
    let mut series = rec.series.clone();
    series.sort_by(|a, b| b.peak.cmp(&a.peak).then(a.label.cmp(&b.label)));
    series.truncate(p.top);
    // ENDPOINT=N rules: each group against the rule it matches (else its own).
    if p.pools.only_default().is_none() && !p.pools.is_empty() {
        for s in &mut series {
            let g = crate::model::report::Group::empty(s.key.clone());
            if let Some(size) = p.pools.for_group(&g) {
                s.pool = Some(size);
            }
        }
    }

    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font is invalid"))?;
    let size = (1100, 620);
    let opts = ChartOpts {
        metric: p.metric,
        pool: shared_pool(p.pools.only_default(), &series, rec.pool_size),
        warn_at: p.warn_at,
        start: rec.start,
        labels,
    };
    // Drawn into a new file beside the target (O_EXCL, a random name), then renamed
    // over it: a failed plot (a full disk) leaves the previous chart whole.
    let suffix = if p.svg { ".svg" } else { ".png" };
    crate::output::write_atomic_by_path(&p.output, "plot -o", suffix, |tmp| {
        if p.svg {
            let area = SVGBackend::new(tmp, size).into_drawing_area();
            chart::draw(area, &series, &opts)
        } else {
            let area = BitMapBackend::new(tmp, size).into_drawing_area();
            chart::draw(area, &series, &opts)
        }
        .with_context(|| format!("cannot draw {}", p.output.display()))
    })?;
    Ok(exit::OK)
}

/// The one pool every plotted group is drawn against: `--pool-size` when given, or
/// the pool all of them share. `None` when they have pools of their own: each is
/// then drawn against its own (see `chart::draw`).
fn shared_pool(
    flag: Option<u64>,
    series: &[record::PlotLine],
    recorded: Option<u64>,
) -> Option<u64> {
    if flag.is_some() {
        return flag;
    }
    let mut pools = series.iter().filter_map(|s| s.pool);
    match pools.next() {
        // A record from before per-group pools, or no plotted group in a pool.
        None => recorded,
        Some(first) if pools.all(|p| p == first) && series.iter().all(|s| s.pool.is_some()) => {
            Some(first)
        }
        Some(_) => None,
    }
}

fn report_bad_lines(p: &Plot, rec: &Record) {
    let mut err = io::stderr().lock();
    let input = crate::model::printable(&p.input.display().to_string()).into_owned();
    for (n, why) in &rec.bad_lines {
        let _ = writeln!(err, "{input}: line {n} skipped: {why}");
    }
    if rec.bad_count > rec.bad_lines.len() {
        let more = rec.bad_count - rec.bad_lines.len();
        let _ = writeln!(err, "{input}: {more} more bad lines skipped");
    }
}
