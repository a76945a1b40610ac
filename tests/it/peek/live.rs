//! `--peek` on real clients (tests/support/http_leak.py): a urllib3 client that
//! leaks its 403 responses and reads its 200s, a raw client that never reads, a
//! TLS client; the summaries in JSON and the table, the queues left bit-for-bit as
//! they were (ss's Recv-Q, and the client reading every leaked body afterwards),
//! an unprivileged run that warns and changes nothing else, and the refusals; a
//! queue starting with CRLF and a hostile text body (no crash, no value shown);
//! the peek race (a drained queue and an RST between FIONREAD and the peek) made
//! deterministic with a preloaded pause: ESTABLISHED sockets are not peeked,
//! CLOSE_WAIT ones are and keep their pending error.
//! Loopback only; root (CI runs as root): a test without it fails, never skips.
use crate::common::*;

use std::process::Command;

use serde_json::{Value, json};

/// What these tests need root for (CI runs as root).
const ROOT: &str = "peeking other processes' sockets and running sockleak as another user";

/// A child running `tests/support/http_leak.py`.
fn http_leak(args: &[&str]) -> Peer {
    Peer::spawn_script("http_leak.py", &[], args)
}

/// `ss`'s Recv-Q of every socket to `peer`, by local address: the kernel's own
/// view of the queues, to compare before and after a peek.
fn recv_queues(peer: &str) -> Vec<(String, String)> {
    require("ss");
    let out = Command::new("ss")
        .args(["-tnH", "dst", peer])
        .output()
        .expect("run ss");
    let mut v: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[3].to_string(), format!("{} {}", f[0], f[1])))
        })
        .collect();
    v.sort();
    v
}

/// A document's groups without `unread` and the idle ages (which move between two
/// runs): what must be the same with and without `--peek`.
fn counted(doc: &Value) -> Vec<Value> {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut g = g.clone();
            let o = g.as_object_mut().unwrap();
            for k in [
                "unread",
                "peek",
                "oldest_close_wait_idle_s",
                "oldest_idle_s",
            ] {
                o.remove(k);
            }
            g
        })
        .collect()
}

/// The summary sockleak shows for a body starting with `head`, at the default 48
/// bytes (plain ASCII, nothing to escape).
fn prefix48(head: &str) -> String {
    format!("{}...", &head[..48])
}

/// A server that leaks 403 bodies into its clients' queues, a urllib3 client
/// leaking 9 of them (and reading 5 200s), a raw client that never reads (3), all
/// in CLOSE_WAIT.
fn leaking_clients() -> (Peer, Peer, Peer, String) {
    let host = private_loopback();
    let server = http_leak(&["server", &host]);
    let port = server.ready["port"].to_string();
    let client = http_leak(&["urllib3", &host, &port, "--leak", "9", "--ok", "5"]);
    let raw = http_leak(&["raw", &host, &port, "--count", "3"]);
    let peer = format!("{host}:{port}");
    // 9 leaked + 1 pooled (its 200s read, then closed by the server) + 3 raw.
    wait_until(10, "13 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &peer) == 13);
    // The server writes each 403 body 0.2 s after its head: wait for all of it.
    let len = server.ready["body_len"].as_u64().unwrap();
    wait_until(10, "the leaked bodies queued", || {
        let q = recv_queues(&peer);
        q.iter()
            .filter(|(_, s)| *s == format!("CLOSE-WAIT {}", len + 1))
            .count()
            == 9
    });
    (server, client, raw, peer)
}

#[test]
fn a_leaked_403_body_is_named_and_the_client_still_reads_every_byte() {
    assert_root(ROOT);
    let (server, mut client, raw, peer) = leaking_clients();
    let before = recv_queues(&peer);
    let plain = json(&["--remote", &peer]);
    let doc = json(&["--peek", "--remote", &peer]);

    // Counts exactly as without --peek; `unread` only with it.
    assert!(
        groups(&plain, |g| g.get("unread").is_some()).is_empty(),
        "no unread without --peek: {plain:#}"
    );
    let g = one_group(&doc, |g| g["pid"] == client.pid());
    assert_eq!(g["states"], json!({"close_wait": 10}));
    let body_head = server.ready["body_head"].as_str().unwrap();
    assert_eq!(
        g["unread"],
        json!([{"class": "html", "summary": prefix48(body_head), "count": 9}]),
        "the 9 unread 403 bodies; the pooled connection holds only its FIN"
    );
    assert_eq!(g["peek"], json!({"peeked": 9, "with_unread": 9}), "{g}");
    let r = one_group(&doc, |g| g["pid"] == raw.pid());
    assert_eq!(r["states"], json!({"close_wait": 3}));
    assert_eq!(r["peek"], json!({"peeked": 3, "with_unread": 3}), "{r}");
    assert_eq!(
        r["unread"],
        json!([{"class": "http-head", "summary": "HTTP/1.1 403 Forbidden", "count": 3}])
    );
    assert_eq!(counted(&doc), counted(&plain));
    assert!(
        !warnings(&doc).iter().any(|w| w.contains("--peek")),
        "root peeks everything: {:?}",
        warnings(&doc)
    );

    // The table: a line under the group, within 80 columns.
    let out = run(&["--peek", "--remote", &peer]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let line = format!("  unread: 9× html \"{}\"", prefix48(body_head));
    assert!(table.lines().any(|l| l == line), "{table}");
    assert!(line.chars().count() <= 80, "{line}");
    assert!(
        table
            .lines()
            .any(|l| l == "  unread: 3× http-head \"HTTP/1.1 403 Forbidden\""),
        "{table}"
    );

    // --peek-max below the group's count: how many of how many, in both.
    let capped = json(&["--peek", "--peek-max", "4", "--remote", &peer]);
    let g = one_group(&capped, |g| g["pid"] == client.pid());
    assert_eq!(g["peek"], json!({"peeked": 4, "with_unread": 9}), "{g}");
    assert_eq!(g["unread"][0]["count"], 4, "{g}");
    let out = run(&["--peek", "--peek-max", "4", "--remote", &peer]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l == "          4 of 9 with unread bytes peeked"),
        "{table}"
    );

    // Untouched: the kernel's queues as before, and the client reads every byte.
    assert_eq!(recv_queues(&peer), before, "Recv-Q changed by the peek");
    client.say("read");
    let read = client.next_line();
    let sha = server.ready["body_sha256"].as_str().unwrap();
    assert_eq!(read["sha256"], json!(vec![sha; 9]), "{read}");
    assert_eq!(
        read["lengths"],
        json!(vec![server.ready["body_len"].clone(); 9])
    );
}

#[test]
fn a_tls_connection_shows_only_its_record_type() {
    assert_root(ROOT);
    require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout", path_str(&key)])
        .args(["-out", path_str(&cert)])
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    let host = private_loopback();
    let tls = http_leak(&[
        "tls",
        &host,
        "--cert",
        path_str(&cert),
        "--key",
        path_str(&key),
    ]);
    let peer = format!("{host}:{}", tls.ready["port"]);
    wait_until(10, "the answer and the FIN queued", || {
        let g = &json(&["--remote", &peer])["groups"][0];
        g["states"] == json!({"close_wait": 1}) && g["recv_q"].as_u64().is_some_and(|q| q > 1)
    });
    let doc = json(&["--peek", "--remote", &peer]);
    let g = one_group(&doc, |g| g["pid"] == tls.pid());
    assert_eq!(g["states"], json!({"close_wait": 1}));
    let unread = g["unread"].as_array().unwrap();
    assert_eq!(unread.len(), 1, "{g:#}");
    assert_eq!(unread[0]["class"], "tls");
    assert_eq!(
        unread[0]["summary"], "TLS record, application_data (encrypted)",
        "the content type only"
    );
    assert!(!doc.to_string().contains("secret"));
}

#[test]
fn unprivileged_it_warns_once_and_changes_nothing_else() {
    assert_root(ROOT);
    let (_server, _client, _raw, peer) = leaking_clients();
    let args = ["--json", "--remote", &peer, "--netns", "host"];
    let plain = parse(&as_nobody(bin()).args(args).output().expect("run setpriv"));
    let mut with = args.to_vec();
    with.push("--peek");
    let peeked = parse(&as_nobody(bin()).args(&with).output().expect("run setpriv"));
    // The host's totals move with the other tests' sockets; the matched ones not.
    assert_eq!(peeked["totals"]["matched"], plain["totals"]["matched"]);
    for g in peeked["groups"].as_array().unwrap() {
        assert_eq!(g["unread"], json!([]), "nothing peeked: {g}");
    }
    assert_eq!(counted(&peeked), counted(&plain));
    // Only the --peek warnings are about this test's own sockets (the --remote
    // filter): the host-wide ones (unattributed sockets of other processes) come
    // and go with other workloads between the two runs.
    let peek_warnings = |d: &Value| -> Vec<String> {
        warnings(d)
            .into_iter()
            .filter(|w| w.starts_with("--peek"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(peek_warnings(&plain), Vec::<String>::new());
    let added = peek_warnings(&peeked);
    assert_eq!(added.len(), 1, "one warning more: {added:?}");
    let w = &added[0];
    assert!(
        w.starts_with("--peek: 12 sockets with unread bytes not peeked"),
        "9 bodies and 3 whole responses: {w}"
    );
    assert!(w.contains("run as root"), "{w}");
}

#[test]
fn a_binary_with_file_capabilities_refuses_peek_for_other_users() {
    assert_root(ROOT);
    require("setcap");
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("sockleak");
    std::fs::copy(bin(), &copy).unwrap();
    let set = Command::new("setcap")
        .args(["cap_sys_ptrace,cap_dac_read_search+ep", path_str(&copy)])
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    let o = as_nobody(path_str(&copy))
        .args(["--peek"])
        .output()
        .expect("run setpriv");
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--peek is refused") && err.contains("file capabilities"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // Without --peek the same binary still works.
    assert_eq!(
        as_nobody(path_str(&copy))
            .args(["--json"])
            .output()
            .expect("run setpriv")
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn peek_needs_live_sockets_and_its_own_flag() {
    let root = fixture("proc-basic");
    let o = run(&["--peek", "--proc-root", path_str(&root)]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--proc-root"));
    let o = run(&["--peek-bytes", "10"]);
    assert_eq!(o.status.code(), Some(3), "--peek-bytes without --peek");
    let o = run(&["--peek", "--peek-bytes", "513"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 to 512"));
}

#[test]
fn watch_samples_carry_the_summary() {
    assert_root(ROOT);
    let (server, client, _raw, peer) = leaking_clients();
    let out = run(&[
        "--watch", "0.2", "--count", "2", "--json", "--peek", "--remote", &peer,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let head = server.ready["body_head"].as_str().unwrap();
    for l in &lines {
        let g = one_group(l, |g| g["pid"] == client.pid());
        assert_eq!(
            g["unread"],
            json!([{"class": "html", "summary": prefix48(head), "count": 9}])
        );
    }
}

/// `serve` on 127.0.0.1:0 with `args`; one scrape of /metrics; the exposition.
fn scrape(args: &[&str]) -> String {
    let (code, body) = Server::start(args).get("/metrics");
    assert_eq!(code, 200, "{body}");
    body
}

#[test]
fn serve_peeks_only_when_told_and_exports_classes_only() {
    assert_root(ROOT);
    let (server, _client, _raw, peer) = leaking_clients();
    let plain = scrape(&["--remote", &peer]);
    assert!(!plain.contains("sockleak_unread_sockets"), "{plain}");
    let peeked = scrape(&["--peek", "--remote", &peer]);
    promtool_check(peeked.as_bytes());
    assert!(
        peeked.contains("sockleak_unread_sockets{class=\"html\"} 9\n")
            && peeked.contains("sockleak_unread_sockets{class=\"http-head\"} 3\n"),
        "{peeked}"
    );
    let head = server.ready["body_head"].as_str().unwrap();
    assert!(!peeked.contains(&head[..20]), "no summary in the metrics");
}

/// A kernel without pidfd_getfd (or a seccomp filter), and a refused ptrace
/// access check, made real with a seccomp filter failing pidfd_getfd with ENOSYS
/// or EPERM (tests/support/deny_pidfd_getfd.c): one warning each, saying why and
/// how to get it; the counts as without --peek.
#[test]
fn without_pidfd_getfd_or_ptrace_access_one_warning_says_why() {
    assert_root(ROOT);
    require("cc");
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("deny_pidfd_getfd");
    let built = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&wrapper)
        .arg(repo().join("tests/support/deny_pidfd_getfd.c"))
        .output()
        .expect("run cc");
    assert!(built.status.success(), "{built:?}");
    let (_server, _client, _raw, peer) = leaking_clients();
    let plain = json(&["--remote", &peer]);
    for (errno, says) in [
        (
            "ENOSYS",
            "pidfd_open or pidfd_getfd is not available (ENOSYS): the kernel is older than Linux 5.6, or a seccomp filter forbids them",
        ),
        // Root has CAP_SYS_PTRACE: the advice says who refused instead.
        (
            "EPERM",
            "the kernel refused to duplicate their fds although sockleak has CAP_SYS_PTRACE: a security module (AppArmor, SELinux, Yama ptrace_scope 3) or a seccomp filter forbids pidfd_getfd here",
        ),
    ] {
        let o = Command::new(&wrapper)
            .args([errno, bin(), "--json", "--peek", "--remote", &peer])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(counted(&doc), counted(&plain), "{errno}");
        let peek: Vec<&str> = warnings(&doc)
            .into_iter()
            .filter(|w| w.starts_with("--peek"))
            .collect();
        assert_eq!(peek.len(), 1, "{errno}: {peek:?}");
        assert!(
            peek[0].contains("12 sockets with unread bytes of pid"),
            "{}",
            peek[0]
        );
        assert!(peek[0].contains(says), "{errno}: {}", peek[0]);
    }
}

/// A server on a private loopback address that sends `payload` and then its FIN
/// on each of `count` connections from a client that never reads: the client's
/// sockets sit in CLOSE_WAIT with `payload` unread. Returns (server, client, peer).
fn unread_in_close_wait(payload: &[u8], count: u32) -> (Peer, Peer, String) {
    let host = private_loopback();
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let mut server = Peer::spawn(&["listen", &host, "--mode", "fin", "--payload", &hex]);
    let port = server.port().to_string();
    let n = count.to_string();
    let client = Peer::spawn(&["connect", &host, &port, "--count", &n]);
    server.wait_done(u64::from(count));
    let peer = format!("{host}:{port}");
    // Recv-Q counts the FIN too.
    let full = format!("CLOSE-WAIT {}", payload.len() + 1);
    wait_until(10, "the payload queued", || {
        recv_queues(&peer)
            .iter()
            .filter(|(_, s)| *s == full)
            .count()
            == count as usize
    });
    (server, client, peer)
}

/// A peer's `\r\n` (left after a body, before the next response) crashed every
/// `--peek` mode (exit 101): the RESP branch sliced the empty first line.
#[test]
fn a_queue_starting_with_crlf_is_classified_not_a_crash() {
    assert_root(ROOT);
    let (_server, client, peer) = unread_in_close_wait(b"\r\nHTTP/1.1 200 OK\r\n\r\n", 3);
    let out = run(&["--peek", "--remote", &peer]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().any(|l| l == "  unread: 3× text \"21 bytes\""),
        "{table}"
    );
    let o = run(&["--json", "--peek", "--remote", &peer]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = one_group(&doc, |g| g["pid"] == client.pid());
    assert_eq!(g["states"], json!({"close_wait": 3}));
    assert_eq!(
        g["unread"],
        json!([{"class": "text", "summary": "21 bytes", "count": 3}])
    );
    // Every mode that peeks: a watch sample, a check, a scrape.
    for args in [
        &["--watch", "0.2", "--count", "1", "--json"][..],
        &["--threshold", "100"][..],
    ] {
        let o = run(&[args, &["--peek", "--remote", &peer]].concat());
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let metrics = scrape(&["--peek", "--remote", &peer]);
    assert!(
        metrics.contains("sockleak_unread_sockets{class=\"text\"} 3\n"),
        "{metrics}"
    );
}

/// Header values and form fields in an unread text body (a client that read a
/// head, then hostile bytes) reach no output: only their names.
#[test]
fn a_text_body_shows_header_names_and_form_keys_never_values() {
    assert_root(ROOT);
    let body =
        b"Authorization: Bearer SECRET.tok\r\nX-Api-Key: SECRET\r\n\r\npassword=SECRET&user=SECRET";
    let (_server, client, peer) = unread_in_close_wait(body, 2);
    let doc = json(&["--peek", "--peek-bytes", "512", "--remote", &peer]);
    let g = one_group(&doc, |g| g["pid"] == client.pid());
    assert_eq!(
        g["unread"],
        json!([{
            "class": "text",
            "summary": "Authorization: …\\r\\nX-Api-Key: …\\r\\n\\r\\npassword=…&user=…",
            "count": 2
        }])
    );
    assert!(!doc.to_string().contains("SECRET"), "{doc:#}");
    let out = run(&["--peek", "--remote", &peer]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(!table.contains("SECRET"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("  unread: 2× text \"Authorization: …\\r\\nX-Api-Key: …")),
        "{table}"
    );
}

/// `tests/support/peek_race.py` in `mode`, killed when dropped (it may sit in a
/// FIFO open, where closing its stdin does not reach it).
struct Race {
    peer: Peer,
    host: String,
    dir: tempfile::TempDir,
}

impl Race {
    fn spawn(mode: &str) -> Race {
        let dir = tempfile::tempdir().unwrap();
        for f in ["go", "done"] {
            let p = std::ffi::CString::new(path_str(&dir.path().join(f))).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o600) }, 0, "mkfifo");
        }
        let host = private_loopback();
        let (go, done) = (dir.path().join("go"), dir.path().join("done"));
        let peer = Peer::spawn_script(
            "peek_race.py",
            &[],
            &[mode, &host, path_str(&go), path_str(&done)],
        );
        Race { peer, host, dir }
    }

    fn pid(&self) -> u32 {
        self.peer.pid()
    }

    fn peer(&self) -> String {
        format!("{}:{}", self.host, self.peer.ready["port"])
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Drain and reset now (what the debugger does when it stops a peek).
    fn drain_and_reset(&self) {
        std::fs::write(self.file("go"), "go\n").unwrap();
        std::fs::read(self.file("done")).unwrap();
    }

    fn read(&mut self) -> Value {
        self.peer.say("read");
        self.peer.next_line()
    }
}

impl Drop for Race {
    fn drop(&mut self) {
        self.peer.kill();
    }
}

/// Run `sockleak --json --peek --remote <peer>` paused at its first peek
/// (tests/support/peek_pause.c, preloaded: the `recv(.., MSG_PEEK |
/// MSG_DONTWAIT)` that follows a FIONREAD saying data is queued, in whatever
/// process makes it): there the holder drains its queue and gets an RST, then
/// the peek goes on. Deterministic, where the real race needs microseconds of
/// luck. Returns the document and whether the pause happened (a peek was tried).
fn peek_paused(race: &Race) -> (Value, bool) {
    require("cc");
    let shim = race.file("peek_pause.so");
    let built = Command::new("cc")
        .args(["-O2", "-shared", "-fPIC", "-o", path_str(&shim)])
        .arg(repo().join("tests/support/peek_pause.c"))
        .arg("-ldl")
        .output()
        .expect("run cc");
    assert!(built.status.success(), "{built:?}");
    let fired = race.file("fired");
    let o = Command::new(bin())
        .args(["--json", "--peek", "--remote", &race.peer()])
        .env("LD_PRELOAD", &shim)
        .env("PEEK_PAUSE_GO", race.file("go"))
        .env("PEEK_PAUSE_DONE", race.file("done"))
        .env("PEEK_PAUSE_FIRED", &fired)
        .output()
        .expect("run sockleak");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    (doc, fired.exists())
}

/// An ESTABLISHED socket has received no FIN: when its holder drains it and an
/// RST arrives between sockleak's FIONREAD and its peek, the peek's recv would
/// find nothing to copy and take the pending ECONNRESET (`sock_error`), and
/// the holder would read EOF instead. Such sockets are not peeked, with a
/// warning; the holder reads its data, then ECONNRESET.
#[test]
fn an_established_socket_is_not_peeked_and_its_holder_keeps_its_error() {
    assert_root(ROOT);
    let mut race = Race::spawn("established");
    let (doc, fired) = peek_paused(&race);
    if !fired {
        race.drain_and_reset();
    }
    let read = race.read();
    let payload: String = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(read["drained"], payload.as_str());
    assert_eq!(
        read["then"], "ECONNRESET",
        "the holder must read its own error, not EOF (peek tried: {fired})"
    );
    assert!(!fired, "no peek of an ESTABLISHED socket");
    let g = one_group(&doc, |g| g["pid"] == race.pid());
    assert_eq!(g["states"], json!({"established": 1}));
    assert_eq!(g["unread"], json!([]));
    let w: Vec<&str> = warnings(&doc);
    let want = format!(
        "--peek: 1 socket with unread bytes of pid {} not peeked (their counts are exact): no FIN received on them yet (ESTABLISHED, FIN-WAIT)",
        race.pid()
    );
    assert!(w.iter().any(|x| x.starts_with(&want)), "{w:?}");
}

/// A CLOSE_WAIT socket has its peer's FIN (`SOCK_DONE`): the same race, drained
/// and reset while the peek is stopped, leaves the peek nothing to take (the
/// kernel returns 0 before it looks at the error), and the holder's error is
/// still there (SO_ERROR: EPIPE, an RST in CLOSE_WAIT).
#[test]
fn a_close_wait_socket_is_peeked_and_its_pending_error_survives_the_race() {
    assert_root(ROOT);
    let mut race = Race::spawn("close-wait");
    let (doc, fired) = peek_paused(&race);
    assert!(fired, "CLOSE_WAIT sockets are peeked");
    let g = one_group(&doc, |g| g["pid"] == race.pid());
    assert_eq!(g["states"], json!({"close_wait": 1}));
    assert_eq!(
        g["unread"],
        json!([]),
        "drained before the peek: nothing seen"
    );
    let read = race.read();
    assert_eq!(read["so_error"], "EPIPE", "{read}");
}
