//! Prometheus text exposition (format 0.0.4) of a report, for node_exporter's
//! textfile collector (`-o prometheus --output-file`) and `sockleak serve`.
//!
//! Per-group series are bounded by `max_series` so that a host with thousands of
//! endpoints cannot blow up Prometheus' cardinality: the worst groups keep their own
//! series, the rest are summed into `process="other"`.

use std::fmt::Write;

use crate::aggregate::{Group, Report};
use crate::model::{StateCounts, TcpState};

#[derive(Debug, Clone, Copy)]
pub struct PromOptions {
    pub max_series: u64,
    pub pool_size: Option<u64>,
}

/// Escape a label value: backslash, double quote and newline.
fn esc(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The identifying labels of a group (without `state`).
fn group_labels(g: &Group) -> String {
    let pid = g.pid.map(|p| p.to_string()).unwrap_or_default();
    let mut labels = format!(
        "pid=\"{pid}\",process=\"{}\",endpoint=\"{}\",direction=\"{}\"",
        esc(&g.process_label()),
        esc(&g.endpoint_label()),
        g.direction.map(|d| d.as_str()).unwrap_or("")
    );
    if let Some(ns) = g.netns {
        let _ = write!(labels, ",netns=\"{ns}\"");
    }
    let container = g.container.as_ref().map(|c| c.short()).unwrap_or_default();
    let _ = write!(labels, ",container=\"{}\"", esc(&container));
    labels
}

/// Split groups into those that get their own series and the summed rest, so that
/// `sockleak_group_sockets` has at most `max` series: keep as many of the worst
/// groups as fit beside the "other" series their remainder needs.
fn bounded(groups: &[Group], max: u64) -> (&[Group], Option<StateCounts>) {
    let series = |g: &Group| g.states.nonzero().count() as u64;
    if groups.iter().map(series).sum::<u64>() <= max {
        return (groups, None);
    }
    // suffix[k]: the states present in groups[k..], as a bit set.
    let mut suffix = vec![0u16; groups.len() + 1];
    for k in (0..groups.len()).rev() {
        let mask = groups[k]
            .states
            .nonzero()
            .fold(0u16, |m, (st, _)| m | 1 << st.index());
        suffix[k] = suffix[k + 1] | mask;
    }
    let mut used = 0;
    let mut keep = 0;
    for (k, g) in groups.iter().enumerate() {
        if used + series(g) + u64::from(suffix[k + 1].count_ones()) > max {
            break;
        }
        used += series(g);
        keep = k + 1;
    }
    let mut rest = StateCounts::default();
    for g in &groups[keep..] {
        rest.merge(&g.states);
    }
    (&groups[..keep], Some(rest))
}

pub fn render(r: &Report, opts: PromOptions) -> String {
    let mut out = String::with_capacity(4096);

    header(
        &mut out,
        "sockleak_sockets",
        "TCP sockets in the kernel table, by state (whole host, unfiltered).",
    );
    for st in TcpState::ALL {
        let _ = writeln!(
            out,
            "sockleak_sockets{{state=\"{}\"}} {}",
            st.snake(),
            r.totals.states.get(st)
        );
    }

    let (kept, rest) = bounded(&r.groups, opts.max_series);
    header(
        &mut out,
        "sockleak_group_sockets",
        "Sockets per group (process and endpoint) and state; groups beyond --max-series are summed into process=\"other\".",
    );
    for g in kept {
        let labels = group_labels(g);
        for (st, n) in g.states.nonzero() {
            let _ = writeln!(
                out,
                "sockleak_group_sockets{{{labels},state=\"{}\"}} {n}",
                st.snake()
            );
        }
    }
    if let Some(rest) = &rest {
        for (st, n) in rest.nonzero() {
            let _ = writeln!(
                out,
                "sockleak_group_sockets{{pid=\"\",process=\"other\",endpoint=\"\",direction=\"\",state=\"{}\"}} {n}",
                st.snake()
            );
        }
    }

    header(
        &mut out,
        "sockleak_group_recv_queue_bytes",
        "Unread bytes in the receive queues of a group's sockets.",
    );
    for g in kept {
        let _ = writeln!(
            out,
            "sockleak_group_recv_queue_bytes{{{}}} {}",
            group_labels(g),
            g.recv_q
        );
    }

    header(
        &mut out,
        "sockleak_group_oldest_close_wait_idle_seconds",
        "Idle time of a group's oldest CLOSE_WAIT socket (netlink source only).",
    );
    for g in kept {
        if let Some(idle) = g.oldest_close_wait_idle_s {
            let _ = writeln!(
                out,
                "sockleak_group_oldest_close_wait_idle_seconds{{{}}} {idle}",
                group_labels(g)
            );
        }
    }

    header(
        &mut out,
        "sockleak_unattributed_sockets",
        "Sockets with an inode that no readable process holds.",
    );
    let _ = writeln!(
        out,
        "sockleak_unattributed_sockets {}",
        r.totals.unattributed
    );
    header(
        &mut out,
        "sockleak_unowned_sockets",
        "Sockets no file descriptor refers to (TIME_WAIT, orphans).",
    );
    let _ = writeln!(out, "sockleak_unowned_sockets {}", r.totals.unowned);
    header(
        &mut out,
        "sockleak_collect_duration_seconds",
        "Time taken to read the socket table and the fd tables.",
    );
    let _ = writeln!(
        out,
        "sockleak_collect_duration_seconds {}",
        r.elapsed.as_secs_f64()
    );
    header(
        &mut out,
        "sockleak_warnings",
        "Warnings of the last collection (see sockleak --json for their text).",
    );
    let _ = writeln!(out, "sockleak_warnings {}", r.warnings.len());
    if let Some(pool) = opts.pool_size {
        header(
            &mut out,
            "sockleak_pool_size",
            "Connection pool size given with --pool-size, for alert rules.",
        );
        let _ = writeln!(out, "sockleak_pool_size {pool}");
    }
    header(
        &mut out,
        "sockleak_build_info",
        "sockleak version; always 1.",
    );
    let _ = writeln!(
        out,
        "sockleak_build_info{{version=\"{}\",source=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        r.source.as_str()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(esc(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(esc("x\ny"), "x\\ny");
    }
}
