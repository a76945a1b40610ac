//! Prometheus text exposition (format 0.0.4) of a [`Report`], for `-o prometheus`,
//! node_exporter's textfile collector and `sockleak serve`. Every metric has HELP
//! and TYPE; label values are escaped per the text format; the per-group series are
//! bounded by `--max-series` so a host with thousands of peers cannot blow up the
//! TSDB.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::aggregate::Report;
use crate::model::{StateCounts, TcpState};

pub struct PromOptions {
    /// At most this many `sockleak_group_sockets` series for named groups; the
    /// groups past it are summed into `process="other"`.
    pub max_series: u64,
    /// Exported as `sockleak_pool_size` for alert rules.
    pub pool_size: Option<u64>,
}

/// Escape a label value: backslash, double quote and newline.
pub fn escape_label(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Labels identifying a group in the exposition. Groups that differ only in keys
/// not exported here (e.g. `--by user`) are merged, so no series repeats.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupLabels {
    pid: String,
    process: String,
    endpoint: String,
    direction: String,
}

impl GroupLabels {
    fn render(&self) -> String {
        format!(
            "pid=\"{}\",process=\"{}\",endpoint=\"{}\",direction=\"{}\"",
            escape_label(&self.pid),
            escape_label(&self.process),
            escape_label(&self.endpoint),
            escape_label(&self.direction)
        )
    }
}

#[derive(Default)]
struct GroupValues {
    states: StateCounts,
    recv_q: u64,
    oldest_idle: Option<f64>,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NaN".into()
    }
}

/// Render the exposition text.
pub fn render(report: &Report, o: &PromOptions) -> String {
    let mut groups: BTreeMap<GroupLabels, GroupValues> = BTreeMap::new();
    let mut other = GroupValues::default();
    let mut have_other = false;
    let mut budget = o.max_series;
    // Groups arrive worst first: the budget goes to the worst ones.
    for g in &report.groups {
        let labels = GroupLabels {
            pid: g.pid.map(|p| p.to_string()).unwrap_or_default(),
            process: g.process_label(),
            endpoint: g.endpoint_label(),
            direction: g
                .direction
                .map(|d| d.as_str().to_string())
                .unwrap_or_default(),
        };
        let series = g.states.nonzero().count() as u64;
        let target = match groups.get_mut(&labels) {
            Some(v) => Some(v),
            None if series <= budget => {
                budget -= series;
                Some(groups.entry(labels).or_default())
            }
            None => {
                // Once one group does not fit, later (smaller) ones do not jump the queue.
                budget = 0;
                None
            }
        };
        let v = match target {
            Some(v) => v,
            None => {
                have_other = true;
                &mut other
            }
        };
        v.states.merge(&g.states);
        v.recv_q += g.recv_q;
        if let Some(age) = g.oldest_close_wait_idle_s {
            v.oldest_idle = Some(v.oldest_idle.map_or(age, |a: f64| a.max(age)));
        }
    }
    let mut rows: Vec<(String, &GroupValues)> =
        groups.iter().map(|(l, v)| (l.render(), v)).collect();
    if have_other {
        rows.push((
            "pid=\"\",process=\"other\",endpoint=\"\",direction=\"\"".into(),
            &other,
        ));
    }

    let mut out = String::new();
    let t = &report.totals;
    header(
        &mut out,
        "sockleak_sockets",
        "gauge",
        "TCP sockets on the host by state (the whole table, before filters).",
    );
    for st in TcpState::ALL {
        let _ = writeln!(
            out,
            "sockleak_sockets{{state=\"{}\"}} {}",
            st.snake(),
            t.states.get(st)
        );
    }
    header(
        &mut out,
        "sockleak_group_sockets",
        "gauge",
        "TCP sockets per process, endpoint and state (bounded by --max-series; the rest in process=\"other\").",
    );
    for (l, v) in &rows {
        for (st, n) in v.states.nonzero() {
            let _ = writeln!(
                out,
                "sockleak_group_sockets{{{l},state=\"{}\"}} {n}",
                st.snake()
            );
        }
    }
    header(
        &mut out,
        "sockleak_group_recv_queue_bytes",
        "gauge",
        "Unread bytes (Recv-Q) summed over the group's sockets.",
    );
    for (l, v) in &rows {
        let _ = writeln!(out, "sockleak_group_recv_queue_bytes{{{l}}} {}", v.recv_q);
    }
    header(
        &mut out,
        "sockleak_group_oldest_close_wait_idle_seconds",
        "gauge",
        "Idle time of the group's longest-idle CLOSE_WAIT socket (netlink source only).",
    );
    for (l, v) in &rows {
        if let Some(a) = v.oldest_idle {
            let _ = writeln!(
                out,
                "sockleak_group_oldest_close_wait_idle_seconds{{{l}}} {}",
                num(a)
            );
        }
    }
    header(
        &mut out,
        "sockleak_unattributed_sockets",
        "gauge",
        "Sockets with an inode that no readable process holds (run with more privilege to attribute them).",
    );
    let _ = writeln!(out, "sockleak_unattributed_sockets {}", t.unattributed);
    header(
        &mut out,
        "sockleak_unowned_sockets",
        "gauge",
        "Sockets no fd refers to (TIME_WAIT, orphans).",
    );
    let _ = writeln!(out, "sockleak_unowned_sockets {}", t.unowned);
    header(
        &mut out,
        "sockleak_collect_duration_seconds",
        "gauge",
        "How long reading the socket and fd tables took.",
    );
    let _ = writeln!(
        out,
        "sockleak_collect_duration_seconds {}",
        num(report.elapsed.as_secs_f64())
    );
    if let Some(p) = o.pool_size {
        header(
            &mut out,
            "sockleak_pool_size",
            "gauge",
            "The connection pool size given with --pool-size.",
        );
        let _ = writeln!(out, "sockleak_pool_size {p}");
    }
    header(
        &mut out,
        "sockleak_build_info",
        "gauge",
        "Always 1; the version label names the sockleak build.",
    );
    let _ = writeln!(
        out,
        "sockleak_build_info{{version=\"{}\"}} 1",
        escape_label(env!("CARGO_PKG_VERSION"))
    );
    out
}

pub fn write(w: &mut impl Write, report: &Report, o: &PromOptions) -> io::Result<()> {
    w.write_all(render(report, o).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
