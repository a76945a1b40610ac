//! Naming the first bytes of a receive queue: pure, on at most [`PEEK_BYTES`]
//! bytes another process was sent, so hostile input (tests/properties: any bytes,
//! never a panic, never a control character out).
//!
//! Order matters: framed protocols with a strict header (TLS, HTTP/2, HTTP/1.x,
//! PostgreSQL, RESP) are tried before the looser body classes, and each is checked
//! far enough (lengths, the frames or messages that follow) that a text body does
//! not pass for one.
//!
//! Privacy: a summary holds at most `shown` bytes of content (`--peek-bytes`), and
//! for the protocols only what names the message: the HTTP status line, the
//! method of a request, the TLS content type, HTTP/2 frame types, PostgreSQL
//! message types and SQLSTATE, the first RESP token. Never a whole body. A
//! `text` body shows only its shape (header names, form keys, or its length):
//! plain text is where `Authorization:` lines and `password=` fields land.

use std::fmt::Write as _;

use crate::model::peek::UnreadClass;

/// At most this many bytes are peeked per socket.
pub const PEEK_BYTES: usize = 512;

/// The class of `bytes` (a queue's first bytes, not empty) and its summary,
/// showing at most `shown` bytes of content (0: class only).
pub fn classify(bytes: &[u8], shown: usize) -> (UnreadClass, String) {
    let bytes = &bytes[..bytes.len().min(PEEK_BYTES)];
    let (class, summary) = protocol(bytes, shown).unwrap_or_else(|| body(bytes, shown));
    if shown == 0 {
        return (class, String::new());
    }
    (class, summary)
}

/// A framed protocol, when the bytes are one.
fn protocol(b: &[u8], shown: usize) -> Option<(UnreadClass, String)> {
    if let Some(t) = tls(b) {
        return Some((UnreadClass::Tls, t));
    }
    if let Some(f) = http2(b) {
        return Some((UnreadClass::Http2, f));
    }
    if let Some(line) = http_status_line(b) {
        return Some((UnreadClass::HttpHead, escaped(line, shown)));
    }
    if let Some(method) = http_request(b) {
        return Some((UnreadClass::HttpRequest, method.to_string()));
    }
    if let Some(m) = postgres(b) {
        return Some((UnreadClass::Postgres, m));
    }
    if let Some(token) = redis(b) {
        return Some((UnreadClass::Redis, escaped(token, shown)));
    }
    None
}

/// A TLS record header: content type, version 3.x, a length a record may have.
fn tls(b: &[u8]) -> Option<String> {
    let [ty, 3, minor, hi, lo, ..] = *b else {
        return None;
    };
    let len = usize::from(hi) << 8 | usize::from(lo);
    // RFC 8446 5.1/5.2: at most 2^14 plaintext bytes, 2^14 + 2048 ciphertext.
    if minor > 4 || len == 0 || len > (1 << 14) + 2048 {
        return None;
    }
    let name = match ty {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data (encrypted)",
        24 => "heartbeat",
        _ => return None,
    };
    Some(format!("TLS record, {name}"))
}

/// HTTP/2: the client preface, or a run of well-formed frame headers (9 bytes:
/// length, type, flags, stream id with its reserved bit clear).
fn http2(b: &[u8]) -> Option<String> {
    if b.starts_with(b"PRI * HTTP/2.0\r\n") {
        return Some("client preface".to_string());
    }
    let mut names: Vec<String> = Vec::new();
    let mut at = 0;
    while at + 9 <= b.len() {
        let h = &b[at..at + 9];
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        let name = frame_name(h[3])?;
        // The default SETTINGS_MAX_FRAME_SIZE; SETTINGS and the connection-level
        // frames are on stream 0, the stream frames never are.
        let on_zero = matches!(h[3], 4 | 6 | 7);
        let fixed_ok = match h[3] {
            4 => len % 6 == 0,
            6 => len == 8,
            7 => len >= 8,
            8 => len == 4,
            3 => len == 4,
            2 => len == 5,
            _ => true,
        };
        // WINDOW_UPDATE (8) is sent on both.
        let stream_ok = on_zero == (stream == 0) || h[3] == 8;
        if len > 16_384 || stream >> 31 != 0 || !stream_ok || !fixed_ok {
            return None;
        }
        let mut label = name.to_string();
        if h[3] == 7 && at + 17 <= b.len() {
            let code = u32::from_be_bytes([b[at + 13], b[at + 14], b[at + 15], b[at + 16]]);
            let _ = write!(label, " {}", h2_error(code));
        }
        if names.last() != Some(&label) && names.len() < 4 {
            names.push(label);
        }
        at += 9 + len;
    }
    // One whole frame header at least: nine bytes that happen to fit are no proof.
    (!names.is_empty()).then(|| names.join(", "))
}

fn frame_name(ty: u8) -> Option<&'static str> {
    Some(match ty {
        0 => "DATA",
        1 => "HEADERS",
        2 => "PRIORITY",
        3 => "RST_STREAM",
        4 => "SETTINGS",
        5 => "PUSH_PROMISE",
        6 => "PING",
        7 => "GOAWAY",
        8 => "WINDOW_UPDATE",
        9 => "CONTINUATION",
        _ => return None,
    })
}

fn h2_error(code: u32) -> String {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    NAMES
        .get(code as usize)
        .map_or_else(|| format!("error 0x{code:x}"), |n| (*n).to_string())
}

/// `HTTP/1.x NNN reason`: the status line, without its line end.
fn http_status_line(b: &[u8]) -> Option<&[u8]> {
    let rest = b
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| b.strip_prefix(b"HTTP/1.0 "))?;
    if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let end = b.iter().position(|&c| c == b'\r' || c == b'\n');
    Some(&b[..end.unwrap_or(b.len())])
}

/// A request line's method (`GET / HTTP/1.1`), only when the line is one.
fn http_request(b: &[u8]) -> Option<&'static str> {
    const METHODS: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    let method = METHODS
        .into_iter()
        .find(|m| b.starts_with(m.as_bytes()) && b.get(m.len()) == Some(&b' '))?;
    let line_end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
    let line = &b[..line_end];
    let ok = line
        .windows(9)
        .any(|w| w == b" HTTP/1.1" || w == b" HTTP/1.0");
    ok.then_some(method)
}

/// PostgreSQL backend messages (type byte, big-endian length counting itself):
/// every message that starts in the buffer must be well formed.
fn postgres(b: &[u8]) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let head = b.get(at..at + 5)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let (name, fixed) = pg_message(head[0])?;
        if !(4..=1 << 24).contains(&len) || fixed.is_some_and(|f| f != len) {
            return None;
        }
        let body = &b[(at + 5).min(b.len())..(at + 1 + len).min(b.len())];
        let mut label = name.to_string();
        if matches!(head[0], b'E' | b'N') {
            let _ = write!(label, " SQLSTATE {}", sqlstate(body)?);
        }
        if names.last() != Some(&label) && names.len() < 4 {
            names.push(label);
        }
        at += 1 + len;
    }
    (!names.is_empty()).then(|| names.join(", "))
}

/// A backend message's name, and its length when fixed.
fn pg_message(ty: u8) -> Option<(&'static str, Option<usize>)> {
    Some(match ty {
        b'E' => ("ErrorResponse", None),
        b'N' => ("NoticeResponse", None),
        b'Z' => ("ReadyForQuery", Some(5)),
        b'R' => ("Authentication", None),
        b'S' => ("ParameterStatus", None),
        b'K' => ("BackendKeyData", Some(12)),
        b'T' => ("RowDescription", None),
        b'D' => ("DataRow", None),
        b'C' => ("CommandComplete", None),
        b'1' => ("ParseComplete", Some(4)),
        b'2' => ("BindComplete", Some(4)),
        b'3' => ("CloseComplete", Some(4)),
        b'n' => ("NoData", Some(4)),
        b'I' => ("EmptyQueryResponse", Some(4)),
        b's' => ("PortalSuspended", Some(4)),
        b't' => ("ParameterDescription", None),
        b'A' => ("NotificationResponse", None),
        b'G' => ("CopyInResponse", None),
        b'H' => ("CopyOutResponse", None),
        b'd' => ("CopyData", None),
        b'c' => ("CopyDone", Some(4)),
        _ => return None,
    })
}

/// The SQLSTATE (`C` field: five digits or capitals) of an ErrorResponse or
/// NoticeResponse body; `?` when the buffer ends before it. Only the code is
/// taken: the message fields can quote data.
fn sqlstate(body: &[u8]) -> Option<String> {
    let mut fields = body;
    while let Some((&code, rest)) = fields.split_first() {
        if code == 0 {
            break;
        }
        let Some(end) = rest.iter().position(|&c| c == 0) else {
            return Some("?".to_string()); // cut by the buffer
        };
        if code == b'C' {
            let v = &rest[..end];
            let ok = v.len() == 5
                && v.iter()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
            return ok.then(|| String::from_utf8_lossy(v).into_owned());
        }
        if !code.is_ascii_alphabetic() {
            return None;
        }
        fields = &rest[end + 1..];
    }
    Some("?".to_string())
}

/// RESP (Redis): the first line's first token, when the line is one.
fn redis(b: &[u8]) -> Option<&[u8]> {
    let (&first, _) = b.split_first()?;
    let line_end = b.windows(2).position(|w| w == b"\r\n");
    // A line cut by the peek buffer still counts; one without an end does not.
    let line = match line_end {
        Some(e) => &b[..e],
        None if b.len() == PEEK_BYTES => b,
        None => return None,
    };
    // A queue that starts with CRLF (left after a body) has an empty first line.
    let (_, rest) = line.split_first()?;
    let numeric = |r: &[u8]| {
        let digits = r.strip_prefix(b"-").unwrap_or(r);
        !digits.is_empty() && digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit)
    };
    let ok = match first {
        b'+' | b'-' => !rest.is_empty() && rest.iter().all(|c| (0x20..0x7f).contains(c)),
        b':' | b'$' | b'*' | b'%' | b'~' | b'>' | b'=' | b'(' => numeric(rest),
        b'_' => rest.is_empty(),
        b'#' => rest == b"t" || rest == b"f",
        _ => false,
    };
    if !ok {
        return None;
    }
    let end = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
    Some(&line[..end])
}

/// A body by its look: gzip by its magic, then text (HTML, XML, JSON, plain) when
/// it is UTF-8 that is nearly all printable, else binary. A chunked body's size
/// line is stepped over.
fn body(b: &[u8], shown: usize) -> (UnreadClass, String) {
    if b.starts_with(&[0x1f, 0x8b]) {
        return (UnreadClass::Gzip, String::new());
    }
    let peeked = b.len();
    let b = chunk_data(b).unwrap_or(b);
    let b_ws = trim_start(b);
    let class = if !looks_textual(b) {
        UnreadClass::Binary
    } else if starts_with_ci(b_ws, b"<?xml") {
        UnreadClass::Xml
    } else if b_ws.first() == Some(&b'<') && is_html(b_ws) {
        UnreadClass::Html
    } else if matches!(b_ws.first(), Some(b'{' | b'[')) {
        UnreadClass::Json
    } else {
        UnreadClass::Text
    };
    let summary = match class {
        // Binary content has no printable prefix worth showing.
        UnreadClass::Binary => String::new(),
        // Plain text is where headers and form fields land: only its shape.
        UnreadClass::Text => escaped(&text_shape(b_ws, peeked), shown),
        _ => escaped(b_ws, shown),
    };
    (class, summary)
}

/// The shape of a text body without its values: each header line as its name
/// (`Authorization: …`), each form line as its keys (`user=…&password=…`),
/// blank lines kept and any other line as `…`, line ends as they were. Text
/// with neither headers nor form fields is only the length peeked (`14 bytes`,
/// or `512+ bytes` when the peek was cut): free text can quote anything.
fn text_shape(b: &[u8], peeked: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut structured = false;
    for line in b.split_inclusive(|&c| c == b'\n') {
        let (body, end) = split_line_end(line);
        if let Some(name) = header_name(body) {
            out.extend_from_slice(name);
            out.extend_from_slice(": …".as_bytes());
            structured = true;
        } else if let Some(keys) = form_keys(body) {
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b'&');
                }
                out.extend_from_slice(k);
                out.extend_from_slice("=…".as_bytes());
            }
            structured = true;
        } else if !body.is_empty() {
            out.extend_from_slice("…".as_bytes());
        }
        out.extend_from_slice(end);
    }
    if structured {
        return out;
    }
    let more = if peeked >= PEEK_BYTES { "+" } else { "" };
    format!("{peeked}{more} bytes").into_bytes()
}

/// A line and its end (`\r\n`, `\n` or nothing).
fn split_line_end(line: &[u8]) -> (&[u8], &[u8]) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    line.split_at(body.len())
}

/// RFC 9110 token characters: what a header name or form key may be shown as.
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// `Name: value`: the name, when the line is a header.
fn header_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&c| c == b':')?;
    let name = &line[..colon];
    (!name.is_empty() && name.len() <= 64 && name.iter().all(|&c| is_token(c))).then_some(name)
}

/// `k=v&k2=v2`: the keys, when the whole line is form fields.
fn form_keys(line: &[u8]) -> Option<Vec<&[u8]>> {
    let mut keys = Vec::new();
    for pair in line.split(|&c| c == b'&') {
        let eq = pair.iter().position(|&c| c == b'=')?;
        let key = &pair[..eq];
        let ok = !key.is_empty()
            && key.len() <= 64
            && key
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"-_.~%[]+".contains(&c));
        if !ok {
            return None;
        }
        keys.push(key);
    }
    (!keys.is_empty()).then_some(keys)
}

/// The data after a chunked body's size line (`1a3\r\n`, hex, an optional
/// extension): what a client that read the head of a chunked response left.
fn chunk_data(b: &[u8]) -> Option<&[u8]> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    let size = &b[..end];
    let hex = size.split(|&c| c == b';').next()?;
    let ok = !hex.is_empty() && hex.len() <= 8 && hex.iter().all(u8::is_ascii_hexdigit);
    let rest = &b[end + 2..];
    (ok && !rest.is_empty()).then_some(rest)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn starts_with_ci(b: &[u8], prefix: &[u8]) -> bool {
    b.len() >= prefix.len() && b[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// An HTML document or fragment: a tag HTML error pages start with.
fn is_html(b: &[u8]) -> bool {
    const TAGS: [&[u8]; 12] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<body",
        b"<title",
        b"<h1",
        b"<h2",
        b"<p>",
        b"<div",
        b"<center",
        b"<pre",
        b"<!--",
    ];
    TAGS.iter().any(|t| starts_with_ci(b, t))
}

/// UTF-8 (a character cut by the buffer's end aside) whose characters are all
/// printable or whitespace.
fn looks_textual(b: &[u8]) -> bool {
    let text = match std::str::from_utf8(b) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            // Cut inside a character at the end: the valid part is what counts.
            std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// At most `max` bytes of `b` as one line of text: backslash, the C0 and C1
/// controls and DEL escaped (`\n`, `\r`, `\t`, `\x1b`), bytes that are not UTF-8
/// as `\xNN`, and `...` when there was more. Quotes are left as they are: JSON
/// escapes them itself, and in the table a summary ends at its line's last quote.
/// Byte-oriented (the input is not a string), unlike `model::printable`, whose
/// escapes it writes the same way.
pub fn escaped(b: &[u8], max: usize) -> String {
    let cut = &b[..b.len().min(max)];
    let mut out = String::with_capacity(cut.len() + 8);
    let mut rest = cut;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                push_escaped(&mut out, s);
                rest = &[];
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // SAFETY-free: `good` is valid UTF-8 by `valid_up_to`.
                push_escaped(&mut out, std::str::from_utf8(good).unwrap_or(""));
                // A character cut at the end of the prefix is dropped, not
                // shown as bytes; an invalid byte is shown.
                let n = match e.error_len() {
                    Some(n) => n,
                    None if cut.len() < b.len() => break,
                    None => bad.len(),
                };
                for byte in &bad[..n] {
                    let _ = write!(out, "\\x{byte:02x}");
                }
                rest = &bad[n..];
            }
        }
    }
    if b.len() > max {
        out.push_str("...");
    }
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(b: &[u8]) -> (&'static str, String) {
        let (class, s) = classify(b, 48);
        (class.name(), s)
    }

    #[test]
    fn http_heads_show_the_status_line_only() {
        let r = b"HTTP/1.1 403 Forbidden\r\nSet-Cookie: session=secret\r\n\r\n<html>";
        assert_eq!(c(r), ("http-head", "HTTP/1.1 403 Forbidden".into()));
        assert_eq!(c(b"HTTP/1.0 500 x"), ("http-head", "HTTP/1.0 500 x".into()));
        assert_eq!(c(b"HTTP/1.1 abc").0, "text");
        assert_eq!(
            c(b"GET /reset?token=secret HTTP/1.1\r\nHost: x\r\n"),
            ("http-request", "GET".into())
        );
        assert_eq!(c(b"GET over here").0, "text");
    }

    #[test]
    fn bodies_by_their_look() {
        let html = b"<html><body>forbidden forbidden forbidden forbidden forbidden</body></html>";
        assert_eq!(
            c(html),
            (
                "html",
                "<html><body>forbidden forbidden forbidden forbid...".into()
            )
        );
        assert_eq!(c(b"\n  <!DOCTYPE html>\n<html>").0, "html");
        assert_eq!(
            c(b"{\"error\":\"forbidden\"}"),
            ("json", "{\"error\":\"forbidden\"}".into())
        );
        assert_eq!(c(b"<?xml version=\"1.0\"?><fault/>").0, "xml");
        assert_eq!(c(b"Access denied\n"), ("text", "14 bytes".into()));
        assert_eq!(c(&[0x1f, 0x8b, 8, 0, 0, 0]), ("gzip", String::new()));
        assert_eq!(c(&[0, 1, 2, 0xff, 0xfe, 7]), ("binary", String::new()));
        // A chunked body's size line is stepped over.
        assert_eq!(
            c(b"1f\r\n<html><body>no</body></html>\r\n0\r\n\r\n"),
            (
                "html",
                "<html><body>no</body></html>\\r\\n0\\r\\n\\r\\n".into()
            )
        );
        // Class only.
        assert_eq!(classify(html, 0), (UnreadClass::Html, String::new()));
    }

    #[test]
    fn tls_shows_the_content_type_only() {
        let rec = [23, 3, 3, 0, 40, 0xde, 0xad];
        assert_eq!(
            c(&rec),
            ("tls", "TLS record, application_data (encrypted)".into())
        );
        assert_eq!(c(&[21, 3, 3, 0, 2, 2, 40]).1, "TLS record, alert");
        assert_ne!(c(&[23, 3, 3, 0, 0]).0, "tls", "an empty record is none");
        assert_ne!(c(&[23, 9, 3, 0, 4]).0, "tls");
    }

    #[test]
    fn http2_frames() {
        // SETTINGS (6 bytes, one setting) then WINDOW_UPDATE, then GOAWAY.
        let mut b = vec![0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        b.extend([0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        b.extend([0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 11]);
        assert_eq!(
            c(&b),
            (
                "http2",
                "SETTINGS, WINDOW_UPDATE, GOAWAY ENHANCE_YOUR_CALM".into()
            )
        );
        assert_eq!(c(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").0, "http2");
        // SETTINGS on a stream is no HTTP/2.
        assert_ne!(
            c(&[0, 0, 6, 4, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 100]).0,
            "http2"
        );
    }

    #[test]
    fn postgres_errors_show_the_sqlstate_only() {
        let mut e = b"E".to_vec();
        let body = b"SERROR\0VERROR\0C42P01\0Mrelation \"secret_table\" does not exist\0\0";
        e.extend((body.len() as u32 + 4).to_be_bytes());
        e.extend(body);
        e.extend(b"Z\0\0\0\x05I");
        assert_eq!(
            c(&e),
            (
                "postgres",
                "ErrorResponse SQLSTATE 42P01, ReadyForQuery".into()
            )
        );
        assert_eq!(c(b"Z\0\0\0\x05I"), ("postgres", "ReadyForQuery".into()));
        // Text that starts with a message letter is text.
        assert_eq!(c(b"Error: upstream unavailable").0, "text");
        assert_eq!(c(b"Z\0\0\0\x06I").0, "binary", "ReadyForQuery has length 5");
    }

    #[test]
    fn redis_first_token() {
        assert_eq!(
            c(b"-ERR unknown command 'FOO'\r\n"),
            ("redis", "-ERR".into())
        );
        assert_eq!(
            c(b"-WRONGTYPE Operation against a key\r\n"),
            ("redis", "-WRONGTYPE".into())
        );
        assert_eq!(c(b"+OK\r\n"), ("redis", "+OK".into()));
        assert_eq!(c(b"$5\r\nhello\r\n"), ("redis", "$5".into()));
        assert_eq!(c(b"*2\r\n$3\r\nfoo\r\n").0, "redis");
        assert_eq!(c(b"-not a reply").0, "text", "no line end");
        assert_eq!(c(b"$abc\r\n").0, "text");
    }

    /// Header values and form fields are what a text body leaks: only their
    /// names are shown, and free text only by its length.
    #[test]
    fn text_shows_its_shape_never_a_value() {
        let hostile = b"Authorization: Bearer eyJhbGciOi.SECRET\r\nCookie: session=SECRET\r\n\r\nuser=admin&password=SECRET";
        let (class, s) = c(hostile);
        assert_eq!(class, "text");
        assert_eq!(
            s,
            "Authorization: …\\r\\nCookie: …\\r\\n\\r\\nuser=…&pass..."
        );
        assert_eq!(
            classify(hostile, 512).1,
            "Authorization: …\\r\\nCookie: …\\r\\n\\r\\nuser=…&password=…"
        );
        assert_eq!(c(b"password=hunter2\n"), ("text", "password=…\\n".into()));
        assert_eq!(
            c(b"login failed: user=bob password=hunter2"),
            ("text", "39 bytes".into()),
            "a colon after words is no header"
        );
        assert_eq!(
            c(b"Error: user=bob password=hunter2"),
            ("text", "Error: …".into())
        );
        assert_eq!(
            c(b"the token is hunter2\nx-api-key: hunter2"),
            ("text", "…\\nx-api-key: …".into())
        );
        assert_eq!(c(&[b'a'; PEEK_BYTES]), ("text", "512+ bytes".into()));
        for (body, secret) in [
            (&b"Authorization: Bearer abc.def\r\n"[..], "abc.def"),
            (b"password=hunter2&user=x", "hunter2"),
            (b"Set-Cookie: sid=s3cr3t; HttpOnly", "s3cr3t"),
            (b"just a sentence with s3cr3t in it", "s3cr3t"),
        ] {
            for shown in [1, 48, 512] {
                let (_, s) = classify(body, shown);
                assert!(!s.contains(secret), "{s:?} for {body:?}");
            }
        }
    }

    /// A queue starting with CRLF, or holding only line ends, names a class
    /// (no panic in the RESP branch, which sliced the empty first line).
    #[test]
    fn leading_line_ends_are_no_protocol() {
        assert_eq!(c(b"\r\n"), ("text", "2 bytes".into()));
        assert_eq!(c(b"\r\n+OK\r\n").0, "text");
        assert_eq!(c(b"\r\n\r\n").0, "text");
        assert_eq!(c(b"\n").0, "text");
        let mut cut = b"\r\n".to_vec();
        cut.resize(PEEK_BYTES, b'x');
        assert_eq!(c(&cut).0, "text");
    }

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(escaped(b"a\x1b[2Jb", 48), "a\\x1b[2Jb");
        assert_eq!(escaped("é\u{9b}".as_bytes(), 48), "é\\x9b");
        assert_eq!(escaped(b"\xff\xfeok", 48), "\\xff\\xfeok");
        assert_eq!(escaped(b"abcdef", 3), "abc...");
        // A character cut by the prefix is dropped, not half shown.
        assert_eq!(escaped("aé".as_bytes(), 2), "a...");
        assert_eq!(escaped(b"a\\b", 48), "a\\\\b");
    }
}
