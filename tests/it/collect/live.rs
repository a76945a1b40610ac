//! Live tests: child processes hold real loopback sockets in known states; sockleak
//! must report the exact count per pid and endpoint, from both sources, agreeing
//! with `ss`. Each test names its processes uniquely and selects them by pid too:
//! tests run in parallel, and another run of the same tests on the host (another
//! worktree) has processes of the same names.
use crate::common::*;
use serde_json::{Value, json};

/// Run sockleak with `args` on both sources; assert they agree on the groups
/// (idle ages aside: only netlink has them, and /proc's are null) and return the
/// netlink document.
fn both(args: &[&str]) -> Value {
    let mut a = vec!["--source", "netlink"];
    a.extend_from_slice(args);
    let nl = json(&a);
    let mut a = vec!["--source", "proc"];
    a.extend_from_slice(args);
    let pr = json(&a);
    assert_eq!(nl["source"], "netlink");
    assert_eq!(pr["source"], "proc");
    assert!(
        pr["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["oldest_idle_s"].is_null()),
        "/proc has no idle ages: {pr:#}"
    );
    let strip = |d: &Value| -> Vec<Value> {
        d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let mut g = g.clone();
                let o = g.as_object_mut().unwrap();
                o.remove("oldest_close_wait_idle_s");
                o.remove("oldest_idle_s");
                // Judged from the idle ages: /proc's CLOSE_WAIT are of unknown age.
                o.remove("verdict");
                g
            })
            .collect()
    };
    assert_eq!(strip(&nl), strip(&pr), "netlink and /proc disagree");
    nl
}

#[test]
fn ipv4_close_wait_with_unread_bytes_and_idle_age() {
    let (server, client) = leak("127.0.0.1", "fin", 100, 5, &["--name", "lv-v4"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "5 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 5
    });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let pid = client.pid().to_string();
    let d = both(&["--process", "lv-v4", "--pid", &pid]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["pid"], client.pid());
    assert_eq!(g["pids"], json!([client.pid()]));
    assert_eq!(g["direction"], "outbound");
    assert_eq!(g["remote"], remote.as_str());
    assert_eq!(g["local"], Value::Null);
    assert_eq!(g["states"], json!({"close_wait": 5}));
    assert_eq!(g["total"], 5);
    assert_eq!(
        g["recv_q"], 505,
        "100 unread bytes + the FIN on each, as the kernel counts"
    );
    let idle = g["oldest_close_wait_idle_s"]
        .as_f64()
        .expect("netlink idle age");
    assert!((1.0..30.0).contains(&idle), "idle {idle}");
    assert_eq!(ss_count("CLOSE-WAIT", &remote), 5, "ss agrees");

    // The leaker is row 1 of the unfiltered view, with the same numbers.
    let all = json(&["--state", "close-wait"]);
    assert!(
        all["groups"][0]["states"]["close_wait"].as_u64().unwrap() >= 5,
        "CLOSE_WAIT-heaviest group first"
    );
}

#[test]
fn ipv6_close_wait() {
    let (server, client) = leak("::1", "fin", 10, 4, &["--name", "lv-v6"]);
    let remote = format!("[::1]:{}", server.port());
    wait_until(5, "4 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 4
    });
    let pid = client.pid().to_string();
    let d = both(&["--process", "lv-v6", "--pid", &pid]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["pid"], client.pid());
    assert_eq!(g["remote"], remote.as_str());
    assert_eq!(g["states"], json!({"close_wait": 4}));
    assert_eq!(g["recv_q"], 44);
}

#[test]
fn ipv4_mapped_ipv6_is_reported_as_ipv4() {
    let mut server = Peer::spawn(&[
        "listen",
        "::ffff:127.0.0.1",
        "--mode",
        "fin",
        "--name",
        "lv-map-srv",
    ]);
    let port = server.port().to_string();
    let client = Peer::spawn(&[
        "connect",
        "::ffff:127.0.0.1",
        &port,
        "--count",
        "3",
        "--name",
        "lv-map",
    ]);
    server.wait_done(3);
    let remote = format!("127.0.0.1:{port}");
    wait_until(5, "3 mapped CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &format!("[::ffff:127.0.0.1]:{port}")) == 3
    });
    let d = both(&["--process", "lv-map", "--pid", &client.pid().to_string()]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["pid"], client.pid());
    assert_eq!(g["remote"], remote.as_str());
    assert_eq!(g["states"], json!({"close_wait": 3}));
    let d = both(&[
        "--process",
        "lv-map-srv",
        "--pid",
        &server.pid().to_string(),
    ]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["direction"], "inbound");
    assert_eq!(g["local"], remote.as_str());
    assert_eq!(g["states"], json!({"fin_wait2": 3}));
}

#[test]
fn established_pairs_group_per_service_on_the_server() {
    let (server, client) = leak("127.0.0.1", "hold", 0, 6, &["--name", "lv-est"]);
    let svc = format!("127.0.0.1:{}", server.port());
    wait_until(5, "6 ESTAB in ss", || ss_count("ESTAB", &svc) == 6);
    let d = both(&["--pid", &format!("{},{}", server.pid(), client.pid())]);
    let c = one_group(&d, |g| g["pid"] == client.pid());
    assert_eq!(c["direction"], "outbound");
    assert_eq!(c["remote"], svc.as_str());
    assert_eq!(c["states"], json!({"established": 6}));
    // Six client ports, one row: the server's sockets group by its service endpoint.
    let s = one_group(&d, |g| g["pid"] == server.pid());
    assert_eq!(s["direction"], "inbound");
    assert_eq!(s["local"], svc.as_str());
    assert_eq!(s["remote"], Value::Null);
    assert_eq!(s["states"], json!({"established": 6}));
    // Its listener shows with --all.
    let d = json(&["--pid", &server.pid().to_string(), "--all"]);
    assert_eq!(
        one_group(&d, |g| g["direction"] == "listen")["local"],
        svc.as_str()
    );
}

#[test]
fn server_side_leak_is_one_row_per_service_port() {
    // The clients hang up; the server never closes: it holds CLOSE_WAIT sockets
    // from seven different client ports.
    let (server, _client) = leak(
        "127.0.0.1",
        "hold",
        0,
        7,
        &["--name", "lv-srvleak", "--close"],
    );
    let svc = format!("127.0.0.1:{}", server.port());
    wait_until(5, "7 server CLOSE-WAIT in ss", || {
        ss_sockets()
            .iter()
            .filter(|(st, local, _)| st == "CLOSE-WAIT" && *local == svc)
            .count()
            == 7
    });
    let d = both(&["--pid", &server.pid().to_string()]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["direction"], "inbound");
    assert_eq!(g["local"], svc.as_str());
    assert_eq!(g["states"], json!({"close_wait": 7}));

    // Adding the remote host keeps it one row (all clients are 127.0.0.1).
    let d = json(&[
        "--pid",
        &server.pid().to_string(),
        "--by",
        "process,endpoint,remote-host",
    ]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["remote"], "127.0.0.1");
    assert_eq!(g["states"]["close_wait"], 7);
}

#[test]
fn time_wait_is_counted_as_unowned_per_endpoint() {
    wait_for_time_wait_room();
    let host = private_loopback();
    let (server, _client) = leak(&host, "eof-close", 0, 4, &["--name", "lv-tw", "--close"]);
    let remote = format!("{host}:{}", server.port());
    let kept = wait_time_wait(4, &remote);
    let d = both(&["--remote", &remote, "--state", "time-wait"]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["attribution"], "unowned");
    assert_eq!(g["pid"], Value::Null);
    assert_eq!(g["pids"], json!([]));
    assert_eq!(g["direction"], "outbound");
    assert_eq!(g["states"], json!({"time_wait": kept}));
}

#[test]
fn shared_socket_shows_under_both_owners() {
    let (server, client) = leak(
        "127.0.0.1",
        "fin",
        0,
        3,
        &[
            "--name",
            "lv-sh-parent",
            "--fork",
            "--child-name",
            "lv-sh-child",
        ],
    );
    let remote = format!("127.0.0.1:{}", server.port());
    let pids = client.pids();
    assert_eq!(pids.len(), 2);
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });
    let d = both(&["--remote", &remote, "--state", "close-wait"]);
    for pid in &pids {
        let g = one_group(&d, |g| g["pid"] == *pid);
        assert_eq!(g["states"], json!({"close_wait": 3}), "pid {pid}");
    }
    assert_eq!(d["totals"]["matched"], 3, "each socket once in the totals");
    let d = json(&[
        "--remote",
        &remote,
        "--state",
        "close-wait",
        "--by",
        "remote",
    ]);
    let g = one_group(&d, |_| true);
    assert_eq!(g["states"], json!({"close_wait": 3}));
    assert_eq!(g["pids"], json!(pids));
}

#[test]
fn table_names_the_leaker_in_row_one() {
    let (server, client) = leak("127.0.0.1", "fin", 2048, 9, &["--name", "lv-table"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "9 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 9
    });
    let out = run(&["--process", "lv-table", "--pid", &client.pid().to_string()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..6],
        [
            &client.pid().to_string(),
            "lv-table",
            "root",
            "outbound",
            &remote,
            "9"
        ]
    );
    assert!(text.contains("18KiB"), "9 x 2049 unread bytes: {text}");
}

#[test]
fn readme_jq_recipe_gives_the_same_numbers() {
    require("jq");
    require("bash");
    let (server, client) = leak("127.0.0.1", "fin", 5, 11, &["--name", "lv-jq"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "11 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 11);
    // The README's recipe, verbatim but for the filter that isolates this test.
    let recipe = r#"sockleak --json --process lv-jq --pid "$PID" | jq -r '.groups[] | select(.states.close_wait > 0)
  | "\(.pid) \(.process) \(.remote // .local) \(.states.close_wait)"'"#;
    let bindir = std::path::Path::new(bin()).parent().unwrap().to_path_buf();
    let o = std::process::Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {recipe}")])
        .env("PID", client.pid().to_string())
        .env(
            "PATH",
            format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("{} lv-jq {remote} 11\n", client.pid())
    );
    assert_eq!(ss_count("CLOSE-WAIT", &remote), 11);
}
