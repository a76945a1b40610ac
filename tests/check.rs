//! `--threshold` / `--critical` checks and `-o nagios`, on a live loopback leak:
//! exit codes, silence when healthy, and the lines naming the leaking pid.
mod common;
use common::*;

fn out(args: &[&str]) -> (i32, String, String) {
    let o = run(args);
    (
        o.status.code().expect("exited normally"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A client named `name` holding 3 CLOSE_WAIT sockets to a loopback server.
fn three_close_wait(name: &str) -> (Peer, Peer, String) {
    let (server, client) = leak("127.0.0.1", "fin", 10, 3, &["--name", name]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "3 CLOSE-WAIT in ss", || {
        ss_count("CLOSE-WAIT", &remote) == 3
    });
    (server, client, remote)
}

#[test]
fn healthy_check_is_silent_and_breach_names_the_pid() {
    let (_s, client, remote) = three_close_wait("chk-leak");
    let pid = client.pid().to_string();

    // Below the threshold: nothing on stdout or stderr, exit 0 (cron sends no mail).
    for args in [
        vec!["--process", "chk-leak", "--threshold", "4"],
        vec![
            "--process",
            "chk-leak",
            "--threshold",
            "75%",
            "--pool-size",
            "1024",
        ],
        vec!["--threshold", "75%", "--pool-size", "1024", "--pid", &pid],
    ] {
        let (code, o, e) = out(&args);
        assert_eq!((code, o.as_str(), e.as_str()), (0, "", ""), "{args:?}");
    }

    // At the threshold: one line naming pid, process, endpoint, count, threshold.
    let (code, o, _) = out(&["--process", "chk-leak", "--threshold", "3"]);
    assert_eq!(code, 1, "{o}");
    assert_eq!(
        o,
        format!(
            "sockleak: WARNING pid={pid} process=chk-leak endpoint={remote} close_wait=3 threshold=3\n"
        )
    );
    // 75% of a pool of 4 is 3.
    let (code, o, _) = out(&[
        "--process",
        "chk-leak",
        "--threshold",
        "75%",
        "--pool-size",
        "4",
    ]);
    assert_eq!(code, 1, "{o}");
    assert!(o.contains(&format!("pid={pid} ")), "{o}");

    // Critical wins over warning.
    let (code, o, _) = out(&[
        "--process",
        "chk-leak",
        "--threshold",
        "2",
        "--critical",
        "3",
    ]);
    assert_eq!(code, 2, "{o}");
    assert!(
        o.starts_with("sockleak: CRITICAL ") && o.contains("critical=3"),
        "{o}"
    );
    let (code, _, _) = out(&[
        "--process",
        "chk-leak",
        "--threshold",
        "2",
        "--critical",
        "4",
    ]);
    assert_eq!(code, 1);

    // Works with --by and with --metric.
    let (code, o, _) = out(&[
        "--process",
        "chk-leak",
        "--by",
        "command",
        "--threshold",
        "3",
    ]);
    assert_eq!(code, 1);
    assert!(
        o.contains("process=chk-leak") && o.contains("close_wait=3"),
        "{o}"
    );
    let (code, o, e) = out(&[
        "--process",
        "chk-leak",
        "--metric",
        "established",
        "--threshold",
        "1",
    ]);
    assert_eq!((code, o.as_str(), e.as_str()), (0, "", ""));
}

#[test]
fn nagios_output_and_exit_codes() {
    let (_s, client, remote) = three_close_wait("chk-nagios");
    let pid = client.pid();
    let base = ["-o", "nagios", "--process", "chk-nagios"];
    let run_n = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        out(&a)
    };

    let (code, o, _) = run_n(&["--threshold", "5", "--critical", "10"]);
    assert_eq!(code, 0, "{o}");
    assert!(o.starts_with("SOCKLEAK OK - "), "{o}");
    assert!(o.contains("worst_group_close_wait=3;5;10;0;"), "{o}");
    assert_eq!(o.lines().count(), 1);

    let (code, o, _) = run_n(&["--threshold", "3", "--critical", "10", "--pool-size", "20"]);
    assert_eq!(code, 1, "{o}");
    assert!(
        o.starts_with(&format!(
            "SOCKLEAK WARNING - 1 group(s) over threshold: chk-nagios[{pid}] {remote} close_wait=3 | "
        )),
        "{o}"
    );
    assert!(o.contains(" worst_group_close_wait=3;3;10;0;20\n"), "{o}");

    let (code, o, _) = run_n(&["--threshold", "2", "--critical", "3"]);
    assert_eq!(code, 2, "{o}");
    assert!(o.starts_with("SOCKLEAK CRITICAL - "), "{o}");

    // Perfdata: label=value;warn;crit;min;max, every item.
    let perf = o.split_once(" | ").unwrap().1.trim_end();
    for item in perf.split(' ') {
        let (label, rest) = item.split_once('=').unwrap();
        assert!(!label.is_empty());
        let fields: Vec<&str> = rest.split(';').collect();
        assert_eq!(fields.len(), 5, "{item}");
        assert!(fields[0].parse::<u64>().is_ok(), "{item}");
    }

    // Errors are UNKNOWN, exit 3, on stdout.
    let (code, o, _) = out(&["-o", "nagios", "--proc-root", "/nonexistent/proc"]);
    assert_eq!(code, 3);
    assert!(
        o.starts_with("SOCKLEAK UNKNOWN - --proc-root /nonexistent/proc"),
        "{o}"
    );
    let (code, o, _) = out(&["-o", "nagios", "--threshold", "50%"]);
    assert_eq!(code, 3);
    assert!(
        o.starts_with("SOCKLEAK UNKNOWN - --threshold 50%") && o.contains("--pool-size"),
        "{o}"
    );
}

#[test]
fn bad_values_exit_3_naming_the_flag() {
    for (args, needle) in [
        (vec!["--threshold", "120%"], "--threshold"),
        (vec!["--threshold", "0"], "--threshold"),
        (vec!["--threshold", "75%"], "--pool-size"),
        (vec!["--pool-size", "0", "--threshold", "5"], "--pool-size"),
        (vec!["--threshold", "10", "--critical", "5"], "--critical"),
        (vec!["--critical", "abc"], "--critical"),
        (vec!["serve", "--listen", "nothost:99999"], "--listen"),
    ] {
        let (code, o, e) = out(&args);
        assert_eq!(code, 3, "{args:?}: {o}{e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(o.is_empty(), "{args:?}: {o}");
    }
}
