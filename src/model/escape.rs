//! The one way sockleak writes other processes' text (unix socket names, process
//! and container names, users, command lines, peers, `--peek` summaries, paths)
//! into a human format: a table cell, a `--watch` frame, an alert, breach or
//! Nagios line, a chart label, a Prometheus label value (before the exposition
//! format's own escaping).
//!
//! The escapes, each of which starts with a backslash (so a backslash is itself
//! escaped, and no escape can be forged by a name that contains one):
//!
//! | text                                                   | written as       |
//! |--------------------------------------------------------|------------------|
//! | `\`                                                    | `\\`             |
//! | newline, carriage return, tab                          | `\n`, `\r`, `\t` |
//! | other C0 controls and DEL (U+0000–U+001F, U+007F)      | `\x1b`           |
//! | a byte that is not part of valid UTF-8                 | `\xff`           |
//! | C1 controls (U+0080–U+009F)                            | `\u{9b}`         |
//! | format characters (Cf: bidi overrides and isolates, zero-width characters, the BOM, tags, ...), line and paragraph separators (U+2028, U+2029), spaces other than U+0020 (Zs), U+FFFD | `\u{202e}` |
//! | `"`, in quoted text only (`--peek` summaries)          | `\"`             |
//! | in a name: a leading `(`, and a whole name `-` or `*`  | `\x28`, `\x2d`, `\x2a` |
//!
//! `\xNN` is always one byte (under 0x80 the byte is the character); `\u{..}`
//! always one character: a C1 control `\u{85}` is never the invalid byte `\x85`.
//! Every other character is written as it is. Reading the escapes back gives the
//! input's bytes exactly, so two different inputs never print alike.
//!
//! The name rule keeps sockleak's own labels apart from names: every label sockleak
//! writes where a name could stand starts with `(` (`(socketpair)`, `(peer
//! closed)`, `(unnamed)`, `(unowned)`, `(unattributed)`, `(closed)`, ...) or is
//! one of the placeholders `-` (none) or `*` (any), and no escaped name starts
//! with `(` or is one of those. (`?`, an unreadable `comm` or user, is not marked:
//! the collection stores it as the name itself, so it cannot be told apart here.)

use std::borrow::Cow;
use std::fmt::Write;

/// Which of the context-dependent rules apply (the rest always do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// The text is printed between double quotes: `"` is escaped.
    pub quoted: bool,
    /// The text stands where one of sockleak's labels could (a table cell, a
    /// name in a line): see the module docs.
    pub name: bool,
    /// The input is escaped already by these rules but for `"` and the format
    /// characters (a `--peek` summary, made by `collect::peek::classify`): its
    /// backslashes start escapes and are kept as they are.
    pub pre_escaped: bool,
}

/// Write `bytes` escaped into `out`: the one escaping function.
pub fn escape_into(out: &mut String, bytes: &[u8], cx: Context) {
    let mut rest = bytes;
    let mut first = true;
    while !rest.is_empty() {
        let (good, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `good` is valid UTF-8 by `valid_up_to`.
                (std::str::from_utf8(good).unwrap_or_default(), bad)
            }
        };
        for c in good.chars() {
            if first && cx.name && c == '(' {
                out.push_str("\\x28");
            } else {
                push_char(out, c, cx);
            }
            first = false;
        }
        // An invalid sequence is 1 to 3 bytes (`error_len`), or the rest when cut
        // at the end: each is shown as itself.
        let n = match std::str::from_utf8(bad) {
            Err(e) => e.error_len().unwrap_or(bad.len()),
            Ok(_) => bad.len(),
        };
        for b in &bad[..n] {
            let _ = write!(out, "\\x{b:02x}");
            first = false;
        }
        rest = &bad[n..];
    }
}

fn push_char(out: &mut String, c: char, cx: Context) {
    match c {
        '\\' if cx.pre_escaped => out.push('\\'),
        '\\' => out.push_str("\\\\"),
        '"' if cx.quoted => out.push_str("\\\""),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0'..='\x1f' | '\x7f' => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if ('\u{80}'..='\u{9f}').contains(&c) || is_invisible(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// Whether `c` is a character an escape must make visible: Unicode general
/// category Cf (format), Zl and Zp (line and paragraph separators), Zs other than
/// the ASCII space (it would read as one), and U+FFFD (a lossy conversion's mark:
/// shown for what it is).
///
/// The table is Unicode 15.1's category Cf, written out (no crate for one small
/// table); `tests/it/report/escape.rs` checks it against Python's `unicodedata`. A format
/// character added by a later Unicode version is written as it is until the table
/// has it.
pub fn is_invisible(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        // Cf
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        // Zl, Zp
        (0x2028, 0x2029),
        // Zs but U+0020
        (0x00A0, 0x00A0),
        (0x1680, 0x1680),
        (0x2000, 0x200A),
        (0x202F, 0x202F),
        (0x205F, 0x205F),
        (0x3000, 0x3000),
        // The replacement character
        (0xFFFD, 0xFFFD),
    ];
    let c = u32::from(c);
    c >= 0xA0 && RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Whether `bytes` print as they are in free text (nothing to escape).
fn plain(s: &str) -> bool {
    !s.chars()
        .any(|c| c == '\\' || c.is_control() || is_invisible(c))
}

/// Free text (a path in a warning, a command line, a log's route) for a
/// terminal line.
pub fn text(s: &str) -> Cow<'_, str> {
    if plain(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s.as_bytes(), Context::default());
    Cow::Owned(out)
}

/// A name (process, user, container, unix socket name) for a table cell or a
/// line: escaped, and never one of sockleak's labels.
pub fn name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    match bytes {
        b"-" | b"*" => {
            let _ = write!(out, "\\x{:02x}", bytes[0]);
        }
        _ => escape_into(
            &mut out,
            bytes,
            Context {
                name: true,
                ..Context::default()
            },
        ),
    }
    out
}

/// A `--peek` summary (escaped already by the classifier) for printing between
/// double quotes: `"` and the format characters escaped too.
pub fn summary(s: &str) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| c == '"' || c.is_control() || is_invisible(c))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(
        &mut out,
        s.as_bytes(),
        Context {
            quoted: true,
            pre_escaped: true,
            ..Context::default()
        },
    );
    Cow::Owned(out)
}

/// `bytes` as lowercase hex, two digits a byte (JSON `unix_name_hex`).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(b: &[u8]) -> String {
        let mut out = String::new();
        escape_into(&mut out, b, Context::default());
        out
    }

    #[test]
    fn every_class_golden() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain /run/x.sock @dbus-1", "plain /run/x.sock @dbus-1"),
            (b"a\\b", "a\\\\b"),
            (b"\\x1b", "\\\\x1b"),
            (b"a\nb\rc\td", "a\\nb\\rc\\td"),
            (b"\x1b[2J\x07\x00\x7f", "\\x1b[2J\\x07\\x00\\x7f"),
            ("\u{85}\u{9b}".as_bytes(), "\\u{85}\\u{9b}"),
            (b"x\xff", "x\\xff"),
            (b"x\xfe", "x\\xfe"),
            (b"\xc2", "\\xc2"),
            (b"\xe2\x80", "\\xe2\\x80"),
            (b"\xe2\x80z", "\\xe2\\x80z"),
            (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),
            ("a\u{202e}b".as_bytes(), "a\\u{202e}b"),
            ("\u{2066}\u{2069}".as_bytes(), "\\u{2066}\\u{2069}"),
            (
                "\u{200b}\u{feff}\u{ad}".as_bytes(),
                "\\u{200b}\\u{feff}\\u{ad}",
            ),
            ("\u{2028}\u{2029}".as_bytes(), "\\u{2028}\\u{2029}"),
            ("\u{e0041}".as_bytes(), "\\u{e0041}"),
            ("a\u{a0}b\u{3000}".as_bytes(), "a\\u{a0}b\\u{3000}"),
            ("\u{fffd}".as_bytes(), "\\u{fffd}"),
            ("sé ☃ 日本".as_bytes(), "sé ☃ 日本"),
            (b"say \"hi\"", "say \"hi\""),
        ];
        for (input, want) in cases {
            assert_eq!(t(input), *want, "{input:?}");
        }
    }

    #[test]
    fn names_never_look_like_labels() {
        assert_eq!(name(b"(socketpair)"), "\\x28socketpair)");
        assert_eq!(name(b"(unattributed)"), "\\x28unattributed)");
        assert_eq!(name(b"a(b)"), "a(b)");
        assert_eq!(name(b"-"), "\\x2d");
        assert_eq!(name(b"*"), "\\x2a");
        assert_eq!(name(b"?"), "?");
        assert_eq!(name(b"--"), "--");
        assert_eq!(name(b"@x\xff"), "@x\\xff");
        assert_eq!(name(b"\xff("), "\\xff(");
        assert_eq!(name(b"postgres"), "postgres");
    }

    #[test]
    fn quoted_summaries() {
        // The classifier escaped the backslash and the newline already.
        assert_eq!(summary("a\\\\b\\n"), "a\\\\b\\n");
        assert_eq!(summary("say \"hi\""), "say \\\"hi\\\"");
        assert_eq!(summary("x\u{202e}y\u{2028}"), "x\\u{202e}y\\u{2028}");
        assert_eq!(summary("<html>"), "<html>");
        assert!(matches!(summary("<html>"), Cow::Borrowed(_)));
    }

    #[test]
    fn text_borrows_when_nothing_to_escape() {
        assert!(matches!(text("/run/x y"), Cow::Borrowed(_)));
        assert_eq!(text("a\u{1b}"), "a\\x1b");
        assert_eq!(hex(b"\0x\xff"), "0078ff");
    }

    #[test]
    fn the_table_misses_ascii() {
        for c in (0u8..0x80).map(char::from) {
            assert!(!is_invisible(c), "{c:?}");
        }
        assert!(is_invisible('\u{202e}') && is_invisible('\u{202a}'));
        assert!(!is_invisible('\u{2030}') && !is_invisible('é'));
    }
}
