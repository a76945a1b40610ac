//! Prometheus text exposition (format 0.0.4) of a report, for node_exporter's
//! textfile collector (`-o prometheus --output-file`) and `sockleak serve`.
//!
//! Per-group series are bounded by `max_series` so that a host with thousands of
//! endpoints cannot blow up Prometheus' cardinality: the worst groups keep their own
//! series, the rest are summed into `process="other"`.

use std::fmt::Write;
use std::time::Duration;

use crate::model::report::{Attribution, Group, GroupField, RemoteKey, Report};
use crate::model::scan::{ScanInfo, ScanKind};
use crate::model::time::secs_to_the_milli;
use crate::model::unix::Proto;
use crate::model::{NetnsId, StateCounts, TcpState, escape};

#[derive(Debug, Clone)]
pub struct PromOptions {
    pub max_series: u64,
}

/// Escape a label value as the format defines: backslash, double quote and
/// newline. Names reach here escaped already for a human reader
/// ([`crate::model::escape`]: no control or format character is left), so that
/// no raw one reaches a terminal or log showing the scrape.
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
    typed_header(out, name, help, "gauge");
}

fn typed_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The identifying labels of a group (without `state`). `user` only with `--by user`,
/// whose groups no other label tells apart.
fn group_labels(g: &Group, with_user: bool) -> String {
    let pid = g.pid.map(|p| p.to_string()).unwrap_or_default();
    let mut labels = format!(
        "pid=\"{pid}\",process=\"{}\",endpoint=\"{}\",direction=\"{}\"",
        esc(&g.process_text()),
        esc(&g.endpoint_label()),
        g.direction.map(|d| d.as_str()).unwrap_or("")
    );
    if let Some(ns) = g.netns {
        let _ = write!(labels, ",netns=\"{ns}\"");
    }
    let container = g
        .container
        .as_ref()
        .map(|c| escape::name(c.short().as_bytes()))
        .unwrap_or_default();
    let _ = write!(labels, ",container=\"{}\"", esc(&container));
    // Unix groups only: TCP series keep the label set they always had (their
    // history and dashboards carry on); select TCP with proto="".
    if g.proto == Proto::Unix {
        labels.push_str(",proto=\"unix\"");
    }
    // An unattributed group is told apart by its sockets' user, and that user is
    // the one lead to its owner.
    let unattributed = g.attribution == Some(Attribution::Unattributed) && g.user.is_some();
    if with_user || unattributed {
        let _ = write!(
            labels,
            ",user=\"{}\"",
            esc(&g
                .user
                .as_deref()
                .map(|u| escape::name(u.as_bytes()))
                .unwrap_or_default())
        );
    }
    labels
}

/// The groups of one label set as one, what the per-group series are written
/// from. With `--by state` the groups of one process and endpoint share the
/// labels of the byte and age series (state is a label of the socket counts
/// only), and Prometheus drops repeated samples: such groups are merged (counts
/// and bytes summed, the oldest age kept). Every other grouping key is a label,
/// or part of one (endpoint).
struct LabelledGroup {
    labels: String,
    /// The pool of the first group with these labels.
    pool: Option<u64>,
    states: StateCounts,
    recv_q: u64,
    oldest_close_wait_idle: Option<Duration>,
}

/// One [`LabelledGroup`] per distinct label set, in the groups' order (worst first).
/// Each group's pool ([`Group::pool_size`], attached by the policy) is exported as
/// `sockleak_pool_size` beside its series.
fn labelled_groups(groups: &[Group], with_user: bool) -> Vec<LabelledGroup> {
    let mut out: Vec<LabelledGroup> = Vec::with_capacity(groups.len());
    let mut index = std::collections::HashMap::with_capacity(groups.len());
    for g in groups {
        let labels = group_labels(g, with_user);
        match index.get(&labels) {
            Some(&i) => {
                let s: &mut LabelledGroup = &mut out[i];
                s.states.merge(&g.states);
                s.recv_q += g.recv_q;
                s.oldest_close_wait_idle = s.oldest_close_wait_idle.max(g.oldest_close_wait_idle);
            }
            None => {
                index.insert(labels.clone(), out.len());
                out.push(LabelledGroup {
                    labels,
                    pool: g.pool_size,
                    states: g.states,
                    recv_q: g.recv_q,
                    oldest_close_wait_idle: g.oldest_close_wait_idle,
                });
            }
        }
    }
    out
}

/// Split series into those that are written and the summed rest, so that
/// `sockleak_group_sockets` has at most `max` series: keep as many of the worst
/// groups as fit beside the "other" series their remainder needs.
fn bounded(all: &[LabelledGroup], max: u64) -> (&[LabelledGroup], Option<StateCounts>) {
    let count = |s: &LabelledGroup| s.states.nonzero().count() as u64;
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
    let all = labelled_groups(&r.groups, r.group_by.contains(&GroupField::User));
    let (kept, rest) = bounded(&all, opts.max_series);
    group_series(&mut out, kept, rest.as_ref());
    pool_series(&mut out, kept);
    port_series(&mut out, r, opts.max_series);
    if let Some(scan) = &r.scan {
        scan_series(&mut out, scan);
    }
    unix_series(&mut out, r);
    unread_series(&mut out, r);
    exchange_series(&mut out, r, kept);
    // build_info last: a reader of a textfile knows a whole one by it.
    scalars(&mut out, r);
    out
}

/// How the last sample was taken and, over the sampler's life, how many samples
/// of each kind it took and how many fd tables they read: a `serve` whose
/// incremental sampling degrades to full scans shows it here.
/// Milliseconds (two decimals, `model::scan::millis`) as seconds, the nearest
/// float to the exact value: `4.9` is `0.0049`, not the `0.004900000000000001`
/// that dividing the float gives (an integer divided is rounded once).
fn seconds_of_ms(ms: f64) -> f64 {
    (ms * 100.0).round() / 100_000.0
}

fn scan_series(out: &mut String, scan: &ScanInfo) {
    header(
        out,
        "sockleak_scan_duration_seconds",
        "Wall time of the last sample's phases: table (the kernel's socket tables), fds (the fd scan and owners); cpu is its CPU time, every thread.",
    );
    for (phase, ms) in [
        ("table", scan.table_ms),
        ("fds", scan.fds_ms),
        ("cpu", scan.cpu_ms),
    ] {
        let _ = writeln!(
            out,
            "sockleak_scan_duration_seconds{{phase=\"{phase}\"}} {}",
            seconds_of_ms(ms)
        );
    }
    typed_header(
        out,
        "sockleak_scans_total",
        "Samples taken since start, by how their fd tables were read (full, incremental, uid-reread).",
        "counter",
    );
    for kind in ScanKind::ALL {
        let _ = writeln!(
            out,
            "sockleak_scans_total{{kind=\"{}\"}} {}",
            kind.as_str(),
            scan.totals.of(kind)
        );
    }
    typed_header(
        out,
        "sockleak_fd_tables_read_total",
        "Process fd tables read since start (an incremental sample reads only those that changed).",
        "counter",
    );
    let _ = writeln!(
        out,
        "sockleak_fd_tables_read_total {}",
        scan.totals.fd_tables_read
    );
}

/// The host's unix sockets by type and state, what no process holds and what
/// is connected to a closed peer: only when `--proto` counts unix sockets.
fn unix_series(out: &mut String, r: &Report) {
    let Some(u) = &r.totals.unix else {
        return;
    };
    header(
        out,
        "sockleak_unix_sockets",
        "Unix sockets of the host namespace, by type and state (unfiltered; ss -xa).",
    );
    for (kind, t) in [
        ("stream", &u.stream),
        ("seqpacket", &u.seqpacket),
        ("dgram", &u.dgram),
    ] {
        for (state, n) in [
            ("connected", t.connected),
            ("listening", t.listening),
            ("unconnected", t.unconnected),
        ] {
            let _ = writeln!(
                out,
                "sockleak_unix_sockets{{type=\"{kind}\",state=\"{state}\"}} {n}"
            );
        }
    }
    header(
        out,
        "sockleak_unix_peer_closed_sockets",
        "Unix stream and seqpacket sockets still connected to a peer that has closed.",
    );
    let _ = writeln!(out, "sockleak_unix_peer_closed_sockets {}", u.peer_closed);
    header(
        out,
        "sockleak_unix_unattributed_sockets",
        "Unix sockets no readable process holds (none with --pid, --process or --user: unknown).",
    );
    if let Some(n) = u.unattributed {
        let _ = writeln!(out, "sockleak_unix_unattributed_sockets {n}");
    }
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
fn group_series(out: &mut String, kept: &[LabelledGroup], rest: Option<&StateCounts>) {
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
        if let Some(idle) = s.oldest_close_wait_idle {
            let _ = writeln!(
                out,
                "sockleak_group_oldest_close_wait_idle_seconds{{{}}} {}",
                s.labels,
                secs_to_the_milli(idle)
            );
        }
    }
}

/// `sockleak_pool_size` of every kept group that is in a pool (an owned outbound
/// group, or a server's service named by `--pool-size ENDPOINT=N`), with the
/// group's labels, so that alert rules divide each group by its own pool.
fn pool_series(out: &mut String, kept: &[LabelledGroup]) {
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

/// Every outbound destination's use of its namespace's ephemeral port range (the
/// busiest `max` destinations), and each namespace's range, so that a rule can
/// alert before connect() fails with EADDRNOTAVAIL.
fn port_series(out: &mut String, r: &Report, max: u64) {
    let mut dests: Vec<(u64, u64, String, NetnsId)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for g in &r.groups {
        let (Some(p), Some(ns), Some(RemoteKey::Endpoint(remote))) =
            (g.ports, g.key.netns, &g.key.remote)
        else {
            continue;
        };
        if seen.insert((ns, *remote)) {
            dests.push((p.used, p.range, remote.to_string(), ns));
        }
    }
    dests.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    dests.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    header(
        out,
        "sockleak_destination_ports_used",
        "Local ports of the ephemeral range held towards one destination (any state, TIME_WAIT included), from the busiest local address; connect() to it fails with EADDRNOTAVAIL at sockleak_ephemeral_ports.",
    );
    for (used, _, dest, ns) in &dests {
        let _ = writeln!(
            out,
            "sockleak_destination_ports_used{{destination=\"{}\",netns=\"{ns}\"}} {used}",
            esc(dest)
        );
    }
    header(
        out,
        "sockleak_ephemeral_ports",
        "Ports a network namespace's connect() picks from: ip_local_port_range less ip_local_reserved_ports (of namespaces with an outbound destination).",
    );
    let mut ranges: Vec<(NetnsId, u64)> = dests.iter().map(|d| (d.3, d.1)).collect();
    ranges.sort_unstable();
    ranges.dedup();
    for (ns, range) in ranges {
        let _ = writeln!(out, "sockleak_ephemeral_ports{{netns=\"{ns}\"}} {range}");
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

/// While a flight recorder is armed: each kept group's sockets by the protocol,
/// method and status of their last exchange (bounded labels: never a path), and
/// `status="unrecorded"` for those it has no record of. Groups merged into one label
/// set (see [`LabelledGroup`]) are summed.
fn exchange_series(out: &mut String, r: &Report, kept: &[LabelledGroup]) {
    if !r.groups.iter().any(|g| g.exchanges.is_some()) {
        return;
    }
    let with_user = r.group_by.contains(&GroupField::User);
    let kept: std::collections::HashSet<&str> = kept.iter().map(|s| s.labels.as_str()).collect();
    let mut sums: Vec<(String, u64)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for g in &r.groups {
        let labels = group_labels(g, with_user);
        if !kept.contains(labels.as_str()) {
            continue;
        }
        let unrecorded = g.exchanges_unrecorded.unwrap_or(0);
        let rows = g
            .exchanges
            .iter()
            .flatten()
            .map(|x| {
                (
                    x.protocol.name(),
                    x.method.as_str(),
                    x.status.as_str(),
                    x.count,
                )
            })
            .chain((unrecorded > 0).then_some(("", "", "unrecorded", unrecorded)));
        for (protocol, method, status, n) in rows {
            let key = format!(
                "{labels},protocol=\"{protocol}\",method=\"{}\",status=\"{}\"",
                esc(method),
                esc(status)
            );
            let i = *index.entry(key.clone()).or_insert_with(|| {
                sums.push((key, 0));
                sums.len() - 1
            });
            sums[i].1 += n;
        }
    }
    header(
        out,
        "sockleak_exchange_sockets",
        "sockleak trace: a group's sockets by the protocol, method and status of their last recorded exchange (status=\"unrecorded\": no record).",
    );
    for (labels, n) in sums {
        let _ = writeln!(out, "sockleak_exchange_sockets{{{labels}}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_seconds_are_written_without_float_noise() {
        let written = |ms: f64| seconds_of_ms(ms).to_string();
        assert_eq!(written(4.9), "0.0049");
        assert_eq!(written(1234.56), "1.23456");
        assert_eq!(written(0.0), "0");
        assert_eq!(written(2000.0), "2");
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(esc(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(esc("x\ny"), "x\\ny");
        // A name is escaped for a human reader first, then for the format: the
        // value reads `a\x1b[2J` in Prometheus.
        let name = crate::model::escape::name(b"a\x1b[2J");
        assert_eq!(esc(&name), "a\\\\x1b[2J");
    }
}
