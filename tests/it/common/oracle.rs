//! `ss` as the oracle of the live tests, and the kernel's TIME_WAIT bookkeeping
//! (sockstat, sysctls, TcpExt counters) that says why a count differs.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{PrivateNet, json, require};

/// `ss -tanH` lines as (state, local, peer), with ss's state names (`CLOSE-WAIT`).
pub fn ss_sockets() -> Vec<(String, String, String)> {
    ss_sockets_in(None)
}

/// As [`ss_sockets`], of a private namespace's table (None: the host's).
pub fn ss_sockets_in(net: Option<&PrivateNet>) -> Vec<(String, String, String)> {
    require("ss");
    let mut ss = match net {
        Some(n) => n.cmd("ss"),
        None => Command::new("ss"),
    };
    let out = ss.args(["-tanH"]).output().expect("run ss");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_string(), f[3].to_string(), f[4].to_string()))
        })
        .collect()
}

/// The `/proc/<pid>/net` directory of a namespace: the private one's, or ours.
fn net_dir(net: Option<&PrivateNet>) -> PathBuf {
    match net {
        Some(n) => PathBuf::from(format!("/proc/{}/net", n.pid())),
        None => PathBuf::from("/proc/self/net"),
    }
}

/// The `TCP:` line of a namespace's `sockstat` as (orphan, tw) counts. The kernel
/// counts orphans host-wide and TIME_WAIT sockets per namespace.
fn sockstat_tcp(net: Option<&PrivateNet>) -> (u64, u64) {
    let s = std::fs::read_to_string(net_dir(net).join("sockstat")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with("TCP:"))
            .and_then(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.iter()
                    .position(|w| *w == name)
                    .and_then(|i| f.get(i + 1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    (field("orphan"), field("tw"))
}

fn sysctl(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// Before a test that needs new TIME_WAIT sockets: the kernel destroys a closing socket
/// instead of keeping it in TIME_WAIT when `tcp_max_tw_buckets` is reached, and resets
/// orphans past `tcp_max_orphans`. A benchmark run just before (100k sockets torn down)
/// can leave the host there for up to a minute, so wait for the pressure to pass
/// rather than fail for a reason that is not sockleak's.
pub fn wait_for_time_wait_room() {
    wait_for_time_wait_room_in(None)
}

/// As [`wait_for_time_wait_room`] for sockets in `net` (None: the host's namespace).
/// A fresh namespace has TIME_WAIT buckets of its own (`tcp_max_tw_buckets` is per
/// namespace, at least the host's default), so only the host-wide orphan limit can
/// make it wait.
pub fn wait_for_time_wait_room_in(net: Option<&PrivateNet>) {
    let (max_tw, max_orphans) = (sysctl("tcp_max_tw_buckets"), sysctl("tcp_max_orphans"));
    let sockstat_tcp = || sockstat_tcp(net);
    let room = || {
        let (orphans, tw) = sockstat_tcp();
        tw + 1000 < max_tw && orphans + 1000 < max_orphans
    };
    if room() {
        return;
    }
    eprintln!(
        "waiting for the host's TIME_WAIT/orphan sockets to drain ({:?} of {max_tw}/{max_orphans})",
        sockstat_tcp()
    );
    let deadline = Instant::now() + Duration::from_secs(75);
    while !room() {
        assert!(
            Instant::now() < deadline,
            "the host has no room for new TIME_WAIT sockets: sockstat (orphan, tw) {:?}, \
             tcp_max_tw_buckets {max_tw}, tcp_max_orphans {max_orphans}",
            sockstat_tcp()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The host's TcpExt counters that say why a closing socket skipped or left TIME_WAIT
/// (recycled by a connect, killed by an RST, no bucket left), from `/proc/net/netstat`.
pub fn time_wait_counters() -> Vec<(String, String)> {
    time_wait_counters_in(None)
}

/// As [`time_wait_counters`], of a private namespace (None: the host's).
pub fn time_wait_counters_in(net: Option<&PrivateNet>) -> Vec<(String, String)> {
    let s = std::fs::read_to_string(net_dir(net).join("netstat")).unwrap_or_default();
    let rows: Vec<Vec<&str>> = s
        .lines()
        .filter(|l| l.starts_with("TcpExt:"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (Some(names), Some(values)) = (rows.first(), rows.get(1)) else {
        return Vec::new();
    };
    let wanted = [
        "TWRecycled",
        "TWKilled",
        "TCPTimeWaitOverflow",
        "TCPAbortOnClose",
    ];
    names
        .iter()
        .zip(values.iter())
        .filter(|(n, _)| wanted.contains(n))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Wait until `ss` shows `n` TIME-WAIT sockets to `peer`, and return how many it shows.
/// The kernel has been seen to keep fewer on a busy host (one of five, with no TcpExt
/// counter saying why): after the deadline, a settled count of at least one, with
/// nothing else to `peer`, is returned with a note, and the caller compares sockleak
/// with that (ss is the oracle). None at all fails, saying what the kernel did instead.
pub fn wait_time_wait(n: usize, peer: &str) -> usize {
    wait_time_wait_in(None, n, peer)
}

/// As [`wait_time_wait`], in a private namespace (None: the host's).
pub fn wait_time_wait_in(net: Option<&PrivateNet>, n: usize, peer: &str) -> usize {
    let time_wait_counters = || time_wait_counters_in(net);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if ss_count_in(net, "TIME-WAIT", peer) == n {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen: Vec<_> = ss_sockets_in(net)
        .into_iter()
        .filter(|(_, _, p)| p == peer)
        .collect();
    let tw = seen.iter().filter(|(s, _, _)| s == "TIME-WAIT").count();
    if tw > 0 && tw == seen.len() && tw < n {
        eprintln!(
            "note: the kernel kept {tw} of {n} TIME-WAIT sockets to {peer}; TcpExt {:?}",
            time_wait_counters()
        );
        return tw;
    }
    panic!(
        "timed out waiting for {n} TIME-WAIT to {peer}: ss shows {seen:?}; \
         sockstat (orphan, tw) {:?}, tcp_max_tw_buckets {}, TcpExt {:?}",
        sockstat_tcp(net),
        sysctl("tcp_max_tw_buckets"),
        time_wait_counters()
    );
}

/// The TIME_WAIT sockets at a server's service end `local` (port `port`) once it has
/// closed `n` connections and exited: sockleak's JSON for them, and how many `ss`
/// shows. ss is the oracle for how many the kernel kept: on a busy host one of the
/// `n` has been seen to end otherwise (never in sockleak alone: ss agreed), so the
/// comparison is made at a moment when ss shows nothing else at the service end.
pub fn time_wait_at_service(local: &str, port: &str, n: u64) -> (Value, u64) {
    let ss_at = |state: Option<&str>| {
        ss_sockets()
            .into_iter()
            .filter(|(s, l, _)| *l == local && state.is_none_or(|st| s == st))
            .count() as u64
    };
    let mut last = Value::Null;
    let (mut ours, mut theirs) = (0, 0);
    for i in 0..100 {
        let before = ss_at(None);
        last = json(&["--state", "time-wait", "--local-port", port]);
        ours = last["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["states"]["time_wait"].as_u64().unwrap_or(0))
            .sum();
        theirs = ss_at(Some("TIME-WAIT"));
        let settled = before == ss_at(None) && before == theirs;
        // All n; or, after 3 s, fewer that the kernel has settled on.
        if ours == n && theirs == n || i >= 30 && settled && ours == theirs && theirs > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        ours,
        theirs,
        "TIME_WAIT at {local}: sockleak {ours}, ss {theirs}; TcpExt {:?}",
        time_wait_counters()
    );
    if theirs < n {
        eprintln!(
            "note: the kernel kept {theirs} of {n} TIME_WAIT sockets at {local}; TcpExt {:?}",
            time_wait_counters()
        );
    }
    assert!(theirs >= 1, "no TIME_WAIT at {local}: {last}");
    (last, theirs)
}

/// How many sockets `ss` shows in `state` (ss spelling) with `peer` as the remote end.
pub fn ss_count(state: &str, peer: &str) -> usize {
    ss_count_in(None, state, peer)
}

/// As [`ss_count`], in a private namespace (None: the host's).
pub fn ss_count_in(net: Option<&PrivateNet>, state: &str, peer: &str) -> usize {
    ss_sockets_in(net)
        .iter()
        .filter(|(s, _, p)| s == state && p == peer)
        .count()
}
