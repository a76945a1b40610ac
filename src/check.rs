//! Threshold checks for cron and Nagios/Icinga: `--threshold`, `--critical`, and
//! `-o nagios`. A check evaluates the groups of an ordinary snapshot, so every
//! filter and `--by` key works with it.
//!
//! Cron mails whatever a job prints, so a healthy check prints nothing at all, not
//! even collection warnings; they are shown only alongside a breach.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use crate::aggregate::{Group, GroupField, Report};
use crate::cli::{Cli, Format, Threshold};
use crate::exit::{self, UsageError};
use crate::model::TcpState;
use crate::{output, snapshot};

/// Resolved levels: absolute counts of `metric` per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub metric: TcpState,
    pub warn: Option<u64>,
    pub crit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Levels {
    /// Resolve `--threshold`/`--critical` (counts or shares of `--pool-size`).
    pub fn from_cli(cli: &Cli) -> Result<Levels, UsageError> {
        let pool = cli.watch.pool_size;
        let resolve = |flag: &str, t: Option<Threshold>| -> Result<Option<u64>, UsageError> {
            match t {
                None => Ok(None),
                Some(t) => t.resolve(pool).map(|n| Some(n.max(1))).ok_or_else(|| {
                    UsageError(format!(
                        "{flag} as a percentage needs --pool-size (e.g. {flag} 75% --pool-size 1024), or give a count such as {flag} 100"
                    ))
                }),
            }
        };
        let warn = resolve("--threshold", cli.check.threshold)?;
        let crit = resolve("--critical", cli.check.critical)?;
        if let (Some(w), Some(c)) = (warn, crit)
            && c < w
        {
            return Err(UsageError(format!(
                "--critical ({c}) is below --threshold ({w}); the critical level must be at least the warning level"
            )));
        }
        Ok(Levels {
            metric: cli.watch.metric,
            warn,
            crit,
        })
    }

    pub fn severity(&self, count: u64) -> Option<Severity> {
        if self.crit.is_some_and(|c| count >= c) {
            Some(Severity::Critical)
        } else if self.warn.is_some_and(|w| count >= w) {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

/// Groups at or over a level, worst first (the report's order).
pub fn breaches<'a>(r: &'a Report, l: &Levels) -> Vec<(&'a Group, Severity)> {
    r.groups
        .iter()
        .filter_map(|g| l.severity(g.states.get(l.metric)).map(|s| (g, s)))
        .collect()
}

/// The exit code for a set of breaches.
pub fn exit_code(b: &[(&Group, Severity)]) -> i32 {
    match b.iter().map(|(_, s)| *s).max() {
        None => exit::OK,
        Some(Severity::Warning) => exit::BREACH,
        Some(Severity::Critical) => exit::CRITICAL,
    }
}

/// "pid 10725 billing-api outbound 127.0.0.1:42063", from whatever the key holds;
/// the namespace and container only where they say something: when they are
/// grouping keys, or (namespace) when it is not sockleak's own. Process names are
/// escaped: this is a terminal line.
pub fn describe(g: &Group, r: &Report) -> String {
    let key = |f: GroupField| r.group_by.contains(&f);
    let mut parts = Vec::new();
    if let Some(pid) = g.pid {
        parts.push(format!("pid {pid}"));
    }
    if g.process.is_some() || g.attribution.is_some() {
        parts.push(g.process_text());
    }
    if g.pid.is_none()
        && let Some(u) = &g.user
    {
        parts.push(format!("user {}", crate::model::printable(u)));
    }
    if let Some(d) = g.direction {
        parts.push(d.as_str().to_string());
    }
    let ep = g.endpoint_label();
    if ep != "*" {
        parts.push(ep);
    }
    if let Some(st) = g.state {
        parts.push(format!("state {}", st.snake()));
    }
    match &g.container {
        Some(c) => parts.push(format!("container {}", crate::model::printable(&c.short()))),
        None if key(GroupField::Container) => parts.push("no container".to_string()),
        None => {}
    }
    if let Some(ns) = g
        .netns
        .filter(|ns| *ns != r.host_netns || key(GroupField::Netns))
    {
        parts.push(format!("netns {ns}"));
    }
    parts.join(" ")
}

/// One line per breaching group.
pub fn breach_lines(b: &[(&Group, Severity)], l: &Levels, r: &Report) -> String {
    let mut out = String::new();
    for (g, sev) in b {
        let (word, level) = match sev {
            Severity::Warning => ("WARNING", l.warn),
            Severity::Critical => ("CRITICAL", l.crit),
        };
        let _ = writeln!(
            out,
            "{word} {}: {} {} >= {} {}",
            describe(g, r),
            g.states.get(l.metric),
            l.metric.snake(),
            if *sev == Severity::Critical {
                "critical"
            } else {
                "threshold"
            },
            level.unwrap_or(0),
        );
    }
    out
}

/// `SOCKLEAK OK - ... | perfdata`, by the Monitoring Plugins guidelines.
pub fn nagios(r: &Report, l: &Levels) -> (String, i32) {
    let b = breaches(r, l);
    let code = exit_code(&b);
    let status = ["OK", "WARNING", "CRITICAL"][code as usize];
    let metric = l.metric.snake();
    let worst = r
        .groups
        .iter()
        .max_by_key(|g| g.states.get(l.metric))
        .filter(|g| g.states.get(l.metric) > 0);
    let summary = if b.is_empty() {
        match worst {
            Some(g) => format!(
                "worst group has {} {metric} ({}); host {} {metric}",
                g.states.get(l.metric),
                describe(g, r),
                r.totals.states.get(l.metric)
            ),
            None => format!("no group has {metric} sockets"),
        }
    } else {
        let (g, _) = b[0];
        format!(
            "{} group{} over threshold; worst: {} has {} {metric}",
            b.len(),
            if b.len() == 1 { "" } else { "s" },
            describe(g, r),
            g.states.get(l.metric)
        )
    };
    let lvl = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let perf = format!(
        "{metric}={};;;0 established={};;;0 total={};;;0 worst_group={};{};{};0 unattributed={};;;0",
        r.totals.states.get(l.metric),
        r.totals.states.get(TcpState::Established),
        r.totals.sockets,
        worst.map_or(0, |g| g.states.get(l.metric)),
        lvl(l.warn),
        lvl(l.crit),
        r.totals.unattributed,
    );
    (
        format!("SOCKLEAK {status} - {} | {perf}\n", plugin_text(&summary)),
        code,
    )
}

/// Text for a plugin's status line: one line, and no `|`, which would start the
/// performance data (a process may be named `x|fake=99`): it becomes `¦`.
pub fn plugin_text(s: &str) -> String {
    s.replace('|', "¦").replace(['\n', '\r'], " ")
}

/// `--threshold` / `--critical` / `-o nagios`.
pub fn run(cli: &Cli) -> Result<i32> {
    let format = cli.output.format();
    if format == Format::Nagios {
        // A plugin must answer in its own format even when it fails: UNKNOWN, exit 3.
        return match nagios_report(cli) {
            Ok((text, code)) => {
                output::emit(cli.output.output_file.as_deref(), text.as_bytes())?;
                Ok(code)
            }
            Err(e) if exit::is_broken_pipe(&e) => Ok(exit::OK),
            Err(e) => {
                let line = format!("SOCKLEAK UNKNOWN - {}\n", plugin_text(&format!("{e:#}")));
                let _ = std::io::stdout().write_all(line.as_bytes());
                Ok(exit::FAILURE)
            }
        };
    }
    let (levels, report) = evaluate(cli)?;
    let b = breaches(&report, &levels);
    let code = exit_code(&b);
    match format {
        Format::Table => {
            if !b.is_empty() {
                output::emit(
                    cli.output.output_file.as_deref(),
                    breach_lines(&b, &levels, &report).as_bytes(),
                )?;
                let mut err = std::io::stderr().lock();
                for w in &report.warnings {
                    let _ = writeln!(err, "warning: {w}");
                }
            }
        }
        _ => snapshot::render(cli, &report)?,
    }
    Ok(code)
}

fn nagios_report(cli: &Cli) -> Result<(String, i32)> {
    let (levels, report) = evaluate(cli)?;
    Ok(nagios(&report, &levels))
}

/// Validate the levels and the command line, then take the snapshot they apply to.
fn evaluate(cli: &Cli) -> Result<(Levels, Report)> {
    let levels = Levels::from_cli(cli)?;
    let (mut collector, filters) = snapshot::prepare(&cli.collect, &cli.view)?;
    Ok((levels, snapshot::take(&mut collector, cli, &filters)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_levels() {
        let l = Levels {
            metric: TcpState::CloseWait,
            warn: Some(15),
            crit: Some(20),
        };
        assert_eq!(l.severity(14), None);
        assert_eq!(l.severity(15), Some(Severity::Warning));
        assert_eq!(l.severity(20), Some(Severity::Critical));
        let only_crit = Levels { warn: None, ..l };
        assert_eq!(only_crit.severity(19), None);
        assert_eq!(only_crit.severity(25), Some(Severity::Critical));
    }
}
