//! Threshold checks for cron and Nagios/Icinga: `--threshold`, `--critical`, and
//! `-o nagios`. A check evaluates the groups of an ordinary snapshot, so every
//! filter and `--by` key works with it.
//!
//! Cron mails whatever a job prints, so a healthy check prints nothing at all, not
//! even collection warnings; they are shown only alongside a breach.

use std::io::Write;

use anyhow::Result;

use crate::config::{Check, CheckOutput};
use crate::exit;
use crate::output;
use crate::policy::{levels, rank, verdict};
use crate::render::{self, check::plugin_text};

pub fn run(mut c: Check) -> Result<i32> {
    if matches!(c.output, CheckOutput::Nagios) {
        // A plugin must answer in its own format even when it fails: UNKNOWN, exit 3.
        return match nagios(&mut c) {
            Ok(code) => Ok(code),
            Err(e) => {
                let _ = std::io::stdout().write_all(unknown(&e).as_bytes());
                Ok(exit::FAILURE)
            }
        };
    }
    let report = judged(&mut c)?;
    let verdict = levels::judge(&report, &c.levels);
    let readers = output::Readers::for_peek(c.sampler.peek.is_some());
    let written = match &c.output {
        CheckOutput::Lines if verdict.breaches.is_empty() => Ok(()),
        CheckOutput::Lines => {
            let text = render::check::breach_lines(&verdict, &report);
            let r = output::emit(c.output_file.as_deref(), readers, text.as_bytes());
            crate::output::to_stderr(&c.warnings.lines(&report.warnings));
            r
        }
        CheckOutput::Report(renderer) => output::emit(
            c.output_file.as_deref(),
            readers,
            &renderer.render(&report)?,
        ),
        CheckOutput::Nagios => unreachable!("answered above"),
    };
    match written {
        // `sockleak --threshold 5 | head -1`: the reader went away, the verdict
        // stands (cron and scripts branch on it).
        Err(e) if exit::is_broken_pipe(&e) => Ok(verdict.exit_code()),
        Err(e) => Err(e),
        Ok(()) => Ok(verdict.exit_code()),
    }
}

/// A snapshot with every group's verdict, worst first.
fn judged(c: &mut Check) -> Result<crate::model::report::Report> {
    let mut report = c.sampler.take()?;
    verdict::attach(&mut report, &c.verdicts);
    rank::worst_first(&mut report);
    Ok(report)
}

fn nagios(c: &mut Check) -> Result<i32> {
    let report = judged(c)?;
    let verdict = levels::judge(&report, &c.levels);
    let text = render::check::nagios(&report, &verdict, c.sampler.filters.protos);
    let readers = output::Readers::for_peek(c.sampler.peek.is_some());
    match output::emit(c.output_file.as_deref(), readers, text.as_bytes()) {
        Err(e) if exit::is_broken_pipe(&e) => Ok(verdict.exit_code()),
        other => other.map(|()| verdict.exit_code()),
    }
}

/// The plugin's answer to a failure.
pub fn unknown(e: &anyhow::Error) -> String {
    format!("SOCKLEAK UNKNOWN - {}\n", plugin_text(&format!("{e:#}")))
}
