//! README.md's examples are real output of this binary. Every ```` ```console ````
//! block of README.md follows a marker line
//!
//! ```text
//! <!-- example scene=leak columns=80 [age=330] [check=all] [last-sample] [status] -->
//! ```
//!
//! and starts with the command it shows (`$ sockleak ARGS`, or `$ sudo sockleak ARGS`).
//! The test builds the scene (tests/support/readme_scene.py) with real loopback
//! sockets held by child processes inside a fresh network and pid namespace, so
//! sockleak sees those and nothing else of the host, runs the command there with
//! `COLUMNS` set to `columns`, and checks the block against what it printed:
//!
//! - a table (the default, `check=header`): the header line (the first line that is
//!   not a `--- ` sample title) must name the same columns in the same order. Column
//!   padding is not compared: it follows the widest cell, and cells (ages, byte
//!   counts) move from one run to the next;
//! - `check=all`: every line must be equal (output with no clock in it: check lines,
//!   the Nagios line);
//! - `status`: the block ends in `$ echo $?` and the exit status, which must be equal.
//!
//! `last-sample`: a `--watch` block shows only its last sample (and stderr's alerts).
//!
//! `age=N`: the commands run once the scene's sockets have been idle N seconds (a
//! leak's ages, or a CLOSE_WAIT past `--leak-after`, 5 minutes by default). Capturing
//! waits for it. Checking a header waits only until the ages print as wide as N's
//! (`5m32s` and `1m01s` alike: 60 s for any N from 60 to 599), since a wider cell can
//! fold a narrow table differently; a `check=all` block waits the whole N.
//!
//! After a layout change: `scripts/readme-examples.sh` (`SOCKLEAK_BLESS=1 cargo test
//! --release --test it docs::readme`) runs every scene again and writes its output into
//! README.md in place; read the diff before committing it. Needs root, `unshare`
//! (util-linux), `ip` (iproute2), python3 and urllib3: a missing one fails the test.
use crate::common::*;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};

/// One marked example block of README.md.
#[derive(Debug)]
struct Example {
    /// 1-based line of its ```` ```console ```` fence.
    line: usize,
    scene: String,
    columns: u16,
    /// Seconds the scene's sockets have been idle when the command runs.
    age: u64,
    check_all: bool,
    last_sample: bool,
    status: bool,
    /// The `$ ...` line as written, and its arguments after `sockleak`.
    command: String,
    args: Vec<String>,
    /// The lines between the command and the closing fence.
    body: Vec<String>,
    /// 0-based index of the first body line and one past the last, in README's lines.
    span: (usize, usize),
}

/// What sockleak printed for one example.
struct Run {
    stdout: String,
    stderr: String,
    status: i64,
}

fn readme_path() -> std::path::PathBuf {
    repo().join("README.md")
}

/// Every ```` ```console ```` block of `readme`, each with its marker; a block
/// without one, or a marker without a block, is an error naming the line.
fn examples(readme: &str) -> Vec<Example> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("<!-- example") {
            assert!(
                lines.get(i + 1) == Some(&"```console"),
                "README.md line {}: an example marker must be followed by a ```console block",
                i + 1
            );
            found.push(example(&lines, i));
            i += 2;
        } else if lines[i] == "```console" {
            panic!(
                "README.md line {}: a ```console block without an `<!-- example scene=... -->` \
                 marker: every example must be real output (see tests/it/docs/readme.rs); \
                 use ```sh for commands without output",
                i + 1
            );
        } else {
            i += 1;
        }
    }
    assert!(!found.is_empty(), "README.md has no marked example");
    found
}

/// The example whose marker is `lines[at]`.
fn example(lines: &[&str], at: usize) -> Example {
    let marker = lines[at]
        .trim()
        .trim_start_matches("<!-- example")
        .trim_end_matches("-->");
    let mut attrs = BTreeMap::new();
    let mut flags = Vec::new();
    for word in marker.split_whitespace() {
        match word.split_once('=') {
            Some((k, v)) => drop(attrs.insert(k, v)),
            None => flags.push(word),
        }
    }
    let fence = at + 1;
    let command = lines.get(fence + 1).copied().unwrap_or_default();
    let args = command_args(command).unwrap_or_else(|| {
        panic!(
            "README.md line {}: `{command}` is not `$ [sudo] sockleak ARGS`",
            fence + 2
        )
    });
    let end = (fence + 2..lines.len())
        .find(|&j| lines[j] == "```")
        .unwrap_or_else(|| panic!("README.md line {}: unclosed block", fence + 1));
    let check = attrs.get("check").copied().unwrap_or("header");
    assert!(
        matches!(check, "header" | "all"),
        "README.md line {}: check={check} (header or all)",
        at + 1
    );
    for f in &flags {
        assert!(
            matches!(*f, "last-sample" | "status"),
            "README.md line {}: unknown marker flag {f}",
            at + 1
        );
    }
    Example {
        line: fence + 1,
        scene: attrs
            .get("scene")
            .expect("marker names its scene=")
            .to_string(),
        columns: attrs
            .get("columns")
            .and_then(|c| c.parse().ok())
            .expect("marker gives columns=N"),
        age: attrs.get("age").map_or(0, |a| {
            a.parse()
                .unwrap_or_else(|_| panic!("README.md line {}: age={a}", at + 1))
        }),
        check_all: check == "all",
        last_sample: flags.contains(&"last-sample"),
        status: flags.contains(&"status"),
        command: command.to_string(),
        args,
        body: lines[fence + 2..end]
            .iter()
            .map(|l| l.to_string())
            .collect(),
        span: (fence + 2, end),
    }
}

/// `$ [sudo] sockleak ARGS` as ARGS. Quoting is not supported: example commands
/// stay plain words, as typed.
fn command_args(line: &str) -> Option<Vec<String>> {
    let rest = line.strip_prefix("$ ")?;
    let rest = rest.strip_prefix("sudo ").unwrap_or(rest);
    let mut words = rest.split_whitespace();
    if words.next()? != "sockleak" || rest.contains(['\'', '"', '\\', '|', '>', '<']) {
        return None;
    }
    Some(words.map(str::to_string).collect())
}

/// Build `scene` once and run every command of `examples` in it, once its sockets
/// are `age` seconds old.
fn run_scene(scene: &str, age: u64, examples: &[&Example]) -> Vec<Run> {
    let commands: Vec<Value> = examples
        .iter()
        .map(|e| json!({"args": e.args, "columns": e.columns}))
        .collect();
    let out = Command::new("unshare")
        .args(["--net", "--pid", "--fork", "--mount-proc", "--", "python3"])
        .arg(repo().join("tests/support/readme_scene.py"))
        .args(["run", scene, bin(), &Value::from(commands).to_string()])
        .arg(age.to_string())
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "scene {scene} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scene {scene} printed {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    results
        .into_iter()
        .map(|r| Run {
            stdout: r["stdout"].as_str().unwrap().to_string(),
            stderr: r["stderr"].as_str().unwrap().to_string(),
            status: r["status"].as_i64().unwrap(),
        })
        .collect()
}

/// The shortest age that `human_age` prints as wide as `age` (`42s`, `4m05s`,
/// `2h13m`): what a header check waits for.
fn as_wide_as(age: u64) -> u64 {
    match age {
        0..=9 => 0,
        10..=59 => 10,
        60..=599 => 60,
        600..=3599 => 600,
        _ => age,
    }
}

/// Run every example, scenes in parallel (each in namespaces of its own), one run
/// per scene and age. `blessing`: wait for every `age=`; else as long as a header
/// needs (see [`as_wide_as`]), or the whole age for a `check=all` block.
fn run_all(examples: &[Example], blessing: bool) -> Vec<Run> {
    let mut by_scene: BTreeMap<(&str, u64), Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        let age = if blessing || e.check_all {
            e.age
        } else {
            as_wide_as(e.age)
        };
        by_scene.entry((e.scene.as_str(), age)).or_default().push(i);
    }
    let mut runs: Vec<Option<Run>> = examples.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = by_scene
            .iter()
            .map(|(&(scene, age), idx)| {
                let es: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
                (idx, s.spawn(move || run_scene(scene, age, &es)))
            })
            .collect();
        for (idx, h) in handles {
            for (&i, run) in idx.iter().zip(h.join().expect("scene thread")) {
                runs[i] = Some(run);
            }
        }
    });
    runs.into_iter()
        .map(|r| r.expect("every example ran"))
        .collect()
}

/// The block's lines for `run`, as README shows them: stdout (only its last
/// `--watch` sample with `last-sample`), then stderr, then `$ echo $?` and the
/// status with `status`.
fn shown(e: &Example, run: &Run) -> Vec<String> {
    let mut lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    if e.last_sample {
        let last = lines
            .iter()
            .rposition(|l| l.starts_with("--- "))
            .unwrap_or(0);
        lines.drain(..last);
    }
    lines.extend(run.stderr.lines().map(str::to_string));
    if e.status {
        lines.push("$ echo $?".to_string());
        lines.push(run.status.to_string());
    }
    lines
}

/// The table's header: the first line that is not a `--- ` sample title, its
/// column names only.
fn header(lines: &[String]) -> Option<Vec<&str>> {
    let line = lines.iter().find(|l| !l.starts_with("--- "))?;
    Some(line.split_whitespace().collect())
}

/// What differs between the block and the run, or None.
fn drift(e: &Example, run: &Run) -> Option<String> {
    let actual = shown(e, run);
    let status_drift = e.status
        && e.body.iter().rev().take(2).collect::<Vec<_>>()
            != actual.iter().rev().take(2).collect::<Vec<_>>();
    if e.check_all && e.body != actual || status_drift {
        return Some(format!(
            "--- README.md\n{}\n--- sockleak printed\n{}",
            e.body.join("\n"),
            actual.join("\n")
        ));
    }
    if header(&e.body) != header(&actual) {
        return Some(format!(
            "header in README.md: {:?}\nheader printed:      {:?}\n--- sockleak printed\n{}",
            header(&e.body),
            header(&actual),
            actual.join("\n")
        ));
    }
    None
}

/// Write every example's output into README.md in place (SOCKLEAK_BLESS=1).
fn bless(readme: &str, examples: &[Example], runs: &[Run]) {
    let mut lines: Vec<String> = readme.lines().map(str::to_string).collect();
    // From the last block up, so that earlier spans stay where they are.
    for (e, run) in examples.iter().zip(runs).rev() {
        lines.splice(e.span.0..e.span.1, shown(e, run));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(readme_path(), text).expect("write README.md");
}

#[test]
fn readme_examples_are_what_the_binary_prints() {
    assert_root("the README scenes (fresh network and pid namespaces, unshare)");
    for tool in ["unshare", "ip", "python3"] {
        require(tool);
    }
    let readme = std::fs::read_to_string(readme_path()).expect("read README.md");
    let examples = examples(&readme);
    let blessing = std::env::var_os("SOCKLEAK_BLESS").is_some();
    let runs = run_all(&examples, blessing);
    if blessing {
        bless(&readme, &examples, &runs);
        return;
    }
    let drifts: Vec<String> = examples
        .iter()
        .zip(&runs)
        .filter_map(|(e, run)| {
            drift(e, run).map(|d| {
                format!(
                    "README.md line {}: `{}` (scene {}, COLUMNS={}):\n{d}",
                    e.line, e.command, e.scene, e.columns
                )
            })
        })
        .collect();
    assert!(
        drifts.is_empty(),
        "{}\n\nREADME.md's examples no longer match the binary; after an intended change \
         re-capture them with scripts/readme-examples.sh and read the diff",
        drifts.join("\n\n")
    );
}

#[test]
fn markers_parse_and_a_block_without_one_is_refused() {
    let md = "x\n<!-- example scene=leak columns=80 check=all status -->\n```console\n$ sudo sockleak --threshold 5\nWARNING a\n$ echo $?\n1\n```\n";
    let es = examples(md);
    assert_eq!(es.len(), 1);
    let e = &es[0];
    assert_eq!(
        (
            e.scene.as_str(),
            e.columns,
            e.check_all,
            e.status,
            e.last_sample
        ),
        ("leak", 80, true, true, false)
    );
    assert_eq!(e.args, ["--threshold", "5"]);
    assert_eq!(e.body, ["WARNING a", "$ echo $?", "1"]);
    assert_eq!(e.span, (4, 7));
    assert_eq!(e.age, 0);
    let aged =
        examples("<!-- example scene=leak columns=80 age=330 -->\n```console\n$ sockleak\n```\n");
    assert_eq!(aged[0].age, 330);
    // 5m30s and 1m00s take as many columns; 42s and 10s too.
    assert_eq!(
        (as_wide_as(330), as_wide_as(42), as_wide_as(3)),
        (60, 10, 0)
    );
    let run = Run {
        stdout: "WARNING a\n".into(),
        stderr: String::new(),
        status: 1,
    };
    assert_eq!(drift(e, &run), None);
    let run = Run {
        stdout: "WARNING a\n".into(),
        stderr: String::new(),
        status: 2,
    };
    assert!(drift(e, &run).is_some(), "a changed exit status is drift");

    let bare = std::panic::catch_unwind(|| examples("```console\n$ sockleak\n```\n"));
    assert!(bare.is_err(), "a console block without a marker must fail");
    assert_eq!(
        command_args("$ sockleak --json | jq ."),
        None,
        "pipes are not run"
    );
}

#[test]
fn a_table_header_is_compared_by_its_columns() {
    let md = "<!-- example scene=growing columns=100 last-sample -->\n```console\n$ sockleak --watch 1\n--- t sample 2\nPID  PROCESS  FLAG     TREND\n1    a        growing  ▁█\n```\n";
    let e = &examples(md)[0];
    let ok = Run {
        stdout: "--- t sample 1\nPID PROCESS FLAG TREND\n1 a ok ▁\n--- t sample 2\nPID  PROCESS  FLAG  TREND\n1    a        ok    ▁▁\n".into(),
        stderr: "alert\n".into(),
        status: 0,
    };
    assert_eq!(drift(e, &ok), None, "padding and cells may move");
    assert_eq!(
        shown(e, &ok)[0],
        "--- t sample 2",
        "only the last sample is shown"
    );
    assert_eq!(shown(e, &ok).last().unwrap(), "alert");
    let moved = Run {
        stdout: "--- t sample 1\nPID  PROCESS  DELTA  FLAG  TREND\n".into(),
        stderr: String::new(),
        status: 0,
    };
    assert!(drift(e, &moved).is_some(), "a new column is drift");
}
