//! Property tests ("fuzzing" under `cargo test`) for every parser that sees
//! untrusted text: `/proc/net/tcp{,6}` lines, `/proc/<pid>/fd` and `ns` link targets,
//! and the `--remote` and `--state` flag values. None may panic, and the table parser
//! must account for every line it is given.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use proptest::prelude::*;
use sockleak::collect::fdscan::{ns_inode, socket_inode};
use sockleak::collect::proc_net::parse_table;
use sockleak::filter::{RemoteFilter, parse_states};
use sockleak::model::TcpState;

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

const VALID: &[&str] = &[
    "   0: 0100007F:1F90 0200007F:D431 08 00000002:0000000A 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 0 10 -1",
    "   1: 00000000000000000000000001000000:0050 00000000000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 11 1 0 20 4 0 10 -1",
    "   2: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:C351 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0",
    "   3: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0",
];

/// Lines the parser must account for: everything after the header that is not blank.
fn data_lines(text: &[u8]) -> usize {
    text.split(|b| *b == b'\n')
        .skip(1)
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count()
}

fn check_accounting(text: &[u8]) -> Result<(), TestCaseError> {
    let (mut socks, mut bad) = (Vec::new(), Vec::new());
    parse_table(text, "tcp", 1, &mut socks, &mut bad);
    prop_assert_eq!(
        socks.len() + bad.len(),
        data_lines(text),
        "parsed + malformed must equal the data lines"
    );
    let lines = text.split(|b| *b == b'\n').count();
    for m in &bad {
        prop_assert!(
            m.line >= 2 && m.line <= lines,
            "line {} out of range",
            m.line
        );
        prop_assert!(!m.reason.is_empty());
    }
    Ok(())
}

/// A mutation applied to a valid table: overwrite, insert or delete bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..12).prop_map(|(i, n)| Mutation::Delete(i, n)),
        // Multi-byte UTF-8 lands on field boundaries that byte slicing would split.
        (any::<usize>(), "[é€😀ÿ]{1,3}").prop_map(|(i, s)| Mutation::Insert(i, s.into_bytes())),
    ]
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let len = text.len().max(1);
    match m {
        Mutation::Set(i, b) => {
            if !text.is_empty() {
                text[i % len] = *b;
            }
        }
        Mutation::Insert(i, v) => {
            let at = i % (text.len() + 1);
            text.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            if !text.is_empty() {
                let at = i % len;
                let end = (at + n).min(text.len());
                text.drain(at..end);
            }
        }
    }
}

fn valid_table() -> Vec<u8> {
    let mut t = HEADER.as_bytes().to_vec();
    for l in VALID {
        t.extend_from_slice(l.as_bytes());
        t.push(b'\n');
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn table_random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(&body);
        check_accounting(&text)?;
        check_accounting(&body)?;
    }

    #[test]
    fn table_mutations_never_panic_and_are_counted(
        muts in prop::collection::vec(mutation(), 1..6)
    ) {
        let mut text = valid_table();
        for m in &muts {
            apply(&mut text, m);
        }
        check_accounting(&text)?;
    }

    #[test]
    fn table_field_shaped_garbage(
        fields in prop::collection::vec("[0-9A-Fa-f:x\\[\\]é -]{0,40}", 0..20)
    ) {
        let line = fields.join(" ");
        let text = format!("{HEADER}{line}\n{}\n", VALID[0]);
        check_accounting(text.as_bytes())?;
    }

    #[test]
    fn socket_link_never_panics(link in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = socket_inode(&link);
    }

    #[test]
    fn socket_link_round_trips(n in any::<u64>()) {
        let link = format!("socket:[{n}]");
        prop_assert_eq!(socket_inode(link.as_bytes()), Some(n));
        prop_assert_eq!(socket_inode(format!("pipe:[{n}]").as_bytes()), None);
        prop_assert_eq!(socket_inode(format!("socket:[{n}").as_bytes()), None);
    }

    #[test]
    fn socket_link_shaped_garbage(s in "socket:\\[[0-9a-z\\]\\[-]{0,25}\\]?") {
        if let Some(v) = socket_inode(s.as_bytes()) {
            prop_assert_eq!(s, format!("socket:[{v}]"));
        }
    }

    #[test]
    fn ns_link_never_panics(link in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = ns_inode(OsStr::from_bytes(&link));
    }

    #[test]
    fn ns_link_round_trips(n in any::<u64>(), kind in "[a-z_]{1,10}") {
        let link = format!("{kind}:[{n}]");
        prop_assert_eq!(ns_inode(OsStr::new(&link)), Some(n));
    }

    #[test]
    fn ns_link_shaped_garbage(s in "[a-z]{0,4}:?[\\[\\]]{0,2}[0-9é]{0,22}[\\[\\]]{0,2}") {
        let _ = ns_inode(OsStr::new(&s));
    }

    #[test]
    fn remote_parser_never_panics(s in any::<String>()) {
        if let Err(e) = s.parse::<RemoteFilter>() {
            prop_assert!(e.contains("expected"), "{e}");
        }
    }

    #[test]
    fn remote_parser_address_shaped(s in "\\[?[0-9a-fA-F:.]{0,45}\\]?(/[0-9]{0,4})?(:[0-9]{0,6})?") {
        match s.parse::<RemoteFilter>() {
            Ok(f) => {
                if let Some((ip, len)) = f.net {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    prop_assert!(len <= max, "/{} > {}", len, max);
                }
                prop_assert!(f.port != Some(0));
            }
            Err(e) => prop_assert!(e.contains(&format!("'{s}'")), "{e}"),
        }
    }

    #[test]
    fn remote_parser_accepts_every_v4_cidr(a in any::<[u8; 4]>(), len in 0u8..=32, port in 1u16..) {
        let ip = std::net::Ipv4Addr::from(a);
        let f: RemoteFilter = format!("{ip}/{len}:{port}").parse().unwrap();
        prop_assert_eq!(f.net, Some((ip.into(), len)));
        prop_assert_eq!(f.port, Some(port));
        prop_assert!(f.matches(std::net::SocketAddr::new(ip.into(), port)));
    }

    #[test]
    fn remote_parser_rejects_long_prefixes(a in any::<[u8; 4]>(), len in 33u16..1000) {
        let ip = std::net::Ipv4Addr::from(a);
        let e = format!("{ip}/{len}").parse::<RemoteFilter>().unwrap_err();
        prop_assert!(e.contains("prefix length"), "{e}");
    }

    #[test]
    fn state_parser_never_panics(s in any::<String>()) {
        match parse_states(&s) {
            Ok(v) => prop_assert!(!v.is_empty()),
            Err(e) => prop_assert!(e.contains('\''), "{e}"),
        }
        let _ = s.parse::<TcpState>();
    }

    #[test]
    fn state_parser_accepts_every_spelling(
        picks in prop::collection::vec(0usize..11, 1..5),
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
        let got = parse_states(&names.join(",")).unwrap();
        let mut want: Vec<TcpState> = picks.iter().map(|i| TcpState::ALL[*i]).collect();
        want.sort();
        want.dedup();
        prop_assert_eq!(got, want);
    }
}
