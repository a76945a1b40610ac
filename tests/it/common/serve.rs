//! [`Server`]: the one `sockleak serve` starter. It listens on 127.0.0.1:0 and
//! the address it took is read from its first log line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::bin;

/// A running `sockleak serve`, killed and reaped when dropped (also when the test
/// fails: a serve left behind would outlive the run).
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// `sockleak serve --listen 127.0.0.1:0 ARGS`.
    pub fn start(args: &[&str]) -> Server {
        Server::start_wrapped(&[], args)
    }

    /// `serve` inside a wrapper command (e.g. `prlimit --nofile=1024 --`).
    pub fn start_wrapped(wrapper: &[&str], args: &[&str]) -> Server {
        let mut cmd = match wrapper.split_first() {
            Some((prog, rest)) => {
                let mut c = Command::new(prog);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args);
        Server::spawn(cmd)
    }

    /// `cmd`, a `sockleak serve` started some other way (e.g. inside a namespace),
    /// listening on a loopback port it chose.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start serve");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        // Start-up warnings (a --process nobody has yet) come first.
        while err.read_line(&mut line).unwrap() > 0 && line.starts_with("warning: ") {
            line.clear();
        }
        let addr = line
            .trim()
            .strip_prefix("sockleak serve: listening on http://")
            .and_then(|s| s.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("unexpected first log line {line:?}"))
            .parse()
            .unwrap();
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
        });
        Server { child, addr }
    }

    /// Send `raw` as a request; the status code and the body.
    pub fn request(&self, raw: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad response {resp:?}"));
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
