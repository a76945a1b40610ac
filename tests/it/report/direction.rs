//! Which end is the service, on real loopback sockets whose ports the ephemeral
//! range cannot tell apart: a server on an ephemeral port that exited, a pool to a
//! server on an ephemeral port, and a client bound to a fixed low port.
use crate::common::*;

fn port_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

fn ephemeral(port: u16) -> bool {
    let (low, high) = port_range();
    (low..=high).contains(&port)
}

#[test]
fn an_exited_server_on_an_ephemeral_port_is_one_inbound_row() {
    wait_for_time_wait_room();
    let host = private_loopback();
    // Port 0: the kernel picks one inside ip_local_port_range, as for test servers.
    let mut server = Peer::spawn(&["listen", &host, "--mode", "close"]);
    let port = server.port();
    assert!(ephemeral(port), "the kernel gave {port}, outside the range");
    let client = Peer::spawn(&["connect", &host, &port.to_string(), "--count", "5"]);
    server.wait_done(5);
    // The client closes its CLOSE_WAIT ends (the server's go TIME_WAIT), then the
    // server exits: no listener explains the five, and both ports are ephemeral.
    client.stop();
    server.stop();
    let local = format!("{host}:{port}");
    let (doc, n) = time_wait_at_service(&local, &port.to_string(), 5);
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        1,
        "one row for the service, not one per client port: {doc}"
    );
    let g = &groups[0];
    assert_eq!(g["direction"], "inbound", "{g}");
    assert_eq!(g["local"], local.as_str(), "{g}");
    assert_eq!(g["states"]["time_wait"], n, "{g}");
    assert_eq!(g["attribution"], "unowned", "{g}");
}

#[test]
fn a_pool_to_a_gone_server_on_an_ephemeral_port_is_one_outbound_row() {
    let host = private_loopback();
    let mut server = Peer::spawn(&["listen", &host, "--mode", "fin"]);
    let port = server.port();
    assert!(ephemeral(port), "the kernel gave {port}, outside the range");
    let client = Peer::spawn(&["connect", &host, &port.to_string(), "--count", "6"]);
    server.wait_done(6);
    let remote = format!("{host}:{port}");
    wait_until(5, "6 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 6);
    // The server exits: its listener goes (its ends stay a while as orphaned
    // FIN_WAIT2), the pool's six CLOSE_WAIT stay.
    server.stop();
    wait_until(5, "the listener gone", || {
        ss_sockets()
            .iter()
            .all(|(st, l, _)| !(*l == remote && st == "LISTEN"))
    });
    let doc = json(&["--pid", &client.pid().to_string()]);
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{doc}");
    let g = &groups[0];
    assert_eq!(g["pid"], client.pid(), "{g}");
    assert_eq!(g["direction"], "outbound", "{g}");
    assert_eq!(g["remote"], remote.as_str(), "{g}");
    assert_eq!(g["states"]["close_wait"], 6, "{g}");
}

#[test]
fn a_client_on_a_fixed_low_port_to_ephemeral_servers_is_outbound() {
    let host = private_loopback();
    let mut servers: Vec<Peer> = (0..2)
        .map(|_| Peer::spawn(&["listen", &host, "--mode", "hold"]))
        .collect();
    // One fixed source port below the ephemeral range for both clients (each binds
    // it with SO_REUSEADDR, as a client that binds a fixed local port does): the
    // local end is shared, so fan-in alone would call it a server.
    let src = (1_000 + std::process::id() % 1_000).to_string();
    assert!(!ephemeral(src.parse().unwrap()));
    let mut clients = Vec::new();
    for s in servers.iter_mut() {
        let port = s.port().to_string();
        let args = [
            "connect",
            &host,
            &port,
            "--count",
            "1",
            "--src-port-base",
            &src,
        ];
        clients.push(Peer::spawn(&args));
        s.wait_done(1);
    }
    for (c, s) in clients.iter().zip(&servers) {
        let remote = format!("{host}:{}", s.port());
        let doc = json(&["--pid", &c.pid().to_string(), "--state", "established"]);
        let g = one_group(&doc, |g| g["pid"] == c.pid());
        assert_eq!(g["direction"], "outbound", "{doc}");
        assert_eq!(g["remote"], remote.as_str(), "{doc}");
        assert_eq!(g["states"]["established"], 1, "{doc}");
        assert_eq!(g["local_port"], serde_json::Value::Null, "{doc}");
        // The servers' accepted ends are inbound, keyed by their service.
        let doc = json(&["--pid", &s.pid().to_string(), "--state", "established"]);
        let g = one_group(&doc, |g| g["pid"] == s.pid());
        assert_eq!(g["direction"], "inbound", "{doc}");
        assert_eq!(g["local"], remote.as_str(), "{doc}");
    }
}
