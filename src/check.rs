//! Threshold checks for cron and Nagios/Icinga: evaluate every group of a normal
//! snapshot against `--threshold` / `--critical` on the `--metric` state.
//!
//! Plain mode is built for cron, which mails only when a job prints: a healthy check
//! prints nothing at all (collection warnings included) and exits 0; a breach prints
//! one line per breaching group, then the collection warnings on stderr (they may
//! explain a low count), and exits 1 (2 if any group reaches `--critical`).
//! `-o nagios` follows the Monitoring Plugins guidelines: one status line with
//! performance data, exit 0/1/2/3.

use std::fmt::Write as _;

use crate::aggregate::{Group, Report};
use crate::cli::{CheckArgs, Threshold};
use crate::exit::{self, UsageError};
use crate::model::TcpState;

/// Resolved levels, as socket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Levels {
    pub warn: Option<u64>,
    pub crit: Option<u64>,
}

fn resolve(flag: &str, t: Threshold, pool_size: Option<u64>) -> Result<u64, UsageError> {
    t.resolve(pool_size).ok_or_else(|| {
        let Threshold::Percent(p) = t else {
            unreachable!("counts always resolve")
        };
        UsageError(format!(
            "{flag} {p}%: a percentage needs --pool-size N (or give a count, e.g. {flag} 100)"
        ))
    })
}

impl Levels {
    /// Resolve `--threshold` / `--critical` against `--pool-size`; a percentage
    /// without a pool size, or a critical level below the warning level, is a
    /// usage error.
    pub fn from_args(c: &CheckArgs, pool_size: Option<u64>) -> Result<Levels, UsageError> {
        let warn = c
            .threshold
            .map(|t| resolve("--threshold", t, pool_size))
            .transpose()?;
        let crit = c
            .critical
            .map(|t| resolve("--critical", t, pool_size))
            .transpose()?;
        if let (Some(w), Some(cr)) = (warn, crit)
            && cr < w
        {
            return Err(UsageError(format!(
                "--critical ({cr}) is below --threshold ({w}): the critical level must be at or above the warning level"
            )));
        }
        Ok(Levels { warn, crit })
    }

    pub fn is_set(&self) -> bool {
        self.warn.is_some() || self.crit.is_some()
    }
}

/// The status of one group or of the whole check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => exit::OK,
            Status::Warning => exit::BREACH,
            Status::Critical => exit::CRITICAL,
        }
    }

    pub fn nagios(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
        }
    }
}

/// A group at or over a level.
pub struct Breach<'a> {
    pub group: &'a Group,
    pub count: u64,
    pub status: Status,
    /// The level it reached.
    pub level: u64,
}

fn status_of(count: u64, l: Levels) -> Option<(Status, u64)> {
    if let Some(c) = l.crit.filter(|c| count >= *c) {
        return Some((Status::Critical, c));
    }
    l.warn.filter(|w| count >= *w).map(|w| (Status::Warning, w))
}

/// Every breaching group, worst first.
pub fn breaches(report: &Report, metric: TcpState, l: Levels) -> Vec<Breach<'_>> {
    let mut out: Vec<Breach> = report
        .groups
        .iter()
        .filter_map(|g| {
            let count = g.states.get(metric);
            status_of(count, l).map(|(status, level)| Breach {
                group: g,
                count,
                status,
                level,
            })
        })
        .collect();
    out.sort_by(|a, b| b.status.cmp(&a.status).then(b.count.cmp(&a.count)));
    out
}

fn pid_label(g: &Group) -> String {
    match (g.pid, g.pids.as_slice()) {
        (Some(p), _) => p.to_string(),
        (None, []) => "-".into(),
        (None, pids) => pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Nagios reserves `|` for the perfdata separator; keep it out of the summary.
fn no_pipe(s: &str) -> String {
    s.replace('|', "/")
}

/// The plain (cron) check: (stdout text, stderr text, exit code). Both texts are
/// empty when healthy.
pub fn plain(report: &Report, metric: TcpState, l: Levels) -> (String, String, i32) {
    let b = breaches(report, metric, l);
    let Some(worst) = b.first().map(|x| x.status) else {
        return (String::new(), String::new(), exit::OK);
    };
    let mut out = String::new();
    for x in &b {
        let level_name = match x.status {
            Status::Critical => "critical",
            _ => "threshold",
        };
        let _ = writeln!(
            out,
            "sockleak: {} pid={} process={} endpoint={} {}={} {}={}",
            x.status.nagios(),
            pid_label(x.group),
            x.group.process_label(),
            x.group.endpoint_label().replace(' ', ""),
            metric.snake(),
            x.count,
            level_name,
            x.level
        );
    }
    let mut err = String::new();
    for w in &report.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    (out, err, worst.exit_code())
}

fn perf(label: &str, value: u64, l: Levels, max: Option<u64>) -> String {
    let o = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    format!("{label}={value};{};{};0;{}", o(l.warn), o(l.crit), o(max))
}

/// The Nagios plugin output line and its exit code.
pub fn nagios(report: &Report, metric: TcpState, l: Levels, pool: Option<u64>) -> (String, i32) {
    let b = breaches(report, metric, l);
    let status = b.first().map_or(Status::Ok, |x| x.status);
    let worst = report
        .groups
        .iter()
        .max_by_key(|g| g.states.get(metric))
        .filter(|g| g.states.get(metric) > 0);
    let name = metric.snake();
    let mut summary = if b.is_empty() {
        match worst {
            Some(g) => format!(
                "no group over the thresholds; worst {} {} {name}={}",
                pid_label(g),
                g.process_label(),
                g.states.get(metric)
            ),
            None => format!("no {name} sockets"),
        }
    } else {
        let shown: Vec<String> = b
            .iter()
            .take(3)
            .map(|x| {
                format!(
                    "{}[{}] {} {name}={}",
                    x.group.process_label(),
                    pid_label(x.group),
                    x.group.endpoint_label().replace(' ', ""),
                    x.count
                )
            })
            .collect();
        let more = b.len().saturating_sub(3);
        let mut s = format!("{} group(s) over threshold: {}", b.len(), shown.join(", "));
        if more > 0 {
            let _ = write!(s, " and {more} more");
        }
        s
    };
    summary = no_pipe(&summary.replace('\n', " "));
    let t = &report.totals;
    let none = Levels::default();
    let perfdata = [
        perf(name, t.states.get(metric), none, None),
        perf(
            "established",
            t.states.get(TcpState::Established),
            none,
            None,
        ),
        perf("total", t.sockets, none, None),
        perf(
            &format!("worst_group_{name}"),
            worst.map_or(0, |g| g.states.get(metric)),
            l,
            pool,
        ),
    ]
    .join(" ");
    (
        format!("SOCKLEAK {} - {summary} | {perfdata}\n", status.nagios()),
        status.exit_code(),
    )
}

/// The Nagios UNKNOWN line for an error.
pub fn nagios_unknown(err: &anyhow::Error) -> String {
    let msg = no_pipe(&format!("{err:#}").replace('\n', " "));
    format!("SOCKLEAK UNKNOWN - {msg}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let c = CheckArgs {
            threshold: Some(Threshold::Percent(75.0)),
            critical: Some(Threshold::Count(1000)),
        };
        assert_eq!(
            Levels::from_args(&c, Some(1024)).unwrap(),
            Levels {
                warn: Some(768),
                crit: Some(1000)
            }
        );
        assert!(
            Levels::from_args(&c, None)
                .unwrap_err()
                .0
                .contains("--pool-size")
        );
        let bad = CheckArgs {
            threshold: Some(Threshold::Count(10)),
            critical: Some(Threshold::Count(5)),
        };
        assert!(
            Levels::from_args(&bad, None)
                .unwrap_err()
                .0
                .contains("--critical")
        );
        let l = Levels {
            warn: Some(10),
            crit: Some(20),
        };
        assert_eq!(status_of(9, l), None);
        assert_eq!(status_of(10, l), Some((Status::Warning, 10)));
        assert_eq!(status_of(20, l), Some((Status::Critical, 20)));
        assert_eq!(perf("x", 3, l, Some(50)), "x=3;10;20;0;50");
        assert_eq!(perf("x", 3, Levels::default(), None), "x=3;;;0;");
    }
}
