//! Shared support for the live tests: child processes holding real loopback sockets
//! (`tests/support/peer.py`), running the built binary, and `ss` as the oracle.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod tree;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockleak")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool the tests need: missing it fails the test loudly, never skips it.
pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is required by this test (CI's .ci/run installs it)"
    );
}

/// A child process from `tests/support/peer.py`. Dropping it closes its stdin, which
/// ends it (and any child it forked) at once.
pub struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
    /// The first line it printed (its "ready" message).
    pub ready: Value,
}

impl Peer {
    pub fn spawn(args: &[&str]) -> Peer {
        Peer::spawn_wrapped(&[], args)
    }

    /// Start a peer inside another command, e.g. `unshare --net` (empty: directly).
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str]) -> Peer {
        Peer::spawn_script("peer.py", wrapper, args)
    }

    /// Start another script of `tests/support/` that speaks as peer.py does (a
    /// JSON ready line, exit when stdin closes).
    pub fn spawn_script(script: &str, wrapper: &[&str], args: &[&str]) -> Peer {
        require("python3");
        let mut cmd = match wrapper.split_first() {
            Some((prog, rest)) => {
                let mut c = Command::new(prog);
                c.args(rest).arg("python3");
                c
            }
            None => Command::new("python3"),
        };
        let mut child = cmd
            .arg(repo().join("tests/support").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 peer");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut p = Peer {
            child,
            out,
            ready: Value::Null,
        };
        p.ready = p.next_line();
        p
    }

    /// The next JSON line the peer prints (blocks).
    pub fn next_line(&mut self) -> Value {
        let mut line = String::new();
        let n = self.out.read_line(&mut line).expect("read peer output");
        assert!(n > 0, "peer exited early");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer said {line:?}: {e}"))
    }

    /// Wait for `{"done": n}` from a listening peer.
    pub fn wait_done(&mut self, n: u64) {
        loop {
            let v = self.next_line();
            if v["done"].as_u64().is_some_and(|d| d >= n) {
                return;
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.ready["pid"].as_u64().expect("peer pid") as u32
    }

    pub fn port(&self) -> u16 {
        self.ready["port"].as_u64().expect("peer port") as u16
    }

    pub fn pids(&self) -> Vec<u32> {
        self.ready["pids"]
            .as_array()
            .expect("peer pids")
            .iter()
            .map(|p| p.as_u64().unwrap() as u32)
            .collect()
    }

    /// Close stdin (the peer exits) and reap it.
    pub fn stop(mut self) {
        self.close();
    }

    fn close(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stdin(&mut self) -> &mut impl Write {
        self.child.stdin.as_mut().unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.close();
    }
}

/// A server on `host` whose accepted connections end in the given mode, and a client
/// opening `count` connections to it. Returns (server, client) once the server has
/// handled every connection.
pub fn leak(host: &str, mode: &str, send: u32, count: u32, client_args: &[&str]) -> (Peer, Peer) {
    leak_in(&[], host, mode, send, count, client_args)
}

/// As [`leak`], with both peers started inside `wrapper` (e.g. [`PrivateNet::wrap`]).
pub fn leak_in(
    wrapper: &[&str],
    host: &str,
    mode: &str,
    send: u32,
    count: u32,
    client_args: &[&str],
) -> (Peer, Peer) {
    let send = send.to_string();
    let mut server =
        Peer::spawn_wrapped(wrapper, &["listen", host, "--mode", mode, "--send", &send]);
    let port = server.port().to_string();
    let count_s = count.to_string();
    let mut args = vec!["connect", host, &port, "--count", &count_s];
    args.extend_from_slice(client_args);
    let client = Peer::spawn_wrapped(wrapper, &args);
    server.wait_done(u64::from(count));
    (server, client)
}

/// Run sockleak with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        // A pipe is cut to COLUMNS when it is set: the tests read whole tables.
        .env_remove("COLUMNS")
        .output()
        .expect("run sockleak")
}

/// Run sockleak, expect success, and parse its JSON document.
pub fn json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "sockleak {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sockleak printed JSON")
}

/// Poll `cond` until it holds or `secs` pass; panics with `what` on timeout.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

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

/// A loopback address of its own for one test's server (127.0.0.0/8 is all on `lo`), so
/// that sockets lingering from other tests (TIME_WAIT lasts 60 s) never share its
/// endpoint.
pub fn private_loopback() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!(
        "127.{}.{}.{}",
        100 + pid % 150,
        (pid / 150) % 250,
        2 + n % 250
    )
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

/// Groups of a JSON document matching `pred`.
pub fn groups<'a>(doc: &'a Value, pred: impl Fn(&Value) -> bool + 'a) -> Vec<&'a Value> {
    doc["groups"]
        .as_array()
        .expect("groups array")
        .iter()
        .filter(|g| pred(g))
        .collect()
}

/// The single group matching `pred`; panics (with the document) if not exactly one.
pub fn one_group<'a>(doc: &'a Value, pred: impl Fn(&Value) -> bool + 'a) -> &'a Value {
    let g = groups(doc, pred);
    assert_eq!(g.len(), 1, "expected one matching group in {doc:#}");
    g[0]
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The inode of this process's network namespace (the host's, for the tests).
pub fn host_netns() -> u64 {
    let link = std::fs::read_link("/proc/self/ns/net").expect("read /proc/self/ns/net");
    let s = link.to_string_lossy().into_owned();
    s.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .expect("namespace inode")
}

/// Run `binary` as the unprivileged user `nobody` (CI runs as root), with no
/// capabilities inherited.
pub fn as_nobody(binary: &str, args: &[&str]) -> Output {
    require("setpriv");
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
            binary,
        ])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run setpriv")
}

/// Run `promtool check metrics` on an exposition; panics with its complaints.
pub fn promtool_check(exposition: &[u8]) {
    require("promtool");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child.stdin.take().unwrap().write_all(exposition).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics failed:\n{}{}\n--- input ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(exposition)
    );
}

/// The `warnings` of a JSON document.
pub fn warnings(doc: &Value) -> Vec<&str> {
    doc["warnings"]
        .as_array()
        .expect("warnings array")
        .iter()
        .map(|w| w.as_str().expect("warning text"))
        .collect()
}

/// How a bounded run of sockleak ended.
pub struct Bounded {
    /// The exit code, or None when it was killed (by the timeout, or a signal).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// Run sockleak with a wall-clock `timeout` (killed after it) and an address-space
/// limit of `mem` bytes (RLIMIT_AS, set in the child before exec): a hang or a
/// runaway allocation ends the run rather than the test machine.
pub fn run_bounded(args: &[&str], timeout: Duration, mem: u64) -> Bounded {
    use std::io::Read;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the hook.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: mem,
                rlim_max: mem,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start sockleak");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let stdout = t_out.join().unwrap();
    let stderr = t_err.join().unwrap();
    assert!(
        status.signal().is_none() || timed_out,
        "sockleak {args:?} died of signal {:?}: {}",
        status.signal(),
        String::from_utf8_lossy(&stderr)
    );
    Bounded {
        code: status.code(),
        stdout,
        stderr,
        timed_out,
        elapsed,
    }
}

/// The first raw control character (other than newline and tab) in `text`, with
/// its offset: text output must escape them.
pub fn raw_control(text: &[u8]) -> Option<(usize, char)> {
    String::from_utf8_lossy(text)
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\n' && *c != '\t')
}

/// `sockleak plot RECORD -o OUT`, which must succeed; the SVG's text.
pub fn plot_svg(record: &Path, out: &Path) -> String {
    let o = run(&["plot", path_str(record), "-o", path_str(out)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

/// Whether the tests run as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A network namespace of the test's own (`unshare --net`, `lo` up; needs root).
/// Peers started in it ([`PrivateNet::wrap`]) and `ss`/sockleak run in it
/// ([`PrivateNet::cmd`]) see only the test's sockets: what other workloads on the
/// host open and close never enters a comparison. It lasts until dropped (and
/// while any peer started in it runs).
pub struct PrivateNet {
    holder: Child,
    /// `--net=/proc/<holder>/ns/net`, nsenter's argument.
    enter: String,
}

impl PrivateNet {
    pub fn new() -> PrivateNet {
        assert!(
            is_root(),
            "this test needs root (unshare --net for a namespace of its own); CI runs as root"
        );
        for tool in ["unshare", "nsenter", "ip"] {
            require(tool);
        }
        // unshare execs sh, which execs cat: one process, whose pid is the child's,
        // holds the namespace until its stdin closes.
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && echo ready && exec cat",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start unshare --net");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the namespace holder");
        assert_eq!(line.trim(), "ready", "unshare --net did not bring lo up");
        let enter = format!("--net=/proc/{}/ns/net", holder.id());
        PrivateNet { holder, enter }
    }

    /// The pid of the process holding the namespace (for `--netns PID`).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// The namespace's inode (its id in sockleak's JSON).
    pub fn inode(&self) -> u64 {
        let link = std::fs::read_link(format!("/proc/{}/ns/net", self.pid()))
            .expect("read the holder's ns/net");
        let s = link.to_string_lossy().into_owned();
        s.trim_start_matches("net:[")
            .trim_end_matches(']')
            .parse()
            .expect("namespace inode")
    }

    /// The wrapper that starts a peer inside ([`Peer::spawn_wrapped`], [`leak_in`]).
    pub fn wrap(&self) -> [&str; 2] {
        ["nsenter", &self.enter]
    }

    /// `prog` run inside the namespace.
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(&self.enter).arg(prog).env("NO_COLOR", "1");
        c
    }

    /// sockleak's JSON run inside the namespace, reading only its table
    /// (`--netns host`: sockleak's own namespace, this one).
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd(bin())
            .args(["--json", "--netns", "host"])
            .args(args)
            .output()
            .expect("run sockleak in the namespace");
        assert!(
            out.status.success(),
            "sockleak {args:?} in the namespace failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("sockleak printed JSON")
    }
}

impl Default for PrivateNet {
    fn default() -> Self {
        PrivateNet::new()
    }
}

impl Drop for PrivateNet {
    fn drop(&mut self) {
        drop(self.holder.stdin.take());
        if !matches!(self.holder.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(20));
            if !matches!(self.holder.try_wait(), Ok(Some(_))) {
                let _ = self.holder.kill();
            }
        }
        let _ = self.holder.wait();
    }
}
