//! The /proc parser, the fd join, grouping and filters on a committed fixture tree
//! (tests/fixtures/proc-basic, made by make-proc-basic.sh): exact, deterministic.
use crate::common::*;
use serde_json::{Value, json};

fn root() -> String {
    path_str(&fixture("proc-basic")).to_string()
}

fn doc(extra: &[&str]) -> Value {
    let r = root();
    let mut args = vec!["--proc-root", r.as_str()];
    args.extend_from_slice(extra);
    json(&args)
}

/// Compact view of a group: [pid, pids, process, direction, local, remote, states, recv_q, attribution]
fn row(g: &Value) -> Value {
    json!([
        g["pid"],
        g["pids"],
        g["process"],
        g["direction"],
        g["local"],
        g["remote"],
        g["states"],
        g["recv_q"],
        g["attribution"]
    ])
}

fn rows(d: &Value) -> Vec<Value> {
    d["groups"].as_array().unwrap().iter().map(row).collect()
}

#[test]
fn totals_count_every_socket_once() {
    let d = doc(&[]);
    assert_eq!(d["version"], 1);
    assert_eq!(d["source"], "proc");
    let states = json!({"close_wait": 5, "established": 2, "syn_sent": 1, "syn_recv": 1,
                        "fin_wait1": 1, "fin_wait2": 1, "time_wait": 1, "close": 1,
                        "last_ack": 1, "listen": 2, "closing": 1});
    assert_eq!(
        d["totals"],
        json!({"sockets": 17, "unowned": 3, "unattributed": 1, "held_closed": 0, "matched": 15,
               "states": states, "netns": {"4026531840": states}})
    );
    assert!(
        d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["netns"] == 4026531840_u64)
    );
    assert_eq!(d["group_by"], json!(["process", "endpoint"]));
}

#[test]
fn default_grouping_is_exact_and_sorted() {
    let d = doc(&[]);
    let expected = vec![
        json!([200, [200], "worker", "outbound", null, "10.0.0.5:5432", {"close_wait": 4}, 48, "process"]),
        // A CLOSE socket ranks with CLOSE_WAIT (then the total breaks the tie).
        json!([100, [100], "api-server", "inbound", "127.0.0.1:8080", null,
               {"established": 1, "close": 1, "last_ack": 1, "closing": 1}, 0, "process"]),
        json!([200, [200], "worker", "outbound", null, "[2001:db8::1]:443", {"close_wait": 1}, 0, "process"]),
        json!([201, [201], "worker", "outbound", null, "10.0.0.5:5432", {"close_wait": 1}, 32, "process"]),
        json!([100, [100], "api-server", "inbound", "[::1]:9090", null, {"established": 1}, 0, "process"]),
        json!([200, [200], "worker", "outbound", null, "10.0.0.7:80", {"syn_sent": 1}, 0, "process"]),
        json!([null, [], null, "inbound", "127.0.0.1:8080", null, {"syn_recv": 1}, 0, "unowned"]),
        json!([null, [], null, "outbound", null, "10.0.0.6:443", {"time_wait": 1}, 0, "unowned"]),
        json!([null, [], null, "outbound", null, "10.0.0.8:80", {"fin_wait2": 1}, 0, "unowned"]),
        json!([null, [], null, "outbound", null, "10.0.0.10:80", {"fin_wait1": 1}, 0, "unattributed"]),
    ];
    assert_eq!(rows(&d), expected);
    let g = &d["groups"][0];
    assert_eq!(g["user"], "nobody");
    assert_eq!(g["total"], 4);
    assert_eq!(g["send_q"], 5);
    assert_eq!(
        g["oldest_close_wait_idle_s"],
        Value::Null,
        "no idle ages from /proc"
    );
}

#[test]
fn malformed_lines_and_unattributed_sockets_are_reported() {
    let d = doc(&[]);
    let w: Vec<&str> = warnings(&d);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("proc-basic/net/tcp line 15"), "{w:?}");
    assert!(w[1].starts_with("1 socket unattributed"), "{w:?}");
}

#[test]
fn mapped_ipv6_is_normalised_into_the_ipv4_group() {
    // 2003 is ::ffff:127.0.0.1 -> ::ffff:10.0.0.5:5432 in tcp6; it joins 10.0.0.5:5432.
    let d = doc(&["--remote", "10.0.0.5:5432", "--pid", "200"]);
    assert_eq!(rows(&d).len(), 1);
    assert_eq!(d["groups"][0]["states"]["close_wait"], 4);
}

#[test]
fn shared_socket_counts_under_each_owner_and_once_in_totals() {
    let d = doc(&["--by", "command", "--state", "close-wait"]);
    // Both workers hold 1003: the "worker" command group counts it once.
    let g = one_group(&d, |g| g["process"] == "worker");
    assert_eq!(g["pids"], json!([200, 201]));
    assert_eq!(g["states"]["close_wait"], 5);
    assert_eq!(g["pid"], Value::Null, "pid is not part of the key");
    assert_eq!(d["totals"]["matched"], 5);
    assert_eq!(d["totals"]["states"]["close_wait"], 5);
}

#[test]
fn listen_sockets_only_with_all() {
    let d = doc(&["--all"]);
    let l = groups(&d, |g| g["direction"] == "listen");
    assert_eq!(l.len(), 2);
    assert!(l.iter().all(|g| g["pid"] == 100));
    let d = doc(&["--state", "listen"]);
    assert_eq!(rows(&d).len(), 2);
}

#[test]
fn filters_combine() {
    let count = |extra: &[&str]| doc(extra)["groups"].as_array().unwrap().len();
    assert_eq!(count(&["--state", "CLOSE_WAIT"]), 3);
    assert_eq!(count(&["--state", "closewait,time_wait"]), 4);
    assert_eq!(count(&["--process", "api-server"]), 2);
    assert_eq!(count(&["--user", "nobody"]), 4);
    assert_eq!(count(&["--user", "65534", "--state", "syn-sent"]), 1);
    assert_eq!(count(&["--pid", "201"]), 1);
    assert_eq!(count(&["--pid", "100,201"]), 3);
    assert_eq!(count(&["--remote", "10.0.0.0/8"]), 7);
    assert_eq!(count(&["--remote", ":443"]), 2);
    assert_eq!(count(&["--remote", "[2001:db8::1]:443"]), 1);
    assert_eq!(
        count(&["--remote", "2001:db8::/32", "--remote", "10.0.0.6"]),
        2
    );
    assert_eq!(count(&["--local-port", "8080"]), 2);
    assert_eq!(
        count(&["--local-port", "8080", "--process", "api-server"]),
        1
    );
    // Owner filters leave out ownerless sockets.
    let d = doc(&["--process", "worker", "--remote", "10.0.0.0/8"]);
    assert!(groups(&d, |g| g["attribution"] != "process").is_empty());
}

#[test]
fn group_by_keys() {
    let d = doc(&["--by", "remote-host", "--state", "close-wait"]);
    assert_eq!(d["group_by"], json!(["remote-host"]));
    let g = one_group(&d, |g| g["remote"] == "10.0.0.5");
    assert_eq!(
        g["states"]["close_wait"], 4,
        "1003 counted once although two pids hold it"
    );
    assert_eq!(g["pids"], json!([200, 201]));
    assert_eq!(g["process"], Value::Null);

    let d = doc(&["--by", "state"]);
    let g = one_group(&d, |g| g["state"] == "close_wait");
    assert_eq!(g["total"], 5);

    let d = doc(&["--by", "direction"]);
    assert_eq!(one_group(&d, |g| g["direction"] == "inbound")["total"], 6);
    assert_eq!(one_group(&d, |g| g["direction"] == "outbound")["total"], 9);

    let d = doc(&["--by", "user,remote-port", "--state", "close-wait"]);
    let g = one_group(&d, |g| g["user"] == "nobody" && g["remote_port"] == 5432);
    assert_eq!(g["total"], 4);

    let d = doc(&["--by", "local-port", "--all"]);
    assert_eq!(one_group(&d, |g| g["local_port"] == 8080)["total"], 6);
}

#[test]
fn table_output_is_plain_when_piped() {
    let r = root();
    let out = run(&["--proc-root", &r]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no escape codes when piped");
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        &header[..6],
        ["PID", "PROCESS", "USER", "DIR", "ENDPOINT", "CLOSE_WAIT"]
    );
    assert_eq!(
        &header[header.len() - 5..],
        ["TOTAL", "RECV-Q", "OLDEST_CW", "IDLE", "VERDICT"]
    );
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &first[..6],
        ["200", "worker", "nobody", "outbound", "10.0.0.5:5432", "4"]
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("host: 17 sockets (5 close_wait")
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "warning: 1 malformed line in the TCP table not counted (-v lists them)\n\
         warning: 1 socket unattributed: no process holds it (closed during the scan)\n",
        "one short line per warning by default"
    );
    // -v explains each in full; -q says nothing.
    let out = run(&["--proc-root", &r, "-v"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: 1 malformed line in the TCP table not counted: ")
            && stderr.contains("net/tcp line 15: bad address 'this'"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    let out = run(&["--proc-root", &r, "-q"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");

    let out = run(&["--proc-root", &r, "--no-header", "--top", "2"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("200"), "{text}");

    let out = run(&["--proc-root", &r, "--top", "3"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("... 7 more groups (--top 0 shows all)"),
        "{text}"
    );
}

/// A pipe keeps every column; `COLUMNS` fits it on purpose, DIR becoming an
/// arrow before the endpoint and nothing wider than asked.
#[test]
fn columns_fits_the_table_and_a_pipe_is_not_cut_without_it() {
    let r = root();
    let whole = String::from_utf8(run(&["--proc-root", &r]).stdout).unwrap();
    assert!(whole.lines().next().unwrap().contains(" DIR "), "{whole}");
    let o = std::process::Command::new(bin())
        .args(["--proc-root", &r])
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    let header = text.lines().next().unwrap();
    assert!(
        !header.contains(" DIR ") && header.ends_with("VERDICT"),
        "{text}"
    );
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["200", "worker", "→10.0.0.5:5432"], "{text}");
    assert!(
        text.lines().last().unwrap().ends_with('…'),
        "the footer cut: {text}"
    );
}

#[test]
fn json_top_only_when_asked() {
    assert_eq!(doc(&[])["groups"].as_array().unwrap().len(), 10);
    assert_eq!(doc(&["--top", "2"])["groups"].as_array().unwrap().len(), 2);
}

#[test]
fn command_lines_only_with_cmdline() {
    let r = root();
    for args in [vec!["--proc-root", &r], vec!["--proc-root", &r, "--json"]] {
        let out = run(&args);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("fixture-secret"));
    }
    let d = doc(&["--cmdline", "--pid", "100"]);
    assert_eq!(
        d["groups"][0]["cmdline"],
        "api-server --password=fixture-secret"
    );
    let out = run(&["--proc-root", &r, "--cmdline", "--pid", "100"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--password=fixture-secret"));
}

/// Issue 12: an unattributed group names the user its sockets were created by (the
/// uid of the table line; uid 0 here), in JSON, the table and the warning.
#[test]
fn unattributed_groups_carry_the_sockets_user() {
    let d = doc(&[]);
    let g = d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["attribution"] == "unattributed")
        .expect("the fixture's unattributed socket");
    assert_eq!(g["user"], "root", "{g}");
    assert!(
        warnings(&d)[1].contains("created by uid 0 root"),
        "{:?}",
        warnings(&d)
    );
    let o = run(&["--proc-root", path_str(&fixture("proc-basic"))]);
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table
        .lines()
        .find(|l| l.contains("(unattributed)"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" root "), "{row}");
}

#[test]
fn the_unix_table_is_read_from_proc_net_unix_without_peers() {
    let d = doc(&["--proto", "unix"]);
    let got: Vec<Value> = d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            json!([
                g["pid"],
                g["process"],
                g["direction"],
                g["local"],
                g["remote"],
                g["states"],
                g["proto"],
                g["peer"]
            ])
        })
        .collect();
    // nginx's clients: connected, but /proc/net/unix names no peer; php-fpm's
    // accepted sockets carry the listener's path. LISTEN hidden, datagrams in
    // no group.
    assert_eq!(
        got,
        vec![
            json!([501, "nginx", null, null, "(unknown peer)", {"established": 4}, "unix", null]),
            json!([500, "php-fpm", "inbound", "/run/php/fpm.sock", null, {"established": 2}, "unix", null]),
        ]
    );
    let u = &d["totals"]["unix"];
    assert_eq!(u["sockets"], 9);
    assert_eq!(
        u["stream"],
        json!({"connected": 4, "listening": 2, "unconnected": 0})
    );
    assert_eq!(
        u["seqpacket"],
        json!({"connected": 2, "listening": 0, "unconnected": 0})
    );
    assert_eq!(
        u["dgram"],
        json!({"connected": 0, "listening": 0, "unconnected": 1})
    );
    assert_eq!(
        (u["unattributed"].as_u64(), u["source"].as_str()),
        (Some(1), Some("proc"))
    );
    let w = warnings(&d);
    assert!(
        w.iter()
            .any(|w| w.contains("1 malformed line in the unix table")
                && w.contains("net/unix line 11: bad type '00ZZ'")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("names no peers")), "{w:?}");
    // The abstract listener nobody holds: counted, labelled, shown with --all.
    let all = doc(&["--proto", "unix", "--all"]);
    assert!(
        all["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["attribution"] == "unattributed"
                && g["direction"] == "listen"
                && g["local"] == "@bus"),
        "{all:#?}"
    );
    // TCP is untouched by the unix table.
    let tcp = doc(&[]);
    assert!(tcp["totals"].get("unix").is_none());
    let both = doc(&["--proto", "all"]);
    assert_eq!(both["totals"]["sockets"], tcp["totals"]["sockets"]);
    assert_eq!(
        both["groups"].as_array().unwrap().len(),
        tcp["groups"].as_array().unwrap().len() + 2
    );
}
