//! Focused queries (issue 13, part 1): `--pid`, `--process` and `--user` read only
//! the fd tables of the matching processes. The socket table is still read whole,
//! so totals per state stay exact; what a focused query cannot know (who holds
//! the other sockets) is null in JSON and said in the footer, never guessed.
use crate::common::tree::Tree;
use crate::common::*;
use serde_json::Value;

/// Groups of a document without their volatile fields (idle ages grow between
/// two runs), for comparing two snapshots of the same sockets.
fn stable(groups: Vec<&Value>) -> Vec<Value> {
    groups
        .into_iter()
        .map(|g| {
            let mut g = g.clone();
            for k in ["oldest_close_wait_idle_s", "oldest_idle_s", "fds", "recv_q"] {
                g[k] = Value::Null;
            }
            g
        })
        .collect()
}

#[test]
fn a_focused_query_counts_exactly_what_a_full_one_does() {
    let host = private_loopback();
    let (server, client) = leak(&host, "fin", 7, 5, &["--name", "fq-client"]);
    let pid = client.pid().to_string();
    let remote = format!("{host}:{}", server.port());
    wait_until(5, "5 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 5);
    let full = json(&["--remote", &remote]);
    for focus in [
        vec!["--pid", pid.as_str()],
        vec!["--process", "fq-client"],
        vec!["--user", "root", "--pid", pid.as_str()],
    ] {
        let mut args = vec!["--remote", remote.as_str()];
        args.extend(&focus);
        let d = json(&args);
        let mine = |doc: &Value| stable(groups(doc, |g| g["pid"] == client.pid()));
        assert_eq!(mine(&d), mine(&full), "{focus:?}");
        let g = one_group(&d, |g| g["pid"] == client.pid());
        assert_eq!(g["states"]["close_wait"], 5, "{focus:?}");
        assert_eq!(
            d["totals"]["unattributed"],
            Value::Null,
            "{focus:?}: not known"
        );
        assert!(d["totals"]["states"]["close_wait"].as_u64().unwrap() >= 5);
    }
    assert!(
        full["totals"]["unattributed"].is_u64(),
        "known without focus"
    );
    let o = run(&["--pid", &pid]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("unattributed not counted (only the fd tables of --pid/--process/--user matches were read)"),
        "{table}"
    );
    drop(server);
}

/// The fd table of a process the query does not name is not opened: an unreadable
/// one (a FIFO where its fd directory should be) is news to a full snapshot, and
/// none to `--pid` of another process.
#[test]
fn a_focused_query_opens_no_other_fd_table() {
    let t = Tree::new();
    std::fs::remove_dir_all(t.path("200/fd")).unwrap();
    t.fifo("200/fd");
    let full = json(&["--proc-root", t.root()]);
    assert!(
        warnings(&full)
            .iter()
            .any(|w| w.contains("not readable") && w.contains("pid 200")),
        "{full}"
    );
    let d = json(&["--proc-root", t.root(), "--pid", "100"]);
    assert!(
        warnings(&d).iter().all(|w| !w.contains("200")),
        "pid 200's fd table was not asked for: {d}"
    );
    let g = one_group(&d, |g| g["pid"] == 100);
    assert_eq!(g["states"]["close_wait"], 3);
    assert_eq!(d["totals"]["sockets"], full["totals"]["sockets"]);
    assert_eq!(d["totals"]["states"], full["totals"]["states"]);
    // A matching process whose table cannot be read is named, not dropped.
    let d = json(&["--proc-root", t.root(), "--pid", "200"]);
    assert!(
        warnings(&d)
            .iter()
            .any(|w| w
                .starts_with("the fd tables of 1 matching process (pid 200) could not be read")),
        "{d}"
    );
}
