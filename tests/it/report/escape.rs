//! Every name sockleak prints goes through `model::escape`: the function itself
//! (every class, read back to the same bytes, never two inputs alike, its
//! format-character table against Python's `unicodedata`), and real sockets with
//! hostile names (abstract unix names with invalid UTF-8 and an escape sequence,
//! a path named like sockleak's own label, process names) in every format.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{Peer, bin, json, promtool_check, require, run};
use proptest::prelude::*;
use serde_json::Value;
use sockleak::model::escape::{self, Context};

fn escaped(b: &[u8], cx: Context) -> String {
    let mut out = String::new();
    escape::escape_into(&mut out, b, cx);
    out
}

/// The escapes read back (the grammar in `model::escape`'s docs).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b'u' => {
                assert_eq!(b[i + 2], b'{', "{s:?}");
                let end = i + 3 + b[i + 3..].iter().position(|&c| c == b'}').unwrap();
                let cp = u32::from_str_radix(std::str::from_utf8(&b[i + 3..end]).unwrap(), 16);
                let c = char::from_u32(cp.unwrap()).unwrap();
                out.extend_from_slice(c.to_string().as_bytes());
                i = end - 1;
            }
            other => panic!("unknown escape \\{} in {s:?}", other as char),
        }
        i += 2;
    }
    out
}

/// Bytes rich in what the escapes are about.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"\\".to_vec()),
        Just(b"\\x1b".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"(".to_vec()),
        Just(b"-".to_vec()),
        Just("\u{85}".as_bytes().to_vec()),
        Just("\u{202e}".as_bytes().to_vec()),
        Just("\u{2028}".as_bytes().to_vec()),
        Just("\u{e0041}".as_bytes().to_vec()),
        Just("\u{fffd}".as_bytes().to_vec()),
        Just("é".as_bytes().to_vec()),
        Just(b"\xe2\x80".to_vec()),
        Just(b"x".to_vec()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn escapes_read_back_to_the_same_bytes(b in hostile_bytes()) {
        for cx in [
            Context::default(),
            Context { quoted: true, ..Context::default() },
            Context { name: true, ..Context::default() },
        ] {
            let s = escaped(&b, cx);
            prop_assert_eq!(unescape(&s), b.clone(), "{:?} -> {:?}", b, s);
            prop_assert!(
                !s.chars().any(|c| c.is_control() || escape::is_invisible(c)),
                "{:?}", s
            );
            if cx.quoted {
                // Every `"` left is escaped: the quotes around it stay the last.
                prop_assert!(!s.replace("\\\\", "").replace("\\\"", "").contains('"'));
            }
        }
        let n = escape::name(&b);
        prop_assert_eq!(unescape(&n), b.clone());
        prop_assert!(!n.starts_with('(') && n != "-" && n != "*", "{:?}", n);
    }

    #[test]
    fn different_bytes_never_print_alike(a in hostile_bytes(), b in hostile_bytes()) {
        prop_assume!(a != b);
        prop_assert_ne!(escaped(&a, Context::default()), escaped(&b, Context::default()));
        prop_assert_ne!(escape::name(&a), escape::name(&b));
    }
}

/// The format-character table against Python's `unicodedata`: every Cf, Zl, Zp
/// and non-ASCII Zs character of its Unicode version is escaped, and the table
/// holds nothing else but U+FFFD and characters that version has not assigned.
#[test]
fn the_format_table_matches_unicodedata() {
    require("python3");
    let py = |script: &str, input: &str| {
        let mut c = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let theirs: BTreeSet<u32> = py(
        "import unicodedata as u\n\
         for c in range(0x110000):\n\
         \x20   k = u.category(chr(c))\n\
         \x20   if k in ('Cf', 'Zl', 'Zp') or (k == 'Zs' and c != 0x20): print(c)",
        "",
    )
    .lines()
    .map(|l| l.parse().unwrap())
    .collect();
    assert!(theirs.contains(&0x202e) && theirs.len() > 150, "{theirs:?}");
    let ours: BTreeSet<u32> = (0..=0x10ffffu32)
        .filter_map(char::from_u32)
        .filter(|&c| escape::is_invisible(c))
        .map(u32::from)
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(missing.is_empty(), "not escaped: {missing:x?}");
    let extra: Vec<String> = ours
        .difference(&theirs)
        .filter(|&&c| c != 0xfffd)
        .map(|c| c.to_string())
        .collect();
    let cats = py(
        "import sys, unicodedata as u\n\
         print(' '.join(u.category(chr(int(l))) for l in sys.stdin.read().split()))",
        &extra.join(" "),
    );
    assert!(
        cats.split_whitespace().all(|k| k == "Cn"),
        "escaped but not a format character: {extra:?} {cats}"
    );
}

/// A `tests/support/hostile_names.py` helper, held until dropped.
fn hostile_names(args: &[&str]) -> Peer {
    Peer::spawn_script("hostile_names.py", &[], args)
}

/// Output for a terminal: no raw control, format or replacement character.
fn assert_clean(what: &str, out: &[u8]) -> String {
    let text = String::from_utf8(out.to_vec())
        .unwrap_or_else(|e| panic!("{what}: not UTF-8 ({e}): {out:?}"));
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || escape::is_invisible(c))
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in {text}");
    text
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn hostile_unix_names_print_escaped_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("sockleak-esc-{}", std::process::id());
    let h = hostile_names(&["unix", &tag, dir.path().to_str().unwrap()]);
    let hostile = HostileUnix::of(&h, &tag);
    // Four names (inbound and outbound each) and one socketpair group.
    let doc = json(&hostile.query());
    assert_eq!(doc["groups"].as_array().unwrap().len(), 9, "{doc:#?}");
    assert_jq_reads_every_name_exactly(&hostile);
    assert_the_table_prints_each_name_escaped_and_apart(&hostile);
    assert_the_watch_frame_prints_them_escaped(&hostile);
    assert_check_lines_are_one_per_group(&hostile);
    assert_prometheus_keeps_the_invalid_names_apart(&hostile);
}

/// What `hostile_names.py unix` bound, as sockleak must print it.
struct HostileUnix {
    pid: String,
    tag: String,
    /// Each name's bytes in hex, as the helper reported them.
    hex: Vec<String>,
    /// The abstract names with invalid UTF-8 (`\xff`, `\xfe`), escaped.
    ff: String,
    fe: String,
    /// The abstract name holding an escape sequence and a newline, escaped.
    cls: String,
}

impl HostileUnix {
    fn of(h: &Peer, tag: &str) -> HostileUnix {
        let hex = h.ready["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        HostileUnix {
            pid: h.pid().to_string(),
            tag: tag.to_string(),
            hex,
            ff: format!("@{tag}-x\\xff"),
            fe: format!("@{tag}-x\\xfe"),
            cls: format!("@\\x1b[2J\\n{tag}"),
        }
    }

    /// The unix sockets of the helper.
    fn query(&self) -> Vec<&str> {
        vec!["--proto", "unix", "--pid", self.pid.as_str()]
    }
}

/// JSON, read by jq: every group's (direction, local, remote, unix_name_hex).
fn jq_rows(q: &[&str]) -> Vec<(Value, Value, Value, Value)> {
    require("jq");
    let mut jq = Command::new("sh")
        .args([
            "-c",
            &format!(
                "{} \"$@\" | jq -c '[.groups[] | [.direction, .local, .remote, .unix_name_hex]]'",
                bin()
            ),
        ])
        .arg("sh")
        .args(["--json"])
        .args(q)
        .output()
        .unwrap();
    assert!(
        jq.status.success(),
        "{}",
        String::from_utf8_lossy(&jq.stderr)
    );
    jq.stdout.retain(|&b| b != b'\n');
    serde_json::from_slice(&jq.stdout).unwrap()
}

/// The raw bytes of the non-UTF-8 names, the escape sequence (UTF-8) exactly,
/// and the label apart from the path named like it.
fn assert_jq_reads_every_name_exactly(hostile: &HostileUnix) {
    let rows = jq_rows(&hostile.query());
    let names = &hostile.hex;
    for hex in [&names[0], &names[1], &names[3]] {
        let with: Vec<_> = rows.iter().filter(|r| r.3 == hex.as_str()).collect();
        assert_eq!(with.len(), 2, "{hex}: in and out: {rows:?}");
    }
    // The escape sequence is UTF-8: the JSON string is the name exactly.
    let raw = format!("@\u{1b}[2J\n{}", hostile.tag);
    assert!(
        rows.iter()
            .any(|r| r.0 == "outbound" && r.2 == raw.as_str() && r.3.is_null())
    );
    // The label and the path named like it: the same JSON text, the path with its bytes.
    let pair: Vec<_> = rows
        .iter()
        .filter(|r| r.2 == "(socketpair)" && r.3.is_null())
        .collect();
    assert_eq!(pair.len(), 1, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.2 == "(socketpair)" && r.3 == names[3].as_str())
    );
}

/// The table: one line per group, \xff and \xfe apart, the label apart from the path.
fn assert_the_table_prints_each_name_escaped_and_apart(hostile: &HostileUnix) {
    let o = run(&hostile.query());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = assert_clean("table", &o.stdout);
    assert_eq!(
        table.lines().count(),
        1 + 9 + 1,
        "header, rows, footer: {table}"
    );
    let (ff, fe, cls) = (&hostile.ff, &hostile.fe, &hostile.cls);
    for needle in [ff, fe, cls, &"\\x28socketpair)".to_string()] {
        assert_eq!(lines_with(&table, needle).len(), 2, "{needle}: {table}");
    }
    let label: Vec<_> = table
        .lines()
        .filter(|l| l.split_whitespace().any(|c| c == "(socketpair)"))
        .collect();
    assert_eq!(label.len(), 1, "{table}");
}

/// --watch: the frame's table the same.
fn assert_the_watch_frame_prints_them_escaped(hostile: &HostileUnix) {
    let o = run(&[
        "--watch",
        "1",
        "--count",
        "1",
        "--proto",
        "unix",
        "--pid",
        &hostile.pid,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let frame = assert_clean("watch frame", &o.stdout);
    assert_eq!(lines_with(&frame, &hostile.cls).len(), 2, "{frame}");
    assert_eq!(lines_with(&frame, &hostile.ff).len(), 2, "{frame}");
}

/// Check lines: one per breaching group, each a line of its own; Nagios one line.
fn assert_check_lines_are_one_per_group(hostile: &HostileUnix) {
    let mut args = hostile.query();
    args.extend(["--metric", "established", "--threshold", "1"]);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
    let checks = assert_clean("check lines", &o.stdout);
    assert_eq!(checks.lines().count(), 9, "{checks}");
    assert!(
        checks.lines().all(|l| l.starts_with("WARNING pid ")),
        "{checks}"
    );
    assert_eq!(lines_with(&checks, &hostile.cls).len(), 2, "{checks}");
    args.extend(["-o", "nagios"]);
    let nagios = assert_clean("nagios", &run(&args).stdout);
    assert_eq!(nagios.lines().count(), 1, "{nagios}");
}

/// Prometheus: valid, the two invalid names two series.
fn assert_prometheus_keeps_the_invalid_names_apart(hostile: &HostileUnix) {
    let mut args = hostile.query();
    args.extend(["-o", "prometheus"]);
    let o = run(&args);
    let prom = assert_clean("prometheus", &o.stdout);
    promtool_check(&o.stdout);
    for name in [&hostile.ff, &hostile.fe] {
        let label = format!("endpoint=\"{}\"", name.replace('\\', "\\\\"));
        let series: Vec<_> = lines_with(&prom, &label)
            .into_iter()
            .filter(|l| l.starts_with("sockleak_group_sockets{"))
            .collect();
        assert_eq!(series.len(), 2, "{label}: {prom}");
    }
}

#[test]
fn hostile_process_names_in_the_table() {
    // comm: an escape sequence and a newline; sockleak's own label; invalid
    // UTF-8 beside a backslash escape it could be mistaken for; a bidi override.
    let comms: [&[u8]; 4] = [
        b"ev\x1b[2J\nil",
        b"(unattributed)",
        b"x\xff\\xff",
        "a\u{202e}b".as_bytes(),
    ];
    let shown = [
        "ev\\x1b[2J\\nil",
        "\\x28unattributed)",
        "x\\u{fffd}\\\\xff",
        "a\\u{202e}b",
    ];
    let helpers: Vec<Peer> = comms
        .iter()
        .map(|c| {
            let hex: String = c.iter().map(|b| format!("{b:02x}")).collect();
            hostile_names(&["tcp", &hex])
        })
        .collect();
    for (h, want) in helpers.iter().zip(shown) {
        let pid = h.pid().to_string();
        let o = run(&["--pid", &pid]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let table = assert_clean("table", &o.stdout);
        // The connection's two ends: two rows, each one line.
        assert_eq!(table.lines().count(), 1 + 2 + 1, "{table}");
        let rows: Vec<_> = table.lines().filter(|l| l.starts_with(&pid)).collect();
        assert_eq!(rows.len(), 2, "{table}");
        for r in rows {
            let cells: Vec<_> = r.split_whitespace().collect();
            assert_eq!(cells[1], want, "{table}");
        }
        let o = run(&["--pid", &pid, "--metric", "established", "--threshold", "1"]);
        let checks = assert_clean("check lines", &o.stdout);
        assert_eq!(checks.lines().count(), 2, "{checks}");
        assert!(
            checks
                .lines()
                .all(|l| l.contains(&format!("pid {pid} {want} "))),
            "{checks}"
        );
    }
    // JSON keeps a UTF-8 name exactly.
    let d = json(&["--pid", &helpers[0].pid().to_string()]);
    assert_eq!(d["groups"][0]["process"], "ev\u{1b}[2J\nil");
}
