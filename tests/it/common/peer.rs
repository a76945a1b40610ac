//! [`Peer`]: the one wrapper of a helper process holding real sockets (a script of
//! `tests/support/`, most run by python3; or any command that speaks the same way),
//! and leaks made of two peers.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{repo, require};

/// A helper process: its first stdout line is JSON (its "ready" message, with its
/// pid and often its port), it may take lines on stdin ([`Peer::say`]) and answer
/// with JSON lines ([`Peer::next_line`]), and it exits when its stdin closes.
/// Dropping it closes its stdin, which ends it (and any child it forked), gives it
/// 5 s, then kills it; it is always reaped, so a failed test leaves nothing behind.
pub struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
    /// What it is, for messages (the script's name).
    what: String,
    /// The first line it printed (its "ready" message).
    pub ready: Value,
}

impl Peer {
    /// `tests/support/peer.py` with `args`.
    pub fn spawn(args: &[&str]) -> Peer {
        Peer::spawn_wrapped(&[], args)
    }

    /// Start a peer inside another command, e.g. `unshare --net` (empty: directly).
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str]) -> Peer {
        Peer::spawn_script("peer.py", wrapper, args)
    }

    /// Start another python3 script of `tests/support/` that speaks as peer.py
    /// does, inside `wrapper` (e.g. [`super::PrivateNet::wrap`]; empty: directly).
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
        cmd.arg(repo().join("tests/support").join(script))
            .args(args);
        Peer::spawn_command(script, cmd)
    }

    /// Start `cmd` (a Java client, python3 under another name), which speaks as
    /// peer.py does; `what` names it in messages.
    pub fn spawn_command(what: &str, mut cmd: Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut p = Peer {
            child,
            out,
            what: what.to_string(),
            ready: Value::Null,
        };
        p.ready = p.next_line();
        p
    }

    /// The next JSON line the peer prints (blocks).
    pub fn next_line(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .out
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("read {}'s output: {e}", self.what));
        assert!(
            n > 0,
            "{} exited early (a python module missing? .ci/run installs them)",
            self.what
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{} said {line:?}: {e}", self.what))
    }

    /// Send one line to its stdin.
    pub fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("the peer's stdin is open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
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

    /// Kill it now and reap it, for a peer that closing its stdin does not reach
    /// (blocked opening a FIFO).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        self.kill();
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

/// As [`leak`], with both peers started inside `wrapper` (e.g. [`super::PrivateNet::wrap`]).
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
