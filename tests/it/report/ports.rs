//! Ephemeral-port exhaustion, on a real connection-per-request HTTP client
//! (Python's http.client against http.server) in a network namespace of the test's
//! own whose ip_local_port_range is narrowed to 100 ports: `--watch` must flag the
//! destination `warn` at half the range and `full` at 90%, before connect() fails
//! with EADDRNOTAVAIL. With ports of that range reserved
//! (`ip_local_reserved_ports`), the range a destination can use is what is left.
use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[test]
fn a_connection_per_request_client_is_flagged_before_connect_fails() {
    exhaust_ports(None, 100);
}

/// 100 ports of which 50 are reserved (and 8080, outside the range, too): the
/// client runs out after 50 connections, and sockleak must say `of 50`, flagging
/// warn at 25 and full at 45 before connect() fails.
#[test]
fn reserved_ports_are_not_counted_as_usable() {
    exhaust_ports(Some("8080,40000-40039,40090-40099"), 50);
}

/// A connection-per-request client in its own namespace with the range
/// 40000-40099 (less `reserved`), watched until connect() fails: `usable` ports.
fn exhaust_ports(reserved: Option<&str>, usable: u64) {
    assert_root("unshare --net, the namespace's sysctls");
    require("unshare");
    require("ip");
    let dir = tempfile::tempdir().unwrap();
    let hook_log = dir.path().join("hook.log");
    let mut client = per_request_client(reserved);
    let watch = PortWatch::start(client.pid(), &hook_log);
    let failed_at = wait_for_connect_to_fail(&mut client, usable);
    // One more sample, then end the watch.
    std::thread::sleep(Duration::from_millis(600));
    let (samples, stderr) = watch.stop();
    let seq = ports_of_the_destination(&samples);
    assert_warn_and_full_seen_before_connect_failed(&seq, usable, failed_at);
    assert_one_alert_at_warn_one_at_full(&stderr, usable);
    assert_both_hooks_ran(&hook_log, usable);
    client.stop();
}

/// The service the client connects to, once per request.
const DEST: &str = "127.0.0.1:8080";

/// The client, in a namespace of its own with the range 40000-40099 (less
/// `reserved`), one request every 0.1 s.
fn per_request_client(reserved: Option<&str>) -> Peer {
    let mut args = vec![
        "per-request",
        "--ports",
        "40000-40099",
        "--interval",
        "0.1",
        "--name",
        "per-req",
    ];
    if let Some(r) = reserved {
        args.extend(["--reserved", r]);
    }
    Peer::spawn_wrapped(&["unshare", "--net"], &args)
}

/// `--watch` of the client's namespace, its samples and stderr read as they
/// come, its `--on-flag` hook appending the flags and ports to a log.
struct PortWatch {
    child: Child,
    samples: JoinHandle<Vec<Value>>,
    stderr: JoinHandle<Vec<String>>,
}

impl PortWatch {
    fn start(client: u32, hook_log: &Path) -> PortWatch {
        let hook = format!(
            "echo \"$SOCKLEAK_FLAG $SOCKLEAK_PREVIOUS_FLAG $SOCKLEAK_PORTS_USED $SOCKLEAK_PORTS_RANGE $SOCKLEAK_ENDPOINT\" >> {}",
            hook_log.display()
        );
        // Only the client's namespace: other workloads' groups on the host raise
        // their own flags, and the other test of this file runs the same client at
        // the same address in a namespace of its own.
        let netns = client.to_string();
        let mut child = Command::new(bin())
            .args([
                "--netns",
                &netns,
                "--watch",
                "0.25",
                "--count",
                "120",
                "--json",
                "--on-flag",
                &hook,
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let samples = std::thread::spawn({
            let out = child.stdout.take().unwrap();
            move || {
                BufReader::new(out)
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
                    .collect::<Vec<Value>>()
            }
        });
        let stderr = std::thread::spawn({
            let err = child.stderr.take().unwrap();
            move || {
                BufReader::new(err)
                    .lines()
                    .map(|l| l.unwrap())
                    .collect::<Vec<String>>()
            }
        });
        PortWatch {
            child,
            samples,
            stderr,
        }
    }

    /// Ends the watch (SIGTERM: exit 0): its samples and stderr lines.
    fn stop(mut self) -> (Vec<Value>, Vec<String>) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
        (self.samples.join().unwrap(), self.stderr.join().unwrap())
    }
}

/// Waits for the client's connect() to fail with EADDRNOTAVAIL after about
/// `usable` connections: when it failed (unix time).
fn wait_for_connect_to_fail(client: &mut Peer, usable: u64) -> f64 {
    // 100 ports at 10 requests a second: connect() fails after about 10 s.
    let deadline = Instant::now() + Duration::from_secs(40);
    let failed = loop {
        assert!(
            Instant::now() < deadline,
            "the client never ran out of ports"
        );
        let line = client.next_line();
        if line.get("failed").is_some() {
            break line;
        }
    };
    assert_eq!(failed["errno"], "EADDRNOTAVAIL", "{failed}");
    let served = failed["failed"].as_u64().unwrap();
    assert!(
        (usable - 2..=usable).contains(&served),
        "connect() ran out after {served} connections, not about {usable}"
    );
    failed["unix_time"].as_f64().unwrap()
}

/// The destination's port use per sample: (unix_time, used, range).
fn ports_of_the_destination(samples: &[Value]) -> Vec<(f64, u64, u64)> {
    samples
        .iter()
        .filter_map(|s| {
            let g = s["groups"].as_array()?.iter().find(|g| {
                g["remote"] == DEST && g["direction"] == "outbound" && g["ports"].is_object()
            })?;
            Some((
                s["unix_time"].as_f64()?,
                g["ports"]["used"].as_u64()?,
                g["ports"]["range"].as_u64()?,
            ))
        })
        .collect()
}

/// The range is the usable one in every sample; 90% is seen before connect()
/// failed, the warn level (half) before that; at the end all usable ports are
/// held (every TIME_WAIT of the client counts).
fn assert_warn_and_full_seen_before_connect_failed(
    seq: &[(f64, u64, u64)],
    usable: u64,
    failed_at: f64,
) {
    assert!(
        seq.iter().all(|s| s.2 == usable && s.1 <= usable),
        "the namespace's usable range is {usable}: {seq:?}"
    );
    let (warn_at, full_at) = (usable / 2, usable * 9 / 10);
    let full = seq.iter().find(|s| s.1 >= full_at).expect("90% seen");
    assert!(
        full.0 < failed_at,
        "full ({full:?}) before connect() failed at {failed_at}"
    );
    assert!(
        seq.iter().any(|s| s.1 >= warn_at && s.1 < full_at),
        "warn level seen: {seq:?}"
    );
    assert!(seq.last().unwrap().1 >= usable - 1, "{seq:?}");
}

fn assert_one_alert_at_warn_one_at_full(stderr: &[String], usable: u64) {
    let alerts: Vec<&String> = stderr
        .iter()
        .filter(|l| l.contains("sockleak: ports"))
        .collect();
    assert_eq!(
        alerts.len(),
        2,
        "one alert at warn, one at full: {stderr:?}"
    );
    assert!(
        alerts[0].contains("ports ok -> warn") && alerts[0].contains(DEST),
        "{alerts:?}"
    );
    assert!(
        alerts[1].contains("ports warn -> full")
            && alerts[1].contains(&format!("of {usable} local ports")),
        "{alerts:?}"
    );
}

/// The hook ran at warn and at full, given the ports through its environment.
fn assert_both_hooks_ran(hook_log: &Path, usable: u64) {
    wait_until(5, "both hooks ran", || {
        std::fs::read_to_string(hook_log).is_ok_and(|t| t.lines().count() >= 2)
    });
    let hooks = std::fs::read_to_string(hook_log).unwrap();
    let hooks: Vec<&str> = hooks.lines().collect();
    assert!(
        hooks[0].starts_with("ports-warn ok ") && hooks[0].ends_with(&format!(" {usable} {DEST}")),
        "{hooks:?}"
    );
    assert!(hooks[1].starts_with("ports-full ports-warn "), "{hooks:?}");
}
