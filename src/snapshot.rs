//! The default command: one snapshot, collected, aggregated and rendered in the
//! chosen format. Checks (`--threshold`, `-o nagios`) are routed to [`crate::check`].

use std::io::Write;

use anyhow::Result;

use crate::aggregate::{self, Report};
use crate::cli::{Cli, CollectArgs, Format, ViewArgs};
use crate::collect::Collector;
use crate::exit::{self, UsageError};
use crate::filter::Filters;
use crate::output;
use crate::render::{self, json, prometheus, table};

/// Validate the command line's collection options and filters, before anything is
/// collected or written.
pub fn prepare(collect: &CollectArgs, view: &ViewArgs) -> Result<(Collector, Filters)> {
    let filters = view.filters().map_err(UsageError)?;
    let collector = Collector::new(collect.options().map_err(UsageError)?)?;
    Ok((collector, filters))
}

/// Collect and aggregate one snapshot.
pub fn take(collector: &mut Collector, cli: &Cli, filters: &Filters) -> Result<Report> {
    let c = collector.collect()?;
    Ok(aggregate::aggregate(&c, &cli.view.group_by(), filters))
}

pub fn run(cli: &Cli) -> Result<i32> {
    if cli.check.threshold.is_some()
        || cli.check.critical.is_some()
        || cli.output.format() == Format::Nagios
    {
        return crate::check::run(cli);
    }
    let (mut collector, filters) = prepare(&cli.collect, &cli.view)?;
    let report = take(&mut collector, cli, &filters)?;
    render(cli, &report)?;
    Ok(exit::OK)
}

/// Render `report` in the command line's format to stdout or `--output-file`.
pub fn render(cli: &Cli, report: &Report) -> Result<()> {
    let mut buf = Vec::new();
    match cli.output.format() {
        // JSON is cut only when --top is given explicitly.
        Format::Json => match cli
            .output
            .top
            .filter(|t| *t > 0 && *t < report.groups.len())
        {
            Some(top) => {
                let mut cut = report.clone();
                cut.groups.truncate(top);
                json::write(&mut buf, &cut)?;
            }
            None => json::write(&mut buf, report)?,
        },
        Format::Prometheus => {
            let opts = prometheus::PromOptions {
                max_series: cli.output.max_series,
                pool_size: cli.watch.pool_size,
            };
            buf = prometheus::render(report, opts).into_bytes();
        }
        Format::Table | Format::Nagios => {
            let opts = table::TableOptions {
                top: cli.output.top.unwrap_or(20),
                header: !cli.output.no_header,
                color: render::use_color() && cli.output.output_file.is_none(),
                more_hint: table::TableOptions::TOP_HINT,
            };
            table::write(&mut buf, report, opts)?;
            // After the table, next to the footer, where they are read.
            output::emit(cli.output.output_file.as_deref(), &buf)?;
            let mut err = std::io::stderr().lock();
            for w in &report.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            return Ok(());
        }
    }
    output::emit(cli.output.output_file.as_deref(), &buf)
}
