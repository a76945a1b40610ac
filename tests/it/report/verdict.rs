//! Verdicts without configuration, on real loopback sockets: a child holding
//! CLOSE_WAIT sockets idle past `--leak-after` is a `leak` (row 1, JSON, and
//! `--threshold leak` exits 1); a fresh one is `ok`; without idle ages (the
//! /proc source) the same sockets are `suspect`.
use crate::common::*;

#[test]
fn close_wait_idle_past_leak_after_is_a_leak_and_fails_the_check() {
    let (server, client) = leak("127.0.0.1", "fin", 0, 7, &["--name", "vd-leak"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "7 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 7);
    let only = ["--process", "vd-leak"];

    // Fresh (idle well under the default 5 minutes): ok, and the check is silent.
    let d = json(&[&only[..]].concat());
    let g = one_group(&d, |g| g["remote"] == remote.as_str());
    assert_eq!(g["verdict"]["level"], "ok", "{g}");
    assert_eq!(g["verdict"]["reasons"], serde_json::json!([]));
    let o = run(&[&only[..], &["--threshold", "leak"]].concat());
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(text(&o), (String::new(), String::new()));

    // Idle past --leak-after: a leak, whatever the count, with its reason.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let d = json(&[&only[..], &["--leak-after", "1s"]].concat());
    let g = &d["groups"][0];
    assert_eq!(g["remote"], remote.as_str(), "row 1 is the leak: {d}");
    assert_eq!(g["verdict"]["level"], "leak", "{g}");
    let why = g["verdict"]["reasons"][0].as_str().unwrap();
    assert!(
        why.starts_with("7 close_wait idle over 1s (oldest "),
        "{why}"
    );

    // The check that needs no pool size: one line naming the leaker, exit 1.
    let o = run(&[&only[..], &["--threshold", "leak", "--leak-after", "1s"]].concat());
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let (out, _) = text(&o);
    let want = format!(
        "WARNING pid {} vd-leak outbound {remote}: leak: 7 close_wait idle over 1s (oldest ",
        client.pid()
    );
    assert!(out.starts_with(&want), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // --critical leak: exit 2.
    let o = run(&[&only[..], &["--critical", "leak", "--leak-after", "1s"]].concat());
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));

    // The table: the verdict at the end of row 1, its reason under it.
    let o = run(&[&only[..], &["--leak-after", "1s"]].concat());
    let (out, _) = text(&o);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().ends_with(" VERDICT"), "{out}");
    let row = lines.next().unwrap();
    assert!(row.ends_with(" leak"), "{out}");
    assert!(row.contains(&remote), "{out}");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("  why:    7 close_wait idle over 1s"),
        "{out}"
    );
    drop(client);
}

#[test]
fn without_idle_ages_close_wait_is_suspect_not_leak() {
    let (server, client) = leak("127.0.0.1", "fin", 0, 3, &["--name", "vd-proc"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 3);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let d = json(&[
        "--process",
        "vd-proc",
        "--source",
        "proc",
        "--leak-after",
        "1s",
    ]);
    let g = one_group(&d, |g| g["remote"] == remote.as_str());
    assert_eq!(g["verdict"]["level"], "suspect", "{g}");
    assert_eq!(
        g["verdict"]["reasons"][0],
        "3 close_wait of unknown age (no idle ages from /proc)"
    );
    let only = ["--process", "vd-proc", "--source", "proc"];
    let o = run(&[&only[..], &["--threshold", "leak"]].concat());
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = run(&[&only[..], &["--threshold", "suspect"]].concat());
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    drop(client);
}

#[test]
fn reset_but_held_sockets_watched_past_leak_after_are_a_leak() {
    let held = Peer::spawn(&["reset", "127.0.0.1", "--count", "4", "--name", "vd-reset"]);
    assert_eq!(held.ready["held"], 4, "{}", held.ready);
    // A snapshot cannot age them: suspect.
    let d = json(&["--process", "vd-reset", "--leak-after", "1s"]);
    let g = one_group(&d, |g| g["states"]["close"] == 4);
    assert_eq!(g["verdict"]["level"], "suspect", "{g}");
    assert_eq!(
        g["verdict"]["reasons"][0],
        "4 reset by the peer but still held"
    );
    // Watched in every sample for --leak-after: a leak.
    let o = run(&[
        "--watch",
        "0.4",
        "--count",
        "5",
        "--json",
        "--process",
        "vd-reset",
        "--leak-after",
        "1s",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let g = one_group(&last, |g| g["states"]["close"] == 4);
    assert_eq!(g["verdict"]["level"], "leak", "{g}");
    let why = g["verdict"]["reasons"][0].as_str().unwrap();
    assert!(
        why.starts_with("4 reset by the peer but still held, some in every sample for "),
        "{why}"
    );
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let g = one_group(&first, |g| g["states"]["close"] == 4);
    assert_eq!(
        g["verdict"]["level"], "suspect",
        "not yet watched that long: {g}"
    );
}
