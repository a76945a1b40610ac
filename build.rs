//! Puts the git commit into `--version`: `sockleak 0.1.0 (commit abc1234)`, or
//! `(commit unknown)` outside a git checkout (a source tarball, `cargo install`).

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (out.status.success() && !s.is_empty()).then(|| s.to_string())
}

/// Only paths that exist: a missing one would rerun this script on every build.
fn watch_if_exists(p: &Path) {
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    println!("cargo:rerun-if-changed=build.rs");
    // Only sockleak's own checkout: a source tarball unpacked inside some other
    // repository must not report that repository's commit.
    let own = git(dir, &["rev-parse", "--show-toplevel"])
        .and_then(|top| Path::new(&top).canonicalize().ok())
        .is_some_and(|top| dir.canonicalize().is_ok_and(|d| d == top));
    let commit = own
        .then(|| git(dir, &["rev-parse", "--short", "HEAD"]))
        .flatten();
    if commit.is_some() {
        // HEAD moves on checkout; the branch's ref on commit. A worktree's HEAD and
        // its refs live elsewhere than ./.git, so ask git where they are.
        let head = git(dir, &["rev-parse", "--git-path", "HEAD"]);
        let packed = git(dir, &["rev-parse", "--git-path", "packed-refs"]);
        let branch = git(dir, &["symbolic-ref", "-q", "HEAD"])
            .and_then(|r| git(dir, &["rev-parse", "--git-path", &r]));
        for p in [head, packed].into_iter().flatten() {
            watch_if_exists(&dir.join(p));
        }
        if let Some(p) = branch.map(|p| dir.join(p)) {
            // A packed ref has no file until the next commit writes one: watch the
            // directory it will appear in.
            if p.exists() {
                watch_if_exists(&p);
            } else if let Some(parent) = p.parent() {
                watch_if_exists(parent);
            }
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    let commit = commit.as_deref().unwrap_or("unknown");
    println!("cargo:rustc-env=SOCKLEAK_VERSION={version} (commit {commit})");
}
