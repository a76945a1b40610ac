//! Hardening against hostile input and a hostile file system (issue 17): files are
//! written only where meant, no input blocks or balloons sockleak, and running out
//! of its own file descriptors is reported as that, never as unattributed sockets
//! blamed on others.
use crate::common::tree::{HEADER, Tree};
use crate::common::*;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

const GIB: u64 = 1 << 30;
const FORMATS: [&[&str]; 4] = [&[], &["--json"], &["-o", "prometheus"], &["-o", "nagios"]];

/// Every format against `tree`: within 10 s and 1 GiB, exit 0 (3 allowed with
/// `may_fail`), no raw control character, bounded output. Returns the JSON.
fn every_format(tree: &Tree, may_fail: bool) -> Value {
    let mut doc = Value::Null;
    for f in FORMATS {
        let args = [&["--proc-root", tree.root()][..], f].concat();
        let o = run_bounded(&args, Duration::from_secs(10), GIB);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.timed_out, "{args:?} hung: {err}");
        assert!(
            o.elapsed < Duration::from_secs(5),
            "{args:?} took {:?}",
            o.elapsed
        );
        let ok = o.code == Some(0) || (may_fail && o.code == Some(3));
        assert!(ok, "{args:?} exited {:?}: {err}", o.code);
        assert!(
            o.stdout.len() + o.stderr.len() < 64 << 10,
            "{args:?}: output not bounded"
        );
        for text in [&o.stdout, &o.stderr] {
            assert_eq!(raw_control(text), None, "{args:?}: raw control character");
        }
        if f == ["--json"] && o.code == Some(0) {
            doc = serde_json::from_slice(&o.stdout).expect("JSON");
        }
    }
    doc
}

#[test]
fn fifos_anywhere_never_block() {
    for rel in [
        "net/tcp6",
        "100/comm",
        "100/status",
        "100/cgroup",
        "100/stat",
        "100/cmdline",
        "self/mountinfo",
        "100/ns/net",
        "100/fd",
    ] {
        let t = Tree::new();
        t.fifo(rel);
        let d = every_format(&t, false);
        let want = if rel == "net/tcp6" { 4 } else { 5 };
        assert_eq!(d["totals"]["sockets"], want, "{rel}: {d}");
        let w = warnings(&d).join("\n");
        if matches!(rel, "net/tcp6" | "100/comm" | "100/status" | "100/cgroup") {
            assert!(
                w.contains(&format!("{rel}: a FIFO"))
                    || w.contains(&format!("{rel} not read (a FIFO")),
                "{rel}: {w}"
            );
        }
    }
    // The one required file: refused by name, at once.
    let t = Tree::new();
    t.fifo("net/tcp");
    every_format(&t, true);
    let o = run_bounded(&["--proc-root", t.root()], Duration::from_secs(10), GIB);
    assert_eq!(o.code, Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("net/tcp inside is a FIFO"), "{err}");
}

#[test]
fn dev_zero_and_huge_files_are_bounded() {
    for (rel, how) in [
        ("net/tcp", "link"),
        ("net/tcp6", "link"),
        ("100/comm", "link"),
        ("100/status", "device"),
        ("net/tcp6", "sparse"),
        ("100/cgroup", "sparse"),
    ] {
        let t = Tree::new();
        match how {
            "link" => t.symlink(rel, "/dev/zero"),
            "device" => t.char_device(rel, 1, 5),
            _ => t.sparse(rel, 1 << 40),
        }
        let d = every_format(&t, rel == "net/tcp");
        if rel != "net/tcp" {
            assert!(warnings(&d).iter().any(|w| w.contains(rel)), "{rel}: {d}");
        }
    }
}

#[test]
fn a_megabyte_comm_stays_out_of_the_output() {
    let t = Tree::new();
    t.write("100/comm", &[b'A'; 1 << 20]);
    let d = every_format(&t, false);
    // The tree's sockets are on local port 8080 with ephemeral remote ports and no
    // listener: one inbound group under the service (issue 12's direction rule).
    let g = groups(&d, |g| g["pid"] == 100);
    assert_eq!(g.len(), 1, "{d}");
    assert_eq!(g[0]["direction"], "inbound");
    assert!(g.iter().all(|g| g["process"] == "?"), "{d}");
    assert!(
        warnings(&d)
            .iter()
            .any(|w| w.contains("100/comm: larger than 64 bytes")),
        "{d}"
    );
}

#[test]
fn a_huge_malformed_field_gives_a_short_warning() {
    let t = Tree::new();
    let bad = format!(
        "   9: 0100007F:1F90 0200007F:D431 \x1b]0;{} 00000000:00000000\n",
        "9".repeat(1_000_000)
    );
    let mut tcp = std::fs::read(t.path("net/tcp")).unwrap();
    tcp.extend_from_slice(bad.as_bytes());
    for i in 0..1000 {
        tcp.extend_from_slice(format!("garbage line {i}\n").as_bytes());
    }
    t.write("net/tcp", &tcp);
    let d = every_format(&t, false);
    let w = warnings(&d);
    let m = w
        .iter()
        .find(|w| w.contains("malformed"))
        .expect("a malformed warning");
    assert!(m.starts_with("1001 malformed lines"), "{m}");
    assert!(m.len() < 800, "{} bytes", m.len());
    assert!(m.contains("\\x1b]0;999"), "escaped: {m}");
}

#[test]
fn a_table_without_its_header_keeps_its_first_socket() {
    let t = Tree::new();
    let tcp = std::fs::read_to_string(t.path("net/tcp")).unwrap();
    t.write("net/tcp", tcp.strip_prefix(HEADER).unwrap().as_bytes());
    let d = every_format(&t, false);
    assert_eq!(d["totals"]["sockets"], 5);
    assert_eq!(d["totals"]["states"]["close_wait"], 3);
    assert!(warnings(&d).is_empty(), "{:?}", warnings(&d));
}

#[test]
fn an_unreadable_tcp6_leaves_the_ipv4_answer_with_a_warning() {
    let t = Tree::new();
    // A link loop: open fails with ELOOP, as an unreadable file would.
    t.symlink("net/tcp6", "tcp6");
    let d = every_format(&t, false);
    assert_eq!(d["totals"]["sockets"], 4, "IPv4 only");
    let w = warnings(&d).join("\n");
    assert!(
        w.contains("net/tcp6 not read") && w.contains("only IPv4"),
        "{w}"
    );
    // Missing (IPv6 disabled) is the normal case: silent.
    std::fs::remove_file(t.path("net/tcp6")).unwrap();
    let d = every_format(&t, false);
    assert_eq!(d["totals"]["sockets"], 4);
    assert!(warnings(&d).is_empty(), "{:?}", warnings(&d));
}

fn output_file_run(t: &Tree, target: &std::path::Path) -> Bounded {
    let target = target.to_str().unwrap();
    run_bounded(
        &[
            "--proc-root",
            t.root(),
            "-o",
            "prometheus",
            "--output-file",
            target,
        ],
        Duration::from_secs(10),
        GIB,
    )
}

#[test]
fn output_file_never_follows_links_planted_at_the_old_temp_names() {
    let t = Tree::new();
    let out = tempfile::tempdir().unwrap();
    let victim = out.path().join("victim");
    std::fs::write(&victim, b"secret\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The names the old writer used for the next pids: after the last one the
    // kernel gave out (not after this process's own: it has started many children
    // of the other tests since).
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .expect("read ns_last_pid")
        .trim()
        .parse()
        .expect("a pid");
    for pid in last + 1..=last + 300 {
        let link = out.path().join(format!(".x.prom.sockleak-tmp.{pid}"));
        std::os::unix::fs::symlink(&victim, link).unwrap();
    }
    let target = out.path().join("x.prom");
    let o = output_file_run(&t, &target);
    assert_eq!(o.code, Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret\n");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "victim's mode untouched");
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.contains("sockleak_sockets"), "{written}");
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Only the planted links and the target: no temp file left behind.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 302);
}

#[test]
fn output_file_refuses_a_link_device_fifo_or_directory_at_the_target() {
    let t = Tree::new();
    let out = tempfile::tempdir().unwrap();
    let victim = out.path().join("victim");
    std::fs::write(&victim, b"secret\n").unwrap();
    let link = out.path().join("link.prom");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dev = Tree {
        dir: tempfile::tempdir_in(out.path()).unwrap(),
    };
    dev.char_device("null.prom", 1, 3);
    dev.fifo("fifo.prom");
    dev.dir("dir.prom");
    for (target, kind) in [
        (link.clone(), "a symbolic link"),
        (dev.path("null.prom"), "a character device"),
        (dev.path("fifo.prom"), "a FIFO"),
        (dev.path("dir.prom"), "a directory"),
    ] {
        let o = output_file_run(&t, &target);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.code, Some(3), "{target:?}: {err}");
        assert!(
            err.contains(&format!("--output-file {}: is {kind}", target.display())),
            "{err}"
        );
        assert!(!o.timed_out);
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret\n");
    assert!(
        std::fs::metadata(dev.path("null.prom"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::metadata(dev.path("fifo.prom"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read_dir(dev.path("dir.prom")).unwrap().count(), 0);
}

/// Run sockleak with soft = hard = `limit` open files and every fd below the
/// limit but one taken (inherited copies of stderr): the raise at start cannot
/// help, and the fd scan's threads fight over the one free descriptor.
fn run_starved(args: &[&str], limit: u32) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args).env("NO_COLOR", "1");
    // SAFETY: dup2 and setrlimit are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for fd in 3..limit as i32 - 1 {
                if libc::dup2(2, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let lim = libc::rlimit {
                rlim_cur: u64::from(limit),
                rlim_max: u64::from(limit),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run sockleak")
}

#[test]
fn out_of_its_own_fds_it_says_so_and_blames_no_one() {
    let (server, _client) = leak("127.0.0.1", "fin", 0, 7, &["--name", "hi-fdstarve"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "7 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 7);
    let args = [
        "--json", "--source", "proc", "--netns", "host", "--remote", &remote,
    ];
    let mut starved_leak = 0;
    for _ in 0..30 {
        let o = run_starved(&args, 16);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let d: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        // The counts come from the table: exact whatever the fd scan could do.
        assert_eq!(d["totals"]["matched"], 7, "{d}");
        let w = warnings(&d);
        // Warnings are about the whole host, where other sockets may be
        // unattributed for other reasons (pid 1 of a sandbox); once sockleak knows
        // it was short of fds, it must not give those reasons.
        if w.iter()
            .any(|w| w.contains("ran out of its own file descriptors"))
        {
            for w in &w {
                assert!(
                    !w.contains("security module") && !w.contains("during the scan"),
                    "blames others: {w}"
                );
            }
        }
        let g = one_group(&d, |_| true);
        if g["attribution"] == "unattributed" {
            let e = w
                .iter()
                .find(|w| w.contains("ran out of its own file descriptors"))
                .unwrap_or_else(|| panic!("unattributed without the reason: {w:?}"));
            assert!(e.contains("limit 16 open files"), "{e}");
            assert!(
                e.contains("7 sockets are unattributed") || e.contains("sockets are unattributed"),
                "{e}"
            );
            assert!(e.contains("ulimit -n") && e.contains("LimitNOFILE="), "{e}");
            starved_leak += 1;
        } else {
            assert_eq!(g["process"], "hi-fdstarve", "{g}");
        }
    }
    eprintln!("{starved_leak} of 30 starved runs left the leak unattributed");
    assert!(
        starved_leak > 0,
        "in 30 runs with one free fd and the scan's threads, the holder's fd table was always opened: the test did not starve sockleak"
    );
    // With room, the same leak is attributed.
    let d = json(&args[1..]);
    assert_eq!(one_group(&d, |_| true)["process"], "hi-fdstarve");
}

/// `ip_local_reserved_ports` as hostile input: garbage, a FIFO, an oversized
/// file. Never a panic or a hang; each is a warning naming the namespace, and a
/// whole list (every odd port, the longest the kernel writes) is no problem.
#[test]
fn reserved_ports_of_any_shape_are_read_or_warned() {
    let reserved = "sys/net/ipv4/ip_local_reserved_ports";
    let odd: Vec<String> = (1..=65535u32).step_by(2).map(|p| p.to_string()).collect();
    for (shape, warned) in [
        (
            "garbage",
            Some("2 malformed entries ignored (the first: \"40000-x\\x1b\")"),
        ),
        ("fifo", Some("a FIFO")),
        ("huge", Some("not read")),
        ("odd", None),
    ] {
        let t = Tree::new();
        t.write("sys/net/ipv4/ip_local_port_range", b"32768\t60999\n");
        match shape {
            "garbage" => t.write(reserved, b"8080,40000-x\x1b,,\xff\xfe\n"),
            "fifo" => t.fifo(reserved),
            "huge" => t.sparse(reserved, 8 << 20),
            _ => t.write(reserved, format!("{}\n", odd.join(",")).as_bytes()),
        }
        let d = every_format(&t, false);
        let w = warnings(&d).join("\n");
        match warned {
            Some(what) => assert!(
                w.contains("ip_local_reserved_ports of network namespace 4026531840")
                    && w.contains(what),
                "{shape}: {w}"
            ),
            None => assert!(!w.contains("ip_local_reserved_ports"), "{shape}: {w}"),
        }
    }
}
