//! `sockleak serve` answering real HTTP requests on loopback; a silent client does
//! not block scrapes; SIGTERM ends it with 0; a port in use is exit 3; and a real
//! Prometheus scrapes it, stores the leak's series and fires the shipped rule.
mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 request (the server closes after the response); (status, body).
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// `sockleak serve` on a free loopback port, killed on drop.
struct Serve {
    child: Child,
    port: u16,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(bin())
            .args(["serve", "--listen", &listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sockleak serve");
        let s = Serve { child, port };
        wait_until(10, "serve to answer", || {
            http(port, "GET", "/").is_ok_and(|(c, _)| c == 200)
        });
        s
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serves_metrics_index_404_405_and_survives_silent_clients() {
    let (server, client) = leak("127.0.0.1", "fin", 0, 3, &["--name", "serve-leak"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });
    let s = Serve::start(&["--process", "serve-leak"]);

    // Clients that connect and send nothing, or half a request, then stall; more of
    // them than the server has workers.
    let mut stalled = Vec::new();
    for i in 0..8 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        if i % 2 == 1 {
            c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
        }
        stalled.push(c);
    }
    let t = Instant::now();
    let (code, body) = http(s.port, "GET", "/metrics").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "scrape blocked by silent clients"
    );
    let line = format!(
        "sockleak_group_sockets{{pid=\"{}\",process=\"serve-leak\",endpoint=\"{remote}\",direction=\"outbound\",state=\"close_wait\"}} 3\n",
        client.pid()
    );
    assert!(body.contains(&line), "{body}");
    assert!(body.contains("# TYPE sockleak_collect_duration_seconds gauge"));

    let (code, body) = http(s.port, "GET", "/").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("<a href=\"/metrics\">"), "{body}");
    assert_eq!(http(s.port, "GET", "/nope").unwrap().0, 404);
    assert_eq!(http(s.port, "POST", "/metrics").unwrap().0, 405);
    assert_eq!(http(s.port, "DELETE", "/").unwrap().0, 405);
    // Concurrent scrapes all succeed.
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let port = s.port;
            std::thread::spawn(move || http(port, "GET", "/metrics").unwrap())
        })
        .collect();
    for t in threads {
        let (code, body) = t.join().unwrap();
        assert_eq!(code, 200);
        assert!(body.contains(&line));
    }
    drop(stalled);
}

#[test]
fn sigterm_exits_0_and_logs_only_at_start() {
    let mut s = Serve::start(&[]);
    for _ in 0..3 {
        assert_eq!(http(s.port, "GET", "/metrics").unwrap().0, 200);
    }
    let st = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "serve did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(
        err.lines().count(),
        1,
        "one line at start, none per scrape: {err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{}", s.port)), "{err}");
}

#[test]
fn port_in_use_is_exit_3_naming_listen() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let o = run(&["serve", "--listen", &addr]);
    assert_eq!(o.status.code(), Some(3));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&format!("--listen {addr}")), "{e}");
}

/// GET a Prometheus HTTP API path and parse the JSON.
fn api(port: u16, path: &str) -> serde_json::Value {
    match http(port, "GET", path) {
        Ok((200, body)) => serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    }
}

/// A real Prometheus (Debian package) scrapes `sockleak serve --pool-size 4` every
/// second. The leak's series must appear with value 3, and the shipped
/// SockleakNearPoolSize rule (3 of a pool of 4 is over 75%) must fire. The rules
/// file is the shipped one with every `for:` shortened to 0s, so the live test
/// proves the expression matches real scraped series; `promtool test rules`
/// (tests/prometheus.rs) proves the `for:` timing.
#[test]
fn real_prometheus_scrapes_the_leak_and_the_rule_fires() {
    require("prometheus");
    let (server, client) = leak("127.0.0.1", "fin", 0, 3, &["--name", "prom-scraped"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });
    let s = Serve::start(&["--process", "prom-scraped", "--pool-size", "4"]);

    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(repo().join("contrib/prometheus/sockleak.rules.yml"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for:") {
                "        for: 0s".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\n\
         scrape_configs:\n  - job_name: sockleak\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        s.port
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let prom_port = free_port();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", path_str(&cfg)))
        .arg(format!(
            "--storage.tsdb.path={}",
            path_str(&dir.path().join("data"))
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut prom);

    let query = "/api/v1/query?query=sockleak_group_sockets%7Bprocess%3D%22prom-scraped%22%2Cstate%3D%22close_wait%22%7D";
    let pid = client.pid().to_string();
    wait_until(
        40,
        "prometheus to store the leak's series with value 3",
        || {
            let v = api(prom_port, query);
            v["data"]["result"].as_array().is_some_and(|r| {
                r.len() == 1
                    && r[0]["metric"]["pid"] == pid.as_str()
                    && r[0]["metric"]["endpoint"] == remote.as_str()
                    && r[0]["value"][1] == "3"
            })
        },
    );
    wait_until(
        20,
        "SockleakNearPoolSize to fire for the leaking pid",
        || {
            let v = api(prom_port, "/api/v1/alerts");
            v["data"]["alerts"].as_array().is_some_and(|a| {
                a.iter().any(|al| {
                    al["labels"]["alertname"] == "SockleakNearPoolSize"
                        && al["labels"]["pid"] == pid.as_str()
                        && al["state"] == "firing"
                })
            })
        },
    );
}

#[test]
fn oversized_and_silent_requests_are_cut_off() {
    let s = Serve::start(&["--process", "nothing-here"]);
    // A request head past the size bound is refused, not buffered.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = c.write_all(big.as_bytes());
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 431"),
        "oversized head got: {resp}"
    );
    // A client that sends nothing is disconnected after the head timeout (5 s).
    let mut silent = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 512];
    let n = silent.read(&mut buf).unwrap_or(0);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(12),
        "silent client cut after {waited:?}"
    );
    let said = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || said.starts_with("HTTP/1.1 408"), "{said}");
    assert_eq!(http(s.port, "GET", "/metrics").unwrap().0, 200);
}
