//! The recorder's first bytes to a [`SocketExchange`]: protocol, verb and status only.
//!
//! Every parser takes any bytes and returns a summary or `None`; none panics (see the
//! property tests). What is kept is bounded by construction: an HTTP method and path
//! (query elided unless asked), a PostgreSQL message type and first SQL keyword, a
//! Redis command name, a TLS SNI name; anything else is a class and a length.

use crate::model::trace::{Protocol, SocketExchange};

/// One direction's last message as the recorder kept it: `data` is at most its first
/// `CAPTURE` bytes, `tail` its segment's last 8 bytes (PostgreSQL's ReadyForQuery
/// ends a response), `len` the segment's payload length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub ns: u64,
    pub len: u32,
    pub count: u32,
    pub data: Vec<u8>,
    pub tail: [u8; 8],
}

impl Captured {
    pub fn seen(&self) -> bool {
        self.count > 0 || self.ns > 0
    }
}

/// A parsed side: the summary text and its bounded label.
struct Side {
    protocol: Protocol,
    text: String,
    label: String,
}

/// The exchange `req` (sent by the side that spoke first) and `resp` make, or `None`
/// when no request was recorded. A response older than the request belongs to an
/// earlier exchange: the request is still waiting.
pub fn exchange(req: &Captured, resp: &Captured, show_query: bool) -> Option<SocketExchange> {
    if !req.seen() {
        return None;
    }
    let rq = request(&req.data, req.len, show_query);
    let answered = resp.seen() && resp.ns >= req.ns;
    let rs = answered.then(|| response(rq.protocol, resp));
    Some(SocketExchange {
        protocol: rq.protocol,
        request: rq.text,
        method: rq.label,
        status: rs.as_ref().map_or("none".to_string(), |s| s.label.clone()),
        response: rs.map(|s| s.text),
    })
}

fn request(b: &[u8], len: u32, show_query: bool) -> Side {
    http_request(b, show_query)
        .or_else(|| redis_request(b))
        .or_else(|| tls_hello(b))
        .or_else(|| pg_request(b))
        .unwrap_or_else(|| other(b, len))
}

fn response(proto: Protocol, c: &Captured) -> Side {
    let parsed = match proto {
        Protocol::Http => http_status(&c.data),
        Protocol::Postgres => pg_response(&c.data, &c.tail, c.len),
        Protocol::Redis => redis_reply(&c.data),
        Protocol::Tls => tls_record(&c.data),
        Protocol::Other => None,
    };
    parsed.unwrap_or_else(|| other(&c.data, c.len))
}

/// Class and length only: the bytes themselves may be anything.
fn other(b: &[u8], len: u32) -> Side {
    let text_like = !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_graphic() || matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
    let class = if text_like { "text" } else { "binary" };
    Side {
        protocol: Protocol::Other,
        text: format!("{class} {len} B"),
        label: class.to_string(),
    }
}

/// The first line (up to CR or LF) if the capture holds a whole one.
fn first_line(b: &[u8]) -> Option<&[u8]> {
    let end = b.iter().position(|&c| c == b'\r' || c == b'\n')?;
    Some(&b[..end])
}

const HTTP_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// `GET /forbidden?… HTTP/1.1` → `GET /forbidden?…`. A path cut by the capture ends
/// in `…`.
fn http_request(b: &[u8], show_query: bool) -> Option<Side> {
    let sp = b.iter().take(8).position(|&c| c == b' ')?;
    let method = std::str::from_utf8(&b[..sp]).ok()?;
    let method = HTTP_METHODS.iter().find(|m| **m == method)?;
    let rest = &b[sp + 1..];
    let (target, whole) = match first_line(rest) {
        Some(line) => {
            let end = line.iter().rposition(|&c| c == b' ')?;
            if !line[end + 1..].starts_with(b"HTTP/1.") {
                return None;
            }
            (&line[..end], true)
        }
        None => (rest, false),
    };
    let mut path = String::new();
    for &c in target {
        if c == b'?' && !show_query {
            path.push_str("?…");
            break;
        }
        push_escaped(&mut path, c);
    }
    if !whole && !path.ends_with('…') {
        path.push('…');
    }
    Some(Side {
        protocol: Protocol::Http,
        text: format!("{method} {path}"),
        label: method.to_string(),
    })
}

/// Printable ASCII as is, anything else as `\xNN`: a path is shown, never interpreted.
fn push_escaped(s: &mut String, c: u8) {
    if c.is_ascii_graphic() {
        s.push(c as char);
    } else {
        s.push_str(&format!("\\x{c:02x}"));
    }
}

/// `HTTP/1.1 403 Forbidden` → `403 Forbidden` (the reason phrase is the server's, of
/// a bounded length and escaped).
fn http_status(b: &[u8]) -> Option<Side> {
    let line = first_line(b).unwrap_or(b);
    let rest = line.strip_prefix(b"HTTP/1.")?.get(2..)?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = std::str::from_utf8(code).ok()?.to_string();
    let mut text = code.clone();
    if let Some(reason) = rest.get(4..).filter(|r| !r.is_empty()) {
        text.push(' ');
        for &c in reason.iter().take(40) {
            if c == b' ' {
                text.push(' ');
            } else {
                push_escaped(&mut text, c);
            }
        }
    }
    Some(Side {
        protocol: Protocol::Http,
        text,
        label: code,
    })
}

/// A RESP array of bulk strings whose first is a command name: `*2\r\n$3\r\nGET\r\n…`.
fn redis_request(b: &[u8]) -> Option<Side> {
    if b.first() != Some(&b'*') {
        return None;
    }
    let mut lines = b.split(|&c| c == b'\n');
    let count = lines.next()?.strip_suffix(b"\r")?;
    if count.len() < 2 || !count[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    lines.next()?.strip_prefix(b"$")?;
    let name = lines.next()?.strip_suffix(b"\r")?;
    if name.is_empty() || name.len() > 20 || !name.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    Some(Side {
        protocol: Protocol::Redis,
        text: name.clone(),
        label: name,
    })
}

/// A reply's type, and for `+`/`-` its first word (`+OK`, `-ERR`, `-WRONGTYPE`):
/// error codes are the server's vocabulary, never the data.
fn redis_reply(b: &[u8]) -> Option<Side> {
    let (&kind, rest) = b.split_first()?;
    let (text, label) = match kind {
        b'+' | b'-' => {
            let word: String = rest
                .iter()
                .take_while(|c| c.is_ascii_uppercase())
                .take(16)
                .map(|&c| c as char)
                .collect();
            let label = if kind == b'+' { "ok" } else { "error" };
            (format!("{}{word}", kind as char), label)
        }
        b':' => ("integer".to_string(), "integer"),
        b'$' => ("bulk".to_string(), "bulk"),
        b'*' => ("array".to_string(), "array"),
        b'_' => ("null".to_string(), "null"),
        _ => return None,
    };
    Some(Side {
        protocol: Protocol::Redis,
        text,
        label: label.to_string(),
    })
}

/// A TLS handshake record (`16 03 0x`): `tls`, and the SNI name when the ClientHello's
/// server_name extension lies within the capture.
fn tls_hello(b: &[u8]) -> Option<Side> {
    if b.len() < 6 || b[0] != 0x16 || b[1] != 3 || b[5] != 1 {
        return None;
    }
    let text = match sni(b) {
        Some(name) => format!("tls {name}"),
        None => "tls".to_string(),
    };
    Some(Side {
        protocol: Protocol::Tls,
        text,
        label: "tls".to_string(),
    })
}

/// Walks the ClientHello (record 5, handshake 4, version 2, random 32, then the
/// length-prefixed session id, cipher suites, compression, extensions) to the
/// server_name extension; `None` when anything is cut or malformed.
fn sni(b: &[u8]) -> Option<String> {
    let u16_at = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    };
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(*b.get(at)?);
    at += 2 + u16_at(at)?;
    at += 1 + usize::from(*b.get(at)?);
    let end = at + 2 + u16_at(at)?;
    at += 2;
    while at + 4 <= end {
        let (kind, len) = (u16_at(at)?, u16_at(at + 2)?);
        if kind == 0 {
            // server_name_list: length 2, type 1 (host_name = 0), name length 2, name.
            let n = u16_at(at + 4 + 3)?;
            let name = b.get(at + 4 + 5..at + 4 + 5 + n)?;
            let ok = name
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
            return ok.then(|| String::from_utf8_lossy(name).into_owned());
        }
        at += 4 + len;
    }
    None
}

fn tls_record(b: &[u8]) -> Option<Side> {
    let kind = match *b.first()? {
        0x14 => "tls change_cipher_spec",
        0x15 => "tls alert",
        0x16 => "tls handshake",
        0x17 => "tls data",
        _ => return None,
    };
    if b.get(1) != Some(&3) {
        return None;
    }
    Some(Side {
        protocol: Protocol::Tls,
        text: kind.to_string(),
        label: "tls".to_string(),
    })
}

/// A PostgreSQL frontend message: type byte and a plausible length. Query and Parse
/// carry SQL: only its first keyword is kept. A startup packet (no type byte) says
/// `startup`.
fn pg_request(b: &[u8]) -> Option<Side> {
    let len_at = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    if b.len() >= 8 && len_at(0)? >= 8 && matches!(len_at(4)?, 196608 | 80877103 | 80877104) {
        let text = if len_at(4)? == 196608 {
            "startup"
        } else {
            "SSLRequest"
        };
        return Some(pg_side(text.to_string(), "startup"));
    }
    let len = len_at(1)?;
    if !(4..1 << 30).contains(&len) {
        return None;
    }
    let (name, sql) = match b[0] {
        b'Q' => ("Query", b.get(5..)?),
        b'P' => {
            // Parse: statement name (NUL-terminated), then the query.
            let body = b.get(5..)?;
            let nul = body.iter().position(|&c| c == 0)?;
            ("Parse", &body[nul + 1..])
        }
        b'B' => ("Bind", &b[..0]),
        b'E' => ("Execute", &b[..0]),
        b'S' => ("Sync", &b[..0]),
        b'X' => ("Terminate", &b[..0]),
        _ => return None,
    };
    let keyword: String = sql
        .iter()
        .skip_while(|c| c.is_ascii_whitespace() || **c == b'(')
        .take_while(|c| c.is_ascii_alphabetic())
        .take(16)
        .map(|c| c.to_ascii_uppercase() as char)
        .collect();
    let text = if keyword.is_empty() {
        name.to_string()
    } else {
        format!("{name} {keyword}")
    };
    Some(pg_side(text, name))
}

fn pg_side(text: String, label: &str) -> Side {
    Side {
        protocol: Protocol::Postgres,
        text,
        label: label.to_string(),
    }
}

/// A backend response: the first CommandComplete tag's verb (or an ErrorResponse's
/// SQLSTATE), and the transaction status of its ReadyForQuery, read from the
/// messages in the capture or from the segment's last 6 bytes (`Z`, length 5, status).
fn pg_response(b: &[u8], tail: &[u8; 8], len: u32) -> Option<Side> {
    let mut verb = None;
    let mut status = None;
    let mut at = 0usize;
    while let (Some(&kind), Some(l)) = (b.get(at), b.get(at + 1..at + 5)) {
        let l = u32::from_be_bytes(l.try_into().ok()?) as usize;
        if l < 4 {
            return None;
        }
        let body = b.get(at + 5..(at + 1 + l).min(b.len())).unwrap_or_default();
        match kind {
            b'C' if verb.is_none() => verb = Some(pg_word(body)),
            b'E' if verb.is_none() => verb = Some(pg_sqlstate(body)),
            b'Z' => status = body.first().copied(),
            _ => {}
        }
        at += 1 + l;
    }
    if status.is_none() && len >= 8 && tail[2..7] == [b'Z', 0, 0, 0, 5] {
        status = Some(tail[7]);
    }
    let (label, words) = match status {
        Some(b'I') => ("idle", "idle"),
        Some(b'T') => ("in_transaction", "in transaction"),
        Some(b'E') => ("failed", "failed transaction"),
        _ => ("unknown", ""),
    };
    let verb = verb.unwrap_or_else(|| "response".to_string());
    let text = match words {
        "" => verb,
        w => format!("{verb} ({w})"),
    };
    Some(pg_side(text, label))
}

fn pg_word(body: &[u8]) -> String {
    let w: String = body
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .take(16)
        .map(|&c| c as char)
        .collect();
    if w.is_empty() {
        "complete".to_string()
    } else {
        w
    }
}

/// ErrorResponse fields are (code byte, NUL-terminated text); `C` is the SQLSTATE.
fn pg_sqlstate(body: &[u8]) -> String {
    let mut fields = body.split(|&c| c == 0);
    let code = fields.find(|f| f.first() == Some(&b'C')).map(|f| &f[1..]);
    match code {
        Some(c) if c.len() == 5 && c.iter().all(u8::is_ascii_alphanumeric) => {
            format!("error {}", String::from_utf8_lossy(c))
        }
        _ => "error".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cap(data: &[u8], ns: u64) -> Captured {
        Captured {
            ns,
            len: data.len() as u32,
            count: 1,
            data: data.to_vec(),
            tail: [0; 8],
        }
    }

    fn x(req: &[u8], resp: &[u8]) -> SocketExchange {
        exchange(&cap(req, 1), &cap(resp, 2), false).expect("a request")
    }

    #[test]
    fn http_request_and_status() {
        let e = x(
            b"GET /forbidden?token=abc HTTP/1.1\r\nAuthorization: Bearer x\r\n",
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n\r\n<html>",
        );
        assert_eq!(e.request, "GET /forbidden?…");
        assert_eq!(e.response.as_deref(), Some("403 Forbidden"));
        assert_eq!((e.method.as_str(), e.status.as_str()), ("GET", "403"));
        let shown = exchange(&cap(b"GET /a?b=c HTTP/1.1\r\n", 1), &cap(b"", 0), true).unwrap();
        assert_eq!(shown.request, "GET /a?b=c");
        assert_eq!((shown.response, shown.status.as_str()), (None, "none"));
    }

    #[test]
    fn a_path_cut_by_the_capture_says_so() {
        let e = x(b"POST /very/long/path", b"HTTP/1.0 200 OK\r\n");
        assert_eq!(e.request, "POST /very/long/path…");
    }

    #[test]
    fn a_response_older_than_the_request_is_no_answer() {
        let e = exchange(
            &cap(b"GET / HTTP/1.1\r\n", 5),
            &cap(b"HTTP/1.1 200 OK\r\n", 4),
            false,
        );
        assert_eq!(e.unwrap().response, None);
    }

    #[test]
    fn postgres_query_keyword_and_transaction_status() {
        let mut q = vec![b'Q', 0, 0, 0, 40];
        q.extend_from_slice(b"  select * from users where pw = 'x'\0");
        let resp: &[u8] = &[
            b'C', 0, 0, 0, 13, b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'1', 0, b'Z', 0, 0, 0, 5,
            b'T',
        ];
        let e = x(&q, resp);
        assert_eq!(e.request, "Query SELECT");
        assert_eq!(e.response.as_deref(), Some("SELECT (in transaction)"));
        assert_eq!(e.status, "in_transaction");
        // A response too long for the capture: the status from its last bytes.
        let mut long = cap(&[b'T', 0, 0, 0x10, 0], 2);
        long.len = 5000;
        long.tail = [0, b'I', b'Z', 0, 0, 0, 5, b'E'];
        let e = exchange(&cap(&q, 1), &long, false).unwrap();
        assert_eq!(e.status, "failed");
    }

    #[test]
    fn redis_command_and_reply() {
        let e = x(
            b"*2\r\n$3\r\nget\r\n$6\r\nsecret\r\n",
            b"-WRONGTYPE Operation\r\n",
        );
        assert_eq!(e.request, "GET");
        assert_eq!(e.response.as_deref(), Some("-WRONGTYPE"));
        assert_eq!(e.status, "error");
    }

    #[test]
    fn tls_with_sni() {
        let name = b"example.com";
        let mut h = vec![0x16, 3, 1, 0, 0, 1, 0, 0, 0, 3, 3];
        h.extend_from_slice(&[0; 32]); // random
        h.push(0); // session id
        h.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        h.extend_from_slice(&[1, 0]); // compression
        let sni_len = name.len() as u8;
        let ext = [
            &[0, 0, 0, sni_len + 5, 0, sni_len + 3, 0, 0, sni_len][..],
            name,
        ]
        .concat();
        h.extend_from_slice(&[0, ext.len() as u8]);
        h.extend_from_slice(&ext);
        let e = x(&h, &[0x16, 3, 3, 0, 10]);
        assert_eq!(e.request, "tls example.com");
        assert_eq!(e.response.as_deref(), Some("tls handshake"));
    }

    #[test]
    fn anything_else_is_class_and_length_only() {
        let e = x(b"user=admin&password=hunter2", b"\x00\x01\x02");
        assert_eq!(e.request, "text 27 B");
        assert_eq!(e.response.as_deref(), Some("binary 3 B"));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic_and_stay_printable(
            req in proptest::collection::vec(any::<u8>(), 0..160),
            resp in proptest::collection::vec(any::<u8>(), 0..160),
            tail in any::<[u8; 8]>(),
            len in any::<u32>(),
            q in any::<bool>(),
        ) {
            let mut r = cap(&resp, 2);
            r.tail = tail;
            r.len = len;
            if let Some(e) = exchange(&cap(&req, 1), &r, q) {
                for s in [Some(&e.request), e.response.as_ref(), Some(&e.method), Some(&e.status)].into_iter().flatten() {
                    prop_assert!(s.chars().all(|c| !c.is_control()), "{s:?}");
                }
            }
        }

        #[test]
        fn prefixed_protocols_never_panic(
            kind in prop::sample::select(vec![&b"GET "[..], b"HTTP/1.1 ", b"*3\r\n$", b"Q\0\0\0", b"\x16\x03\x01", b"P\0\0\0", b"+", b"-"]),
            rest in proptest::collection::vec(any::<u8>(), 0..140),
        ) {
            let b = [kind, &rest[..]].concat();
            let _ = exchange(&cap(&b, 1), &cap(&b, 2), false);
        }
    }
}
