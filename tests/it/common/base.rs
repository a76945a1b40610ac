//! What every test binary needs: the built binary, the repository, tools and root
//! (missing ones fail the test loudly, never skip it), waiting, and a loopback
//! address of a test's own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockleak")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails loudly (never skips) unless the tests run as root (effective uid 0, as
/// CI's do); `what` names what needs it, e.g. "running sockleak as another user".
pub fn assert_root(what: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "{what} needs root (CI runs as root); run the tests as root"
    );
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

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A loopback port free a moment ago (the kernel's pick for port 0), for a
/// server that takes its port as an argument.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
