//! Prometheus text exposition (format 0.0.4) of a report, for node_exporter's
//! textfile collector (`-o prometheus --output-file`) and `sockleak serve`.
//!
//! Per-group series are bounded by `max_series` so that a host with thousands of
//! endpoints cannot blow up Prometheus' cardinality: the worst groups keep their own
//! series, the rest are summed into `process="other"`.

use std::fmt::Write;

use crate::model::report::{Attribution, Group, GroupField, Report};
use crate::model::{StateCounts, TcpState};
use crate::policy::pool::PoolSizes;

#[derive(Debug, Clone)]
pub struct PromOptions {
    pub max_series: u64,
    /// Each group's pool, exported as `sockleak_pool_size` beside its series.
    pub pools: PoolSizes,
}

/// Escape a label value: backslash, double quote and newline, as the format
/// defines; other control characters (a name is another process's text) become
/// visible `\x1b`-style text first, so that no raw one reaches a terminal or log.
fn esc(v: &str) -> String {
    let v = crate::model::printable(v);
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

/// The identifying labels of a group (without `state`). `user` only with `--by user`,
/// whose groups no other label tells apart.
fn group_labels(g: &Group, with_user: bool) -> String {
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
    // An unattributed group is told apart by its sockets' user, and that user is
    // the one lead to its owner.
    let unattributed = g.attribution == Some(Attribution::Unattributed) && g.user.is_some();
    if with_user || unattributed {
        let _ = write!(
            labels,
            ",user=\"{}\"",
            esc(g.user.as_deref().unwrap_or_default())
        );
    }
    labels
}

/// The per-group series of one label set. With `--by state` the groups of one
/// process and endpoint share the labels of the byte and age series (state is a
/// label of the socket counts only), and Prometheus drops repeated samples: such
/// groups are merged (counts and bytes summed, the oldest age kept). Every other
/// grouping key is a label, or part of one (endpoint).
struct Series {
    labels: String,
    /// The pool of the first group with these labels.
    pool: Option<u64>,
    states: StateCounts,
    recv_q: u64,
    oldest_close_wait_idle_s: Option<f64>,
}

/// One [`Series`] per distinct label set, in the groups' order (worst first).
fn series(groups: &[Group], with_user: bool, pools: &PoolSizes) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::with_capacity(groups.len());
    let mut index = std::collections::HashMap::with_capacity(groups.len());
    for g in groups {
        let labels = group_labels(g, with_user);
        match index.get(&labels) {
            Some(&i) => {
                let s: &mut Series = &mut out[i];
                s.states.merge(&g.states);
                s.recv_q += g.recv_q;
                s.oldest_close_wait_idle_s =
                    match (s.oldest_close_wait_idle_s, g.oldest_close_wait_idle_s) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
            }
            None => {
                index.insert(labels.clone(), out.len());
                out.push(Series {
                    labels,
                    pool: pools.for_group(g),
                    states: g.states,
                    recv_q: g.recv_q,
                    oldest_close_wait_idle_s: g.oldest_close_wait_idle_s,
                });
            }
        }
    }
    out
}

/// Split series into those that are written and the summed rest, so that
/// `sockleak_group_sockets` has at most `max` series: keep as many of the worst
/// groups as fit beside the "other" series their remainder needs.
fn bounded(all: &[Series], max: u64) -> (&[Series], Option<StateCounts>) {
    let count = |s: &Series| s.states.nonzero().count() as u64;
    if all.iter().map(count).sum::<u64>() <= max {
        return (all, None);
    }
    // suffix[k]: the states present in all[k..], as a bit set.
    let mut suffix = vec![0u16; all.len() + 1];
    for k in (0..all.len()).rev() {
        let mask = all[k]
            .states
            .nonzero()
            .fold(0u16, |m, (st, _)| m | 1 << st.index());
        suffix[k] = suffix[k + 1] | mask;
    }
    let mut used = 0;
    let mut keep = 0;
    for (k, s) in all.iter().enumerate() {
        if used + count(s) + u64::from(suffix[k + 1].count_ones()) > max {
            break;
        }
        used += count(s);
        keep = k + 1;
    }
    let mut rest = StateCounts::default();
    for s in &all[keep..] {
        rest.merge(&s.states);
    }
    (&all[..keep], Some(rest))
}

/// The exposition of a report.
pub fn render(r: &Report, opts: &PromOptions) -> String {
    let mut out = String::with_capacity(4096);
    host_series(&mut out, r);
    let all = series(
        &r.groups,
        r.group_by.contains(&GroupField::User),
        &opts.pools,
    );
    let (kept, rest) = bounded(&all, opts.max_series);
    group_series(&mut out, kept, rest.as_ref());
    pool_series(&mut out, kept);
    scalars(&mut out, r);
    unread_series(&mut out, r);
    out
}

fn host_series(out: &mut String, r: &Report) {
    header(
        out,
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
}

/// The per-group series: sockets by state, unread bytes, oldest CLOSE_WAIT age.
fn group_series(out: &mut String, kept: &[Series], rest: Option<&StateCounts>) {
    header(
        out,
        "sockleak_group_sockets",
        "Sockets per group (process and endpoint) and state; groups beyond --max-series are summed into process=\"other\".",
    );
    for s in kept {
        for (st, n) in s.states.nonzero() {
            let _ = writeln!(
                out,
                "sockleak_group_sockets{{{},state=\"{}\"}} {n}",
                s.labels,
                st.snake()
            );
        }
    }
    for (st, n) in rest.into_iter().flat_map(|r| r.nonzero()) {
        let _ = writeln!(
            out,
            "sockleak_group_sockets{{pid=\"\",process=\"other\",endpoint=\"\",direction=\"\",netns=\"\",container=\"\",state=\"{}\"}} {n}",
            st.snake()
        );
    }
    header(
        out,
        "sockleak_group_recv_queue_bytes",
        "Unread bytes in the receive queues of a group's sockets.",
    );
    for s in kept {
        let _ = writeln!(
            out,
            "sockleak_group_recv_queue_bytes{{{}}} {}",
            s.labels, s.recv_q
        );
    }
    header(
        out,
        "sockleak_group_oldest_close_wait_idle_seconds",
        "Idle time of a group's oldest CLOSE_WAIT socket (netlink source only).",
    );
    for s in kept {
        if let Some(idle) = s.oldest_close_wait_idle_s {
            let _ = writeln!(
                out,
                "sockleak_group_oldest_close_wait_idle_seconds{{{}}} {idle}",
                s.labels
            );
        }
    }
}

/// `sockleak_pool_size` of every kept group that is in a pool (an owned outbound
/// group, or a server's service named by `--pool-size ENDPOINT=N`), with the
/// group's labels, so that alert rules divide each group by its own pool.
fn pool_series(out: &mut String, kept: &[Series]) {
    header(
        out,
        "sockleak_pool_size",
        "The connection pool a group is judged against (--pool-size N or ENDPOINT=N); only groups in a pool have one.",
    );
    for s in kept {
        if let Some(pool) = s.pool {
            let _ = writeln!(out, "sockleak_pool_size{{{}}} {pool}", s.labels);
        }
    }
}

/// One-value series: what could not be attributed, how long it took, the pool
/// size, the build.
fn scalars(out: &mut String, r: &Report) {
    let mut one = |name: &str, help: &str, value: Option<String>| {
        header(out, name, help);
        // Unknown (a focused query's unattributed count): no sample rather than
        // a made-up 0.
        if let Some(value) = value {
            let _ = writeln!(out, "{name} {value}");
        }
    };
    one(
        "sockleak_unattributed_sockets",
        "Sockets with an inode that no readable process holds (none with --pid, --process or --user: unknown).",
        r.totals.unattributed.map(|n| n.to_string()),
    );
    one(
        "sockleak_unowned_sockets",
        "Sockets no file descriptor refers to (TIME_WAIT, orphans).",
        Some(r.totals.unowned.to_string()),
    );
    one(
        "sockleak_collect_duration_seconds",
        "Time taken to read the socket table and the fd tables.",
        Some(r.elapsed.as_secs_f64().to_string()),
    );
    one(
        "sockleak_warnings",
        "Warnings of the last collection (see sockleak --json for their text).",
        Some(r.warnings.len().to_string()),
    );
    header(out, "sockleak_build_info", "sockleak version; always 1.");
    let _ = writeln!(
        out,
        "sockleak_build_info{{version=\"{}\",source=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        r.source.as_str()
    );
}

/// With `--peek` only: peeked sockets by the class of their unread bytes, every
/// class (zeros too, so a series never vanishes), summed over the groups. Classes
/// only: summaries are other processes' data, and unbounded as labels.
fn unread_series(out: &mut String, r: &Report) {
    if !r.groups.iter().any(|g| g.unread.is_some()) {
        return;
    }
    let mut by_class = std::collections::BTreeMap::new();
    for u in r.groups.iter().filter_map(|g| g.unread.as_ref()).flatten() {
        *by_class.entry(u.class).or_insert(0u64) += u.count;
    }
    header(
        out,
        "sockleak_unread_sockets",
        "--peek: peeked sockets by what their unread bytes look like (summed over the groups).",
    );
    for class in crate::model::peek::UnreadClass::ALL {
        let n = by_class.get(&class).copied().unwrap_or(0);
        let _ = writeln!(out, "sockleak_unread_sockets{{class=\"{class}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(esc(r#"a"b\c"#), r#"a\"b\\c"#);
        // A newline is a control character: shown as text, then its backslash
        // escaped, so the value reads `x\x0ay` in Prometheus.
        assert_eq!(esc("x\ny"), "x\\\\x0ay");
        assert_eq!(esc("a\x1b[2J"), "a\\\\x1b[2J");
    }
}
