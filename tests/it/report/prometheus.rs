//! Exposition edge cases beyond `report::check`: label escaping of a hostile process
//! name on a live leak (checked by `promtool check metrics`), the `process="other"`
//! sum under `--max-series`, and an `--output-file` write that fails half-way
//! (file size limit) leaving the previous file and no temporary file.
use crate::common::*;

use std::process::Command;

fn prom(args: &[&str]) -> String {
    let mut all = vec!["-o", "prometheus"];
    all.extend_from_slice(args);
    let o = run(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Lines of `metric` whose labels start with `prefix` and that end with `tail`.
fn count_lines(text: &str, metric: &str, prefix: &str, tail: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{{prefix}")) && l.ends_with(tail))
        .count()
}

#[test]
fn hostile_process_name_is_escaped_and_promtool_accepts_it() {
    // A quote and a backslash in the process name (comm) exercise label escaping.
    let name = "pr\"om\\leak";
    let (server, client) = leak("127.0.0.1", "fin", 100, 3, &["--name", name]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });
    let text = prom(&["--process", name]);
    promtool_check(text.as_bytes());
    // The label value is the name as the table shows it (`pr"om\\leak`: its
    // backslash escaped, so that no name reads as another's escape), then
    // escaped by the exposition format.
    let prefix = format!(
        "pid=\"{}\",process=\"pr\\\"om\\\\\\\\leak\",endpoint=\"{remote}\",direction=\"outbound\",",
        client.pid()
    );
    assert_eq!(
        count_lines(
            &text,
            "sockleak_group_sockets",
            &prefix,
            "state=\"close_wait\"} 3"
        ),
        1,
        "{text}"
    );
    assert_eq!(
        count_lines(&text, "sockleak_group_recv_queue_bytes", &prefix, "} 303"),
        1,
        "100 unread bytes plus the FIN, per socket: {text}"
    );
}

#[test]
fn max_series_keeps_the_worst_and_sums_the_rest_into_other() {
    let (s1, c1) = leak("127.0.0.1", "fin", 0, 3, &["--name", "prom-big"]);
    let (s2, c2) = leak("127.0.0.1", "fin", 0, 2, &["--name", "prom-small"]);
    let (s3, c3) = leak("127.0.0.1", "fin", 0, 1, &["--name", "prom-tiny"]);
    for (s, n) in [(&s1, 3), (&s2, 2), (&s3, 1)] {
        let r = format!("127.0.0.1:{}", s.port());
        wait_until(5, "CLOSE-WAIT in ss", || ss_count("CLOSE-WAIT", &r) == n);
    }
    // The names, and this test's own clients: another run of the same test on
    // the host has processes of these names too.
    let pids = format!("{},{},{}", c1.pid(), c2.pid(), c3.pid());
    let filt = [
        "--pid",
        &pids,
        "--process",
        "prom-big",
        "--process",
        "prom-small",
        "--process",
        "prom-tiny",
        "--state",
        "close-wait",
    ];
    let series = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("sockleak_group_sockets{"))
            .map(str::to_string)
            .collect()
    };
    let all = prom(&filt);
    assert_eq!(series(&all).len(), 3, "{all}");

    let mut args = filt.to_vec();
    args.extend(["--max-series", "2"]);
    let text = prom(&args);
    promtool_check(text.as_bytes());
    let s = series(&text);
    assert_eq!(s.len(), 2, "--max-series 2 means at most 2 series: {text}");
    assert!(
        s.iter()
            .any(|l| l.contains("process=\"prom-big\"") && l.ends_with(" 3")),
        "the worst group keeps its labels: {text}"
    );
    assert!(
        s.iter()
            .any(|l| l.contains("process=\"other\"") && l.ends_with("state=\"close_wait\"} 3")),
        "2 + 1 summed into other: {text}"
    );
}

#[test]
fn a_write_failing_half_way_keeps_the_old_textfile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sockleak.prom");
    let p = path_str(&path).to_string();
    std::fs::write(&path, "old contents\n").unwrap();
    // File size limit 0: the temporary file is created, then the write fails (EFBIG;
    // SIGXFSZ ignored so the error reaches sockleak instead of killing it).
    let o = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 0; exec \"$0\" -o prometheus --output-file \"$1\"",
            bin(),
            &p,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("--output-file"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old contents\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("sockleak.prom")],
        "no temporary file left"
    );
}

#[test]
fn groups_beyond_the_labels_merge_into_one_series_each() {
    // `--by command,state`: two groups (close_wait, established) of one program whose
    // label sets are the same (state is no label of the per-group byte and age
    // series). Prometheus drops repeated samples, so they are written once, summed.
    let name = "prom-merge";
    let (fin, c1) = leak("127.0.0.1", "fin", 50, 3, &["--name", name]);
    let (hold, c2) = leak("127.0.0.1", "hold", 0, 2, &["--name", name]);
    let fin_remote = format!("127.0.0.1:{}", fin.port());
    let hold_remote = format!("127.0.0.1:{}", hold.port());
    wait_until(5, "3 CLOSE-WAIT and 2 ESTAB", || {
        ss_count("CLOSE-WAIT", &fin_remote) == 3 && ss_count("ESTAB", &hold_remote) == 2
    });
    // By pid too: grouped by name, another run's prom-merge would add to the sums.
    let pids = format!("{},{}", c1.pid(), c2.pid());
    let text = prom(&["--process", name, "--pid", &pids, "--by", "command,state"]);
    promtool_check(text.as_bytes());
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let series = line.rsplit_once(' ').unwrap().0;
        assert!(seen.insert(series), "repeated series {series}:\n{text}");
    }
    let prefix = format!("pid=\"\",process=\"{name}\",endpoint=\"*\",direction=\"\",");
    assert_eq!(
        count_lines(
            &text,
            "sockleak_group_sockets",
            &prefix,
            "state=\"close_wait\"} 3"
        ) + count_lines(
            &text,
            "sockleak_group_sockets",
            &prefix,
            "state=\"established\"} 2"
        ),
        2,
        "{text}"
    );
    assert_eq!(
        count_lines(&text, "sockleak_group_recv_queue_bytes", &prefix, "} 153"),
        1,
        "3 x (50 unread bytes + the FIN), once: {text}"
    );
}
