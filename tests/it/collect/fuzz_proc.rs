//! Fuzz target kept in the repository (issue 17): a deterministic-seeded generator
//! of hostile `--proc-root` trees (FIFOs, device nodes, links to /dev/zero and link
//! loops, huge sparse and binary files, bad numbers, megabyte names, tables without
//! their header), each run through the built binary in every format with a
//! wall-clock timeout and an address-space bound.
//!
//! Asserted for every run: no panic, no hang, no signal death; exit 0 or 3 (Nagios:
//! 0 to 3 and one `SOCKLEAK ...` line on stdout); the JSON parses and its
//! `totals.sockets` equals the sum of `totals.states`; no raw control character
//! (other than newline and tab) on stdout or stderr.
//!
//! Device nodes need root (CI runs as root): without it the test fails, loudly.
use crate::common::tree::{HEADER, Tree, tcp_line};
use crate::common::*;
use serde_json::Value;
use std::time::Duration;

/// Cases per run (about 0.1 s each here; `SOCKLEAK_FUZZ_CASES` runs more), and
/// the seed: fixed, so that a failure reproduces (the message names the case's
/// seed and mutations).
const CASES: u64 = 150;
const SEED: u64 = 0x5EED_0017;
const TIMEOUT: Duration = Duration::from_secs(10);
const MEMORY: u64 = 1 << 30;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const TARGETS: &[&str] = &[
    "net/tcp",
    "net/tcp",
    "net/tcp",
    "net/tcp6",
    "net/tcp6",
    "self/ns/net",
    "self/mountinfo",
    "100/comm",
    "100/status",
    "100/cmdline",
    "100/cgroup",
    "100/stat",
    "100/ns/net",
    "100/fd",
    "100/fd/3",
    "200/comm",
    "200/status",
    "200/fd/4",
    "200/ns/net",
    "300",
    "self",
];

/// Numbers no parser should trust.
const BAD_NUMBERS: &[&str] = &[
    "99999999999999999999999",
    "-1",
    "0x10",
    "FFFFFFFFFFFFFFFFF",
    "",
    "+5",
    "1e9",
    "١٢٣",
    "NaN",
    "18446744073709551616",
    "\u{1b}[2J",
    "0000000000000000000000000001",
];

/// A net/tcp that looks like one but is not quite: valid lines, lines with one
/// field replaced by a bad number or a very long field, no header, control
/// characters.
fn hostile_table(r: &mut Rng) -> Vec<u8> {
    let mut t = if r.below(3) == 0 {
        String::new()
    } else {
        HEADER.to_string()
    };
    for i in 0..r.below(40) {
        let mut line = tcp_line(
            i,
            40000 + i as u16,
            r.pick::<&str>(&["01", "08", "0A", "06", "0C", "00", "FF"]),
            1001 + r.below(8) as u64,
        );
        if r.below(2) == 0 {
            let mut fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let at = r.below(fields.len());
            fields[at] = match r.below(4) {
                0 => "Z".repeat(100_000),
                1 => String::from_utf8_lossy(&r.bytes(12)).into_owned(),
                _ => r.pick(BAD_NUMBERS).to_string(),
            };
            line = format!("{}\n", fields.join(" "));
        }
        t.push_str(&line);
    }
    let mut b = t.into_bytes();
    if r.below(4) == 0 {
        let n = r.below(4096);
        b.extend(r.bytes(n));
    }
    b
}

/// Put one hostile thing at `rel`; returns what, for the failure message.
fn mutate(t: &Tree, r: &mut Rng, rel: &str) -> String {
    let kind = r.below(15);
    // An earlier mutation may have made a parent a file or a link loop.
    let blocked = t
        .path(rel)
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(t.dir.path()) && *a != t.dir.path())
        .any(|a| std::fs::symlink_metadata(a).is_ok_and(|m| !m.is_dir()));
    if blocked {
        return format!("{rel}: skipped, a parent is not a directory");
    }
    match kind {
        0 => t.fifo(rel),
        1 => t.char_device(rel, 1, 5),
        2 => t.char_device(rel, 1, 3),
        3 => t.symlink(rel, "/dev/zero"),
        4 => t.symlink(rel, rel.rsplit('/').next().unwrap()),
        5 => t.sparse(rel, 1 << 40),
        6 => {
            let n = r.below(8192);
            t.write(rel, &r.bytes(n))
        }
        7 => {
            let mut big = vec![b'A'; 1 << 20];
            big[100] = 0x1b;
            t.write(rel, &big)
        }
        8 => t.dir(rel),
        9 => t.symlink(rel, "."),
        10 if rel.starts_with("net/") => t.write(rel, &hostile_table(r)),
        10 | 11 => {
            let n = r.pick(BAD_NUMBERS);
            t.write(
                rel,
                format!("Name:\tx\u{7}\nUid:\t{n}\t{n}\n{n} ({n}) S {n}\n0::/{n}\n").as_bytes(),
            )
        }
        12 => t.write(rel, b""),
        13 => {
            let _ = std::fs::remove_dir_all(t.path(rel));
            let _ = std::fs::remove_file(t.path(rel));
        }
        _ => t.symlink(
            rel,
            r.pick::<&str>(&[
                "socket:[18446744073709551616]",
                "socket:[",
                "net:[]",
                "socket:[1001]\n",
                "\u{1b}[31m",
            ]),
        ),
    }
    format!("{rel}: kind {kind}")
}

fn check_run(args: &[&str], what: &str) {
    let o = run_bounded(args, TIMEOUT, MEMORY);
    let err = String::from_utf8_lossy(&o.stderr);
    let ctx = format!(
        "{what}\nargs {args:?}\nstderr: {}",
        err.chars().take(2000).collect::<String>()
    );
    assert!(!o.timed_out, "hung (killed after {TIMEOUT:?}): {ctx}");
    assert!(!err.contains("panicked"), "panic: {ctx}");
    for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if let Some((at, c)) = raw_control(text) {
            panic!("raw control character {c:?} at {at} of {name}: {ctx}");
        }
    }
    let code = o.code.unwrap_or(-1);
    if args.contains(&"nagios") {
        assert!((0..=3).contains(&code), "nagios exit {code}: {ctx}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out.lines().count(), 1, "one line: {out:?} {ctx}");
        assert!(out.starts_with("SOCKLEAK "), "{out:?} {ctx}");
        return;
    }
    assert!(code == 0 || code == 3, "exit {code}: {ctx}");
    if code == 3 {
        assert!(
            err.contains("sockleak: error:"),
            "exit 3 without an error: {ctx}"
        );
    }
    if code == 0 && args.contains(&"--json") {
        let d: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON: {e}: {ctx}"));
        let sum: u64 = d["totals"]["states"]
            .as_object()
            .expect("states")
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(d["totals"]["sockets"].as_u64(), Some(sum), "totals: {ctx}");
        assert!(d["totals"]["matched"].as_u64() <= Some(sum), "{ctx}");
    }
}

fn one_case(case: u64) {
    let seed = SEED.wrapping_add(case.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
    let mut r = Rng(seed);
    let t = Tree::new();
    t.process(300, "third", &[1005, 1006]);
    let mut done = Vec::new();
    for _ in 0..1 + r.below(4) {
        let rel = *r.pick(TARGETS);
        done.push(mutate(&t, &mut r, rel));
    }
    let what = format!("case {case} (seed {seed:#x}): {done:?}");
    let root = t.root();
    for f in [
        &["--json"][..],
        &[],
        &["-o", "prometheus"],
        &["-o", "nagios", "--threshold", "2"],
        &["--json", "--cmdline", "--by", "process"],
    ] {
        let args = [&["--proc-root", root][..], f].concat();
        check_run(&args, &what);
    }
}

#[test]
fn hostile_proc_trees_never_panic_hang_or_lie() {
    assert_root("the fuzz target's device nodes");
    let start = std::time::Instant::now();
    let cases: u64 = std::env::var("SOCKLEAK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    // Two workers: the binary is small and fast; most of the time is process start.
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| s.spawn(move || (w..cases).step_by(2).for_each(one_case)))
            .collect();
        for h in workers {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    eprintln!(
        "{cases} hostile trees, 5 formats each, in {:?}",
        start.elapsed()
    );
}
