//! `ss -tan` is the oracle: sockleak's totals per state equal what ss counts on the
//! same table, from both sources. The table is a network namespace of the test's
//! own, so nothing else on the host (other tests, other workloads) changes it while
//! it compares.
use crate::common::*;
use std::collections::BTreeMap;

/// ss state spelling -> sockleak JSON key.
fn ss_state(s: &str) -> &'static str {
    match s {
        "ESTAB" => "established",
        "SYN-SENT" => "syn_sent",
        "SYN-RECV" => "syn_recv",
        "FIN-WAIT-1" => "fin_wait1",
        "FIN-WAIT-2" => "fin_wait2",
        "TIME-WAIT" => "time_wait",
        "UNCONN" | "CLOSE" => "close",
        "CLOSE-WAIT" => "close_wait",
        "LAST-ACK" => "last_ack",
        "LISTEN" => "listen",
        "CLOSING" => "closing",
        other => panic!("unknown ss state {other}"),
    }
}

fn ss_totals(net: &PrivateNet) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for (st, _, _) in ss_sockets_in(Some(net)) {
        *m.entry(ss_state(&st).to_string()).or_insert(0) += 1;
    }
    m
}

fn sockleak_totals(net: &PrivateNet, source: &str) -> BTreeMap<String, u64> {
    let d = net.json(&["--source", source]);
    d["totals"]["states"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.as_u64() != Some(0))
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[test]
fn totals_equal_ss_on_both_sources() {
    let net = PrivateNet::new();
    let wrap = net.wrap();
    // Something in every common state: CLOSE_WAIT and FIN_WAIT2, ESTABLISHED,
    // TIME_WAIT, LISTEN.
    let _fin = leak_in(&wrap, "127.0.0.1", "fin", 10, 20, &["--name", "or-fin"]);
    let _est = leak_in(&wrap, "::1", "hold", 0, 10, &["--name", "or-est"]);
    wait_for_time_wait_room_in(Some(&net));
    let tw_host = private_loopback();
    let (tw_srv, _tw) = leak_in(
        &wrap,
        &tw_host,
        "eof-close",
        0,
        5,
        &["--name", "or-tw", "--close"],
    );
    let tw_remote = format!("{tw_host}:{}", tw_srv.port());
    let _ = wait_time_wait_in(Some(&net), 5, &tw_remote);
    // Reset-but-held sockets are in no table: counted apart (held_closed), never
    // in the totals that must equal ss.
    let rst = Peer::spawn_wrapped(
        &wrap,
        &[
            "reset",
            &private_loopback(),
            "--count",
            "4",
            "--name",
            "or-rst",
        ],
    );

    for source in ["netlink", "proc"] {
        // Only this test's peers are in the namespace, but a socket can still
        // change state between the two reads (a FIN in flight); compare only when
        // ss saw the same table before and after.
        let mut agreed = false;
        for _ in 0..20 {
            let before = ss_totals(&net);
            let ours = sockleak_totals(&net, source);
            let after = ss_totals(&net);
            if before != after {
                continue;
            }
            assert_eq!(
                ours, before,
                "{source}: sockleak totals differ from ss -tan"
            );
            // Exactly this test's sockets: 20 leaked, 10 held at both ends.
            assert_eq!(ours["close_wait"], 20, "{ours:?}");
            assert_eq!(ours["established"], 20, "{ours:?}");
            if source == "netlink" {
                let d = net.json(&["--source", source, "--pid", &rst.pid().to_string()]);
                assert_eq!(d["groups"][0]["states"], serde_json::json!({"close": 4}));
                assert_eq!(d["totals"]["held_closed"], 4, "{}", d["totals"]);
            }
            agreed = true;
            break;
        }
        assert!(
            agreed,
            "{source}: the socket table never held still long enough to compare"
        );
    }
}
