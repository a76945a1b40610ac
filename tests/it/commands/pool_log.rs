//! `sockleak pool-log` end to end: on logs a real Apache HttpClient 4.5 writes here
//! (a Java client that leaks its 403 responses against a loopback server, compiled
//! and run by the test), on the same kind of log committed as a fixture, and on
//! hand-made 4.3, 5.x and java.util.logging fixtures.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const JARS: [&str; 3] = [
    "/usr/share/java/httpclient.jar",
    "/usr/share/java/httpcore.jar",
    "/usr/share/java/commons-logging.jar",
];

fn fixture(name: &str) -> PathBuf {
    crate::common::repo()
        .join("tests/fixtures/pool-log")
        .join(name)
}

fn pool_log(args: &[&str]) -> Output {
    Command::new(crate::common::bin())
        .arg("pool-log")
        .args(args)
        .output()
        .expect("run sockleak")
}

fn json_of(path: &Path) -> (Value, i32) {
    let out = pool_log(&[path.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code().unwrap())
}

/// The oracle: lease ids the log leases and never releases, by plain text search.
fn unreleased_by_grep(log: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in log.lines() {
        let id = |m: &str| {
            line.split(m)
                .nth(1)
                .and_then(|r| r.split(']').next())
                .map(str::to_owned)
        };
        if let Some(id) = id("Connection leased: [id: ") {
            out.insert(id);
        } else if let Some(id) = id("Connection released: [id: ") {
            out.remove(&id);
        }
    }
    out
}

/// Compile and run tests/support/LeakyClient.java; its stderr is HttpClient's log.
fn run_java_client(mode: &str, max: u32) -> String {
    crate::common::require("javac");
    crate::common::require("java");
    for jar in JARS {
        assert!(
            Path::new(jar).exists(),
            "{jar} is required (apt-get install libhttpclient-java; .ci/run installs it)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let cp = JARS.join(":");
    let src = crate::common::repo().join("tests/support/LeakyClient.java");
    let st = Command::new("javac")
        .args(["-cp", &cp, "-d"])
        .arg(dir.path())
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "javac failed on {}", src.display());
    let out = Command::new("java")
        .args(["-cp", &format!("{cp}:{}", dir.path().display())])
        .args([
            "-Dorg.apache.commons.logging.Log=org.apache.commons.logging.impl.SimpleLog",
            "-Dorg.apache.commons.logging.simplelog.showdatetime=true",
            "-Dorg.apache.commons.logging.simplelog.log.org.apache.http=debug",
            "-Dorg.apache.commons.logging.simplelog.log.org.apache.http.wire=info",
            "LeakyClient",
            mode,
            &max.to_string(),
            "100",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "LeakyClient {mode} did not end as expected:\n{log}"
    );
    log
}

/// What the "done when" of the feature asks, on any HttpClient 4.5 log of the leak.
fn check_leak_report(log_path: &Path, log: &str, max: u64) {
    let (v, code) = json_of(log_path);
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["kind"], "sockleak-pool-log");
    assert_eq!(v["verdict"], "exhausted");
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["routes"].as_array().unwrap().len(), 1);
    let r = &v["routes"][0];
    assert!(
        r["route"]
            .as_str()
            .unwrap()
            .starts_with("{}->http://127.0.0.1:"),
        "{}",
        r["route"]
    );
    assert_eq!(r["max_per_route"], max);
    assert_eq!(r["max_total"], max * 2);
    assert_eq!(r["peak_allocated"], max);
    assert_eq!(r["verdict"], "exhausted");
    assert!(r["pool_timeouts"].as_u64().unwrap() >= 1);
    let ids: BTreeSet<String> = r["unreleased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        unreleased_by_grep(log),
        "unreleased ids against the log's own lines"
    );
    assert_eq!(ids.len() as u64, max);
    for u in r["unreleased"].as_array().unwrap() {
        assert_eq!(u["request"], "GET /forbidden");
        assert_eq!(u["status"], "403 Forbidden");
        assert!(u["age_secs"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        r["unreleased_summary"],
        serde_json::json!([{"request": "GET /forbidden", "status": "403 Forbidden", "count": max}])
    );
    assert_eq!(r["released_summary"][0]["request"], "GET /ok");
    assert_eq!(r["released_summary"][0]["status"], "200 OK");
    assert_eq!(r["leases"], r["releases"].as_u64().unwrap() + max);
    // The table says the same.
    let out = pool_log(&[log_path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2));
    assert!(text.contains("verdict: EXHAUSTED"), "{text}");
    assert!(
        text.contains(&format!(
            "{max} of {max} unreleased leases: GET /forbidden -> 403 Forbidden"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("released: {max} GET /ok -> 200 OK")),
        "{text}"
    );
}

#[test]
fn a_real_httpclient_45_leaking_its_403s_is_exhausted_and_named() {
    let log = run_java_client("leak", 6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, &log).unwrap();
    check_leak_report(&path, &log, 6);
}

#[test]
fn a_real_httpclient_45_that_releases_everything_is_healthy() {
    let log = run_java_client("healthy", 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, &log).unwrap();
    let (v, code) = json_of(&path);
    assert_eq!((code, v["verdict"].as_str()), (0, Some("healthy")), "{v:#}");
    assert_eq!(v["routes"][0]["unreleased"], serde_json::json!([]));
    assert_eq!(v["routes"][0]["leases"], v["routes"][0]["releases"]);
}

#[test]
fn committed_httpclient_45_fixture_without_java() {
    let path = fixture("httpclient45-leak-403.log");
    let log = std::fs::read_to_string(&path).unwrap();
    check_leak_report(&path, &log, 10);
    let (v, code) = json_of(&fixture("httpclient45-healthy.log"));
    assert_eq!((code, v["verdict"].as_str()), (0, Some("healthy")));
}

#[test]
fn httpclient_43_two_routes_two_threads_leak_on_one() {
    let (v, code) = json_of(&fixture("httpclient43-kept-alive-multiroute.log"));
    assert_eq!((code, v["verdict"].as_str()), (1, Some("leak")), "{v:#}");
    assert_eq!(v["lines"]["garbled"], 1);
    assert_eq!(v["lines"]["garbled_samples"][0]["line"], 39);
    let routes = v["routes"].as_array().unwrap();
    let billing = routes
        .iter()
        .find(|r| r["route"] == "{s}->https://billing.internal:443")
        .unwrap();
    let orders = routes
        .iter()
        .find(|r| r["route"] == "{}->http://orders.internal:8080")
        .unwrap();
    assert_eq!(orders["verdict"], "healthy");
    assert_eq!(orders["max_per_route"], 2);
    assert_eq!(billing["verdict"], "leak");
    assert_eq!(billing["max_per_route"], 5);
    let ids: Vec<&str> = billing["unreleased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["0", "2", "3"]);
    assert_eq!(
        billing["unreleased_summary"],
        serde_json::json!([{"request": "GET /invoices/{n}", "status": "404 Not Found", "count": 3}])
    );
    // One a minute; two more fill the limit of 5: two minutes.
    assert!((billing["leak_per_minute"].as_f64().unwrap() - 1.0).abs() < 0.01);
    assert!((billing["exhaustion_in_secs"].as_f64().unwrap() - 120.0).abs() < 1.0);
    assert_eq!(
        billing["unreleased"][0]["leased"]["time"],
        "2024-03-05 10:00:05.001"
    );
}

#[test]
fn httpclient_5_across_midnight() {
    let (v, code) = json_of(&fixture("httpclient5-midnight.log"));
    assert_eq!((code, v["verdict"].as_str()), (1, Some("leak")), "{v:#}");
    let r = &v["routes"][0];
    let ids: Vec<&str> = r["unreleased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ep-0000000002", "ep-0000000004", "ep-0000000006"]);
    assert_eq!(
        r["unreleased_summary"][0]["status"],
        "500 Internal Server Error"
    );
    assert_eq!(r["released_summary"][0]["request"], "POST /v1/items");
    // 23:59:30 to 00:01:30.050 is two minutes, not a day backwards.
    let age = r["unreleased"][0]["age_secs"].as_f64().unwrap();
    assert!((age - 120.049).abs() < 0.01, "{age}");
    assert!((v["clock"]["span_secs"].as_f64().unwrap() - 150.05).abs() < 0.01);
}

#[test]
fn java_util_logging_two_line_records_and_discards() {
    let (v, code) = json_of(&fixture("httpclient45-jul-discard.log"));
    assert_eq!((code, v["verdict"].as_str()), (0, Some("healthy")), "{v:#}");
    let r = &v["routes"][0];
    assert_eq!(
        (r["discards"].as_u64(), r["shutdowns"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["clock"]["first"], "2024-03-05 13:15:10.000");
}

#[test]
fn gzip_and_stdin_read_the_same_as_the_plain_file() {
    let path = fixture("httpclient43-kept-alive-multiroute.log");
    let plain = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("app.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap();
    let (mut a, _) = json_of(&path);
    let (mut b, _) = json_of(&gz);
    let mut child = Command::new(crate::common::bin())
        .args(["pool-log", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&plain).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut c: Value = serde_json::from_slice(&out.stdout).unwrap();
    for v in [&mut a, &mut b, &mut c] {
        v["inputs"] = Value::Null;
    }
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn unreadable_and_empty_inputs_exit_3_with_the_reason() {
    let out = pool_log(&["/nonexistent/app.log"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/app.log: cannot read it"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.log.gz");
    std::fs::write(&cut, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2]).unwrap();
    let out = pool_log(&[cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot decompress"));
    let empty = dir.path().join("app.log");
    std::fs::write(&empty, "INFO started\n\u{0}\u{1}garbage\n").unwrap();
    let out = pool_log(&[empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT ENOUGH DATA") && text.contains("enable DEBUG"),
        "{text}"
    );
}

#[test]
fn plot_draws_a_pool_log_document() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pool.json");
    let out = pool_log(&[
        fixture("httpclient43-kept-alive-multiroute.log")
            .to_str()
            .unwrap(),
        "--json",
    ]);
    std::fs::write(&json, &out.stdout).unwrap();
    let svg = dir.path().join("pool.svg");
    let out = Command::new(crate::common::bin())
        .args(["plot", json.to_str().unwrap(), "-o", svg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = std::fs::read_to_string(&svg).unwrap();
    for want in [
        "HttpClient connections per route",
        "billing.internal:443 leased",
        "orders.internal:8080 allocated",
        // Each route against its own limit (5 and 2).
        "pool 5: {s}-&gt;https://billing.internal:443 leased",
        "pool 2: {}-&gt;http://orders.internal:8080 leased",
        "the log",
    ] {
        assert!(s.contains(want), "{want} missing from the chart");
    }
    // Allocated is drawn wide and pale before (under) the leases: a leak (the
    // two equal) still shows both.
    let wide = s.find("stroke-width=\"7\"").expect("allocated drawn wide");
    let thin = s.find("stroke-width=\"2\"").expect("leased drawn thin");
    assert!(wide < thin, "allocated under leased");
    assert_eq!(
        s.matches("opacity=\"0.35\" stroke=").count(),
        4,
        "2 lines, 2 swatches"
    );
}
