//! Hardening: honest without root, safe under churn, clear about bad input, quiet on
//! closed pipes, and never showing command lines unless asked.
mod common;
use common::*;
use serde_json::{Value, json};
use std::process::{Command, Output};

fn parse(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("JSON")
}

fn assert_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")),
        "this test runs sockleak as another user and needs root (CI runs as root)"
    );
}

#[test]
fn without_privilege_totals_stay_exact_and_the_leak_is_unattributed() {
    assert_root();
    let (server, _client) = leak("127.0.0.1", "fin", 0, 7, &["--name", "hd-rootleak"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "7 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 7);

    let d = parse(&as_nobody(
        bin(),
        &["--json", "--remote", &remote, "--netns", "host"],
    ));
    // The socket table is readable by everyone: the count is exact...
    assert_eq!(d["totals"]["matched"], 7);
    // ...but root's fds are not: the leak is counted as unattributed, not dropped.
    let g = one_group(&d, |_| true);
    assert_eq!(g["attribution"], "unattributed");
    assert_eq!(g["states"], json!({"close_wait": 7}));
    assert!(d["totals"]["unattributed"].as_u64().unwrap() >= 7);
    let warnings: Vec<&str> = warnings(&d);
    let w = warnings
        .iter()
        .find(|w| w.contains("unattributed"))
        .unwrap_or_else(|| panic!("no unattributed warning in {warnings:?}"));
    assert!(w.contains("/proc/<pid>/fd not readable for"), "{w}");
    let n = d["totals"]["unattributed"].as_u64().unwrap();
    assert!(w.starts_with(&format!("{n} socket")), "says how many: {w}");
    assert!(
        w.contains("sudo") && w.contains("setcap cap_sys_ptrace,cap_dac_read_search+ep"),
        "{w}"
    );
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.contains("unattributed"))
            .count(),
        1,
        "one warning"
    );

    // The table's host totals equal root's view of the same table (ss agrees too).
    let root = json(&["--remote", &remote, "--netns", "host"]);
    assert_eq!(root["totals"]["matched"], d["totals"]["matched"]);
    assert_eq!(ss_count("CLOSE-WAIT", &remote), 7);
}

#[test]
fn with_the_two_capabilities_an_unprivileged_user_sees_owners() {
    assert_root();
    require("setcap");
    let (server, client) = leak("127.0.0.1", "fin", 0, 4, &["--name", "hd-capleak"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "4 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 4);

    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("sockleak");
    std::fs::copy(bin(), &copy).unwrap();
    let st = Command::new("setcap")
        .args(["cap_sys_ptrace,cap_dac_read_search+ep", path_str(&copy)])
        .status()
        .unwrap();
    assert!(
        st.success(),
        "setcap failed (does the filesystem support xattrs?)"
    );

    let d = parse(&as_nobody(
        path_str(&copy),
        &["--json", "--remote", &remote, "--netns", "host"],
    ));
    let g = one_group(&d, |_| true);
    assert_eq!(g["attribution"], "process");
    assert_eq!(g["pid"], client.pid());
    assert_eq!(g["process"], "hd-capleak");
    assert_eq!(g["states"], json!({"close_wait": 4}));

    // A capable binary must not read a user-made tree: its symlinks could point at
    // files the user cannot read (net/tcp -> /etc/shadow, <pid>/comm -> anything).
    let tree = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(tree.path().join("net")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", tree.path().join("net/tcp")).unwrap();
    let o = as_nobody(path_str(&copy), &["--proc-root", path_str(tree.path())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--proc-root") && err.contains("file capabilities"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn a_hundred_snapshots_under_churn_all_succeed() {
    let _churn = Peer::spawn(&["churn", "127.0.0.1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for i in 0..100 {
        let source = if i % 2 == 0 { "netlink" } else { "proc" };
        let o = run(&["--json", "--all", "--source", source]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "run {i} ({source}): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let d: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("run {i}: {e}"));
        let sum: u64 = d["totals"]["states"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(sum, d["totals"]["sockets"].as_u64().unwrap(), "run {i}");
        let ns_sum: u64 = d["totals"]["netns"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|v| v.as_object().unwrap().values())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(ns_sum, sum, "run {i}: namespaces add up");
    }
}

#[test]
fn every_bad_value_exits_3_naming_the_flag_and_value() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--watch", "-1"], &["--watch", "-1"]),
        (&["--watch", "abc"], &["--watch", "abc", "seconds"]),
        (&["--watch", "0"], &["--watch", "'0'"]),
        (
            &["--remote", "999.1.1.1"],
            &["--remote", "999.1.1.1", "not an IP address"],
        ),
        (
            &["--remote", "10.0.0.0/40"],
            &["--remote", "/40", "0 to 32"],
        ),
        (&["--remote", "[::1"], &["--remote", "[::1"]),
        (&["--by", "nonsense"], &["--by", "nonsense", "remote-host"]),
        (&["--top", "x"], &["--top", "'x'"]),
        (&["--pool-size", "0"], &["--pool-size", "'0'", "1 or more"]),
        (
            &["--threshold", "120%", "--pool-size", "10"],
            &["--threshold", "120%", "at most 100"],
        ),
        (&["--state", "bogus"], &["--state", "bogus", "close-wait"]),
        (&["--pid", "0"], &["--pid", "'0'", "positive"]),
        (&["--pid", "abc"], &["--pid", "abc"]),
        (
            &["--user", "no-such-user-x"],
            &["--user", "no-such-user-x", "numeric uid"],
        ),
        (
            &["--local-port", "70000"],
            &["--local-port", "70000", "1 to 65535"],
        ),
        (&["--netns", "xyz"], &["--netns", "xyz"]),
        (&["--source", "magic"], &["--source", "magic", "netlink"]),
        (&["-o", "xml"], &["xml", "prometheus"]),
        (&["--warn-at", "0%"], &["--warn-at", "0%"]),
        (&["--window", "-5"], &["--window", "-5"]),
        (
            &["--proc-root", "/nonexistent/proc"],
            &["--proc-root", "/nonexistent/proc"],
        ),
        (
            &["--proc-root", "/etc"],
            &["--proc-root", "/etc", "no net/tcp"],
        ),
        (
            &["--proc-root", "/etc/hostname"],
            &["--proc-root", "not a directory"],
        ),
        (
            &["--source", "netlink", "--proc-root", "/proc"],
            &["--source netlink", "--proc-root"],
        ),
        (
            &["serve", "--listen", "nothost:99999"],
            &["--listen", "nothost:99999"],
        ),
        (
            &["serve", "--min-interval", "-1"],
            &["--min-interval", "-1"],
        ),
        (
            &["plot", "/nonexistent.ndjson", "-o", "x.svg"],
            &["/nonexistent.ndjson", "cannot read"],
        ),
        (&["--no-such-flag"], &["--no-such-flag"]),
    ];
    for (args, needles) in cases {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?} printed to stdout");
        for n in *needles {
            assert!(err.contains(n), "{args:?}: message lacks {n:?}: {err}");
        }
    }
}

#[test]
fn unreadable_proc_root_is_a_clear_error() {
    assert_root();
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.path().join("proc");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = as_nobody(bin(), &["--proc-root", path_str(&locked)]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--proc-root") && err.contains(path_str(&locked)),
        "{err}"
    );
}

#[test]
fn closed_pipes_end_quietly() {
    // 400 held connections: 800 sockets and, by remote and local port, 800 rows, so
    // that every format overflows a 64 KiB pipe buffer and the write meets EPIPE
    // (smaller output would fit in the pipe and test nothing).
    let (server, _client) = leak("127.0.0.1", "hold", 0, 400, &["--name", "hd-pipe"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "400 ESTAB", || ss_count("ESTAB", &remote) == 400);
    require("bash");
    let by = "--all --by remote,local-port --top 0";
    for fmt in ["", "--json", "-o prometheus --max-series 5000"] {
        let o = Command::new("bash")
            .args(["-c", &format!("{} {by} {fmt}", bin())])
            .output()
            .unwrap();
        assert!(
            o.stdout.len() > 64 * 1024,
            "{fmt}: {} bytes do not overflow a pipe (exit {:?}: {})",
            o.stdout.len(),
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for cmd in [
        format!("{} {by} | head -1", bin()),
        format!("{} {by} --json | head -c 10", bin()),
        format!("{} {by} -o prometheus --max-series 5000 | head -2", bin()),
    ] {
        let o = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "set -o pipefail; {cmd} >/dev/null; echo \"status=${{PIPESTATUS[0]}}\" >&2"
                ),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.trim_end().ends_with("status=0"), "{cmd}: {err}");
        // Warnings about what could not be seen are fine; an error is not.
        for bad in ["error", "Broken pipe", "panicked"] {
            assert!(!err.contains(bad), "{cmd}: {err}");
        }
    }
}

#[test]
fn command_lines_need_cmdline() {
    let secret = "--password=hunter2-sockleak";
    let (server, client) = leak("127.0.0.1", "fin", 0, 2, &["--name", "hd-secret", secret]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "2 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 2);
    for args in [
        vec!["--remote", &remote],
        vec!["--remote", &remote, "--json"],
        vec!["--remote", &remote, "-o", "prometheus"],
        vec!["--remote", &remote, "--threshold", "1"],
    ] {
        let o = run(&args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains("hunter2"), "{args:?} leaked the command line");
    }
    let d = json(&["--remote", &remote, "--cmdline"]);
    let g = one_group(&d, |g| g["pid"] == client.pid());
    assert!(g["cmdline"].as_str().unwrap().contains(secret));
    // sockleak never reads environments: no code path opens /proc/<pid>/environ.
    for f in rust_files(&repo().join("src")) {
        let src = std::fs::read_to_string(&f).unwrap();
        assert!(
            !src.contains("/environ") && !src.contains("\"environ\""),
            "{} reads a process environment",
            f.display()
        );
    }
}

fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}
