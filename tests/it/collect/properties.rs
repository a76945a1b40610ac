//! Property tests (proptest): the parsers of untrusted input never panic, and
//! never drop a line silently.
use proptest::prelude::*;
use sockleak::collect::fdscan::{ns_inode, socket_inode};
use sockleak::collect::proc_net::{MalformedLog, parse_table};
use sockleak::filter::{RemoteFilter, parse_states};
use sockleak::model::TcpState;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const LINE: &str = "   0: 0100007F:1F90 0200007F:D431 08 00000002:0000000A 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 0 10 -1";

/// Whether a line is the column header (its first word is `sl`).
fn is_header(line: &[u8]) -> bool {
    line.split(u8::is_ascii_whitespace)
        .find(|w| !w.is_empty())
        .is_some_and(|w| w == b"sl")
}

/// Lines that are not blank, and not the header on line 1: each must be parsed or
/// reported (a first line that is not the header is content too).
fn content_lines(text: &[u8]) -> usize {
    text.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(i, l)| !(*i == 0 && is_header(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn proc_table_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(&body);
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        parse_table(&text, "tcp", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), content_lines(&text));
    }

    #[test]
    fn proc_table_mutated_lines(
        edits in proptest::collection::vec((0usize..LINE.len(), any::<u8>()), 0..6),
        cut in 0usize..=LINE.len(),
        copies in 1usize..20,
    ) {
        let mut line = LINE.as_bytes().to_vec();
        for (i, b) in edits {
            line[i] = b;
        }
        line.truncate(cut.max(1));
        let mut text = HEADER.as_bytes().to_vec();
        for _ in 0..copies {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        parse_table(&text, "tcp", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), content_lines(&text));
        for r in m.kept() {
            prop_assert!(r.line >= 2, "line numbers count the header");
        }
    }

    #[test]
    fn proc_table_unicode_fields(local in "\\PC{0,40}", remote in "\\PC{0,40}", rest in "\\PC{0,60}") {
        // Random bytes are rarely valid UTF-8 of the right length; text fields are
        // what once found a panic (slicing inside a multi-byte character).
        let text = format!("{HEADER}   0: {local} {remote} {rest}\n   1: {local}:0050 {remote}:0050 01 0:0 0 0 0 0 7\n");
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        parse_table(text.as_bytes(), "tcp6", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), content_lines(text.as_bytes()));
    }

    #[test]
    fn link_parsers(raw in proptest::collection::vec(any::<u8>(), 0..64), n in any::<u64>()) {
        let _ = socket_inode(&raw);
        let _ = ns_inode(OsStr::from_bytes(&raw));
        prop_assert_eq!(socket_inode(format!("socket:[{n}]").as_bytes()), Some(n));
        prop_assert_eq!(ns_inode(OsStr::new(&format!("net:[{n}]"))), Some(n));
    }

    #[test]
    fn remote_filter_never_panics_and_matches_itself(s in "\\PC{0,40}", a in any::<std::net::SocketAddr>()) {
        let _ = s.parse::<RemoteFilter>();
        let a = sockleak::model::normalize(a);
        if a.port() != 0 {
            let f: RemoteFilter = a.to_string().parse().unwrap();
            prop_assert!(f.matches(a));
        }
    }

    #[test]
    fn state_parser_never_panics(s in "\\PC{0,30}") {
        if let Ok(states) = parse_states(&s) {
            prop_assert!(!states.is_empty());
        }
    }

    #[test]
    fn record_reader_random_bytes(raw in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let rec = sockleak::app::plot::record::read_record(raw.as_slice(), TcpState::CloseWait);
        prop_assert!(rec.samples + rec.bad_lines.len() <= raw.split(|b| *b == b'\n').count());
    }
}

/// Valid lines of every shape: v4, v6, v4-mapped, TIME_WAIT with inode 0, LISTEN.
const VALID: &[&str] = &[
    LINE,
    "   1: 00000000000000000000000001000000:0050 00000000000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 11 1 0 20 4 0 10 -1",
    "   2: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:C351 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0",
    "   3: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0",
];

/// An edit of a valid table: overwrite, insert (including multi-byte characters
/// that land across field and word boundaries) or delete bytes, so lines merge,
/// split and shift.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Edit::Insert(i, v)),
        (any::<usize>(), "[é€😀ÿ\n ]{1,3}").prop_map(|(i, s)| Edit::Insert(i, s.into_bytes())),
        (any::<usize>(), 1usize..12).prop_map(|(i, n)| Edit::Delete(i, n)),
    ]
}

fn apply(text: &mut Vec<u8>, e: &Edit) {
    match e {
        Edit::Set(i, b) if !text.is_empty() => {
            let at = i % text.len();
            text[at] = *b;
        }
        Edit::Insert(i, v) => {
            let at = i % (text.len() + 1);
            text.splice(at..at, v.iter().copied());
        }
        Edit::Delete(i, n) if !text.is_empty() => {
            let at = i % text.len();
            let end = (at + n).min(text.len());
            text.drain(at..end);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn proc_table_edited_tables_account_for_every_line(edits in proptest::collection::vec(edit(), 1..6)) {
        let mut text = HEADER.as_bytes().to_vec();
        for l in VALID {
            text.extend_from_slice(l.as_bytes());
            text.push(b'\n');
        }
        for e in &edits {
            apply(&mut text, e);
        }
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        parse_table(&text, "tcp6", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), content_lines(&text));
        let lines = text.split(|b| *b == b'\n').count();
        for r in m.kept() {
            prop_assert!(r.line >= 1 && r.line <= lines, "line {} of {}", r.line, lines);
            prop_assert!(!r.reason.is_empty());
        }
    }

    #[test]
    fn socket_link_accepts_only_the_exact_form(s in "socket:\\[[0-9a-z\\]\\[-]{0,25}\\]?", n in any::<u64>()) {
        if let Some(v) = socket_inode(s.as_bytes()) {
            prop_assert_eq!(s, format!("socket:[{v}]"));
        }
        prop_assert_eq!(socket_inode(format!("pipe:[{n}]").as_bytes()), None);
        prop_assert_eq!(socket_inode(format!("socket:[{n}").as_bytes()), None);
    }

    #[test]
    fn remote_filter_errors_quote_the_value(s in "\\[?[0-9a-fA-F:.]{0,45}\\]?(/[0-9]{0,4})?(:[0-9]{0,6})?") {
        match s.parse::<RemoteFilter>() {
            Ok(f) => {
                if let Some((ip, len)) = f.net {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    prop_assert!(len <= max, "/{} > {}", len, max);
                }
                prop_assert!(f.port != Some(0));
            }
            Err(e) => prop_assert!(e.contains(&format!("'{s}'")) && e.contains("expected"), "{}", e),
        }
    }

    #[test]
    fn remote_filter_cidr_bounds(a in any::<[u8; 4]>(), ok in 0u8..=32, bad in 33u16..1000, port in 1u16..) {
        let ip = std::net::Ipv4Addr::from(a);
        let f: RemoteFilter = format!("{ip}/{ok}:{port}").parse().unwrap();
        prop_assert_eq!(f.net, Some((ip.into(), ok)));
        prop_assert!(f.matches(std::net::SocketAddr::new(ip.into(), port)));
        let e = format!("{ip}/{bad}").parse::<RemoteFilter>().unwrap_err();
        prop_assert!(e.contains("0 to 32"), "{}", e);
    }

    #[test]
    fn state_parser_accepts_every_spelling(
        picks in proptest::collection::vec(0usize..11, 1..5),
        upper in any::<bool>(),
        underscore in any::<bool>(),
    ) {
        let names: Vec<String> = picks
            .iter()
            .map(|i| {
                let n = TcpState::ALL[*i].snake().to_string();
                let n = if underscore { n } else { n.replace('_', "-") };
                if upper { n.to_uppercase() } else { n }
            })
            .collect();
        let mut want: Vec<TcpState> = picks.iter().map(|i| TcpState::ALL[*i]).collect();
        want.sort();
        want.dedup();
        prop_assert_eq!(parse_states(&names.join(",")).unwrap(), want);
    }
}

const UNIX_HEADER: &str = "Num       RefCount Protocol Flags    Type St Inode Path\n";
const UNIX_LINE: &str =
    "0000000000000000: 00000003 00000000 00010000 0001 03 4242 /run/postgresql/.s.PGSQL.5432";

/// `/proc/net/unix` lines that are content: not blank, not the header on line 1.
fn unix_content_lines(text: &[u8]) -> usize {
    text.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(i, l)| !(*i == 0 && l.starts_with(b"Num ")))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The unix table parser never panics and accounts for every line: a
    /// socket, or a malformed line with its number.
    #[test]
    fn proc_net_unix_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut text = UNIX_HEADER.as_bytes().to_vec();
        text.extend_from_slice(&body);
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        sockleak::collect::unix::parse_proc(&text, "unix", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), unix_content_lines(&text));
    }

    #[test]
    fn proc_net_unix_mutated_lines(
        edits in proptest::collection::vec((0usize..UNIX_LINE.len(), any::<u8>()), 0..6),
        cut in 0usize..=UNIX_LINE.len(),
        copies in 1usize..20,
    ) {
        let mut line = UNIX_LINE.as_bytes().to_vec();
        for (i, b) in edits {
            line[i] = b;
        }
        line.truncate(cut.max(1));
        let mut text = UNIX_HEADER.as_bytes().to_vec();
        for _ in 0..copies {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        sockleak::collect::unix::parse_proc(&text, "unix", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), unix_content_lines(&text));
        prop_assert!(m.kept().len() <= MalformedLog::KEPT);
        for r in m.kept() {
            prop_assert!(r.line >= 2, "line numbers count the header");
        }
    }
}

/// `ip_local_reserved_ports` text: ports, ranges, commas, and the odd byte.
fn reserved_text() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        (0u32..70000).prop_map(|p| p.to_string()),
        (0u32..70000, 0u32..70000).prop_map(|(a, b)| format!("{a}-{b}")),
        "[0-9 ,+\\-a\n\u{0}\u{1b}]{0,8}",
    ];
    proptest::collection::vec(entry, 0..40).prop_map(|v| v.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text: no panic, every entry either kept or counted as malformed, and
    /// the reserved set and its count in a range agree with a naive bitmap.
    #[test]
    fn reserved_ports_parse_like_a_bitmap(text in reserved_text(), low in 0u16.., len in 0u16..3000) {
        use sockleak::model::{PortRange, ReservedPorts, ReservedProblem};
        let (r, problem) = ReservedPorts::parse(&text);
        let mut bitmap = vec![false; 65536];
        let (mut entries, mut bad) = (0usize, 0usize);
        for e in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            entries += 1;
            let num = |t: &str| -> Option<u32> {
                let t = t.trim();
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) { return None; }
                t.parse::<u32>().ok().filter(|&n| n <= 65535)
            };
            let span = match e.split_once('-') {
                None => num(e).map(|p| (p, p)),
                Some((a, b)) => num(a).zip(num(b)).filter(|(a, b)| a <= b),
            };
            match span {
                Some((a, b)) => (a..=b).for_each(|p| bitmap[p as usize] = true),
                None => bad += 1,
            }
        }
        match &problem {
            None => prop_assert_eq!(bad, 0),
            Some(ReservedProblem::Malformed { entries: n, .. }) => prop_assert_eq!(*n, bad),
            Some(other) => prop_assert!(false, "{other:?}"),
        }
        prop_assert!(bad <= entries);
        for p in (0..=65535u32).step_by(7).chain([0, 1, 65534, 65535]) {
            prop_assert_eq!(r.contains(p as u16), bitmap[p as usize], "port {}", p);
        }
        let high = low.saturating_add(len);
        let range = PortRange { low, high };
        let naive = (low..=high).filter(|&p| bitmap[p as usize]).count() as u64;
        prop_assert_eq!(r.count_in(range), naive);
        prop_assert!(r.count_in(range) <= range.size());
    }
}
