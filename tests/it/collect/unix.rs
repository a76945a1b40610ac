//! Unix sockets (`--proto unix|all`) against real clients: psycopg2 leaking
//! connections to a PostgreSQL server this test starts in its own directory (no
//! system service), socketpairs, an abstract name and a closed peer from
//! `tests/support/unix_peer.py`, and `ss -xa` as the oracle for counts.

use std::process::{Command, Output};

use crate::common::{Peer, Postgres, PrivateNet, json, require, run};
use serde_json::Value;

fn groups_of(doc: &Value, pid: impl Into<u64>) -> Vec<&Value> {
    let pid = pid.into();
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pid"].as_u64() == Some(pid))
        .collect()
}

/// `ss -xapH` lines held by `pid` (ss prints one line per socket and holder), in
/// the network namespace of `pid`.
fn ss_lines_of(pid: u32) -> usize {
    require("ss");
    require("nsenter");
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["ss", "-xapH"])
        .output()
        .unwrap();
    let needle = format!("pid={pid},");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

#[test]
fn a_psycopg2_client_leaking_connections_is_row_one() {
    require_psycopg2();
    let leak = PgLeak::start(40);
    let doc = leak.json(&["--proto", "unix"]);
    assert_the_client_is_one_group_at_the_path_its_peers_the_backends(&leak, &doc);
    // ss sees the same sockets (it cannot say to which path: lsof and ss show
    // the client end unnamed).
    assert_eq!(ss_lines_of(leak.client.pid()), leak.n);
    assert_each_backend_holds_one_inbound_socket_at_the_path(&leak, &doc);
    assert_row_one_of_the_table_names_it(&leak);
    assert_the_watch_judges_it_against_its_own_pool(&leak);
    assert_a_threshold_on_a_share_of_its_pool_breaches(&leak);
    assert_prometheus_has_its_series_and_pool(&leak);
    assert_tcp_stays_the_default(&leak);
}

fn require_psycopg2() {
    require("python3");
    let py = Command::new("python3")
        .args(["-c", "import psycopg2"])
        .status()
        .unwrap();
    assert!(
        py.success(),
        "psycopg2 is required by this test (CI's .ci/run installs psycopg2-binary)"
    );
}

/// A psycopg2 client holding `n` connections to a PostgreSQL server. Both are in
/// a namespace of their own: "row 1" is then a ranking among this test's
/// sockets, not against another run of the same test on the host (40
/// connections too) or any other workload. (Fields drop in order: the client,
/// the server, then the namespace.)
struct PgLeak {
    client: Peer,
    _pg: Postgres,
    net: PrivateNet,
    n: usize,
    /// The server's socket path.
    path: String,
    /// The backends' pids, one per connection.
    backends: Vec<u64>,
}

impl PgLeak {
    fn start(n: usize) -> PgLeak {
        let net = PrivateNet::new();
        let pg = Postgres::unix_in(&net.wrap());
        let sock_dir = pg.dir.path().to_str().unwrap().to_string();
        let client = Peer::spawn_script("pg_leak.py", &net.wrap(), &[&sock_dir, &n.to_string()]);
        let path = pg.socket().to_str().unwrap().to_string();
        let backends: Vec<u64> = client.ready["backends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap())
            .collect();
        assert_eq!(backends.len(), n);
        PgLeak {
            client,
            _pg: pg,
            net,
            n,
            path,
            backends,
        }
    }

    /// sockleak run inside the namespace, reading it.
    fn run(&self, args: &[&str]) -> Output {
        self.net
            .cmd(crate::common::bin())
            .args(["--netns", "host"])
            .args(args)
            .output()
            .expect("run sockleak in the namespace")
    }

    fn json(&self, args: &[&str]) -> Value {
        self.net.json(args)
    }

    /// A `--pool-size` rule of 50 for the server's path.
    fn pool(&self) -> String {
        format!("{}=50", self.path)
    }
}

/// One group per path, outbound to the server's; its peers the backends, one
/// per connection, named.
fn assert_the_client_is_one_group_at_the_path_its_peers_the_backends(leak: &PgLeak, doc: &Value) {
    let (n, path) = (leak.n, leak.path.as_str());
    let mine = groups_of(doc, leak.client.pid());
    assert_eq!(mine.len(), 1, "one group per path: {mine:#?}");
    let g = mine[0];
    assert_eq!(g["proto"], "unix");
    assert_eq!(g["direction"], "outbound");
    assert_eq!(g["remote"], path);
    assert_eq!(g["local"], Value::Null);
    assert_eq!(g["total"], n as u64);
    assert_eq!(g["states"]["established"], n as u64);
    assert_eq!(g["peer"]["processes"], serde_json::json!(["postgres"]));
    let mut peers: Vec<u64> = g["peer"]["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    let mut want = leak.backends.clone();
    peers.sort_unstable();
    want.sort_unstable();
    assert_eq!(peers, want);
}

/// The server side: each backend holds one accepted socket at the path, its
/// peer the client.
fn assert_each_backend_holds_one_inbound_socket_at_the_path(leak: &PgLeak, doc: &Value) {
    for b in &leak.backends {
        let theirs = groups_of(doc, *b);
        assert_eq!(theirs.len(), 1, "backend {b}: {theirs:#?}");
        assert_eq!(theirs[0]["direction"], "inbound");
        assert_eq!(theirs[0]["local"], leak.path.as_str());
        assert_eq!(theirs[0]["total"], 1);
        assert_eq!(
            theirs[0]["peer"]["pids"],
            serde_json::json!([leak.client.pid()])
        );
    }
}

fn assert_row_one_of_the_table_names_it(leak: &PgLeak) {
    let out = leak.run(&["--proto", "unix"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line1 = text.lines().nth(1).unwrap();
    let row1: Vec<&str> = line1.split_whitespace().collect();
    assert_eq!(row1[0], leak.client.pid().to_string(), "{text}");
    assert_eq!(row1[1], "python3", "{text}");
    assert!(row1.contains(&leak.path.as_str()), "{text}");
    assert!(
        line1.contains(&format!("postgres ({} pids)", leak.n)),
        "{text}"
    );
}

/// --watch judges it against its own pool, named by path: 40 of 50.
fn assert_the_watch_judges_it_against_its_own_pool(leak: &PgLeak) {
    let pool = leak.pool();
    let out = leak.run(&[
        "--proto",
        "unix",
        "--watch",
        "0.2",
        "--count",
        "2",
        "--json",
        "--pool-size",
        &pool,
        "--metric",
        "established",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last: Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    let w = &groups_of(&last, leak.client.pid())[0]["watch"];
    assert_eq!(
        (w["pool_size"].as_u64(), w["pool_pct"].as_f64()),
        (Some(50), Some(80.0)),
        "{w:#?}"
    );
}

/// A threshold on a share of that pool breaches, naming it.
fn assert_a_threshold_on_a_share_of_its_pool_breaches(leak: &PgLeak) {
    let pool = leak.pool();
    let out = leak.run(&[
        "--proto",
        "unix",
        "--metric",
        "established",
        "--threshold",
        "75%",
        "--pool-size",
        &pool,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines = String::from_utf8_lossy(&out.stdout);
    let named = format!("pid {} python3 outbound {}", leak.client.pid(), leak.path);
    assert!(lines.contains(&named), "{lines}");
}

/// Prometheus: the group's series and its pool, with proto="unix".
fn assert_prometheus_has_its_series_and_pool(leak: &PgLeak) {
    let pool = leak.pool();
    let out = leak.run(&["--proto", "unix", "-o", "prometheus", "--pool-size", &pool]);
    let prom = String::from_utf8_lossy(&out.stdout);
    let labels = format!(
        "pid=\"{}\",process=\"python3\",endpoint=\"{}\",direction=\"outbound\"",
        leak.client.pid(),
        leak.path
    );
    assert!(
        prom.lines()
            .any(|l| l.starts_with("sockleak_group_sockets{")
                && l.contains(&labels)
                && l.contains("proto=\"unix\"")
                && l.contains("state=\"established\"")
                && l.ends_with(&format!(" {}", leak.n))),
        "{prom}"
    );
    assert!(
        prom.lines().any(|l| l.starts_with("sockleak_pool_size{")
            && l.contains(&labels)
            && l.ends_with(" 50")),
        "{prom}"
    );
    crate::common::promtool_check(&out.stdout);
}

/// TCP stays the default: no unix group, no unix totals.
fn assert_tcp_stays_the_default(leak: &PgLeak) {
    let tcp = leak.json(&[]);
    assert!(groups_of(&tcp, leak.client.pid()).is_empty());
    assert!(tcp["totals"].get("unix").is_none());
    assert!(
        tcp["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["proto"] == "tcp")
    );
}

#[test]
fn socketpairs_abstract_names_and_closed_peers() {
    let name = format!("sockleak-test-{}", std::process::id());
    let h = Peer::spawn_script("unix_peer.py", &[], &[&name, "3", "4"]);
    let child = h.ready["child"].as_u64().unwrap();
    let doc = json(&["--proto", "all"]);
    let mine = groups_of(&doc, h.pid());
    let by_remote = |r: &str| {
        mine.iter()
            .find(|g| g["remote"] == r)
            .unwrap_or_else(|| panic!("no group to {r}: {mine:#?}"))
    };
    // Both ends of each pair are held here: 6 sockets, the peer itself.
    let pairs = by_remote("(socketpair)");
    assert_eq!(pairs["total"], 6);
    assert_eq!(pairs["direction"], Value::Null);
    assert_eq!(pairs["peer"]["pids"], serde_json::json!([h.pid()]));
    let abs = by_remote(&format!("@{name}"));
    assert_eq!(
        (abs["total"].as_u64(), abs["direction"].as_str()),
        (Some(4), Some("outbound"))
    );
    assert_eq!(abs["peer"]["pids"], serde_json::json!([child]));
    let closed = by_remote("(peer closed)");
    assert_eq!(closed["total"], 1);
    assert_eq!(closed["peer"]["closed"], 1);
    assert!(doc["totals"]["unix"]["peer_closed"].as_u64().unwrap() >= 1);
    // The server side, in the forked child: the accepted sockets and (--all) the
    // listener it inherited, both at the abstract name.
    let server = groups_of(&doc, child);
    let inbound: Vec<_> = server
        .iter()
        .filter(|g| g["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "{server:#?}");
    assert_eq!(inbound[0]["local"], format!("@{name}"));
    assert_eq!(inbound[0]["total"], 4);
    assert_eq!(inbound[0]["peer"]["pids"], serde_json::json!([h.pid()]));
    let all = json(&["--proto", "unix", "--all", "--pid", &child.to_string()]);
    assert!(
        all["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["direction"] == "listen" && g["local"] == format!("@{name}")),
        "{all:#?}"
    );
    // --pool-size @NAME=N: the client group is judged against it.
    let out = run(&[
        "--proto",
        "unix",
        "--pid",
        &h.pid().to_string(),
        "--metric",
        "established",
        "--threshold",
        "50%",
        "--pool-size",
        &format!("@{name}=5"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("@{name}")));
}

#[test]
fn unix_totals_match_ss() {
    // Unix sockets belong to a network namespace too (abstract names, ss -x and
    // /proc/net/unix are per namespace): in one of the test's own, the table
    // holds only the helpers' sockets, not the host's, which other workloads
    // open and close all the time. A socket can still change between two reads
    // (a helper setting up): compare when ss gives the same counts before and
    // after sockleak's read.
    require("ss");
    let net = PrivateNet::new();
    let ss = || {
        let out = net.cmd("ss").args(["-xaH"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let count = |netid: &str| text.lines().filter(|l| l.starts_with(netid)).count() as u64;
        [count("u_str"), count("u_seq"), count("u_dgr")]
    };
    let _h = Peer::spawn_script(
        "unix_peer.py",
        &net.wrap(),
        &[&format!("sockleak-tot-{}", std::process::id()), "2", "2"],
    );
    // Datagram and seqpacket sockets too: every type is counted in the totals.
    let _other = Peer::spawn_script(
        "unix_peer.py",
        &net.wrap(),
        &["--types", &format!("sockleak-dg-{}", std::process::id())],
    );
    for _ in 0..20 {
        let before = ss();
        let doc = net.json(&["--proto", "unix"]);
        let after = ss();
        let u = &doc["totals"]["unix"];
        let of = |t: &str| {
            ["connected", "listening", "unconnected"]
                .map(|s| u[t][s].as_u64().unwrap())
                .iter()
                .sum::<u64>()
        };
        let got = [of("stream"), of("seqpacket"), of("dgram")];
        assert_eq!(got.iter().sum::<u64>(), u["sockets"].as_u64().unwrap());
        if before == after {
            assert_eq!(got, before, "stream, seqpacket, dgram: {u:#?}");
            assert!(got[1] >= 3 && got[2] >= 3, "{u:#?}");
            // Datagram sockets are in no group; the seqpacket ones are.
            let theirs = groups_of(&doc, _other.pid());
            let total: u64 = theirs.iter().map(|g| g["total"].as_u64().unwrap()).sum();
            assert_eq!(total, 2, "{theirs:#?}");
            let ends = |g: &&Value| {
                [&g["local"], &g["remote"]].map(|v| v.as_str().unwrap_or("").to_string())
            };
            assert!(
                theirs
                    .iter()
                    .all(|g| ends(g).iter().all(|e| e.is_empty() || e.ends_with("-seq"))),
                "{theirs:#?}"
            );
            return;
        }
    }
    panic!("the unix table never held still for 20 tries");
}

#[test]
fn tcp_only_filters_are_refused_with_proto_unix() {
    for args in [
        &["--proto", "unix", "--remote", ":5432"][..],
        &["--proto", "unix", "--local-port", "80"],
        &["--proto", "unix", "--idle-over", "5m"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--proto all"),
            "{args:?}"
        );
    }
}

/// As a user who cannot read other users' fd tables, unix sockets that no
/// readable process holds get the warning TCP's get: how many, whose (uid), which
/// processes may hold them, and the fix. Here: this test's own sockets, held by a
/// root helper that `nobody` cannot read (only the warning is asserted on, never
/// the host's counts).
#[test]
fn unix_sockets_unattributed_for_lack_of_privilege_are_warned() {
    let name = format!("sockleak-test-unpriv-{}", std::process::id());
    // 4 socketpairs (8 ends), a listener, 3 clients and their 3 accepted ends,
    // and one connection whose server end was closed: 16 sockets of ours.
    let helper = Peer::spawn_script("unix_peer.py", &[], &[&name, "4", "3"]);
    let o = crate::common::as_nobody(crate::common::bin())
        .args(["--proto", "unix", "--json"])
        .output()
        .expect("run setpriv");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let unix_warnings: Vec<&str> = crate::common::warnings(&doc)
        .into_iter()
        .filter(|w| w.contains(" unix socket") && w.contains("unattributed"))
        .collect();
    let held = unix_warnings
        .iter()
        .find(|w| w.contains("most likely held by processes whose /proc/<pid>/fd is not readable"))
        .unwrap_or_else(|| panic!("no warning about unattributed unix sockets: {unix_warnings:?}"));
    let count: u64 = held
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{held}"));
    assert!(count >= 16, "our 16 sockets among them: {held}");
    assert!(
        held.contains("running as uid 0 root") && held.contains("setcap cap_sys_ptrace"),
        "{held}"
    );
    drop(helper);
}
