//! `sockleak plot` of a record written here: `--pool-size ENDPOINT=N` draws each
//! matching group against its own pool, a bare N one shared pool with its warn
//! level at the whole count `--watch` warns at (75% of 10 is 8, not 7.5).
use crate::common::*;

fn record(dir: &std::path::Path) -> std::path::PathBuf {
    let group = |pid: u32, remote: &str, n: u32| {
        format!(
            "{{\"pid\":{pid},\"process\":\"app\",\"direction\":\"outbound\",\"remote\":\"{remote}\",\"attribution\":\"process\",\"proto\":\"tcp\",\"states\":{{\"close_wait\":{n}}}}}"
        )
    };
    let mut text = String::new();
    for (i, n) in [2u32, 5, 9].into_iter().enumerate() {
        text += &format!(
            "{{\"version\":1,\"sample\":{},\"time\":\"2026-01-01T00:00:0{}Z\",\"groups\":[{},{}]}}\n",
            i + 1,
            2 * i,
            group(7, "10.0.0.5:5432", n),
            group(8, "10.0.0.9:6379", 1)
        );
    }
    let path = dir.join("r.ndjson");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn pool_size_by_endpoint_draws_each_group_against_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let rec = record(dir.path());
    let svg = dir.path().join("p.svg");
    let text = plot_svg(&rec, &svg, &["--pool-size", "10.0.0.5:5432=10"]);
    assert!(
        text.contains("pool 10: 7 app -&gt; 10.0.0.5:5432"),
        "the matching group's own pool line: {}",
        text.lines()
            .filter(|l| l.contains("<text"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!text.contains("6379 pool") && !text.contains("pool 10: 8 app"));
    // A bare N: one shared pool, its warn line at the whole count.
    let text = plot_svg(&rec, &svg, &["--pool-size", "10"]);
    assert!(text.contains("pool size 10"), "{text}");
    assert!(text.contains("warn 75% (8)"), "{text}");
    // The same endpoint twice is refused, as for --watch.
    let o = run(&[
        "plot",
        path_str(&rec),
        "-o",
        path_str(&svg),
        "--pool-size",
        ":5432=3",
        "--pool-size",
        ":5432=4",
    ]);
    assert_eq!(o.status.code(), Some(3));
}
