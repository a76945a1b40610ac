//! [`PrivateNet`]: a network namespace of a test's own, so that nothing else on
//! the host enters its comparisons.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{assert_root, bin, require};

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
        assert_root("unshare --net (a network namespace of the test's own)");
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
