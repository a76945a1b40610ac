//! The default command: one snapshot, collected, aggregated and rendered.

use std::io::Write;

use anyhow::Result;

use crate::aggregate::{self, Report};
use crate::cli::{Cli, Format};
use crate::collect::Collector;
use crate::exit;
use crate::output;
use crate::render::{self, json, table};

/// Collect and aggregate one snapshot with the command line's options.
pub fn take(collector: &mut Collector, cli: &Cli) -> Result<Report> {
    let filters = cli.view.filters().map_err(exit::UsageError)?;
    let c = collector.collect()?;
    Ok(aggregate::aggregate(&c, &cli.view.group_by(), &filters))
}

pub fn run(cli: &Cli) -> Result<i32> {
    let opts = cli.collect.options().map_err(exit::UsageError)?;
    // Validate everything before collecting.
    cli.view.filters().map_err(exit::UsageError)?;
    let mut collector = Collector::new(opts)?;
    let mut report = take(&mut collector, cli)?;
    let mut buf = Vec::new();
    match cli.output.format() {
        Format::Json => {
            if let Some(top) = cli.output.top.filter(|t| *t > 0) {
                report.groups.truncate(top);
            }
            json::write(&mut buf, &report)?;
        }
        Format::Table => {
            let opts = table::TableOptions {
                top: cli.output.top.unwrap_or(20),
                header: !cli.output.no_header,
                color: render::use_color() && cli.output.output_file.is_none(),
            };
            table::write(&mut buf, &report, opts)?;
            // After the table, next to the footer, where they are read.
            output::emit(cli.output.output_file.as_deref(), &buf)?;
            let mut err = std::io::stderr().lock();
            for w in &report.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            return Ok(exit::OK);
        }
        Format::Prometheus | Format::Nagios => {
            return Err(exit::UsageError(
                "-o prometheus and -o nagios are not available in this build".into(),
            )
            .into());
        }
    }
    output::emit(cli.output.output_file.as_deref(), &buf)?;
    Ok(exit::OK)
}
