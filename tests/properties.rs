//! Property tests (proptest): the parsers of untrusted input never panic, and
//! never drop a line silently.
use proptest::prelude::*;
use sockleak::collect::fdscan::{ns_inode, socket_inode};
use sockleak::collect::proc_net::parse_table;
use sockleak::filter::{RemoteFilter, parse_states};
use sockleak::model::TcpState;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const LINE: &str = "   0: 0100007F:1F90 0200007F:D431 08 00000002:0000000A 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 0 10 -1";

/// Lines after the header that are not blank: each must be parsed or reported.
fn content_lines(text: &[u8]) -> usize {
    text.split(|b| *b == b'\n')
        .skip(1)
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn proc_table_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(&body);
        let (mut s, mut m) = (Vec::new(), Vec::new());
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
        let (mut s, mut m) = (Vec::new(), Vec::new());
        parse_table(&text, "tcp", 0, &mut s, &mut m);
        prop_assert_eq!(s.len() + m.len(), content_lines(&text));
        for r in &m {
            prop_assert!(r.line >= 2, "line numbers count the header");
        }
    }

    #[test]
    fn proc_table_unicode_fields(local in "\\PC{0,40}", remote in "\\PC{0,40}", rest in "\\PC{0,60}") {
        // Random bytes are rarely valid UTF-8 of the right length; text fields are
        // what once found a panic (slicing inside a multi-byte character).
        let text = format!("{HEADER}   0: {local} {remote} {rest}\n   1: {local}:0050 {remote}:0050 01 0:0 0 0 0 0 7\n");
        let (mut s, mut m) = (Vec::new(), Vec::new());
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
        let rec = sockleak::plot::read_record(raw.as_slice(), TcpState::CloseWait);
        prop_assert!(rec.samples + rec.bad_lines.len() <= raw.split(|b| *b == b'\n').count());
    }
}
