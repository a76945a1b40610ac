//! The flight recorder (`sockleak trace`) on real clients over loopback: Apache
//! HttpClient 4.5 and urllib3 leaking 403s, a psycopg2 pool leaking checkouts inside a
//! transaction against a real PostgreSQL 15, the lifetime of a private recorder under
//! `kill -9`, `trace stop`, and unprivileged runs.
//!
//! Needs root and bpftool (fails loudly without). The recorder is host-wide, so every
//! test that arms one holds [`Session`]: one at a time (a mutex in this binary and a
//! file lock across binaries), its own pin directory (`SOCKLEAK_TRACE_DIR`, so other
//! runs on the host never join it), and on drop `trace stop` plus a check with
//! bpftool that every program it loaded is gone.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

use crate::common::{Peer, Postgres, assert_root, bin, repo, require, wait_until};
use serde_json::Value;

const JARS: [&str; 3] = [
    "/usr/share/java/httpclient.jar",
    "/usr/share/java/httpcore.jar",
    "/usr/share/java/commons-logging.jar",
];

static SERIAL: Mutex<()> = Mutex::new(());

/// The ids of the BPF programs named like sockleak's loaded now (bpftool's view).
fn sockleak_programs() -> BTreeSet<u64> {
    let out = Command::new("bpftool")
        .args(["prog", "show", "--json"])
        .output()
        .expect("run bpftool");
    assert!(out.status.success(), "bpftool prog show failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("sockleak_"))
        })
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

/// One test's hold on the recorder: serialized, its own pin directory, and cleaned
/// up (and checked clean) on drop.
struct Session {
    dir: PathBuf,
    before: BTreeSet<u64>,
    _flock: File,
    _serial: MutexGuard<'static, ()>,
}

impl Session {
    fn new(name: &str) -> Session {
        assert_root("the flight recorder (BPF)");
        require("bpftool");
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let flock = File::create("/tmp/sockleak-trace-tests.lock").unwrap();
        // SAFETY: a valid fd; LOCK_EX blocks until no other test binary holds it.
        assert_eq!(unsafe { libc::flock(flock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let dir = match name.strip_prefix('/') {
            Some(_) => PathBuf::from(name),
            None => PathBuf::from(format!(
                "/sys/fs/bpf/sockleak-test-{}-{name}",
                std::process::id()
            )),
        };
        Session {
            dir,
            before: sockleak_programs(),
            _flock: flock,
            _serial: serial,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("NO_COLOR", "1")
            .env("SOCKLEAK_TRACE_DIR", &self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sockleak")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sockleak {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("sockleak printed JSON")
    }

    fn start(&self) {
        let line = self.ok(&["trace", "start"]);
        assert!(line.contains("recorder armed"), "{line}");
    }

    /// Programs this session loaded that are still loaded.
    fn ours(&self) -> BTreeSet<u64> {
        sockleak_programs()
            .difference(&self.before)
            .copied()
            .collect()
    }

    /// Nothing of this session's recorder in the kernel or in bpffs.
    fn assert_clean(&self) {
        wait_until(10, "the recorder's programs to be unloaded", || {
            self.ours().is_empty()
        });
        assert!(!self.dir.exists(), "{} still exists", self.dir.display());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.run(&["trace", "stop"]);
        if std::thread::panicking() {
            return;
        }
        self.assert_clean();
    }
}

/// The group of `pid`'s connections to `127.0.0.1:port`.
fn client_group(doc: &Value, pid: u32, port: u64) -> Value {
    let remote = format!("127.0.0.1:{port}");
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["pid"] == pid && g["remote"] == remote.as_str())
        .unwrap_or_else(|| panic!("no group of pid {pid} to {remote}: {doc:#}"))
        .clone()
}

fn held(g: &Value) -> u64 {
    ["established", "close_wait"]
        .iter()
        .map(|s| g["states"][s].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn httpclient_45_leaking_403s_reads_get_forbidden_403_for_every_leaked_socket() {
    require("javac");
    require("java");
    for jar in JARS {
        assert!(
            Path::new(jar).exists(),
            "{jar} is required (apt-get install libhttpclient-java)"
        );
    }
    let s = Session::new("httpclient");
    s.start();
    let classes = tempfile::tempdir().unwrap();
    let cp = JARS.join(":");
    let st = Command::new("javac")
        .args(["-cp", &cp, "-d"])
        .arg(classes.path())
        .arg(repo().join("tests/support/TraceLeakyClient.java"))
        .status()
        .unwrap();
    assert!(st.success(), "javac failed");
    let mut java = Command::new("java");
    java.args(["-cp", &format!("{cp}:{}", classes.path().display())])
        .arg("-Dsun.net.httpserver.idleInterval=1")
        .args(["TraceLeakyClient", "6"])
        .stderr(Stdio::null());
    let client = Peer::spawn_command("TraceLeakyClient", java);
    let (pid, port) = (client.pid(), client.ready["port"].as_u64().unwrap());
    let doc = s.json(&["--pid", &pid.to_string()]);
    let g = client_group(&doc, pid, port);
    assert_eq!(held(&g), 6, "{g:#}");
    let x = &g["exchanges"];
    assert_eq!(x.as_array().unwrap().len(), 1, "{g:#}");
    assert_eq!(x[0]["request"], "GET /forbidden?…");
    assert_eq!(x[0]["response"], "403 Forbidden");
    assert_eq!(x[0]["count"], 6);
    assert_eq!(
        (&x[0]["method"], &x[0]["status"]),
        (&"GET".into(), &"403".into())
    );
    assert_eq!(g["exchanges_unrecorded"], 0);
    let table = s.ok(&["--pid", &pid.to_string()]);
    assert!(
        table.contains("  last:   6× GET /forbidden?… → 403 Forbidden\n"),
        "{table}"
    );
    assert!(!table.contains("secret") && !doc.to_string().contains("secret"));
    let shown = s.json(&["--pid", &pid.to_string(), "--show-query"]);
    let g = client_group(&shown, pid, port);
    assert!(
        g["exchanges"][0]["request"]
            .as_str()
            .unwrap()
            .starts_with("GET /forbidden?token=secret")
    );
}

#[test]
fn urllib3_leaking_403s_reads_get_forbidden_403() {
    let s = Session::new("urllib3");
    s.start();
    let server = Peer::spawn_script("http_leak.py", &[], &["server", "127.0.0.1"]);
    let port = server.ready["port"].as_u64().unwrap();
    let client = Peer::spawn_script(
        "http_leak.py",
        &[],
        &["urllib3", "127.0.0.1", &port.to_string(), "--leak", "4"],
    );
    let pid = client.pid();
    // The server closes each idle connection after 0.5 s: CLOSE_WAIT on the client.
    wait_until(10, "4 CLOSE_WAIT", || {
        let d = s.json(&["--pid", &pid.to_string()]);
        client_group(&d, pid, port)["states"]["close_wait"] == 4
    });
    let g = client_group(&s.json(&["--pid", &pid.to_string()]), pid, port);
    // The 403's body followed its head 0.2 s later: a continuation, not a response.
    let want = serde_json::json!([{"request": "GET /forbidden", "response": "403 Forbidden",
        "count": 4, "protocol": "http", "method": "GET", "status": "403"}]);
    assert_eq!(g["exchanges"], want, "{g:#}");
    assert_eq!(g["exchanges_unrecorded"], 0);
    let prom = s.ok(&["-o", "prometheus", "--pid", &pid.to_string()]);
    let line = prom
        .lines()
        .find(|l| {
            l.starts_with("sockleak_exchange_sockets{") && l.contains(&format!("pid=\"{pid}\""))
        })
        .unwrap_or_else(|| panic!("{prom}"));
    assert!(line.contains("method=\"GET\",status=\"403\"} 4"), "{line}");
    assert!(!line.contains("forbidden"), "a path in a label: {line}");
    // Checks (and --watch alerts, by the same note) name the dominant exchange.
    let check = s.run(&["--threshold", "1", "--pid", &pid.to_string()]);
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("; last: 4× GET /forbidden → 403 Forbidden"),
        "{text}"
    );
}

#[test]
fn psycopg2_leaking_checkouts_in_a_transaction_reads_the_query_and_in_transaction() {
    let s = Session::new("psycopg2");
    let pg = Postgres::tcp();
    s.start();
    let client = Peer::spawn_script("pg_tx_leak.py", &[], &[&pg.port.to_string(), "3"]);
    let pid = client.pid();
    let doc = s.json(&["--pid", &pid.to_string()]);
    let g = client_group(&doc, pid, u64::from(pg.port));
    assert_eq!(held(&g), 3, "{g:#}");
    let want = serde_json::json!([{"request": "Query SELECT", "response": "SELECT (in transaction)",
        "count": 3, "protocol": "postgres", "method": "Query", "status": "in_transaction"}]);
    assert_eq!(g["exchanges"], want, "{g:#}");
    let text = doc.to_string() + &s.ok(&["--pid", &pid.to_string()]);
    assert!(
        !text.contains("secret") && !text.contains("parameter"),
        "{text}"
    );
}

#[test]
fn kill_9_of_watch_trace_leaves_no_program_attached() {
    let s = Session::new("kill9");
    assert!(s.ours().is_empty());
    let mut watch = s
        .cmd(&["--watch", "1", "--trace"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(20, "the private recorder's two programs", || {
        s.ours().len() == 2
    });
    assert!(!s.dir.exists(), "a private recorder pins nothing");
    watch.kill().unwrap(); // SIGKILL
    watch.wait().unwrap();
    s.assert_clean();
}

#[test]
fn trace_start_is_idempotent_status_says_so_and_stop_leaves_nothing() {
    let s = Session::new("lifecycle");
    let none: Value = serde_json::from_str(&s.ok(&["trace", "status", "--json"])).unwrap();
    assert_eq!(none["armed"], false);
    s.ok(&["trace", "start", "--max-sockets", "1024"]);
    let again = s.ok(&["trace", "start"]);
    assert!(again.contains("already armed since"), "{again}");
    assert_eq!(s.ours().len(), 2, "idempotent: still two programs");
    let st: Value = serde_json::from_str(&s.ok(&["trace", "status", "--json"])).unwrap();
    assert_eq!(
        (st["armed"].clone(), st["capacity"].clone()),
        (true.into(), 1024.into()),
        "{st}"
    );
    assert!(
        st["since"].as_str().is_some() && st["recorded"].as_u64().is_some(),
        "{st}"
    );
    let mode = std::fs::metadata(s.dir.join("records")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o077,
        0,
        "map pin root-only"
    );
    let stop = s.ok(&["trace", "stop"]);
    assert!(stop.contains("stopped"), "{stop}");
    s.assert_clean();
    assert!(s.ok(&["trace", "stop"]).contains("no recorder was armed"));
    // Without a recorder the JSON contract is unchanged: no exchanges at all.
    let doc = s.json(&[]);
    assert!(
        doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("exchanges").is_none())
    );
}

#[test]
fn a_start_that_fails_after_attaching_leaves_nothing_attached() {
    // Outside bpffs the pins fail (BPF_OBJ_PIN: EPERM) after both programs were
    // loaded and attached: the start must fail and take them with it.
    let dir = format!("/tmp/sockleak-trace-not-bpffs-{}", std::process::id());
    let s = Session::new(&dir);
    let out = s.run(&["trace", "start"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot pin"), "{err}");
    s.assert_clean();
}

#[test]
fn unprivileged_runs_refuse_cleanly() {
    require("setpriv");
    let s = Session::new("nobody");
    s.start();
    for args in [
        &["trace", "start"][..],
        &["trace", "status"],
        &["trace", "stop"],
        &["--watch", "1", "--trace"],
    ] {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", bin()])
            .args(args)
            .env("SOCKLEAK_TRACE_DIR", &s.dir);
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("CAP_BPF and CAP_NET_ADMIN"), "{args:?}: {err}");
    }
    // The recorder is still armed (nobody's stop was refused) and a snapshot by an
    // unprivileged user still works, unchanged: bpffs is root-only, so it cannot
    // even tell that a recorder is armed.
    assert_eq!(s.ours().len(), 2);
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            bin(),
            "--json",
        ])
        .env("SOCKLEAK_TRACE_DIR", &s.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("exchanges").is_none())
    );
    assert!(
        !doc.to_string().contains("flight recorder"),
        "no guess: {doc}"
    );
}

#[test]
fn snapshot_refuses_trace_flag() {
    let out = crate::common::run(&["--trace"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace start"));
}
