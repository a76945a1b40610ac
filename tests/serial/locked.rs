//! A socket whose holder keeps its lock must not hang sockleak (issue 26).
//!
//! `tests/support/lockholder.c` holds one loopback socket's lock with a recv()
//! stuck in a userfaultfd page fault, in a network namespace of its own: every
//! sockleak on the host that reads that namespace's tcp_info would wait on it,
//! so the holder lives at most 30 s and these tests run one at a time, alone in
//! their binary (`tests/serial`, [`crate::exclusive`]: two holders would only slow
//! each other's sockleak down). sockleak runs inside the holder's namespace
//! (`nsenter --net`); `ss -tan` (no tcp_info, so no lock) is the oracle.
//!
//! Each case checks: it returns within a few seconds, counts equal ss, the
//! warning names the holder, and SIGTERM ends it within a second.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Server, assert_root, bin, repo, require};
use serde_json::Value;

/// The holder: its process (killed on drop) and what it printed.
struct Holder {
    child: Child,
    pid: u32,
    locked_inode: u64,
    free_inode: u64,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn build_holder() -> std::path::PathBuf {
    require("cc");
    require("unshare");
    require("nsenter");
    assert_root("the lock holder (userfaultfd on kernel faults, unshare -n)");
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lockholder");
    let src = repo().join("tests/support/lockholder.c");
    let st = Command::new("cc")
        .args(["-O", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc runs");
    assert!(st.success(), "cannot build {}", src.display());
    out
}

fn start_holder() -> Holder {
    let exe = build_holder();
    let mut child = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\""])
        .arg(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let w: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(w.first(), Some(&"ready"), "holder said {line:?}");
    Holder {
        child,
        pid: w[1].parse().unwrap(),
        locked_inode: w[2].parse().unwrap(),
        free_inode: w[4].parse().unwrap(),
    }
}

/// A command run inside the holder's network namespace.
fn inside(h: &Holder, prog: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/proc/{}/ns/net", h.pid)).arg(prog);
    c
}

/// sockleak inside the holder's namespace, reading that namespace only (the
/// totals then compare with `ss` there).
fn sockleak_inside(h: &Holder, args: &[&str]) -> Command {
    let mut c = inside(h, bin());
    c.args(args).args(["--netns", "host"]);
    c
}

/// Run sockleak inside the namespace; its JSON, and how long it took.
fn snapshot(h: &Holder, args: &[&str]) -> (Value, Duration) {
    let t = Instant::now();
    let out = sockleak_inside(h, args).output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "sockleak {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), took)
}

/// Sockets in `state` in the namespace, by ss (which asks no tcp_info).
fn ss_count(h: &Holder, state: &str) -> u64 {
    let out = inside(h, "ss")
        .args(["-tanH", "state", state])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count() as u64
}

fn state_of(doc: &Value, pid: u32, state: &str) -> u64 {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pid"].as_u64() == Some(u64::from(pid)))
        .map(|g| g["states"][state].as_u64().unwrap_or(0))
        .sum()
}

/// The holder's two connections, both ends: the clients in CLOSE_WAIT (data
/// and FIN unread), the servers in FIN_WAIT2; the same as ss says.
fn assert_exact(doc: &Value, h: &Holder) {
    assert_eq!(state_of(doc, h.pid, "close_wait"), 2, "{doc}");
    assert_eq!(state_of(doc, h.pid, "fin_wait2"), 2, "{doc}");
    for (state, ss_name) in [("close_wait", "close-wait"), ("fin_wait2", "fin-wait-2")] {
        let ss = ss_count(h, ss_name);
        assert_eq!(doc["totals"]["states"][state].as_u64(), Some(ss), "{state}");
    }
}

fn warning_naming<'a>(doc: &'a Value, what: &str, pid: u32) -> Option<&'a str> {
    let who = format!("pid {pid} lockholder");
    doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|w| w.contains(what) && w.contains(&who))
}

#[test]
fn a_snapshot_returns_with_exact_counts_and_names_the_holder() {
    let _one = crate::exclusive();
    let h = start_holder();
    let (doc, took) = snapshot(&h, &["--json"]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_exact(&doc, &h);
    let w = warning_naming(&doc, "kept its lock", h.pid)
        .unwrap_or_else(|| panic!("no warning naming the holder: {}", doc["warnings"]));
    assert!(w.contains("idle ages of 1 socket"), "{w}");
    // The other sockets still have their idle ages: only the locked one is missing.
    let aged = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pid"].as_u64() == Some(u64::from(h.pid)))
        .filter(|g| !g["oldest_idle_s"].is_null())
        .count();
    assert!(aged >= 1, "groups with an idle age: {aged}");
    let _ = h.locked_inode;
}

#[test]
fn peek_skips_the_locked_socket_and_reads_the_other() {
    let _one = crate::exclusive();
    let h = start_holder();
    let (doc, took) = snapshot(&h, &["--json", "--peek", "--pid", &h.pid.to_string()]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_exact(&doc, &h);
    let classes: Vec<String> = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["unread"].as_array().cloned().unwrap_or_default())
        .map(|u| u["class"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        classes.iter().any(|c| c == "http-head"),
        "the free socket is peeked: {classes:?}"
    );
    let warnings = doc["warnings"].to_string();
    assert!(warnings.contains("keeps the socket locked"), "{warnings}");
    let _ = h.free_inode;
}

/// `--watch` samples on through the lock, and SIGTERM during a stalled read ends
/// it within a second.
#[test]
fn watch_goes_on_and_stops_within_a_second() {
    let _one = crate::exclusive();
    let h = start_holder();
    let t = Instant::now();
    let out = sockleak_inside(&h, &["--watch", "0.2", "--count", "3", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert!(
        t.elapsed() < Duration::from_secs(12),
        "took {:?}",
        t.elapsed()
    );

    let mut w = Reaped(
        sockleak_inside(&h, &["--watch", "0.2", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(w.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The next sample starts 0.2 s later and then waits a second on the lock:
    // the signal lands inside that wait.
    std::thread::sleep(Duration::from_millis(600));
    assert_stops_within_a_second(&mut w.0);
}

/// A watch from outside reads the holder's namespace from a thread that has
/// entered it (`--netns PID`). SIGTERM during that thread's stalled read ends
/// the watch within a second, and the sample it cut short is not written: no
/// line whose namespace "fell back" to /proc (no idle ages, the default port
/// range) because the read was stopped, not because netlink failed.
#[test]
fn a_watch_stopped_inside_another_namespace_writes_no_cut_sample() {
    let _one = crate::exclusive();
    let h = start_holder();
    let pid = h.pid.to_string();
    let mut w = Reaped(
        Command::new(bin())
            .args(["--netns", &pid, "--watch", "0.2", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(w.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"groups\""), "{first}");
    std::thread::sleep(Duration::from_millis(600));
    assert_stops_within_a_second(&mut w.0);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "a sample cut short by SIGTERM was written");
}

/// `serve` answers scrapes with exact counts while the lock is held, and
/// SIGTERM during a collection ends it within a second.
#[test]
fn serve_answers_and_stops_within_a_second() {
    let _one = crate::exclusive();
    let h = start_holder();
    let mut s = Server::spawn(sockleak_inside(&h, &["serve", "--listen", "127.0.0.1:0"]));
    let addr = s.addr.to_string();
    for _ in 0..2 {
        let t = Instant::now();
        let body = scrape_in(&h, &addr);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "scrape took {:?}",
            t.elapsed()
        );
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        // The holder's own series: its 2 connections, both ends (the scrape's
        // own connection is in the namespace too, so not the host total).
        let holder = format!("pid=\"{}\",process=\"lockholder\"", h.pid);
        let held = |state: &str| {
            body.lines()
                .filter(|l| l.starts_with("sockleak_group_sockets{") && l.contains(&holder))
                .filter(|l| l.contains(&format!("state=\"{state}\"")))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        };
        assert_eq!((held("close_wait"), held("fin_wait2")), (2, 2), "{body}");
        assert!(
            body.contains("sockleak_warnings 1"),
            "the locked-socket warning: {body}"
        );
    }
    // A scrape in flight (its collection waits on the lock), then SIGTERM.
    let addr2 = addr.clone();
    let pid = h.pid;
    let _inflight = std::thread::spawn(move || {
        let h2 = NsOnly(pid);
        h2.get(&addr2)
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_stops_within_a_second(&mut s.child);
}

/// A child killed and reaped when the test ends, failed or not: a serve or a
/// watch left behind would outlive the run.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn assert_stops_within_a_second(c: &mut Child) {
    let t = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    loop {
        if c.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "still running {:?} after SIGTERM",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GET of /metrics from inside the holder's namespace.
fn scrape_in(h: &Holder, addr: &str) -> String {
    NsOnly(h.pid).get(addr)
}

/// A thread joined to a process's network namespace, to connect to its loopback.
struct NsOnly(u32);

impl NsOnly {
    fn get(&self, addr: &str) -> String {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.0)).unwrap();
        let addr = addr.to_string();
        std::thread::spawn(move || {
            // SAFETY: setns on a namespace fd; it changes only this thread.
            assert_eq!(
                unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(
                c,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut body = String::new();
            let _ = c.read_to_string(&mut body);
            body
        })
        .join()
        .unwrap()
    }
}
