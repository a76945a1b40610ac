//! Each pool judged by its own size (issue 12), on real loopback sockets: three
//! clients leaking toward pools of 10, 8 and 6 watched in one `--watch`, servers'
//! orphaned sockets that are in no pool, and a server's TIME_WAIT after it exited.
use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// Pool-slot states of a group's `states`.
fn slots(states: &Value) -> u64 {
    ["established", "close_wait", "syn_sent", "close"]
        .iter()
        .map(|s| states[*s].as_u64().unwrap_or(0))
        .sum()
}

/// `N of pool M (X close_wait, Y established)` in an alert line: (N, M, X + Y + ...).
fn alert_numbers(line: &str) -> (u64, u64, u64) {
    let at = line.find(" of pool ").unwrap_or_else(|| panic!("{line}"));
    let head = &line[..at];
    let n: u64 = head.rsplit(' ').next().unwrap().parse().unwrap();
    let rest = &line[at + " of pool ".len()..];
    let (m, rest) = rest.split_once(" (").unwrap();
    let inner = &rest[..rest.find(')').unwrap()];
    let sum = inner
        .split(", ")
        .map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    (n, m.parse().unwrap(), sum)
}

/// The three leaking clients and their pools, in the order of their services.
const NAMES: [&str; 3] = ["pl-ten", "pl-eight", "pl-six"];
const POOLS: [u64; 3] = [10, 8, 6];

#[test]
fn three_leaks_fill_each_its_own_pool() {
    // Three services on addresses of their own; each client leaks one connection
    // every 0.4 s: pools of 10, 8 and 6, set by an exact IP:PORT, a :PORT and a
    // bare IP rule, beside a default of 100 that none of them may fall back to.
    let hosts: Vec<String> = (0..3).map(|_| private_loopback()).collect();
    let servers: Vec<Peer> = hosts
        .iter()
        .map(|h| Peer::spawn(&["listen", h, "--mode", "fin"]))
        .collect();
    let clients = leak_toward_each_pool(&hosts, &servers);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("pools.ndjson");
    let (samples, stderr) = watch_the_three_pools(&hosts, &servers, &record);
    for (i, client) in clients.iter().enumerate() {
        let seq = pool_use_per_sample(&samples, client.pid());
        assert_full_exactly_when_its_own_pool_is(&seq, NAMES[i], POOLS[i]);
        assert_its_full_alert_adds_up(&stderr, client.pid(), NAMES[i], POOLS[i]);
    }
    assert_the_plot_draws_each_against_its_own_pool(&record, dir.path());
    drop(clients);
    drop(servers);
}

/// A client per service leaking one connection every 0.4 s, 3 more than its pool.
fn leak_toward_each_pool(hosts: &[String], servers: &[Peer]) -> Vec<Peer> {
    (0..3)
        .map(|i| {
            let port = servers[i].port().to_string();
            let count = (POOLS[i] + 3).to_string();
            Peer::spawn(&[
                "connect",
                &hosts[i],
                &port,
                "--count",
                &count,
                "--interval",
                "0.4",
                "--name",
                NAMES[i],
            ])
        })
        .collect()
}

/// 24 samples of the three clients, each service's pool set by its own kind of
/// rule, recorded: the samples and stderr.
fn watch_the_three_pools(
    hosts: &[String],
    servers: &[Peer],
    record: &Path,
) -> (Vec<Value>, String) {
    let rules = [
        format!("{}:{}=10", hosts[0], servers[0].port()),
        format!(":{}=8", servers[1].port()),
        format!("{}=6", hosts[2]),
    ];
    let mut args = vec!["--watch", "0.5", "--count", "24", "--json"];
    args.extend(["--pool-size", "100"]);
    for r in &rules {
        args.extend(["--pool-size", r.as_str()]);
    }
    for n in NAMES {
        args.extend(["--process", n]);
    }
    args.extend(["--record", path_str(record)]);
    let o = run(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    (lines(&o.stdout), stderr)
}

/// (pool usage, pool_size, flag) of the group of `pid`, per sample.
fn pool_use_per_sample(samples: &[Value], pid: u32) -> Vec<(u64, Option<u64>, String)> {
    samples
        .iter()
        .filter_map(|s| {
            s["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["pid"] == pid)
        })
        .map(|g| {
            (
                slots(&g["states"]),
                g["watch"]["pool_size"].as_u64(),
                g["watch"]["flag"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Judged by its own pool in every sample, full exactly when that pool is.
fn assert_full_exactly_when_its_own_pool_is(
    seq: &[(u64, Option<u64>, String)],
    name: &str,
    pool: u64,
) {
    assert!(!seq.is_empty(), "{name} never seen");
    assert!(
        seq.iter().all(|(_, p, _)| *p == Some(pool)),
        "{name}: its own pool {pool} in every sample: {seq:?}",
    );
    let full = seq
        .iter()
        .position(|(_, _, f)| f == "full")
        .unwrap_or_else(|| panic!("{name} never full: {seq:?}"));
    assert!(seq[full].0 >= pool, "{name}: {seq:?}");
    assert!(
        seq[..full].iter().all(|(u, _, f)| *u < pool && f != "full"),
        "{name}: full exactly when its own pool is: {seq:?}",
    );
}

/// The alert says what it counts, and its numbers agree with themselves.
fn assert_its_full_alert_adds_up(stderr: &str, pid: u32, name: &str, pool: u64) {
    let alert = stderr
        .lines()
        .find(|l| l.contains("-> full:") && l.contains(&format!("pid {pid} ")))
        .unwrap_or_else(|| panic!("no full alert for {name}: {stderr}"));
    let (n, m, parts) = alert_numbers(alert);
    assert_eq!(m, pool, "{alert}");
    assert!(n >= m, "{alert}");
    assert_eq!(n, parts, "the breakdown adds up: {alert}");
}

/// The plot draws each group against its own pool.
fn assert_the_plot_draws_each_against_its_own_pool(record: &Path, dir: &Path) {
    let svg = dir.join("pools.svg");
    let text = plot_svg(record, &svg, &[]);
    for (pool, name) in POOLS.iter().zip(NAMES) {
        assert!(
            text.contains(&format!("pool {pool}: ")) && text.contains(name),
            "pool {pool} of {name} in the legend"
        );
    }
}

#[test]
fn orphaned_server_sockets_raise_no_pool_alert() {
    // The server closes each connection at once: its side is an orphaned
    // FIN_WAIT2 (no fd, no process), the client's CLOSE_WAIT.
    let host = private_loopback();
    let mut server = Peer::spawn(&["listen", &host, "--mode", "close"]);
    let port = server.port().to_string();
    let _client = Peer::spawn(&["connect", &host, &port, "--count", "6", "--name", "pl-orph"]);
    server.wait_done(6);
    // The last FIN may not be ACKed yet (FIN_WAIT1): wait until ss shows all six.
    let local = format!("{host}:{port}");
    wait_until(5, "6 FIN-WAIT-2 at the service", || {
        ss_sockets()
            .iter()
            .filter(|(st, l, _)| st == "FIN-WAIT-2" && *l == local)
            .count()
            == 6
    });
    // Only the server's side of them (local port = the service), with a pool of
    // 2 that every group would exceed.
    let o = run(&[
        "--watch",
        "0.2",
        "--count",
        "4",
        "--json",
        "--pool-size",
        "2",
        "--local-port",
        &port,
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let samples = lines(&o.stdout);
    let mut seen = 0;
    for s in &samples {
        for g in s["groups"].as_array().unwrap() {
            if g["attribution"] == "unowned" && g["states"]["fin_wait2"].as_u64() == Some(6) {
                seen += 1;
                assert_eq!(g["direction"], "inbound", "{g}");
                assert_eq!(g["watch"]["pool_size"], Value::Null, "in no pool: {g}");
                assert_eq!(g["watch"]["pool_pct"], Value::Null, "{g}");
                let flag = g["watch"]["flag"].as_str().unwrap();
                assert!(flag == "ok" || flag == "growing", "{g}");
            }
        }
    }
    assert_eq!(
        seen,
        samples.len(),
        "the orphans in every sample: {samples:?}"
    );
    assert!(
        !stderr.contains("-> warn") && !stderr.contains("-> full"),
        "no pool alert for sockets in no pool: {stderr}"
    );
}

#[test]
fn time_wait_after_the_server_exited_groups_under_its_service_port() {
    wait_for_time_wait_room();
    // A service port below the ephemeral range, on an address of its own.
    let host = private_loopback();
    let port = (20_000 + std::process::id() % 10_000).to_string();
    let mut server = Peer::spawn(&["listen", &host, "--mode", "close", "--port", &port]);
    let client = Peer::spawn(&["connect", &host, &port, "--count", "4", "--name", "pl-tw"]);
    server.wait_done(4);
    // The client closes its CLOSE_WAIT sockets: the server's side goes TIME_WAIT.
    // Then the server exits, and its listener with it.
    client.stop();
    server.stop();
    let local = format!("{host}:{port}");
    let (last, theirs) = time_wait_at_service(&local, &port, 4);
    let groups = last["groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        1,
        "one row for the service, not one per client port: {last}"
    );
    let g = &groups[0];
    assert_eq!(g["direction"], "inbound", "{g}");
    assert_eq!(g["local"], local.as_str(), "{g}");
    assert_eq!(g["states"]["time_wait"], theirs, "{g}");
}
