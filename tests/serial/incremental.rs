//! The incremental sampler of `--watch` and `serve` (`collect::fdcache`) against a
//! full scan of the same moment, under churn: processes forking and exiting, a
//! process replacing its connections while its fd count stays the same, and a
//! child dropping shared sockets (dup2 of /dev/null over them). Each round freezes
//! every churning process (SIGSTOP of their process groups), takes an incremental
//! and a full collection, and compares who holds every socket. In `tests/serial`,
//! so no other test of the suite changes the host's fd tables meanwhile (each test
//! holds [`crate::shared`]: beside each other, never beside a lock holder).
//!
//! And a web host in miniature (issue 27, `tests/support/closing_server.py`): a
//! server hanging up its keep-alive connections every second beside a leaking
//! urllib3 pool, compared the same way, and watched in a namespace of its own,
//! where `--watch` must stay incremental.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sockleak::collect::fdcache::{FullReason, ScanStats};
use sockleak::collect::{Collection, Collector, Options};
use sockleak::model::scan::ScanKind;

fn collector(incremental: bool) -> Collector {
    Collector::new(Options {
        incremental,
        ..Options::default()
    })
    .expect("collector on /proc")
}

/// Signal every process group of `pgids`; the error of the first that failed.
fn signal(pgids: &[u32], sig: libc::c_int) -> Result<(), String> {
    for &pgid in pgids {
        // SAFETY: kill(2) with a negative pid signals that process group.
        if unsafe { libc::kill(-(pgid as libc::pid_t), sig) } != 0 {
            return Err(format!(
                "kill({sig}, -{pgid}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The pid, process group and state of every process.
fn processes() -> Vec<(u32, u32, char)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if let (Ok(pid), Some(state), Some(Ok(pgrp))) = (
            e.file_name().to_string_lossy().parse::<u32>(),
            f.first().and_then(|s| s.chars().next()),
            f.get(2).map(|p| p.parse::<u32>()),
        ) {
            v.push((pid, pgrp, state));
        }
    }
    v
}

/// Stop every process of `pgids` and wait until each is stopped; their pids.
/// An incremental and a full collector side by side: each round is taken by
/// both with the peers' process groups frozen, so that both see the same fd
/// tables, and compared socket by socket.
struct Pair {
    inc: Collector,
    full: Collector,
    pgids: Vec<u32>,
    /// Bounded in time, not only in rounds: on a host with a huge table each
    /// collection is slow, and the test must end (and say so), never hang.
    deadline: Instant,
    /// Owned sockets compared so far.
    compared: usize,
}

impl Pair {
    fn new(pgids: Vec<u32>) -> Pair {
        Pair {
            inc: collector(true),
            full: collector(false),
            pgids,
            deadline: Instant::now() + Duration::from_secs(120),
            compared: 0,
        }
    }

    /// Round `round`: the incremental collection, the full one, and the pids
    /// that were frozen.
    fn round(&mut self, round: usize) -> (Collection, Collection, BTreeSet<u32>) {
        assert!(
            Instant::now() < self.deadline,
            "only {round} rounds in 120 s: the host's table is too large or too busy for this test"
        );
        let thaw = Thaw(self.pgids.clone());
        let frozen = freeze(&self.pgids);
        let a = self.inc.collect().expect("incremental collection");
        let b = self.full.collect().expect("full collection");
        drop(thaw);
        self.compared += compare(&a, &b, &frozen, round);
        (a, b, frozen)
    }
}

fn freeze(pgids: &[u32]) -> BTreeSet<u32> {
    signal(pgids, libc::SIGSTOP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let members: Vec<_> = processes()
            .into_iter()
            .filter(|(_, g, _)| pgids.contains(g))
            .collect();
        // Z: a churn child that exited and is not reaped yet holds no fds.
        if members.iter().all(|(_, _, s)| matches!(s, 'T' | 't' | 'Z')) {
            return members.iter().map(|(p, _, _)| *p).collect();
        }
        assert!(
            Instant::now() < deadline,
            "processes not stopped: {members:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Thaws the frozen groups even when an assertion fails, so the peers can exit.
struct Thaw(Vec<u32>);
impl Drop for Thaw {
    fn drop(&mut self) {
        // Also while unwinding from a failed assertion: no second panic here.
        let _ = signal(&self.0, libc::SIGCONT);
    }
}

/// Every socket of both tables is held by the same processes in both collections,
/// and the frozen processes' reset-but-held sockets and fd counts agree. Sockets of
/// processes outside the frozen groups may change between the two collections:
/// a difference is only accepted there.
fn compare(inc: &Collection, full: &Collection, frozen: &BTreeSet<u32>, round: usize) -> usize {
    let a: BTreeSet<u64> = inc.sockets.iter().map(|s| s.inode).collect();
    let b: BTreeSet<u64> = full.sockets.iter().map(|s| s.inode).collect();
    let mut compared = 0;
    for inode in a.intersection(&b).filter(|i| **i != 0) {
        let x: BTreeSet<u32> = inc.fds.owners(*inode).collect();
        let y: BTreeSet<u32> = full.fds.owners(*inode).collect();
        if x.iter().chain(&y).any(|p| frozen.contains(p)) {
            assert_eq!(x, y, "round {round}: owners of socket {inode}");
            compared += 1;
        }
    }
    let closed = |c: &Collection| -> BTreeSet<(u64, u32)> {
        c.fds
            .closed
            .iter()
            .filter(|(_, p)| frozen.contains(p))
            .copied()
            .collect()
    };
    assert_eq!(closed(inc), closed(full), "round {round}: reset-but-held");
    for pid in frozen {
        assert_eq!(
            inc.fds.open_fds(*pid),
            full.fds.open_fds(*pid),
            "round {round}: fds of {pid}"
        );
        assert_eq!(
            inc.processes.contains_key(pid),
            full.processes.contains_key(pid),
            "round {round}: pid {pid} as an owner"
        );
    }
    compared
}

#[test]
fn incremental_samples_equal_full_scans_under_churn() {
    let _host = crate::shared();
    require("setsid");
    // setsid: each peer leads a process group of its own, with its children.
    let churn = Peer::spawn_wrapped(&["setsid"], &["churn", "127.0.0.1"]);
    let swap = Peer::spawn_wrapped(
        &["setsid"],
        &["swap", "127.0.0.1", "--count", "30", "--interval", "0.4"],
    );
    let shared = Peer::spawn_wrapped(
        &["setsid"],
        &[
            "swap",
            "127.0.0.1",
            "--count",
            "20",
            "--interval",
            "0.08",
            "--hold",
            "--fork",
        ],
    );
    let mut pair = Pair::new(vec![churn.pid(), swap.pid(), shared.pid()]);
    let mut stats = Vec::new();
    for round in 0..40 {
        let (a, _, _) = pair.round(round);
        stats.push(a.scan);
        std::thread::sleep(Duration::from_millis(120));
    }
    // Each rule of the sampler was exercised, or this test proves nothing.
    let incremental = stats.iter().filter(|s| s.full.is_none()).count();
    let unexplained = stats
        .iter()
        .filter(|s| s.suspects > 0 || s.affine > 0)
        .count();
    let stale = stats
        .iter()
        .filter(|s| s.full.is_none() && s.stale > 0)
        .count();
    assert_eq!(stats[0].full, Some(FullReason::First), "{stats:?}");
    assert!(incremental >= 5, "incremental samples: {stats:?}");
    assert!(
        unexplained >= 1,
        "no sample found a socket without a known owner: {stats:?}"
    );
    assert!(stale >= 1, "no shared socket was found dropped: {stats:?}");
    assert!(
        stats.iter().any(|s| s.reused > 0 && s.read < s.reused),
        "no sample reused more tables than it read: {stats:?}"
    );
    assert!(
        pair.compared > 40 * 50,
        "only {} owned sockets compared",
        pair.compared
    );
}

/// Sockets per (pid, local, remote, state) of the frozen processes: what a report
/// counts per process and endpoint.
fn counts(c: &Collection, frozen: &BTreeSet<u32>) -> BTreeMap<(u32, String, String, String), u32> {
    let mut m = BTreeMap::new();
    for s in c.sockets.iter().filter(|s| s.inode != 0) {
        for pid in c.fds.owners(s.inode).filter(|p| frozen.contains(p)) {
            let key = (
                pid,
                s.local.to_string(),
                s.remote.to_string(),
                s.state.snake().to_string(),
            );
            *m.entry(key).or_insert(0) += 1;
        }
    }
    m
}

/// The closing server and the leaking pool (tests/support/closing_server.py),
/// each leading a process group of its own.
fn web_host(host: &str) -> (Peer, Peer) {
    require("setsid");
    let server = Peer::spawn_script("closing_server.py", &["setsid"], &["server", host]);
    let port = server.port().to_string();
    let client = Peer::spawn_script("closing_server.py", &["setsid"], &["client", host, &port]);
    (server, client)
}

#[test]
fn incremental_samples_equal_full_scans_beside_a_closing_server() {
    let _host = crate::shared();
    let host = private_loopback();
    let (server, client) = web_host(&host);
    let mut pair = Pair::new(vec![server.pid(), client.pid()]);
    let mut stats: Vec<ScanStats> = Vec::new();
    for round in 0..16 {
        let (a, b, frozen) = pair.round(round);
        let (ca, cb) = (counts(&a, &frozen), counts(&b, &frozen));
        assert_eq!(ca, cb, "round {round}: counts per pid and endpoint");
        assert!(
            ca.keys().any(|k| k.0 == server.pid()) && ca.keys().any(|k| k.0 == client.pid()),
            "round {round}: both the server and the pool hold sockets: {ca:?}"
        );
        stats.push(a.scan);
        // The server swaps connections about once a second.
        std::thread::sleep(Duration::from_millis(700));
    }
    for s in &stats {
        let needs_trigger =
            s.kind() == ScanKind::UidReread || s.full == Some(FullReason::Unexplained);
        assert_eq!(s.trigger.is_some(), needs_trigger, "{s:?}");
        assert_eq!(
            s.reason().is_some(),
            s.kind() != ScanKind::Incremental,
            "{s:?}"
        );
    }
    // The server's new connections were found where they were accepted, without
    // a re-read of every table, or this test proves nothing new.
    assert!(
        stats.iter().any(|s| s.affine > 0 && s.full.is_none()),
        "no sample found a socket at its listener's process: {stats:?}"
    );
    assert!(
        pair.compared > 16 * 4,
        "only {} owned sockets compared",
        pair.compared
    );
}

/// The reproduction of issue 27, in a pid and network namespace of its own (so
/// that nothing else on the host changes what is watched): the closing server and
/// the leaking pool, then `sockleak --watch 1 --count 10 --json`. Its samples.
fn watch_web_host_alone(client_args: &str) -> Vec<Value> {
    for tool in ["unshare", "ip", "bash"] {
        require(tool);
    }
    let script = r#"
        set -e
        ip link set lo up
        coproc SRV { python3 "$1" server 127.0.0.1; }
        read -r ready <&"${SRV[0]}"
        port=${ready##*\"port\": }; port=${port%\}}
        coproc CLI { python3 "$1" client 127.0.0.1 "$port" $3; }
        read -r ready <&"${CLI[0]}"
        "$2" --watch 1 --count 10 --json
    "#;
    let support = repo().join("tests/support/closing_server.py");
    let o = Command::new("unshare")
        .args([
            "--net",
            "--pid",
            "--fork",
            "--mount-proc",
            "bash",
            "-c",
            script,
            "web-host",
        ])
        .arg(&support)
        .arg(bin())
        .arg(client_args)
        .output()
        .expect("run unshare (root is needed)");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the watch failed: {stderr}");
    let samples: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON sample"))
        .collect();
    assert_eq!(samples.len(), 10, "{stderr}");
    samples
}

#[test]
fn watch_stays_incremental_on_a_web_host() {
    let _host = crate::shared();
    for client_args in ["--workers 0", "--workers 4"] {
        let samples = watch_web_host_alone(client_args);
        let scans: Vec<&Value> = samples.iter().map(|s| &s["scan"]).collect();
        assert_eq!(scans[0]["kind"], "full", "{scans:?}");
        assert_eq!(scans[0]["full_reason"], "first", "{scans:?}");
        let incremental = scans[1..]
            .iter()
            .filter(|s| s["kind"] == "incremental")
            .count();
        assert!(
            incremental >= 8,
            "{client_args}: {incremental} of 9 samples incremental: {scans:#?}"
        );
        for s in scans.iter().filter(|s| s["kind"] != "incremental") {
            assert!(
                s["full_reason"].is_string(),
                "a sample without its reason: {s}"
            );
            if s["kind"] == "uid-reread" || s["full_reason"] == "unexplained" {
                let t = &s["trigger"];
                assert!(
                    t["state"].is_string() && t["inode"].as_u64().is_some_and(|i| i > 0),
                    "a re-read without the socket that caused it: {s}"
                );
            }
        }
        // The pool was seen leaking: its 403 connections pile up in CLOSE_WAIT.
        let last = samples.last().unwrap();
        let close_wait: u64 = last["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["states"]["close_wait"].as_u64())
            .sum();
        assert!(
            close_wait >= 5,
            "{client_args}: the leak was not seen: {last}"
        );
    }
}
