//! `ss -tan` is the oracle: sockleak's host totals per state equal what ss counts on
//! the same table, from both sources. In a test binary of its own, so no other test
//! changes the table while it compares.
mod common;
use common::*;
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

fn ss_totals() -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for (st, _, _) in ss_sockets() {
        *m.entry(ss_state(&st).to_string()).or_insert(0) += 1;
    }
    m
}

fn sockleak_totals(source: &str) -> BTreeMap<String, u64> {
    let d = json(&["--source", source, "--netns", "host"]);
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
    // Something in every common state: CLOSE_WAIT and FIN_WAIT2, ESTABLISHED,
    // TIME_WAIT, LISTEN.
    let _fin = leak("127.0.0.1", "fin", 10, 20, &["--name", "or-fin"]);
    let _est = leak("::1", "hold", 0, 10, &["--name", "or-est"]);
    wait_for_time_wait_room();
    let tw_host = private_loopback();
    let (tw_srv, _tw) = leak(&tw_host, "eof-close", 0, 5, &["--name", "or-tw", "--close"]);
    let tw_remote = format!("{tw_host}:{}", tw_srv.port());
    let _ = wait_time_wait(5, &tw_remote);
    // Reset-but-held sockets are in no table: counted apart (held_closed), never
    // in the totals that must equal ss.
    let rst = Peer::spawn(&[
        "reset",
        &private_loopback(),
        "--count",
        "4",
        "--name",
        "or-rst",
    ]);

    for source in ["netlink", "proc"] {
        // The table can change between the two reads (another process on the host);
        // compare only when ss saw the same table before and after.
        let mut agreed = false;
        for _ in 0..20 {
            let before = ss_totals();
            let ours = sockleak_totals(source);
            let after = ss_totals();
            if before != after {
                continue;
            }
            assert_eq!(
                ours, before,
                "{source}: sockleak totals differ from ss -tan"
            );
            assert!(ours["close_wait"] >= 20 && ours["established"] >= 20);
            if source == "netlink" {
                let d = json(&[
                    "--source",
                    source,
                    "--netns",
                    "host",
                    "--pid",
                    &rst.pid().to_string(),
                ]);
                assert_eq!(d["groups"][0]["states"], serde_json::json!({"close": 4}));
                assert!(d["totals"]["held_closed"].as_u64().unwrap() >= 4);
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
