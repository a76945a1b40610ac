//! What a check prints: one line per breaching group (cron), or the Monitoring
//! Plugins status line with performance data (Nagios, Icinga).

use std::fmt::Write as _;

use super::describe::{describe, exchange_note, unread_note};
use crate::model::TcpState;
use crate::model::check::{CheckVerdict, Reached, Severity};
use crate::model::report::{Group, Report};
use crate::model::unix::{Protos, UnixTotals};
use crate::model::verdict::Level;

/// One line per breaching group: `WARNING pid 7 app outbound 10.0.0.5:80: 12
/// close_wait >= threshold 10`, or for a verdict threshold `WARNING ...: leak:
/// 12 close_wait idle over 5m (oldest 14m05s)` (every reason, `; `-separated).
pub fn breach_lines(v: &CheckVerdict, r: &Report) -> String {
    let mut out = String::new();
    for (g, sev, reached) in &v.breaches {
        let word = match sev {
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        };
        let what = match reached {
            Reached::Count(level) => format!(
                "{} {} >= {} {level}",
                g.states.get(v.metric),
                v.metric.snake(),
                if *sev == Severity::Critical {
                    "critical"
                } else {
                    "threshold"
                },
            ),
            Reached::Verdict(level) => {
                let reasons = g.verdict.as_ref().map_or_else(Vec::new, |v| {
                    v.reasons.iter().map(ToString::to_string).collect()
                });
                format!("{level}: {}", reasons.join("; "))
            }
        };
        let _ = writeln!(
            out,
            "{word} {}: {what}{}{}",
            describe(g, r),
            unread_note(g),
            exchange_note(g)
        );
    }
    out
}

/// The host's counts of one protocol, as the perfdata shows them.
#[derive(Clone, Copy)]
struct HostCounts {
    metric: u64,
    established: u64,
    total: u64,
    /// Unknown for a focused query: left out, not reported as 0.
    unattributed: Option<u64>,
}

impl HostCounts {
    fn tcp(r: &Report, metric: TcpState) -> HostCounts {
        HostCounts {
            metric: r.totals.states.get(metric),
            established: r.totals.states.get(TcpState::Established),
            total: r.totals.sockets,
            unattributed: r.totals.unattributed,
        }
    }

    /// Unix groups count stream and seqpacket sockets by the TCP state they map
    /// to (connected: ESTABLISHED, listening: LISTEN, else CLOSE); the total is
    /// every unix socket, datagrams too, as `ss -xa` counts.
    fn unix(u: &UnixTotals, metric: TcpState) -> HostCounts {
        let of = |st: TcpState| {
            [u.stream, u.seqpacket]
                .iter()
                .map(|t| match st {
                    TcpState::Established => t.connected,
                    TcpState::Listen => t.listening,
                    TcpState::Close => t.unconnected,
                    _ => 0,
                })
                .sum()
        };
        HostCounts {
            metric: of(metric),
            established: of(TcpState::Established),
            total: u.sockets,
            unattributed: u.unattributed,
        }
    }
}

/// `SOCKLEAK OK - ... | perfdata`, by the Monitoring Plugins guidelines. The
/// host counts are those of the protocols checked (`protos`): TCP's, unix's
/// under `--proto unix`, and both (unix's prefixed `unix_`) under `all`.
pub fn nagios(r: &Report, v: &CheckVerdict, protos: Protos) -> String {
    let status = match v.worst() {
        None => "OK",
        Some(Severity::Warning) => "WARNING",
        Some(Severity::Critical) => "CRITICAL",
    };
    let unix = protos
        .unix
        .then(|| {
            r.totals
                .unix
                .as_ref()
                .map(|u| HostCounts::unix(u, v.metric))
        })
        .flatten();
    let host = match (&unix, protos.tcp) {
        (Some(u), false) => *u,
        _ => HostCounts::tcp(r, v.metric),
    };
    let worst = r
        .groups
        .iter()
        .max_by_key(|g| g.states.get(v.metric))
        .filter(|g| g.states.get(v.metric) > 0);
    let mut summary = summary(r, v, worst, host);
    // What could not be seen is said on the status line too: an OK from a check
    // that could not read a container's namespace is not the OK it looks like.
    let blinding: Vec<_> = (r.warnings.iter())
        .filter(|w| w.blinds_a_check())
        .cloned()
        .collect();
    let unseen = crate::model::warning::short_lines(&blinding);
    if let Some(first) = unseen.first() {
        let more = match unseen.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        summary.push_str(&format!("; warning: {first}{more}"));
    }
    // Unix's own counts beside TCP's only when both were checked.
    let unix_too = unix.filter(|_| protos.tcp);
    let perf = perfdata(v, worst, host, unix_too);
    format!("SOCKLEAK {status} - {} | {perf}\n", plugin_text(&summary))
}

/// The status line's text: the worst breach, or the worst group when none.
fn summary(r: &Report, v: &CheckVerdict, worst: Option<&Group>, host: HostCounts) -> String {
    let b = &v.breaches;
    let metric = v.metric.snake();
    let Some(&(g, _, reached)) = b.first() else {
        return match worst {
            Some(g) => format!(
                "worst group has {} {metric} ({}); host {} {metric}",
                g.states.get(v.metric),
                describe(g, r),
                host.metric
            ),
            None => format!("no group has {metric} sockets"),
        };
    };
    let s = if b.len() == 1 { "" } else { "s" };
    match (reached, g.verdict.as_ref().and_then(|v| v.reasons.first())) {
        (Reached::Verdict(level), Some(why)) => format!(
            "{} group{s} over threshold; worst: {} is {}: {why}",
            b.len(),
            describe(g, r),
            match level {
                Level::Leak => "a leak",
                _ => "suspect",
            }
        ),
        _ => format!(
            "{} group{s} over threshold; worst: {} has {} {metric}",
            b.len(),
            describe(g, r),
            g.states.get(v.metric)
        ),
    }
}

/// The performance data: the host's counts, the worst group's against the
/// levels, and unix's counts when they are checked beside TCP's.
fn perfdata(
    v: &CheckVerdict,
    worst: Option<&Group>,
    host: HostCounts,
    unix: Option<HostCounts>,
) -> String {
    let metric = v.metric.snake();
    let lvl = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let (warn, crit) = v.default_counts;
    let mut perf = format!("{metric}={};;;0", host.metric);
    // A label once only: `--metric established` is the established count.
    if v.metric != TcpState::Established {
        let _ = write!(perf, " established={};;;0", host.established);
    }
    let _ = write!(
        perf,
        " total={};;;0 worst_group={};{};{};0",
        host.total,
        worst.map_or(0, |g| g.states.get(v.metric)),
        lvl(warn),
        lvl(crit),
    );
    if let Some(n) = host.unattributed {
        let _ = write!(perf, " unattributed={n};;;0");
    }
    if let Some(u) = unix {
        let _ = write!(
            perf,
            " unix_{metric}={};;;0 unix_total={};;;0",
            u.metric, u.total
        );
    }
    perf
}

/// Text for a plugin's status line: one line, and no `|`, which would start the
/// performance data (a process may be named `x|fake=99`): it becomes `¦`.
pub fn plugin_text(s: &str) -> String {
    s.replace('|', "¦").replace(['\n', '\r'], " ")
}
