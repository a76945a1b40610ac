//! Checks on a live loopback leak: exit codes and silence, Nagios output,
//! Prometheus exposition validated by promtool, atomic textfile writes.
use crate::common::*;

#[test]
fn threshold_is_silent_when_healthy_and_names_the_leaker_on_breach() {
    let (server, client) = leak("127.0.0.1", "fin", 0, 12, &["--name", "ck-leak"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "12 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 12);
    // The name, and this test's own client: another run of the same test on the
    // host has a ck-leak of its own.
    let pid = client.pid().to_string();
    let only = ["--process", "ck-leak", "--pid", &pid];

    // Healthy: nothing on stdout or stderr, exit 0 (cron sends no mail).
    let o = run(&[&only[..], &["--threshold", "13"]].concat());
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o), (String::new(), String::new()));
    let o = run(&[&only[..], &["--threshold", "75%", "--pool-size", "1024"]].concat());
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o), (String::new(), String::new()));

    // Breach: one line naming pid, process, endpoint, count, threshold; exit 1.
    let o = run(&[&only[..], &["--threshold", "75%", "--pool-size", "16"]].concat());
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let (out, _) = text(&o);
    assert_eq!(
        out,
        format!(
            "WARNING pid {} ck-leak outbound {remote}: 12 close_wait >= threshold 12\n",
            client.pid()
        )
    );

    // Critical: exit 2.
    let o = run(&[&only[..], &["--threshold", "5", "--critical", "10"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .0
            .starts_with(&format!("CRITICAL pid {}", client.pid()))
    );

    // Another metric, and --by: works with every key.
    let o = run(&[&only[..], &["--threshold", "1", "--metric", "established"]].concat());
    assert_eq!(o.status.code(), Some(0));
    let o = run(&[&only[..], &["--threshold", "12", "--by", "command"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o).0,
        "WARNING ck-leak: 12 close_wait >= threshold 12\n"
    );

    // JSON with a threshold: the document, and the exit code of the check.
    let o = run(&[&only[..], &["--threshold", "3", "--json"]].concat());
    assert_eq!(o.status.code(), Some(1));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["groups"][0]["states"]["close_wait"], 12);
}

#[test]
fn threshold_usage_errors_exit_3() {
    for (args, needle) in [
        (vec!["--threshold", "75%"], "needs --pool-size"),
        (vec!["--threshold", "120%", "--pool-size", "10"], "120%"),
        (
            vec!["--threshold", "10", "--critical", "5"],
            "below --threshold",
        ),
        (vec!["--threshold", "x"], "'x' is not a threshold"),
        (vec!["--pool-size", "0", "--threshold", "1"], "--pool-size"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert!(text(&o).1.contains(needle), "{args:?}: {}", text(&o).1);
    }
}

#[test]
fn nagios_plugin_output() {
    let (server, client) = leak("127.0.0.1", "fin", 0, 6, &["--name", "ck-nag"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "6 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 6);
    let pid = client.pid().to_string();
    let base = ["-o", "nagios", "--process", "ck-nag", "--pid", &pid];

    let o = run(&[&base[..], &["--threshold", "10", "--critical", "20"]].concat());
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o).0;
    assert!(
        out.starts_with("SOCKLEAK OK - worst group has 6 close_wait"),
        "{out}"
    );
    assert!(out.contains("| close_wait="), "{out}");
    assert!(out.contains("worst_group=6;10;20;0"), "{out}");
    assert_eq!(out.lines().count(), 1);

    let o = run(&[&base[..], &["--threshold", "5", "--critical", "20"]].concat());
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o).0;
    assert!(
        out.starts_with(&format!(
            "SOCKLEAK WARNING - 1 group over threshold; worst: pid {} ck-nag outbound {remote} has 6 close_wait",
            client.pid()
        )),
        "{out}"
    );

    let o = run(&[&base[..], &["--threshold", "2", "--critical", "6"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).0.starts_with("SOCKLEAK CRITICAL - "));

    // A failure is UNKNOWN, exit 3, in the plugin's own format.
    let o = run(&["-o", "nagios", "--proc-root", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o)
            .0
            .starts_with("SOCKLEAK UNKNOWN - --proc-root /nonexistent"),
        "{:?}",
        text(&o)
    );
}

/// `sockleak -o prometheus ARGS`, checked by promtool; returns the exposition.
fn prometheus(args: &[&str]) -> String {
    let o = run(&[&["-o", "prometheus"], args].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    promtool_check(&o.stdout);
    text(&o).0
}

#[test]
fn prometheus_exposition_is_valid_and_exact() {
    let (server, client) = leak("127.0.0.1", "fin", 7, 4, &["--name", "ck-prom"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "4 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 4);
    let out = prometheus(&["--process", "ck-prom", "--pool-size", "50"]);
    let labels = format!(
        "pid=\"{}\",process=\"ck-prom\",endpoint=\"{remote}\",direction=\"outbound\",netns=\"{}\",container=\"\"",
        client.pid(),
        host_netns()
    );
    assert!(
        out.contains(&format!(
            "sockleak_group_sockets{{{labels},state=\"close_wait\"}} 4\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("sockleak_group_recv_queue_bytes{{{labels}}} 32\n")),
        "{out}"
    );
    assert!(out.contains(&format!(
        "sockleak_group_oldest_close_wait_idle_seconds{{{labels}}} "
    )));
    // The group's own pool, beside its series (issue 12: one pool per group).
    assert!(
        out.contains(&format!("sockleak_pool_size{{{labels}}} 50\n")),
        "{out}"
    );
    for st in [
        "close_wait",
        "established",
        "listen",
        "time_wait",
        "syn_recv",
        "closing",
    ] {
        assert!(
            out.contains(&format!("sockleak_sockets{{state=\"{st}\"}} ")),
            "{st}"
        );
    }
    // A focused query (--process) reads only the matching fd tables: who holds
    // the other sockets is unknown, so no unattributed sample, only its help.
    assert!(out.contains("# HELP sockleak_unattributed_sockets "));
    assert!(
        !out.lines()
            .any(|l| l.starts_with("sockleak_unattributed_sockets ")),
        "{out}"
    );
    for m in [
        "sockleak_unowned_sockets ",
        "sockleak_collect_duration_seconds ",
        "sockleak_build_info{",
    ] {
        assert!(out.contains(m), "{m}");
        let name = m.trim_end_matches([' ', '{']);
        assert!(
            out.contains(&format!("# HELP {name} "))
                && out.contains(&format!("# TYPE {name} gauge")),
            "{name}"
        );
    }
}

#[test]
fn prometheus_series_are_bounded() {
    // 5 groups of one series each, at most 3 series: the 2 worst + "other" (3).
    let peers: Vec<_> = (0..5)
        .map(|_| leak("127.0.0.1", "hold", 0, 1, &["--name", "ck-many"]))
        .collect();
    // Only this test's clients (another run on the host has ck-many of its own).
    let pids: Vec<String> = peers.iter().map(|(_, c)| c.pid().to_string()).collect();
    let pids = pids.join(",");
    let out = prometheus(&["--process", "ck-many", "--pid", &pids, "--max-series", "3"]);
    let series: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("sockleak_group_sockets{"))
        .collect();
    assert_eq!(series.len(), 3, "{series:?}");
    assert!(
        series[2].contains("process=\"other\"") && series[2].ends_with(" 3"),
        "{series:?}"
    );
    let o = run(&[
        "-o",
        "prometheus",
        "--process",
        "ck-many",
        "--pid",
        &pids,
        "--max-series",
        "5",
    ]);
    let out = text(&o).0;
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("sockleak_group_sockets{"))
            .count(),
        5
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("sockleak_group_sockets{pid=\"\",process=\"other\"")),
        "all fit: no other"
    );
    drop(peers);
}

#[test]
fn textfile_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sockleak.prom");
    let p = path.to_str().unwrap().to_string();
    std::fs::write(&path, "# previous\n").unwrap();

    // A reader that checks every version it sees is whole (ends with build_info).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = std::fs::read_to_string(&path).expect("the file always exists");
                assert!(
                    t == "# previous\n"
                        || t.trim_end()
                            .lines()
                            .last()
                            .unwrap()
                            .starts_with("sockleak_build_info"),
                    "partial file seen: {t:?}"
                );
                seen += 1;
            }
            seen
        })
    };
    for _ in 0..20 {
        let o = run(&["-o", "prometheus", "--output-file", &p]);
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(o.stdout.is_empty());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left behind: {names:?}");

    // A failed write (directory gone) leaves nothing half-written and says why.
    let o = run(&[
        "-o",
        "prometheus",
        "--output-file",
        &format!("{}/missing/x.prom", dir.path().display()),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).1.contains("missing/x.prom"));
    // A failed write over an existing file keeps the old content.
    let ro = tempfile::tempdir().unwrap();
    let target = ro.path().join("keep.prom");
    std::fs::write(&target, "old\n").unwrap();
    std::fs::set_permissions(ro.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = as_nobody(bin())
        .args(["-o", "prometheus", "--output-file", path_str(&target)])
        .output()
        .expect("run setpriv");
    std::fs::set_permissions(ro.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n");
}

#[test]
fn checks_follow_by_and_metric_and_nagios_reports_usage_errors_as_unknown() {
    let (server, client) = leak("127.0.0.1", "fin", 0, 4, &["--name", "ck-by"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "4 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 4);
    // Grouped by name, another run's ck-by would add to this one's count.
    let pid = client.pid().to_string();
    let only = ["--process", "ck-by", "--pid", &pid];

    // --by command: one group for the process name, no pid.
    let o = run(&[&only[..], &["--by", "command", "--threshold", "4"]].concat());
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(text(&o).0, "WARNING ck-by: 4 close_wait >= threshold 4\n");

    // --metric: the same sockets are healthy when ESTABLISHED is checked.
    let o = run(&[&only[..], &["--metric", "established", "--threshold", "1"]].concat());
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(text(&o), (String::new(), String::new()));

    // Keys that are not the process or endpoint still name the group: the host's
    // own namespace with --by netns, the state with --by state.
    let o = run(&[&only[..], &["--by", "netns", "--threshold", "4"]].concat());
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(
        text(&o).0,
        format!(
            "WARNING netns {}: 4 close_wait >= threshold 4\n",
            host_netns()
        )
    );
    let o = run(&[&only[..], &["--by", "command,state", "--threshold", "4"]].concat());
    assert_eq!(
        text(&o).0,
        "WARNING ck-by state close_wait: 4 close_wait >= threshold 4\n"
    );

    // In plugin mode a usage error is still a plugin line: UNKNOWN, exit 3, also
    // for values the argument parser itself rejects.
    for (args, needle) in [
        (vec!["--threshold", "50%"], "--pool-size"),
        (vec!["--threshold", "10", "--critical", "5"], "--critical"),
        (vec!["--threshold", "abc"], "'abc' is not a threshold"),
        (vec!["--threshold", "150%"], "'150%'"),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ] {
        let o = run(&[&["-o", "nagios"][..], &args[..]].concat());
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        let (out, _) = text(&o);
        assert!(out.starts_with("SOCKLEAK UNKNOWN - "), "{args:?}: {out}");
        assert!(out.contains(needle), "{args:?}: {out}");
        assert_eq!(out.lines().count(), 1);
    }
}

#[test]
fn a_pipe_in_a_process_name_cannot_forge_nagios_perfdata() {
    let name = "x|fake=99;1;1";
    let (server, client) = leak("127.0.0.1", "fin", 0, 2, &["--name", name]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "2 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 2);
    let pid = client.pid().to_string();
    let o = run(&[
        "-o",
        "nagios",
        "--process",
        name,
        "--pid",
        &pid,
        "--threshold",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (out, _) = text(&o);
    assert_eq!(
        out.matches('|').count(),
        1,
        "only the perfdata separator: {out}"
    );
    assert!(
        out.contains(&format!("pid {} x¦fake=99;1;1 outbound", client.pid())),
        "{out}"
    );
    let perf = out.split_once(" | ").unwrap().1;
    assert!(perf.starts_with("close_wait="), "{perf}");
    assert!(!perf.contains("fake"), "{perf}");
}

/// The perfdata of `-o nagios` as (label, value) pairs.
fn perfdata(args: &[&str]) -> Vec<(String, String)> {
    let o = run(&[&["-o", "nagios", "--threshold", "100"][..], args].concat());
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let out = text(&o).0;
    let perf = out
        .trim_end()
        .split_once(" | ")
        .expect("perfdata")
        .1
        .to_string();
    perf.split(' ')
        .map(|p| {
            let (label, rest) = p.split_once('=').unwrap_or_else(|| panic!("{p} in {out}"));
            let value = rest.split(';').next().unwrap();
            (label.to_string(), value.to_string())
        })
        .collect()
}

/// Each perfdata label once (`--metric established` printed `established`
/// twice), and the host counts of the protocol checked: under `--proto unix` the
/// unix table's, not TCP's. A fixture tree: exact, whatever else runs.
#[test]
fn nagios_perfdata_labels_are_unique_and_follow_the_protocol() {
    let root = fixture("proc-basic");
    let at = ["--proc-root", path_str(&root)];
    let doc = json(&[&at[..], &["--proto", "all"]].concat());
    let (tcp, unix) = (&doc["totals"], &doc["totals"]["unix"]);
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    let unix_connected = n(&unix["stream"]["connected"]) + n(&unix["seqpacket"]["connected"]);
    // The fixture's two tables differ, or the test would prove nothing.
    assert_ne!(n(&unix["sockets"]), n(&tcp["sockets"]));
    assert_ne!(unix_connected, n(&tcp["states"]["established"]));
    for metric in ["established", "close_wait", "listen"] {
        for proto in ["tcp", "unix", "all"] {
            let perf = perfdata(&[&at[..], &["--metric", metric, "--proto", proto]].concat());
            let mut labels: Vec<&String> = perf.iter().map(|(l, _)| l).collect();
            labels.sort();
            let before = labels.len();
            labels.dedup();
            assert_eq!(labels.len(), before, "{metric} {proto}: {perf:?}");
            let get = |l: &str| {
                perf.iter()
                    .find(|(x, _)| x == l)
                    .map(|(_, v)| v.parse::<u64>().unwrap())
            };
            let seen = (get("total"), get("established"));
            if proto == "unix" {
                assert_eq!(seen, (Some(n(&unix["sockets"])), Some(unix_connected)));
                assert_eq!(get("unattributed"), Some(n(&unix["unattributed"])));
            } else {
                let est = n(&tcp["states"]["established"]);
                assert_eq!(
                    seen,
                    (Some(n(&tcp["sockets"])), Some(est)),
                    "{metric} {proto}"
                );
            }
            let unix_total = (proto == "all").then(|| n(&unix["sockets"]));
            assert_eq!(get("unix_total"), unix_total, "{metric} {proto}: {perf:?}");
            assert_eq!(
                get(&format!("unix_{metric}")).is_some(),
                proto == "all",
                "{metric} {proto}: {perf:?}"
            );
        }
    }
}
