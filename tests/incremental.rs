//! The incremental sampler of `--watch` and `serve` (`collect::fdcache`) against a
//! full scan of the same moment, under churn: processes forking and exiting, a
//! process replacing its connections while its fd count stays the same, and a
//! child dropping shared sockets (dup2 of /dev/null over them). Each round freezes
//! every churning process (SIGSTOP of their process groups), takes an incremental
//! and a full collection, and compares who holds every socket. In a test binary of
//! its own, so no other test changes the fd tables meanwhile.
mod common;
use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sockleak::collect::fdcache::FullReason;
use sockleak::collect::{Collection, Collector, Options};

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
    let pgids = vec![churn.pid(), swap.pid(), shared.pid()];
    let (mut inc, mut full) = (collector(true), collector(false));
    let mut stats = Vec::new();
    let mut compared = 0;
    // Bounded in time, not only in rounds: on a host with a huge table each
    // collection is slow, and the test must end (and say so), never hang.
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 0..40 {
        assert!(
            Instant::now() < deadline,
            "only {round} rounds in 120 s: the host's table is too large or too busy for this test"
        );
        let thaw = Thaw(pgids.clone());
        let frozen = freeze(&pgids);
        let a = inc.collect().expect("incremental collection");
        let b = full.collect().expect("full collection");
        drop(thaw);
        compared += compare(&a, &b, &frozen, round);
        stats.push(a.scan);
        std::thread::sleep(Duration::from_millis(120));
    }
    // Each rule of the sampler was exercised, or this test proves nothing.
    let incremental = stats.iter().filter(|s| s.full.is_none()).count();
    let unexplained = stats.iter().filter(|s| s.suspects > 0).count();
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
    assert!(stats.iter().any(|s| s.reused > 0 && s.read < s.reused));
    assert!(compared > 40 * 50, "only {compared} owned sockets compared");
}
