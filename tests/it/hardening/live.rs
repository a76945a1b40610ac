//! Hardening: honest without root, safe under churn, clear about bad input, quiet on
//! closed pipes, and never showing command lines unless asked.
use crate::common::*;
use serde_json::{Value, json};
use std::process::Command;

/// What these tests need root for (CI runs as root).
const ROOT: &str = "running sockleak as another user";

/// `--netns PID` of a process whose namespace link nobody may read says so,
/// not "no process": the test process is root's and alive.
#[test]
fn netns_of_an_unreadable_process_says_why_not_that_it_is_missing() {
    assert_root(ROOT);
    let me = std::process::id().to_string();
    let o = as_nobody(bin())
        .args(["--netns", &me])
        .output()
        .expect("run setpriv");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("cannot read /proc/{me}/ns/net"))
            && err.contains("run as root")
            && !err.contains("no process"),
        "{err}"
    );
}

#[test]
fn without_privilege_totals_stay_exact_and_the_leak_is_unattributed() {
    assert_root(ROOT);
    let (server, _client) = leak("127.0.0.1", "fin", 0, 7, &["--name", "hd-rootleak"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "7 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 7);

    let d = parse(
        &as_nobody(bin())
            .args(["--json", "--remote", &remote, "--netns", "host"])
            .output()
            .expect("run setpriv"),
    );
    // The socket table is readable by everyone: the count is exact...
    assert_eq!(d["totals"]["matched"], 7);
    // ...but root's fds are not: the leak is counted as unattributed, not dropped.
    let g = one_group(&d, |_| true);
    assert_eq!(g["attribution"], "unattributed");
    assert_eq!(g["states"], json!({"close_wait": 7}));
    assert!(d["totals"]["unattributed"].as_u64().unwrap() >= 7);
    // The host's unattributed sockets are also other workloads' (some closed
    // during the scan get a warning of their own): only the one naming the
    // unreadable fd tables is asserted, and that it counts at least our 7.
    let warnings: Vec<&str> = warnings(&d);
    let held: Vec<&&str> = warnings
        .iter()
        .filter(|w| w.contains("unattributed") && w.contains("/proc/<pid>/fd is not readable"))
        .collect();
    assert_eq!(held.len(), 1, "one warning: {warnings:?}");
    let w = held[0];
    let n: u64 = w
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("says how many: {w}"));
    let total = d["totals"]["unattributed"].as_u64().unwrap();
    assert!((7..=total).contains(&n), "{n} of {total}: {w}");
    assert!(
        w.contains("sudo") && w.contains("setcap cap_sys_ptrace,cap_dac_read_search+ep"),
        "{w}"
    );

    // The table's host totals equal root's view of the same table (ss agrees too).
    let root = json(&["--remote", &remote, "--netns", "host"]);
    assert_eq!(root["totals"]["matched"], d["totals"]["matched"]);
    assert_eq!(ss_count("CLOSE-WAIT", &remote), 7);
}

#[test]
fn with_the_two_capabilities_an_unprivileged_user_sees_owners() {
    assert_root(ROOT);
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

    let d = parse(
        &as_nobody(path_str(&copy))
            .args(["--json", "--remote", &remote, "--netns", "host"])
            .output()
            .expect("run setpriv"),
    );
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
    let o = as_nobody(path_str(&copy))
        .args(["--proc-root", path_str(tree.path())])
        .output()
        .expect("run setpriv");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--proc-root") && err.contains("file capabilities"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// Unattributed sockets are told apart by what can be known: those whose owner uid
/// runs a process with an unreadable fd table are most likely its; the others were
/// closed (or their process exited) during the scan, and must not be blamed on it.
#[test]
fn unattributed_sockets_are_split_by_what_can_be_known() {
    use std::os::unix::fs::PermissionsExt;
    assert_root(ROOT);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tree = tmp.path().join("proc");
    let st = Command::new("cp")
        .args(["-a", path_str(&fixture("proc-basic")), path_str(&tree)])
        .status()
        .unwrap();
    assert!(st.success());
    // Worker 200 (uid 65534) hides its fds; 201 still shows the one socket they share.
    let fd = tree.join("200/fd");
    std::fs::set_permissions(&fd, std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = as_nobody(bin())
        .args(["--json", "--proc-root", path_str(&tree)])
        .output()
        .expect("run setpriv");
    std::fs::set_permissions(&fd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = parse(&o);
    // 1004-1006, 2003, 2004 (uid 65534, only 200 held them) and 1007 (uid 0, no holder).
    assert_eq!(d["totals"]["unattributed"], 6);
    let w = warnings(&d);
    let hidden: Vec<_> = w.iter().filter(|w| w.contains("most likely")).collect();
    assert_eq!(hidden.len(), 1, "{w:?}");
    assert!(
        hidden[0].starts_with("5 sockets unattributed, most likely held by processes whose /proc/<pid>/fd is not readable: 1 process running as uid 65534")
            && hidden[0].contains("(pid 200)")
            && hidden[0].contains("setcap cap_sys_ptrace,cap_dac_read_search+ep"),
        "{w:?}"
    );
    let gone: Vec<_> = w
        .iter()
        .filter(|w| w.contains("no process holds"))
        .collect();
    assert_eq!(gone.len(), 1, "{w:?}");
    // Issue 12: the warning names whose the socket was (its uid).
    assert!(
        gone[0].starts_with("1 socket unattributed (created by uid ")
            && gone[0].contains("): no process holds it any more"),
        "{gone:?}"
    );
    let shared = one_group(&d, |g| g["pid"] == 201);
    assert_eq!(shared["states"], json!({"close_wait": 1}));
}

/// With `hidepid`, other users' processes are not even listed: their sockets must
/// not be said to have been "closed during the scan".
#[test]
fn hidepid_is_named_as_the_reason() {
    assert_root(ROOT);
    struct Mount(std::path::PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let (server, _client) = leak("127.0.0.1", "fin", 0, 3, &["--name", "hd-hidepid"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 3);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proc");
    std::fs::create_dir(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let st = Command::new("mount")
        .args(["-t", "proc", "-o", "hidepid=2", "proc", path_str(&dir)])
        .status()
        .expect("run mount");
    assert!(
        st.success(),
        "mount -t proc -o hidepid=2 failed (this test needs root)"
    );
    let _mounted = Mount(dir.clone());
    let d = parse(
        &as_nobody(bin())
            .args(["--json", "--proc-root", path_str(&dir), "--remote", &remote])
            .output()
            .expect("run setpriv"),
    );
    assert_eq!(one_group(&d, |_| true)["states"], json!({"close_wait": 3}));
    let w = warnings(&d);
    assert!(
        w.iter()
            .any(|w| w.contains("no visible process holds") && w.contains("hidepid")),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("during the scan")), "{w:?}");
}

/// A process name is whatever the process chose: one with an escape sequence and a
/// newline must neither reach the terminal raw nor forge a row of its own.
#[test]
fn control_characters_in_names_are_escaped_in_text_output() {
    let name = "ev\x1b[2Jil\nX";
    let (server, client) = leak("127.0.0.1", "fin", 0, 2, &["--name", name]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "2 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 2);
    // By pid too: another run of this test on the host has a process of this name.
    let pid = client.pid().to_string();
    let o = run(&["--process", name, "--pid", &pid, "--no-header"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one row, not two: {text:?}");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(
        text.starts_with(&format!("{}  ev\\x1b[2Jil\\nX  ", client.pid())),
        "{text:?}"
    );
    // The threshold line (cron mails it) too.
    let o = run(&["--process", name, "--pid", &pid, "--threshold", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let line = String::from_utf8(o.stdout).unwrap();
    assert_eq!(line.lines().count(), 1, "{line:?}");
    assert!(line.contains("ev\\x1b[2Jil\\nX"), "{line:?}");
    // JSON keeps the name exactly (escaped by JSON itself).
    let d = json(&["--process", name, "--pid", &pid]);
    assert_eq!(d["groups"][0]["process"], name);
}

#[test]
fn a_hundred_snapshots_under_churn_all_succeed() {
    // The churn and the table read are the test's own namespace: the host's table
    // (tens of thousands of other workloads' sockets on a busy host) made each
    // snapshot take seconds, and the test many minutes. Every process is still
    // scanned, the churn's children exiting mid-scan among them.
    let net = PrivateNet::new();
    let ns = net.pid().to_string();
    let _churn = Peer::spawn_wrapped(&net.wrap(), &["churn", "127.0.0.1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut seen = 0;
    for i in 0..100 {
        let source = if i % 2 == 0 { "netlink" } else { "proc" };
        let o = run(&["--json", "--all", "--source", source, "--netns", &ns]);
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
        seen += sum;
    }
    assert!(seen > 0, "the churn's sockets were in the table");
}

/// Bad values of flags, each with what its message must name: the flag, the
/// value, and what would be accepted where that helps.
const BAD_VALUES: &[(&[&str], &[&str])] = &[
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
    (&["--watch", "1", "--warn-at", "0%"], &["--warn-at", "0%"]),
    (&["--watch", "1", "--window", "-5"], &["--window", "-5"]),
    // Watch-only options are refused without --watch, not silently ignored.
    (&["--window", "5"], &["--watch"]),
    (&["--warn-at", "50%"], &["--watch"]),
    (
        &["--threshold", "5", "--watch", "1"],
        &["--threshold", "--watch"],
    ),
    (
        &["--watch", "1", "--window", "1"],
        &["--window 1", "two --watch intervals"],
    ),
    (
        &["--watch", "1", "--warn-at", "0.75"],
        &["--warn-at", "0.75", "75%"],
    ),
    (&["--process", ""], &["--process", "empty name"]),
    (&["--metric", "all"], &["--metric", "'all'", "close-wait"]),
    (
        &["--remote", "::ffff:10.0.0.0/64"],
        &["--remote", "/64", "IPv4-mapped"],
    ),
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
    (
        &[
            "plot",
            "/nonexistent.ndjson",
            "-o",
            "/nonexistent-dir/x.png",
        ],
        &["-o /nonexistent-dir/x.png", "does not exist"],
    ),
    (&["--no-such-flag"], &["--no-such-flag"]),
];

#[test]
fn every_bad_value_exits_3_naming_the_flag_and_value() {
    for (args, needles) in BAD_VALUES {
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
    assert_root(ROOT);
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = dir.path().join("proc");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = as_nobody(bin())
        .args(["--proc-root", path_str(&locked)])
        .output()
        .expect("run setpriv");
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
