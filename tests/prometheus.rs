//! `-o prometheus` on a live leak, checked by `promtool check metrics`; the
//! `--max-series` bound; atomic `--output-file`; the shipped alert rules under
//! `promtool check rules` and `promtool test rules`.
mod common;
use common::*;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Run `promtool check metrics` on `text`; panics with its complaints.
pub fn promtool_check_metrics(text: &str) {
    require("promtool");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics failed:\n{}{}\n--- input ---\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn prom(args: &[&str]) -> String {
    let mut all = vec!["-o", "prometheus"];
    all.extend_from_slice(args);
    let o = run(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn exposition_passes_promtool_and_shows_the_leak() {
    // A quote and a backslash in the process name exercise label escaping.
    let name = "pr\"om\\leak";
    let (server, client) = leak("127.0.0.1", "fin", 100, 3, &["--name", name]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });

    let text = prom(&["--process", name, "--pool-size", "10"]);
    promtool_check_metrics(&text);
    let pid = client.pid();
    let labels = format!(
        "pid=\"{pid}\",process=\"pr\\\"om\\\\leak\",endpoint=\"{remote}\",direction=\"outbound\""
    );
    assert!(
        text.contains(&format!(
            "sockleak_group_sockets{{{labels},state=\"close_wait\"}} 3\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "sockleak_group_recv_queue_bytes{{{labels}}} 303\n"
        )),
        "{text}"
    );
    // Every state, zeros included, and every documented metric with HELP and TYPE.
    for st in [
        "established",
        "syn_sent",
        "syn_recv",
        "fin_wait1",
        "fin_wait2",
        "time_wait",
        "close",
        "close_wait",
        "last_ack",
        "listen",
        "closing",
    ] {
        assert!(
            text.contains(&format!("sockleak_sockets{{state=\"{st}\"}} ")),
            "{st}"
        );
    }
    for m in [
        "sockleak_sockets",
        "sockleak_group_sockets",
        "sockleak_group_recv_queue_bytes",
        "sockleak_group_oldest_close_wait_idle_seconds",
        "sockleak_unattributed_sockets",
        "sockleak_unowned_sockets",
        "sockleak_collect_duration_seconds",
        "sockleak_build_info",
        "sockleak_pool_size",
    ] {
        assert!(text.contains(&format!("# HELP {m} ")), "{m}");
        assert!(text.contains(&format!("# TYPE {m} gauge\n")), "{m}");
    }
    assert!(text.contains("sockleak_pool_size 10\n"));
    assert!(text.contains(&format!(
        "sockleak_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn max_series_sums_the_rest_into_other() {
    let (s1, _c1) = leak("127.0.0.1", "fin", 0, 3, &["--name", "prom-big"]);
    let (s2, _c2) = leak("127.0.0.1", "fin", 0, 2, &["--name", "prom-small"]);
    let (s3, _c3) = leak("127.0.0.1", "fin", 0, 1, &["--name", "prom-tiny"]);
    for (s, n) in [(&s1, 3), (&s2, 2), (&s3, 1)] {
        let r = format!("127.0.0.1:{}", s.port());
        wait_until(5, "CLOSE-WAIT in ss", || ss_count("CLOSE-WAIT", &r) == n);
    }
    let filt = [
        "--process",
        "prom-big",
        "--process",
        "prom-small",
        "--process",
        "prom-tiny",
        "--state",
        "close-wait",
    ];
    let mut args = filt.to_vec();
    args.extend(["--max-series", "1"]);
    let text = prom(&args);
    promtool_check_metrics(&text);
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sockleak_group_sockets{"))
        .collect();
    assert_eq!(series.len(), 2, "{text}");
    assert!(
        series[0].contains("process=\"prom-big\"") && series[0].ends_with(" 3"),
        "{text}"
    );
    assert_eq!(
        series[1],
        "sockleak_group_sockets{pid=\"\",process=\"other\",endpoint=\"\",direction=\"\",state=\"close_wait\"} 3"
    );
    let all = prom(&filt);
    assert_eq!(
        all.lines()
            .filter(|l| l.starts_with("sockleak_group_sockets{"))
            .count(),
        3
    );
}

#[test]
fn output_file_is_atomic_and_a_failed_write_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sockleak.prom");
    let p = path_str(&path).to_string();
    prom(&["--output-file", &p]);
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.ends_with("1\n") && first.contains("sockleak_build_info"));

    // A reader polling the file while it is rewritten never sees a partial file.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = std::fs::read_to_string(&path).expect("the file always exists");
                assert!(
                    t.starts_with("# HELP sockleak_sockets "),
                    "partial file: {t:?}"
                );
                assert!(t.contains("\nsockleak_build_info{"), "partial file: {t:?}");
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..15 {
        prom(&["--output-file", &p]);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().expect("reader saw only whole files") > 0);

    // A write that fails (file size limit 0: EFBIG) leaves the old file as it was.
    std::fs::write(&path, "old contents\n").unwrap();
    let o = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 0; exec \"$0\" -o prometheus --output-file \"$1\"",
            bin(),
            &p,
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("--output-file"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old contents\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("sockleak.prom")],
        "no temp file left"
    );
}

#[test]
fn shipped_rules_pass_promtool_and_fire_in_its_unit_tests() {
    require("promtool");
    let dir = repo().join("contrib/prometheus");
    for args in [
        vec!["check", "rules", "sockleak.rules.yml"],
        vec!["test", "rules", "sockleak.rules.test.yml"],
    ] {
        let o = Command::new("promtool")
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
