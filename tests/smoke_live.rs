//! A first live check that the shared test support works end to end.
mod common;
use common::*;

#[test]
fn leaking_client_is_row_one_with_exact_counts() {
    let (server, client) = leak("127.0.0.1", "fin", 100, 3, &["--name", "leaky-smoke"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });
    let doc = json(&["--process", "leaky-smoke"]);
    let g = one_group(&doc, |g| g["remote"] == remote.as_str());
    assert_eq!(g["pid"], client.pid());
    assert_eq!(g["states"]["close_wait"], 3);
    assert_eq!(
        g["recv_q"], 303,
        "100 unread bytes plus the FIN per socket, as the kernel counts"
    );
}
