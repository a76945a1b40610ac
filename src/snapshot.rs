//! The default command: one snapshot, collected, aggregated and rendered.

use std::io::Write;

use anyhow::Result;

use crate::aggregate::{self, Report};
use crate::check;
use crate::cli::{Cli, Format};
use crate::collect::Collector;
use crate::exit;
use crate::output;
use crate::render::{self, json, prometheus, table};

/// Collect and aggregate one snapshot with the command line's options.
pub fn take(collector: &mut Collector, cli: &Cli) -> Result<Report> {
    let filters = cli.view.filters().map_err(exit::UsageError)?;
    let c = collector.collect()?;
    Ok(aggregate::aggregate(&c, &cli.view.group_by(), &filters))
}

pub fn run(cli: &Cli) -> Result<i32> {
    if cli.output.format() == Format::Nagios {
        // The plugin guidelines: every failure is an UNKNOWN line on stdout, exit 3.
        return Ok(match run_inner(cli) {
            Ok(code) => code,
            Err(e) if exit::is_broken_pipe(&e) => exit::OK,
            Err(e) => {
                let _ = std::io::stdout().write_all(check::nagios_unknown(&e).as_bytes());
                exit::FAILURE
            }
        });
    }
    run_inner(cli)
}

fn run_inner(cli: &Cli) -> Result<i32> {
    let levels = check::Levels::from_args(&cli.check, cli.watch.pool_size)?;
    let opts = cli.collect.options().map_err(exit::UsageError)?;
    // Validate everything before collecting.
    cli.view.filters().map_err(exit::UsageError)?;
    let mut collector = Collector::new(opts)?;
    let mut report = take(&mut collector, cli)?;
    let mut buf = Vec::new();
    if levels.is_set() && matches!(cli.output.format(), Format::Table | Format::Json) {
        // A check: silent when healthy, so cron mails only on a breach.
        let (out, err, code) = check::plain(&report, cli.watch.metric, levels);
        if !out.is_empty() {
            output::emit(cli.output.output_file.as_deref(), out.as_bytes())?;
        }
        let _ = std::io::stderr().write_all(err.as_bytes());
        return Ok(code);
    }
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
            let mut err = std::io::stderr().lock();
            for w in &report.warnings {
                let _ = writeln!(err, "warning: {w}");
            }
        }
        Format::Nagios => {
            let (line, code) =
                check::nagios(&report, cli.watch.metric, levels, cli.watch.pool_size);
            output::emit(cli.output.output_file.as_deref(), line.as_bytes())?;
            return Ok(code);
        }
        Format::Prometheus => {
            let o = prometheus::PromOptions {
                max_series: cli.output.max_series,
                pool_size: cli.watch.pool_size,
            };
            prometheus::write(&mut buf, &report, &o)?;
        }
    }
    output::emit(cli.output.output_file.as_deref(), &buf)?;
    Ok(exit::OK)
}
