//! Property tests (proptest) of the `--peek` classifier, whose input is other
//! processes' network data: any bytes, never a panic; a summary never carries a
//! control character or more than the prefix it may show; `--peek-bytes 0` shows
//! the class only; the protocols' summaries never quote what follows their header.
use proptest::prelude::*;
use sockleak::collect::peek::classify::{PEEK_BYTES, classify, escaped};
use sockleak::model::peek::UnreadClass;

/// The longest a summary of `shown` content bytes can be: each byte escaped to at
/// most four characters (`\xNN`), and `...`; the protocols' fixed labels (a TLS
/// record type, HTTP/2 frame names, PostgreSQL message names) fit in 160.
fn bound(shown: usize) -> usize {
    (shown * 4 + 3).max(160)
}

/// Hostile prefixes that reach each parser: protocol magic, then anything.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop_oneof![
        Just(b"HTTP/1.1 403 ".to_vec()),
        Just(b"GET / HTTP/1.1\r\n".to_vec()),
        Just(vec![23, 3, 3]),
        Just(vec![0, 0, 6, 4, 0, 0, 0, 0, 0]),
        Just(b"E\0\0\0".to_vec()),
        Just(b"-ERR ".to_vec()),
        Just(b"1a\r\n".to_vec()),
        Just(b"<html>".to_vec()),
        Just(vec![0x1f, 0x8b]),
    ];
    (magic, proptest::collection::vec(any::<u8>(), 0..PEEK_BYTES)).prop_map(|(mut m, rest)| {
        m.extend(rest);
        m.truncate(PEEK_BYTES);
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_bytes_give_a_bounded_printable_summary(
        b in proptest::collection::vec(any::<u8>(), 1..700),
        shown in 0usize..=512,
    ) {
        let (_, s) = classify(&b, shown);
        prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
        prop_assert!(s.chars().count() <= bound(shown), "{} chars for {}", s.len(), shown);
        if shown == 0 {
            prop_assert!(s.is_empty());
        }
    }

    #[test]
    fn framed_bytes_too(b in framed(), shown in 0usize..=512) {
        let (class, s) = classify(&b, shown);
        prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
        prop_assert!(s.chars().count() <= bound(shown));
        // A status line is all a head shows: nothing after its line end.
        if class == UnreadClass::HttpHead {
            let line_end = b.iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(b.len());
            prop_assert!(s.len() <= escaped(&b[..line_end], shown).len());
        }
        // TLS names its record type, never the record.
        if class == UnreadClass::Tls {
            prop_assert!(s.is_empty() || s.starts_with("TLS record, "));
        }
    }

    #[test]
    fn escaping_round_trips_printable_ascii(t in "[ -~]{0,80}") {
        let e = escaped(t.as_bytes(), 512);
        let back = e.replace("\\\\", "\\");
        prop_assert_eq!(back, t);
    }
}
