//! Running sockleak (plainly, bounded in time and memory, as `nobody`) and reading
//! what it printed: JSON documents, NDJSON samples, warnings, groups.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bin, path_str, require};

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
    parse(&out)
}

/// The JSON document of a run that must have succeeded (a `--json` run made some
/// other way: as `nobody`, in a namespace).
pub fn parse(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("sockleak printed JSON")
}

/// A run's stdout and stderr as text (lossy: for assertions and messages).
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// NDJSON (`--watch --json` samples, `--record` files): one JSON document a
/// line, each whole (a cut line fails the test, naming it).
pub fn lines(text: impl AsRef<[u8]>) -> Vec<Value> {
    std::str::from_utf8(text.as_ref())
        .expect("NDJSON is UTF-8")
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a whole JSON line {l:?}: {e}"))
        })
        .collect()
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

/// The inode of this process's network namespace (the host's, for the tests).
pub fn host_netns() -> u64 {
    let link = std::fs::read_link("/proc/self/ns/net").expect("read /proc/self/ns/net");
    let s = link.to_string_lossy().into_owned();
    s.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .expect("namespace inode")
}

/// `program` run as the unprivileged user `nobody` (CI runs as root), with
/// nothing of root's left: uid and gid nobody and nogroup (real, effective and
/// saved), no supplementary groups, no inheritable or ambient capabilities. The
/// bounding set is kept, so that a binary given file capabilities (setcap) gains
/// them as it would for any user.
pub fn as_nobody(program: &str) -> Command {
    as_nobody_in(&[], program)
}

/// As [`as_nobody`], inside `wrapper`, which runs as root (e.g. `nsenter`).
pub fn as_nobody_in(wrapper: &[&str], program: &str) -> Command {
    require("setpriv");
    let mut c = match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg("setpriv");
            c
        }
        None => Command::new("setpriv"),
    };
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        program,
    ])
    .env("NO_COLOR", "1");
    c
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

/// How a measured run of sockleak ended.
pub struct Measured {
    /// The exit code (128 + N when killed by signal N).
    pub code: i32,
    pub stderr: String,
    /// Its peak resident size (ru_maxrss), in KiB.
    pub peak_kib: u64,
}

/// Run sockleak with `args` (stdout discarded) and measure its peak resident size.
/// A small python3 parent forks it and reads wait4's ru_maxrss, not this process:
/// a child's ru_maxrss starts at its parent's resident size when it was spawned
/// (exec keeps the old address space's high-water mark), and this process holds
/// the memory of every test running in it. python3's own ~10 MiB is the floor.
pub fn run_peak_rss(args: &[&str]) -> Measured {
    require("python3");
    const MEASURE: &str = "\
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
print(ru.ru_maxrss, code if code >= 0 else 128 - code)
";
    let o = Command::new("python3")
        .args(["-c", MEASURE, bin()])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    let out = String::from_utf8_lossy(&o.stdout);
    let nums: Vec<u64> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [peak_kib, code] = nums[..] else {
        panic!(
            "the measuring parent said {out:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    Measured {
        code: code as i32,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        peak_kib,
    }
}

/// The first raw control character (other than newline and tab) in `text`, with
/// its offset: text output must escape them.
pub fn raw_control(text: &[u8]) -> Option<(usize, char)> {
    String::from_utf8_lossy(text)
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\n' && *c != '\t')
}

/// `sockleak plot RECORD -o OUT [EXTRA...]`, which must succeed; the SVG's text.
pub fn plot_svg(record: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["plot", path_str(record), "-o", path_str(out)];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}
