//! The crate's layers, enforced: every module uses only itself and the layers
//! below it, modules of one layer form no circle, the commands under `app/`
//! never use each other, the pure layers (report, policy, render) do no I/O (no
//! clock, environment or terminal either), render reads only the model, and no
//! function of the crate or its tests is longer than [`MAX_FN_LINES`]. The layer
//! table is read from `src/lib.rs`'s doc, the one place it is written;
//! ARCHITECTURE.md's diagram must draw it as it is.
//!
//! References are read from the source text: every `use` tree (braces expanded)
//! and every inline `crate::` / `super::` path, resolved to the module file it
//! names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/lib.rs`'s table, bottom to top, each with its modules: the
/// rows `//! | 0 base | [`model`], [`exit`] | ... |`. A module may use modules
/// of its own layer or below.
fn layers() -> Vec<(String, Vec<String>)> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    parse_layers(&lib)
}

fn parse_layers(lib: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // `0 base`: a row of the table (the header and the `---` line are not).
        let Some((n, name)) = cells[0].split_once(' ') else {
            continue;
        };
        if n.parse::<usize>() != Ok(out.len()) {
            continue;
        }
        let mods = cells[1]
            .split(',')
            .map(|m| m.trim().trim_matches(|c| c == '[' || c == ']' || c == '`'))
            .map(String::from)
            .collect();
        out.push((name.to_string(), mods));
    }
    assert!(out.len() >= 2, "no layer table in src/lib.rs's doc");
    out
}

fn layer_of(top: &str) -> Option<usize> {
    layers()
        .iter()
        .position(|(_, mods)| mods.iter().any(|m| m == top))
}

/// The layers that judge and format, and do no I/O: what they need is read
/// below them (collect) or above them (sample, app) and handed in.
const PURE: &[&str] = &["report", "policy", "render"];

/// What I/O looks like in source text: files, sockets, processes, syscalls,
/// the collector, the terminal, and the collection side's I/O steps. (`std::net`
/// alone is not: `SocketAddr` is a value.)
const IO: &[&str] = &[
    "std::fs",
    "File::",
    "OpenOptions",
    "read_dir",
    "libc::",
    "ioctl",
    "std::process",
    "Command::new",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "UnixStream",
    "Collector",
    "peek_all",
    "trace::read",
    "yama_scope",
    "has_ptrace_cap",
    "std::env",
    "SystemTime::now",
    "Instant::now",
    "stdout()",
    "stderr()",
    "stdin()",
    "is_terminal",
];

/// Every `.rs` file under `src/` (but `main.rs`, the binary) with its module path.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p.ends_with("main.rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                parts.pop();
            }
            out.insert(parts, p);
        }
    }
    out
}

/// Expand a use tree such as `crate::{a::{b, c}, d}` into whole paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// A file's text without its comments and doc text, which name modules and I/O
/// too ("see crate::report") without using them.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file's code and its `#[cfg(test)] mod tests` (where `super::` is the file's
/// own module, not its parent).
fn split_tests(text: &str) -> (&str, &str) {
    text.find("#[cfg(test)]\nmod tests")
        .map_or((text, ""), |i| text.split_at(i))
}

/// The paths a file's text refers to, as written (`crate::x::y`, `super::z`).
fn references(text: &str) -> Vec<String> {
    let code = code_of(text);
    let mut out = Vec::new();
    for stmt in code.split(';') {
        let s = stmt.trim_start();
        let s = s.strip_prefix("pub ").unwrap_or(s);
        if let Some(tree) = s.strip_prefix("use ") {
            out.extend(expand(&tree.split_whitespace().collect::<String>()));
        }
    }
    for root in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(root) {
            let path: String = rest[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_string());
            rest = &rest[i + root.len()..];
        }
    }
    out
}

/// The module a path names: its longest prefix that is a module file.
fn resolve(
    from: &[String],
    path: &str,
    mods: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (Vec<String>, &[&str]) = match *segs.first()? {
        "crate" => (Vec::new(), &segs[1..]),
        "super" => {
            // `super` is the parent of the module (for a mod.rs too: its module is
            // the directory's).
            let mut b = from.to_vec();
            let mut rest = &segs[..];
            while rest.first() == Some(&"super") {
                b.pop();
                rest = &rest[1..];
            }
            (b, rest)
        }
        _ => return None,
    };
    let mut best = base.clone();
    for s in rest {
        base.push((*s).to_string());
        if mods.contains_key(&base) {
            best = base.clone();
        }
    }
    Some(best)
}

/// Every (from module, to module) edge of the crate.
fn edges() -> BTreeSet<(Vec<String>, Vec<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let mut out = BTreeSet::new();
    for (m, path) in &mods {
        let text = std::fs::read_to_string(path).unwrap();
        let (main, tests) = split_tests(&text);
        let in_tests = [m.clone(), vec!["tests".to_string()]].concat();
        for (from, part) in [(m, main), (&in_tests, tests)] {
            for r in references(part) {
                if let Some(to) = resolve(from, &r, &mods)
                    && &to != m
                    && !to.is_empty()
                {
                    out.insert((m.clone(), to));
                }
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_its_layer_and_below() {
    let mut wrong = Vec::new();
    for (from, to) in edges() {
        let (Some(f), Some(t)) = (from.first(), to.first()) else {
            continue;
        };
        let (lf, lt) = (layer_of(f), layer_of(t));
        assert!(
            lf.is_some(),
            "src/{f}: not in the layer table of src/lib.rs"
        );
        assert!(
            lt.is_some(),
            "src/{t}: not in the layer table of src/lib.rs"
        );
        if lt > lf {
            let l = layers();
            wrong.push(format!(
                "{} uses {} ({} is above {})",
                from.join("::"),
                to.join("::"),
                l[lt.unwrap()].0,
                l[lf.unwrap()].0
            ));
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

/// The I/O `text` does, by [`IO`]'s patterns, comments aside.
fn io_in(text: &str) -> Vec<&'static str> {
    let code = code_of(text);
    IO.iter().copied().filter(|p| code.contains(p)).collect()
}

#[test]
fn pure_layers_do_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (m, path) in modules(&src) {
        if !m.first().is_some_and(|t| PURE.contains(&t.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Tests may make sockets and files to judge (the code under test may not).
        let (main, _) = split_tests(&text);
        for p in io_in(main) {
            wrong.push(format!("{}: {p}", path.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "I/O in a pure layer (report, policy, render): do it in collect or sample and hand the result in:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn render_reads_only_the_model() {
    let wrong: Vec<String> = edges()
        .into_iter()
        .filter(|(from, to)| from[0] == "render" && to[0] != "render" && to[0] != "model")
        .map(|(from, to)| format!("{} uses {}", from.join("::"), to.join("::")))
        .collect();
    assert!(
        wrong.is_empty(),
        "render may use only crate::model (have the policy attach what it needs to the report):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn commands_never_use_each_other() {
    let mut wrong = Vec::new();
    for (from, to) in edges() {
        if from.first().is_some_and(|f| f == "app") && to.first().is_some_and(|t| t == "app") {
            // app/X/... may use app/X/...; nothing under app may use another
            // command, nor the dispatcher (app/mod.rs) that lists them all.
            if from.len() < 2 || to.len() < 2 || from[1] != to[1] {
                if from.len() == 1 && to.len() == 2 {
                    continue; // the dispatcher naming a command
                }
                wrong.push(format!("{} uses {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "commands using each other:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn top_level_modules_form_no_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges() {
        if let (Some(f), Some(t)) = (from.first(), to.first())
            && f != t
        {
            graph.entry(f.clone()).or_default().insert(t.clone());
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_what_it_checks() {
    // The layer test is only worth something if it finds edges: the resolver must
    // see these known ones (a broken parser would pass every other test here).
    let e = edges();
    let has = |a: &str, b: &str| {
        let v = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
        e.contains(&(v(a), v(b)))
    };
    assert!(has("report", "collect"), "{e:?}");
    assert!(has("render::table", "model::report"));
    assert!(has("app::watch", "policy::tracker"));
    assert!(has("config", "render"));
    assert_eq!(
        expand("crate::{a::{b, c}, d}"),
        vec!["crate::a::b", "crate::a::c", "crate::d"]
    );
    // An upward import is caught: a model file using a command.
    let mods: BTreeMap<Vec<String>, PathBuf> = [
        (vec!["model".to_string()], PathBuf::new()),
        (vec!["app".to_string(), "watch".to_string()], PathBuf::new()),
    ]
    .into_iter()
    .collect();
    let to = resolve(&["model".into()], "crate::app::watch::run", &mods).unwrap();
    assert_eq!(to, vec!["app", "watch"]);
    assert!(layer_of(&to[0]) > layer_of("model"));
    // The table is read from lib.rs: every layer, in order.
    let names: Vec<String> = layers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "base", "collect", "report", "policy", "render", "sample", "config", "app"
        ]
    );
    assert_eq!(
        parse_layers("//! | 0 a | [`x`], [`y`] | z |\n//! |---|\n//! | 1 b | [`w`] | v |"),
        vec![
            ("a".to_string(), vec!["x".to_string(), "y".to_string()]),
            ("b".to_string(), vec!["w".to_string()])
        ]
    );
    // The I/O rule sees I/O, and not in comments.
    assert_eq!(
        io_in("let f = std::fs::read(p); // libc::close"),
        ["std::fs"]
    );
    assert_eq!(io_in("let a: std::net::SocketAddr;"), Vec::<&str>::new());
    // A test module's `super` is the file's module (app::serve's tests use
    // app::serve, not the dispatcher).
    let (main, tests) = split_tests("use a;\n#[cfg(test)]\nmod tests {\n use super::*;\n}");
    assert_eq!((main, tests.len()), ("use a;\n", 41));
    assert!(!has("app::serve", "app"));
    // Function lengths: a signature over several lines, a body-less trait item,
    // a one-liner and a nested function, each measured from `fn` to its brace.
    let text = "impl X {\n    pub(crate) fn long(\n        a: u8,\n    ) -> u8 {\n        fn inner() {}\n        a\n    }\n    fn decl(&self);\n    fn one() -> u8 { 1 }\n}\n";
    assert_eq!(
        fn_lengths(text),
        [
            ("long".to_string(), 2, 6),
            ("inner".to_string(), 5, 1),
            ("one".to_string(), 9, 1)
        ]
    );
}

/// ARCHITECTURE.md's layer diagram as (number, name, the top-level names at
/// brace depth 0 of its modules column): columns 12 to 60 of its code block.
fn diagram() -> Vec<(usize, String, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(path).unwrap();
    let block = text.split("## Layers").nth(1).unwrap();
    let block = block.split("```").nth(1).unwrap();
    let mut rows: Vec<(usize, String, String)> = Vec::new();
    for line in block.lines() {
        let col = |a: usize, b: usize| line.chars().skip(a).take(b - a).collect::<String>();
        let head = col(0, 12);
        let mut words = head.split_whitespace();
        if let (Some(n), Some(name)) = (words.next(), words.next()) {
            if let Ok(n) = n.parse() {
                rows.push((n, name.to_string(), String::new()));
            }
        }
        if let Some(row) = rows.last_mut() {
            row.2.push_str(&col(12, 60).replace('▲', ""));
            row.2.push(' ');
        }
    }
    rows.into_iter()
        .map(|(n, name, mods)| (n, name, top_level_names(&mods)))
        .collect()
}

/// `a::{b, c}, d, E` -> `a`, `d`, `E`: the first segment of each item at depth 0
/// (items end at a comma or a space there: a drawn row's lines need no comma).
fn top_level_names(mods: &str) -> Vec<String> {
    let (mut depth, mut item, mut out) = (0, String::new(), Vec::new());
    for c in mods.chars().chain([',']) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            c if depth == 0 && (c == ',' || c.is_whitespace()) => {
                let first = item.trim().split("::").next().unwrap_or("").to_string();
                if !first.is_empty() {
                    out.push(first);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            item.push(c);
        }
    }
    out
}

/// The diagram in ARCHITECTURE.md is a drawing of lib.rs's table, not a second
/// table: its layers are lib.rs's, in order, and every module of the crate is
/// drawn in the layer lib.rs puts it in.
#[test]
fn the_architecture_diagram_draws_the_one_table() {
    let table = layers();
    let drawn = diagram();
    let names = |v: Vec<(usize, String)>| v;
    assert_eq!(
        names(
            drawn
                .iter()
                .map(|(n, name, _)| (*n, name.clone()))
                .rev()
                .collect()
        ),
        names(
            table
                .iter()
                .enumerate()
                .map(|(n, (name, _))| (n, name.clone()))
                .collect()
        ),
        "ARCHITECTURE.md's layers differ from src/lib.rs's table"
    );
    for (n, (_, mods)) in table.iter().enumerate() {
        let row = &drawn.iter().find(|r| r.0 == n).unwrap().2;
        for m in mods {
            assert!(
                row.contains(m),
                "module {m} (layer {n} in src/lib.rs) is not drawn in that layer of ARCHITECTURE.md: {row:?}"
            );
        }
        for m in row {
            if let Some(l) = layer_of(m) {
                assert_eq!(
                    l, n,
                    "ARCHITECTURE.md draws {m} in layer {n}, src/lib.rs in {l}"
                );
            }
        }
    }
    assert_eq!(
        top_level_names("a::{b, c}, d, E  f::{g}"),
        ["a", "d", "E", "f"]
    );
}

/// The longest a function may be, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 80;

/// Every function of a rustfmt'd file: (name, first line, lines from `fn` to the
/// brace closing it, at the same indentation). Body-less items are skipped.
fn fn_lengths(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let indent = &line[..line.len() - line.trim_start().len()];
        let Some(open) = (i..lines.len()).find(|&j| {
            let l = lines[j].trim_end();
            l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
        }) else {
            continue;
        };
        let opened = lines[open].trim_end();
        if opened.ends_with(';') {
            continue;
        }
        if opened.ends_with('}') {
            out.push((name, i + 1, open - i + 1));
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(end) = (open + 1..lines.len()).find(|&j| lines[j] == close) {
            out.push((name, i + 1, end - i + 1));
        }
    }
    out
}

/// The name of the function a line declares (`pub(crate) unsafe fn name(`).
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for q in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
        "extern \"C\" ",
    ] {
        rest = rest.strip_prefix(q).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_function_is_over_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("build.rs")];
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(files.len() > 50, "{files:?}");
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (name, line, n) in fn_lengths(&text) {
            if n > MAX_FN_LINES {
                let shown = f.strip_prefix(root).unwrap_or(f).display();
                long.push(format!("{shown}:{line} {name}: {n} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: split them into named steps that read at once:\n{}",
        long.join("\n")
    );
}
