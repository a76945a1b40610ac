//! Property tests (proptest) of the `--peek` classifier, whose input is other
//! processes' network data: any bytes, never a panic; a summary never carries a
//! control character or more than the prefix it may show; `--peek-bytes 0` shows
//! the class only; the protocols' summaries never quote what follows their header;
//! a text body's header values and form fields never reach its summary.
//!
//! The edges of every class are fuzzed apart from uniform bytes (which rarely
//! reach them): queues built from each parser's structural tokens (CRLF, empty
//! lines, RESP type bytes, lengths, colons), cut anywhere and padded to the peek
//! size. A queue starting with CRLF made the RESP branch slice an empty line.
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

/// The pieces each parser looks at: line ends, RESP type bytes and lengths,
/// HTTP status and request lines, TLS and HTTP/2 headers, PostgreSQL message
/// heads, chunk sizes, text markers, and a few arbitrary bytes.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"\r\n",
        b"\r",
        b"\n",
        b"",
        b" ",
        b":",
        b"=",
        b"&",
        b";",
        b"-",
        b"+",
        b"$",
        b"*",
        b"_",
        b"#",
        b"%",
        b"~",
        b">",
        b"(",
        b"t",
        b"0",
        b"5",
        b"-1",
        b"99999999999999999999999",
        b"+OK",
        b"-ERR x",
        b"$5",
        b"*2",
        b"HTTP/1.1 ",
        b"HTTP/1.0 200",
        b"GET ",
        b" HTTP/1.1",
        b"PRI * HTTP/2.0\r\n",
        b"\x16\x03\x03",
        b"\x00\x40",
        b"\x00\x00\x06\x04\x00",
        b"\x00\x00\x00\x00",
        b"E\x00\x00\x00",
        b"Z\x00\x00\x00\x05I",
        b"C42P01\x00",
        b"1a",
        b"ffffffff",
        b"\xef\xbb\xbf",
        b"<",
        b"<?xml",
        b"<html",
        b"{",
        b"[",
        b"\x1f\x8b",
        b"Authorization",
        b"password",
        b"\xff",
        b"\xe2\x80",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

/// A queue of tokens, sometimes padded to exactly [`PEEK_BYTES`] (the "cut by
/// the peek buffer" branches).
fn tokens() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(token(), 0..40),
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(|(parts, pad, fill)| {
            let mut b = parts.concat();
            if pad {
                b.resize(PEEK_BYTES, fill);
            }
            b.truncate(PEEK_BYTES);
            b
        })
}

/// Text bodies of header lines and form lines whose every value holds `SECRET`.
fn secret_text() -> impl Strategy<Value = Vec<u8>> {
    let name = "[A-Za-z][A-Za-z0-9-]{0,20}";
    let header = (name, "[ -~]{0,10}").prop_map(|(n, v)| format!("{n}: {v}SECRET{v}").into_bytes());
    let form = proptest::collection::vec((name, "[A-Za-z0-9%+]{0,10}"), 1..5).prop_map(|kv| {
        kv.iter()
            .map(|(k, v)| format!("{k}={v}SECRET"))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    });
    let line = prop_oneof![header, form];
    let end = prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..])];
    proptest::collection::vec((line, end), 1..8).prop_map(|lines| {
        let mut b = Vec::new();
        for (l, e) in lines {
            b.extend(l);
            b.extend_from_slice(e);
        }
        b
    })
}

/// What every summary must be, whatever the bytes.
fn check_summary(b: &[u8], shown: usize) -> Result<UnreadClass, TestCaseError> {
    let (class, s) = classify(b, shown);
    prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
    prop_assert!(
        s.chars().count() <= bound(shown),
        "{} chars for {}",
        s.len(),
        shown
    );
    if shown == 0 {
        prop_assert!(s.is_empty());
    }
    Ok(class)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The fuzz: every class's edges, from their own tokens.
    #[test]
    fn token_queues_never_panic(b in tokens(), shown in 0usize..=512) {
        check_summary(&b, shown)?;
        // The same queue behind a leading CRLF or an empty line.
        for lead in [&b"\r\n"[..], b"\n", b"\r\n\r\n"] {
            let mut q = lead.to_vec();
            q.extend_from_slice(&b);
            check_summary(&q, shown)?;
        }
    }

    /// Every prefix of a token queue: each parser's "the buffer ends here" edge.
    #[test]
    fn every_cut_of_a_queue(b in tokens(), shown in 0usize..=64) {
        for end in 0..=b.len().min(64) {
            check_summary(&b[..end], shown)?;
        }
    }

    #[test]
    fn text_never_shows_a_header_value_or_form_field(b in secret_text(), shown in 1usize..=512) {
        let (class, s) = classify(&b, shown);
        prop_assert_eq!(class, UnreadClass::Text, "{:?}", String::from_utf8_lossy(&b));
        prop_assert!(!s.contains("SECRET"), "{:?} from {:?}", s, String::from_utf8_lossy(&b));
    }

    #[test]
    fn any_bytes_give_a_bounded_printable_summary(
        b in proptest::collection::vec(any::<u8>(), 0..700),
        shown in 0usize..=512,
    ) {
        check_summary(&b, shown)?;
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
