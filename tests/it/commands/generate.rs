//! `sockleak completions` and `sockleak man`: generated from the clap definition,
//! so the `--by` keys, states and formats complete, and the page carries the
//! examples, exit codes and privileges. (Driving bash's completion function and
//! rendering with `man -l` are in .ci/dist-check.)
use crate::common::*;

fn stdout_of(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "sockleak {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8")
}

const BY_KEYS: [&str; 12] = [
    "process",
    "command",
    "user",
    "endpoint",
    "remote",
    "remote-host",
    "remote-port",
    "local-port",
    "state",
    "direction",
    "netns",
    "container",
];

#[test]
fn bash_completion_offers_the_values_of_by_state_metric_source_and_output() {
    let bash = stdout_of(&["completions", "bash"]);
    let words = |flag: &str| -> Vec<String> {
        // clap_complete's bash: `--by)` then `COMPREPLY=($(compgen -W "a b c" ...`
        let at = bash
            .find(&format!("\n                {flag})"))
            .unwrap_or_else(|| panic!("no {flag} case"));
        let rest = &bash[at..];
        let list = rest.split("compgen -W \"").nth(1).expect("a word list");
        list[..list.find('"').unwrap()]
            .split(' ')
            .map(String::from)
            .collect()
    };
    assert_eq!(words("--by"), BY_KEYS);
    let states = words("--state");
    assert_eq!(states.first().map(String::as_str), Some("close-wait"));
    assert!(
        states.contains(&"time-wait".into()) && states.contains(&"all".into()),
        "{states:?}"
    );
    assert_eq!(words("--metric"), states[..states.len() - 1]);
    assert_eq!(words("--source"), ["auto", "netlink", "proc"]);
    assert_eq!(words("--output"), ["table", "json", "prometheus", "nagios"]);
    assert_eq!(words("-o"), ["table", "json", "prometheus", "nagios"]);
    assert_eq!(words("--netns")[..2], ["all", "host"]);
    // Every offered state is one the flag accepts.
    for s in &states {
        let o = run(&["--state", s, "--proc-root", "/nonexistent-sockleak-root"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("invalid value"), "--state {s}: {err}");
    }
}

#[test]
fn zsh_and_fish_completions_name_the_by_keys() {
    let zsh = stdout_of(&["completions", "zsh"]);
    assert!(
        zsh.starts_with("#compdef sockleak"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    assert!(
        zsh.contains("(process command user endpoint remote remote-host"),
        "zsh: no --by keys"
    );
    let fish = stdout_of(&["completions", "fish"]);
    assert!(
        fish.contains("-l by") && fish.contains("remote-host\\t"),
        "fish: no --by keys"
    );
    // The old spellings are still accepted, not only the offered ones.
    for by in ["pid", "comm", "host", "REMOTE_PORT"] {
        let o = run(&["--by", by, "--proc-root", "/nonexistent-sockleak-root"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("invalid value"), "--by {by}: {err}");
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'tcsh'") && err.contains("bash"), "{err}");
}

#[test]
fn man_page_has_the_options_examples_exit_status_and_privileges() {
    let page = stdout_of(&["man"]);
    assert!(page.contains("\n.TH sockleak 1 "), "{}", &page[..200]);
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH \"FILTERS AND GROUPING\"",
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
        ".SH PRIVILEGES",
        ".SH \"SOCKLEAK SERVE\"",
        ".SH \"SOCKLEAK PLOT\"",
    ] {
        assert!(page.contains(&format!("\n{section}\n")), "no {section}");
    }
    let section = |name: &str| {
        let start = page.find(&format!("\n{name}\n")).unwrap();
        let rest = &page[start + 1..];
        let end = rest[1..].find("\n.SH ").map_or(rest.len(), |e| e + 1);
        rest[..end].to_string()
    };
    let examples = section(".SH EXAMPLES");
    assert!(examples.contains("\\fBsockleak \\-\\-watch 1 \\-\\-pool\\-size 20\\fR\n.RS 4\nwatch a leak fill a pool of 20"), "{examples}");
    assert!(
        examples.contains("sockleak serve \\-\\-listen"),
        "{examples}"
    );
    let exit = section(".SH \"EXIT STATUS\"");
    for code in ["0", "1", "2", "3"] {
        assert!(
            exit.contains(&format!(".TP\n{code}\n")),
            "exit {code}: {exit}"
        );
    }
    assert!(exit.contains("Nagios CRITICAL"), "{exit}");
    let privileges = section(".SH PRIVILEGES");
    for needle in [
        "CAP_SYS_PTRACE",
        "CAP_DAC_READ_SEARCH",
        "setcap",
        "root (\\fBsudo sockleak\\fR)",
    ] {
        assert!(privileges.contains(needle), "no {needle}: {privileges}");
    }
    // The version line says which build this page describes.
    let version = stdout_of(&["--version"]);
    let v = version
        .trim()
        .strip_prefix("sockleak ")
        .expect("sockleak VERSION");
    assert!(
        page.contains(&format!("\"sockleak {v}\"")),
        "{}",
        &page[..200]
    );
}

#[test]
fn version_names_the_commit() {
    let v = stdout_of(&["--version"]);
    let want = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ])
        .output()
        .expect("git");
    let commit = String::from_utf8_lossy(&want.stdout).trim().to_string();
    assert!(
        want.status.success() && !commit.is_empty(),
        "tests run in a git checkout"
    );
    assert_eq!(
        v,
        format!("sockleak {} (commit {commit})\n", env!("CARGO_PKG_VERSION"))
    );
}
