//! Hardening of the commands (issue 17): checks keep their verdict when the reader
//! goes away, `--record` refuses what is no file and heals a torn last line, plot
//! output stays valid XML whatever the names, and plot's memory for bad lines is
//! bounded.
use crate::common::tree;
use crate::common::*;
use std::io::Read;
use std::process::{Command, Stdio};

/// A breached threshold piped into a reader that has gone (`| head -0`): exit 1
/// still, not 0.
#[test]
fn a_breach_keeps_its_exit_code_on_a_closed_pipe() {
    let fixture = fixture("proc-basic");
    for args in [
        vec!["--threshold", "1"],
        vec!["--threshold", "1", "--json"],
        vec!["-o", "nagios", "--threshold", "1"],
    ] {
        let mut child = Command::new(bin())
            .args(["--proc-root", path_str(&fixture)])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Close the read end before it writes: its write gets EPIPE.
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{args:?}: the verdict stands");
    }
}

#[test]
fn record_refuses_what_is_no_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (target, kind) in [(fifo.as_path(), "a FIFO"), (dir.path(), "a directory")] {
        let t = std::time::Instant::now();
        let o = run(&[
            "--watch",
            "0.1",
            "--count",
            "1",
            "--record",
            path_str(target),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains("regular file") && err.contains(kind), "{err}");
        assert!(t.elapsed().as_secs() < 5, "never blocks on a FIFO");
    }
}

/// `--record` judges what it opened (fstat of the fd), not what a look at the path
/// saw before: with the path flipping between a regular file and a FIFO, every
/// run either appends its sample to the regular file or refuses (exit 3, naming
/// the FIFO), and none blocks. The old look-then-open let a FIFO swapped in
/// between be opened: such a run exited 0 with its sample lost in the pipe.
#[test]
fn record_refuses_a_fifo_swapped_in_after_the_check() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let (reg, fifo) = (dir.path().join("reg"), dir.path().join("fifo"));
    std::fs::write(&reg, "").unwrap();
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let target = dir.path().join("r.ndjson");
    std::fs::hard_link(&reg, &target).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = std::thread::spawn({
        let (stop, tmp, target) = (stop.clone(), dir.path().join("tmp"), target.clone());
        let (reg, fifo) = (reg.clone(), fifo.clone());
        move || {
            // Atomic replacement, alternating the two inodes at the path.
            while !stop.load(Ordering::Relaxed) {
                for src in [&fifo, &reg] {
                    let _ = std::fs::remove_file(&tmp);
                    std::fs::hard_link(src, &tmp).unwrap();
                    std::fs::rename(&tmp, &target).unwrap();
                }
            }
        }
    });
    let fx = fixture("proc-basic");
    let (mut recorded, mut refused) = (0, 0);
    for _ in 0..40 {
        let o = run_bounded(
            &[
                "--proc-root",
                path_str(&fx),
                "--watch",
                "0.1",
                "--count",
                "1",
                "--record",
                path_str(&target),
            ],
            std::time::Duration::from_secs(10),
            1 << 30,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.timed_out, "blocked on the FIFO: {err}");
        match o.code {
            Some(0) => recorded += 1,
            Some(3) if err.contains("a FIFO") && err.contains("regular file") => refused += 1,
            other => panic!("exit {other:?}: {err}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let lines = std::fs::read_to_string(&reg).unwrap().lines().count();
    assert_eq!(
        lines, recorded,
        "every run that exited 0 recorded its sample in the regular file ({refused} refused)"
    );
}

/// `--output-file` gets the mode the umask gives a new file, and 0600 whatever the
/// umask when it holds `--peek` content (it was 0644 always: a token peeked from
/// a queue was world-readable under umask 077).
#[test]
fn output_file_mode_follows_the_umask_and_peek_makes_it_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture("proc-basic");
    let fx = path_str(&fx);
    let cases: [(&str, &[&str], u32); 5] = [
        ("077", &["--proc-root", fx, "--json"], 0o600),
        ("022", &["--proc-root", fx, "--json"], 0o644),
        ("027", &["--proc-root", fx, "-o", "prometheus"], 0o640),
        (
            "022",
            &["--peek", "--remote", "127.255.255.254:9", "--json"],
            0o600,
        ),
        ("000", &["--peek", "--remote", "127.255.255.254:9"], 0o600),
    ];
    for (i, (umask, args, want)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        // A file there already (0644): replaced by one with the new mode.
        std::fs::write(&out, "old\n").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(bin())
            .args(*args)
            .args(["--output-file", path_str(&out)])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, *want, "umask {umask} {args:?}: mode {mode:o}");
        assert_ne!(std::fs::read_to_string(&out).unwrap(), "old\n");
    }
    // A new --record file with --peek samples in it: the owner's alone too.
    let rec = dir.path().join("r.ndjson");
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(bin())
        .args(["--peek", "--remote", "127.255.255.254:9", "--watch", "0.1"])
        .args(["--count", "1", "--record", path_str(&rec)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let mode = std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "--record --peek: mode {mode:o}");
}

#[test]
fn a_torn_record_line_does_not_swallow_the_next_sample() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.ndjson");
    let fx = fixture("proc-basic");
    let args = [
        "--proc-root",
        path_str(&fx),
        "--watch",
        "0.1",
        "--count",
        "2",
        "--record",
        path_str(&record),
    ];
    assert_eq!(run(&args).status.code(), Some(0));
    // A crash mid-write: the last line loses its end.
    let mut text = std::fs::read_to_string(&record).unwrap();
    text.truncate(text.len() - 30);
    std::fs::write(&record, &text).unwrap();
    assert_eq!(run(&args).status.code(), Some(0));
    let text = std::fs::read_to_string(&record).unwrap();
    let whole = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert_eq!(whole, 3, "one torn line, three whole samples: {text}");
    let o = run(&[
        "plot",
        path_str(&record),
        "-o",
        path_str(&dir.path().join("p.svg")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("skipped").count(),
        1,
        "only the torn line: {err}"
    );
}

/// A process named with an escape sequence and XML's specials: the SVG stays valid
/// XML (python's parser is the oracle), the name shown escaped.
#[test]
fn plot_labels_stay_valid_xml() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.ndjson");
    let mut text = String::new();
    for i in 0..3 {
        text += &format!(
            r#"{{"version":1,"sample":{},"time":"2026-12-02T12:00:0{}Z","group_by":["process","endpoint"],"groups":[{{"pid":7,"process":"ev\u001b[2J<&>\"il","remote":"10.0.0.1:80","states":{{"close_wait":{}}}}}]}}"#,
            i + 1,
            i,
            i + 1
        );
        text.push('\n');
    }
    std::fs::write(&record, text).unwrap();
    let svg = dir.path().join("p.svg");
    plot_svg(&record, &svg, &[]);
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(''.join(t.firstChild.data for t in d.getElementsByTagName('text') if t.firstChild))",
            path_str(&svg),
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "not valid XML: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(shown.contains("ev\\x1b[2J<&>\"il"), "{shown}");
}

/// 200,000 garbage lines: plot keeps 20 reasons and counts the rest, and its
/// memory stays small (measured by the kernel: peak RSS of the child).
#[test]
fn plot_bad_lines_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("junk.ndjson");
    let mut junk = String::with_capacity(8 << 20);
    junk += r#"{"version":1,"sample":1,"time":"2026-12-02T12:00:00Z","groups":[]}"#;
    junk.push('\n');
    for i in 0..200_000 {
        junk += &format!("garbage line {i} \x1b[31m{}\n", "x".repeat(20));
    }
    std::fs::write(&record, junk).unwrap();
    let svg = dir.path().join("j.svg");
    let m = run_peak_rss(&["plot", path_str(&record), "-o", path_str(&svg)]);
    let err = &m.stderr;
    assert_eq!(m.code, 0, "{err}");
    assert_eq!(err.matches("skipped: not JSON").count(), 20, "{err}");
    assert!(err.contains("199980 more bad lines skipped"), "{err}");
    assert!(!err.contains('\x1b'), "no raw escape reaches the terminal");
    assert!(m.peak_kib < 64 * 1024, "peak RSS {} KiB", m.peak_kib);
}

/// `plot -o` writes through a new file and a rename: a symlink (or FIFO) at the
/// target is refused and left alone, and a plot leaves no temporary file behind.
#[test]
fn plot_output_is_atomic_and_refuses_links() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.ndjson");
    std::fs::write(
        &record,
        "{\"version\":1,\"time\":\"2026-12-02T12:00:00Z\",\"groups\":[]}\n",
    )
    .unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.path().join("chart.svg");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let o = run(&["plot", path_str(&record), "-o", path_str(&link)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("a symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    std::fs::remove_file(&link).unwrap();
    for name in ["chart.svg", "chart.png"] {
        let out = dir.path().join(name);
        let o = run(&["plot", path_str(&record), "-o", path_str(&out)]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(std::fs::metadata(&out).unwrap().len() > 100);
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["chart.png", "chart.svg", "r.ndjson", "victim"]);
}

/// `plot -o DIR` says the output is a directory, and a wrong extension says
/// which ones choose the format; both exit 3 and write nothing.
#[test]
fn plot_output_that_is_no_image_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.ndjson");
    std::fs::write(&record, "").unwrap();
    let o = run(&["plot", path_str(&record), "-o", path_str(dir.path())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("is a directory"), "{err}");
    let o = run(&["plot", path_str(&record), "-o", "chart.jpg"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("use .svg or .png"), "{err}");
}

/// `-o nagios` whose `--output-file` cannot be written still answers as a plugin:
/// `SOCKLEAK UNKNOWN - ...` on stdout, exit 3.
#[test]
fn nagios_with_a_failing_output_file_answers_unknown() {
    let fx = fixture("proc-basic");
    let o = run(&[
        "--proc-root",
        path_str(&fx),
        "-o",
        "nagios",
        "--threshold",
        "1",
        "--output-file",
        "/nonexistent-dir/x.txt",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.starts_with("SOCKLEAK UNKNOWN - "), "{out}");
    assert!(out.contains("/nonexistent-dir/x.txt"), "{out}");
    assert_eq!(out.lines().count(), 1);
}

/// `--watch` ends on SIGTERM, SIGINT and SIGHUP (a dropped SSH session) within a
/// second, with exit 0 and whole NDJSON lines, even when its proc root is hostile
/// (a FIFO as a process's comm).
#[test]
fn watch_ends_cleanly_on_each_signal() {
    let t = tree::Tree::new();
    t.fifo("100/comm");
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut child = Command::new(bin())
            .args(["--proc-root", t.root(), "--watch", "0.2", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > std::time::Duration::from_secs(1) {
                let _ = child.kill();
                panic!("signal {sig}: still running a second later");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "signal {sig}: {status:?}");
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(!out.is_empty());
        for l in out.lines() {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("signal {sig}: a torn line {l:?}: {e}"));
        }
    }
}
