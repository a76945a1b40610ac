//! Line recognisers for Apache HttpClient's DEBUG log: pure functions from one line
//! of text to what it says (a lease, a release, a request line...), with no I/O and
//! no state, so that every form is unit-tested and fuzzed on its own.
//!
//! The message is found anywhere in the line, because the logging framework puts
//! its own prefix before it (log4j, logback, java.util.logging, commons-logging
//! SimpleLog); the timestamp, where there is one, is read from the line's start.

/// The pool's counters as HttpClient prints them after a request, lease or release:
/// `[total kept alive: 2; route allocated: 50 of 50; total allocated: 52 of 100]`
/// (4.3/4.4 write `kept alive`, 4.5 and 5.x write `available`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Idle connections in the whole pool (`total kept alive` / `total available`).
    pub available: u32,
    /// Connections of this route, leased or idle.
    pub route_allocated: u32,
    pub route_max: u32,
    pub total_allocated: u32,
    pub total_max: u32,
}

/// What one HttpClient line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A caller asks the pool for a connection (4.x `Connection request`, 5.x
    /// `endpoint lease request`).
    Request { route: &'a str, stats: Stats },
    /// A connection is leased. `id` is 4.x's pool entry id (`[id: 64]`) or, in 5.x,
    /// the exchange id (`ex-...`) that an [`Event::Acquired`] then names the endpoint of.
    Leased {
        id: &'a str,
        route: &'a str,
        stats: Stats,
    },
    /// A lease comes back to the pool.
    Released {
        id: &'a str,
        route: &'a str,
        stats: Stats,
    },
    /// 5.x: exchange `exchange` holds endpoint `endpoint` (`ex-1 acquired ep-1`).
    Acquired {
        exchange: &'a str,
        endpoint: &'a str,
    },
    /// 5.x: a lease that failed after the pool handed it out (`endpoint lease failed`).
    LeaseFailed { id: &'a str },
    /// 5.x: endpoint `endpoint` runs over connection `http-outgoing-conn`.
    Bound { endpoint: &'a str, conn: u64 },
    /// `http-outgoing-N: Shutdown connection` (5.x: `close connection IMMEDIATE`).
    Shutdown { conn: u64 },
    /// `http-outgoing-N: Close connection` (5.x: `close connection GRACEFUL`).
    Close { conn: u64 },
    /// 4.x `Connection discarded` (an aborted exchange; the line names no connection).
    Discarded,
    /// `http-outgoing-N >> GET /path HTTP/1.1` (headers or wire log).
    RequestLine {
        conn: u64,
        method: &'a str,
        target: &'a str,
    },
    /// `http-outgoing-N << HTTP/1.1 403 Forbidden`.
    Status {
        conn: u64,
        code: u16,
        reason: &'a str,
    },
    /// A caller gave up waiting for the pool (`Timeout waiting for connection from
    /// pool`, 5.x `ConnectionRequestTimeoutException`).
    PoolTimeout,
    /// The connection manager is shut down: its leases end with it.
    ManagerShutdown,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    Event(Event<'a>),
    /// An HttpClient line with nothing to count (header lines, socket timeouts...).
    Noise,
    /// An HttpClient pool line whose structure is broken (cut, or mixed with another
    /// thread's output): the reason says which part.
    Garbled(&'static str),
    /// Not an HttpClient line (the application's own, a stack trace, garbage).
    Unknown,
}

/// A timestamp as the log wrote it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Seconds since 1970 when the stamp has a date (in the log's own zone: offsets
    /// are not applied, since one log has one clock), else seconds since midnight.
    pub secs: f64,
    pub dated: bool,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<'a> {
    pub stamp: Option<Stamp>,
    pub kind: Kind<'a>,
}

/// Parse one line (without its newline).
pub fn parse_line(line: &str) -> Parsed<'_> {
    Parsed {
        stamp: parse_stamp(line),
        kind: parse_kind(line),
    }
}

/// What the message part of a line says.
pub fn parse_kind(line: &str) -> Kind<'_> {
    // Stack trace frames repeat the exception's class names without being events.
    let trimmed = line.trim_start();
    if trimmed.starts_with("at ") || trimmed.starts_with("...") {
        return Kind::Unknown;
    }
    if let Some(k) = bound_line(line) {
        return k;
    }
    if let Some(i) = line.find("http-outgoing-") {
        return connection_line(&line[i + "http-outgoing-".len()..]);
    }
    if line.contains("onnection") {
        if let Some(k) = pool_line_4x(line) {
            return k;
        }
    }
    if line.contains("endpoint")
        || line.contains(" acquired ep-")
        || line.contains(" connection released ")
    {
        if let Some(k) = pool_line_5x(line) {
            return k;
        }
    }
    if line.contains("Timeout waiting for connection from pool")
        || line.contains("ConnectionRequestTimeoutException")
    {
        return Kind::Event(Event::PoolTimeout);
    }
    if line.contains("org.apache.http") || line.contains("org.apache.hc.") {
        return Kind::Noise;
    }
    Kind::Unknown
}

/// 4.x pool lines (PoolingHttpClientConnectionManager, ConnectionHolder).
fn pool_line_4x(line: &str) -> Option<Kind<'_>> {
    if let Some(rest) = after(line, "Connection request: ") {
        return Some(match route_stats(rest) {
            Ok((route, stats)) => Kind::Event(Event::Request { route, stats }),
            Err(why) => Kind::Garbled(why),
        });
    }
    for (marker, leased) in [
        ("Connection leased: ", true),
        ("Connection released: ", false),
    ] {
        if let Some(rest) = after(line, marker) {
            return Some(match id_route_stats(rest) {
                Ok((id, route, stats)) if leased => Kind::Event(Event::Leased { id, route, stats }),
                Ok((id, route, stats)) => Kind::Event(Event::Released { id, route, stats }),
                Err(why) => Kind::Garbled(why),
            });
        }
    }
    if line.contains("Connection discarded") {
        return Some(Kind::Event(Event::Discarded));
    }
    if line.contains("Connection manager is shutting down") {
        return Some(Kind::Event(Event::ManagerShutdown));
    }
    if line.contains("Connection [id: ") || line.contains("Connection manager shut down") {
        return Some(Kind::Noise);
    }
    None
}

/// 5.x pool lines: `ex-0000000001 endpoint leased [route: ...][total available: ...]`
/// (some releases write `ex-0000000001:` with a colon).
fn pool_line_5x(line: &str) -> Option<Kind<'_>> {
    if let Some((id, rest)) = split_marker(line, " endpoint lease request") {
        let _ = id;
        let Some(i) = rest.find("[route: ") else {
            return Some(Kind::Garbled("lease request without [route: ...]"));
        };
        return Some(match route_stats(&rest[i..]) {
            Ok((route, stats)) => Kind::Event(Event::Request { route, stats }),
            Err(why) => Kind::Garbled(why),
        });
    }
    for (marker, leased) in [
        (" endpoint leased ", true),
        (" connection released ", false),
    ] {
        if let Some((id, rest)) = split_marker(line, marker) {
            if id.is_empty() {
                return Some(Kind::Garbled("no endpoint id before the pool line"));
            }
            return Some(match route_stats(rest) {
                Ok((route, stats)) if leased => Kind::Event(Event::Leased { id, route, stats }),
                Ok((route, stats)) => Kind::Event(Event::Released { id, route, stats }),
                Err(why) => Kind::Garbled(why),
            });
        }
    }
    if let Some((exchange, rest)) = split_marker(line, " acquired ") {
        let endpoint = first_word(rest.trim_start_matches("endpoint "));
        if exchange.is_empty() || !endpoint.starts_with("ep-") {
            return Some(Kind::Garbled(
                "acquired without an exchange and endpoint id",
            ));
        }
        return Some(Kind::Event(Event::Acquired { exchange, endpoint }));
    }
    if let Some((id, _)) = split_marker(line, " endpoint lease failed") {
        return Some(Kind::Event(Event::LeaseFailed { id }));
    }
    if line.contains("Shutdown connection pool") {
        return Some(Kind::Event(Event::ManagerShutdown));
    }
    Some(Kind::Noise).filter(|_| line.contains(" endpoint"))
}

/// 5.x: `ep-1 connected http-outgoing-0`, `ep-1 executing exchange ex-2 over http-outgoing-0`.
fn bound_line(line: &str) -> Option<Kind<'_>> {
    let (endpoint, conn) = if let Some((ep, rest)) = split_marker(line, " connected http-outgoing-")
    {
        (ep, rest)
    } else {
        let (ep, rest) = split_marker(line, " executing exchange ")?;
        (ep, after(rest, " over http-outgoing-")?)
    };
    let digits = conn.bytes().take_while(u8::is_ascii_digit).count();
    Some(match conn[..digits].parse() {
        Ok(conn) if endpoint.starts_with("ep-") => Kind::Event(Event::Bound { endpoint, conn }),
        _ => Kind::Garbled("endpoint binding without an endpoint id and connection number"),
    })
}

/// `http-outgoing-` has been read; what follows is `N: ...`, `N >> ...` or `N << ...`.
fn connection_line(rest: &str) -> Kind<'_> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(conn) = rest[..digits].parse::<u64>() else {
        return Kind::Garbled("http-outgoing- without a connection number");
    };
    let rest = &rest[digits..];
    if let Some(msg) = rest.strip_prefix(": ") {
        let lower_close = msg
            .get(..16)
            .is_some_and(|p| p.eq_ignore_ascii_case("close connection"));
        return if msg.starts_with("Shutdown connection")
            || msg.starts_with("close connection IMMEDIATE")
        {
            Kind::Event(Event::Shutdown { conn })
        } else if lower_close {
            Kind::Event(Event::Close { conn })
        } else {
            Kind::Noise
        };
    }
    if let Some(msg) = rest.strip_prefix(" >> ") {
        return match request_line(unwire(msg)) {
            Some((method, target)) => Kind::Event(Event::RequestLine {
                conn,
                method,
                target,
            }),
            None => Kind::Noise,
        };
    }
    if let Some(msg) = rest.strip_prefix(" << ") {
        return match status_line(unwire(msg)) {
            Some((code, reason)) => Kind::Event(Event::Status { conn, code, reason }),
            None => Kind::Noise,
        };
    }
    Kind::Noise
}

/// The wire log quotes the bytes: `"GET / HTTP/1.1[\r][\n]"`.
fn unwire(msg: &str) -> &str {
    let m = msg.strip_prefix('"').unwrap_or(msg);
    let m = m.strip_suffix('"').unwrap_or(m);
    m.strip_suffix("[\\r][\\n]").unwrap_or(m)
}

/// `GET /path HTTP/1.1` -> (method, target); header lines are not request lines.
fn request_line(msg: &str) -> Option<(&str, &str)> {
    let mut it = msg.split(' ');
    let (method, target, version) = (it.next()?, it.next()?, it.next()?);
    let ok = it.next().is_none()
        && !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        && !target.is_empty()
        && version.starts_with("HTTP/");
    ok.then_some((method, target))
}

/// `HTTP/1.1 403 Forbidden` -> (403, "Forbidden").
fn status_line(msg: &str) -> Option<(u16, &str)> {
    let rest = msg.strip_prefix("HTTP/")?;
    let (_, rest) = rest.split_once(' ')?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok().filter(|c| (100..1000).contains(c))?;
    Some((code, reason.trim_end()))
}

/// `[id: 64][route: R]...[total ...]` -> (id, route, stats).
fn id_route_stats(rest: &str) -> Result<(&str, &str, Stats), &'static str> {
    let rest = rest
        .strip_prefix("[id: ")
        .ok_or("pool line without [id: N]")?;
    let end = rest.find(']').ok_or("unterminated [id: N]")?;
    let id = &rest[..end];
    if id.is_empty() || id.contains(' ') {
        return Err("bad [id: N]");
    }
    let (route, stats) = route_stats(&rest[end + 1..])?;
    Ok((id, route, stats))
}

/// `[route: R][state: S]?[total ...: a; route allocated: x of y; total allocated: u of v]`.
/// A route may hold `]` (an IPv6 host), so the route ends where the stats begin.
fn route_stats(rest: &str) -> Result<(&str, Stats), &'static str> {
    let rest = rest
        .strip_prefix("[route: ")
        .ok_or("pool line without [route: ...]")?;
    let s = rest
        .rfind("[total ")
        .ok_or("pool line without its [total ...] counters")?;
    let head = rest[..s]
        .strip_suffix(']')
        .ok_or("unterminated [route: ...]")?;
    let route = head.split_once("][state: ").map_or(head, |(r, _)| r);
    if route.is_empty() {
        return Err("empty route");
    }
    Ok((route, stats(&rest[s..])?))
}

fn stats(s: &str) -> Result<Stats, &'static str> {
    const BAD: &str = "pool counters not in the form [total available: a; route allocated: x of y; total allocated: u of v]";
    let body = s.strip_prefix("[total ").ok_or(BAD)?;
    let body = &body[..body.find(']').ok_or("unterminated pool counters")?];
    let body = body
        .strip_prefix("kept alive: ")
        .or_else(|| body.strip_prefix("available: "))
        .ok_or(BAD)?;
    let (available, body) = body.split_once("; route allocated: ").ok_or(BAD)?;
    let (route, total) = body.split_once("; total allocated: ").ok_or(BAD)?;
    let of = |t: &str| -> Result<(u32, u32), &'static str> {
        let (a, b) = t.split_once(" of ").ok_or(BAD)?;
        Ok((a.parse().map_err(|_| BAD)?, b.parse().map_err(|_| BAD)?))
    };
    let (route_allocated, route_max) = of(route)?;
    let (total_allocated, total_max) = of(total)?;
    Ok(Stats {
        available: available.parse().map_err(|_| BAD)?,
        route_allocated,
        route_max,
        total_allocated,
        total_max,
    })
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// Split at `marker`: the word before it (an id, its trailing `:` dropped) and the
/// text after it.
fn split_marker<'a>(line: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let i = line.find(marker)?;
    let before = &line[..i];
    let word = before.rsplit(' ').next().unwrap_or("");
    Some((word.trim_end_matches(':'), &line[i + marker.len()..]))
}

fn first_word(s: &str) -> &str {
    s.split([' ', ',', ';']).next().unwrap_or("")
}

/// The timestamp at the start of a line, in the forms the usual Java logging
/// frameworks write: ISO-like `2024-01-15 10:23:45,123` / `2024-01-15T10:23:45.123Z`
/// (log4j, logback), SimpleLog's `2024/01/15 10:23:45:123 UTC`,
/// java.util.logging's `Jan 15, 2024 10:23:45 AM`, and a time alone, `10:23:45.123`
/// (logback's default pattern). A leading `[` is skipped.
pub fn parse_stamp(line: &str) -> Option<Stamp> {
    let s = line.trim_start().trim_start_matches('[').as_bytes();
    let num = |b: &[u8], i: usize, n: usize| -> Option<u32> {
        let d = b.get(i..i + n)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0')))
    };
    // YYYY-MM-DD or YYYY/MM/DD, then T or space, then a time.
    if let (Some(y), Some(m), Some(d)) = (num(s, 0, 4), num(s, 5, 2), num(s, 8, 2)) {
        let sep_ok = (s[4] == b'-' && s[7] == b'-') || (s[4] == b'/' && s[7] == b'/');
        if sep_ok && matches!(s.get(10), Some(b'T' | b' ')) {
            let t = clock(&s[11..])?;
            return Some(Stamp {
                secs: days_from_civil(y, m, d)? as f64 * 86400.0 + t,
                dated: true,
            });
        }
    }
    if let Some(t) = clock(s) {
        return Some(Stamp {
            secs: t,
            dated: false,
        });
    }
    jul_stamp(std::str::from_utf8(s).ok()?)
}

/// `HH:MM:SS` with optional `.fff`, `,fff` or `:fff` milliseconds.
fn clock(b: &[u8]) -> Option<f64> {
    let two = |i: usize| -> Option<u32> {
        let d = b.get(i..i + 2)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'))
    };
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut t = f64::from(h * 3600 + m * 60 + sec);
    if matches!(b.get(8), Some(b'.' | b',' | b':')) {
        let frac: Vec<u8> = b[9..]
            .iter()
            .take(9)
            .take_while(|c| c.is_ascii_digit())
            .copied()
            .collect();
        if !frac.is_empty() {
            let v: f64 = std::str::from_utf8(&frac).ok()?.parse().ok()?;
            t += v / 10f64.powi(frac.len() as i32);
        }
    }
    Some(t)
}

/// java.util.logging's SimpleFormatter: `Jan 15, 2024 10:23:45 AM class method`.
fn jul_stamp(s: &str) -> Option<Stamp> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut it = s.split(' ');
    let first = it.next()?;
    let month = MONTHS.iter().position(|m| *m == first)? as u32 + 1;
    let day: u32 = it.next()?.strip_suffix(',')?.parse().ok()?;
    let year: u32 = it.next()?.parse().ok()?;
    let hms = it.next()?;
    let ampm = it.next()?;
    let mut p = hms.split(':').map(|x| x.parse::<u32>().ok());
    let (h, m, sec) = (p.next()??, p.next()??, p.next()??);
    if h == 0 || h > 12 || m > 59 || sec > 60 {
        return None;
    }
    let h = match ampm {
        "AM" => h % 12,
        "PM" => h % 12 + 12,
        _ => return None,
    };
    Some(Stamp {
        secs: days_from_civil(year, month, day)? as f64 * 86400.0
            + f64::from(h * 3600 + m * 60 + sec),
        dated: true,
    })
}

pub use crate::model::time::{civil_from_days, days_from_civil};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const R: &str = "{}->http://myhost:8080";

    fn ev(line: &str) -> Event<'_> {
        match parse_kind(line) {
            Kind::Event(e) => e,
            k => panic!("{line}: {k:?}"),
        }
    }

    #[test]
    fn reads_45_and_43_pool_lines() {
        let s = Stats {
            available: 2,
            route_allocated: 50,
            route_max: 50,
            total_allocated: 52,
            total_max: 100,
        };
        let l = "x PoolingHttpClientConnectionManager - Connection request: [route: {}->http://myhost:8080][total kept alive: 2; route allocated: 50 of 50; total allocated: 52 of 100]";
        assert_eq!(ev(l), Event::Request { route: R, stats: s });
        let l = "Connection leased: [id: 64][route: {}->http://myhost:8080][total available: 2; route allocated: 50 of 50; total allocated: 52 of 100]";
        assert_eq!(
            ev(l),
            Event::Leased {
                id: "64",
                route: R,
                stats: s
            }
        );
        let l = "Connection released: [id: 64][route: {}->http://myhost:8080][state: user1][total available: 2; route allocated: 50 of 50; total allocated: 52 of 100]";
        assert_eq!(
            ev(l),
            Event::Released {
                id: "64",
                route: R,
                stats: s
            }
        );
    }

    #[test]
    fn an_ipv6_route_keeps_its_brackets() {
        let l = "Connection leased: [id: 1][route: {}->http://[::1]:8080][total available: 0; route allocated: 1 of 2; total allocated: 1 of 20]";
        let Event::Leased { route, .. } = ev(l) else {
            panic!()
        };
        assert_eq!(route, "{}->http://[::1]:8080");
    }

    #[test]
    fn reads_connection_and_header_lines() {
        assert_eq!(
            ev("headers - http-outgoing-64 >> GET /session HTTP/1.1"),
            Event::RequestLine {
                conn: 64,
                method: "GET",
                target: "/session"
            }
        );
        assert_eq!(
            ev("headers - http-outgoing-64 << HTTP/1.1 403 Forbidden"),
            Event::Status {
                conn: 64,
                code: 403,
                reason: "Forbidden"
            }
        );
        assert_eq!(
            ev("wire - http-outgoing-3 >> \"POST /a?b=1 HTTP/1.1[\\r][\\n]\""),
            Event::RequestLine {
                conn: 3,
                method: "POST",
                target: "/a?b=1"
            }
        );
        assert_eq!(
            parse_kind("headers - http-outgoing-64 >> Host: myhost"),
            Kind::Noise
        );
        assert_eq!(
            ev("http-outgoing-7: Shutdown connection"),
            Event::Shutdown { conn: 7 }
        );
        assert_eq!(
            ev("http-outgoing-7: Close connection"),
            Event::Close { conn: 7 }
        );
        assert_eq!(
            ev("http-outgoing-7: close connection IMMEDIATE"),
            Event::Shutdown { conn: 7 }
        );
        assert_eq!(
            ev("ConnectionHolder - Connection discarded"),
            Event::Discarded
        );
        assert_eq!(
            ev(
                "org.apache.http.conn.ConnectionPoolTimeoutException: Timeout waiting for connection from pool"
            ),
            Event::PoolTimeout
        );
        assert_eq!(
            parse_kind(
                "\tat org.apache.http.impl.conn.PoolingHttpClientConnectionManager.leaseConnection(X.java:1)"
            ),
            Kind::Unknown
        );
    }

    #[test]
    fn reads_5x_lines() {
        let st = "[route: {}->http://a:80][total available: 0; route allocated: 1 of 5; total allocated: 1 of 25]";
        let l = format!("ex-0000000001 endpoint lease request (3 MINUTES) {st}");
        let Event::Request { route, .. } = ev(&l) else {
            panic!()
        };
        assert_eq!(route, "{}->http://a:80");
        let l = format!("ex-0000000001: endpoint leased {st}");
        assert!(matches!(
            ev(&l),
            Event::Leased {
                id: "ex-0000000001",
                ..
            }
        ));
        assert_eq!(
            ev("ex-0000000001 acquired ep-0000000002"),
            Event::Acquired {
                exchange: "ex-0000000001",
                endpoint: "ep-0000000002"
            }
        );
        assert_eq!(
            ev("ex-0000000001 acquired endpoint ep-0000000002"),
            Event::Acquired {
                exchange: "ex-0000000001",
                endpoint: "ep-0000000002"
            }
        );
        let l = format!("ep-0000000002 connection released {st}");
        assert!(matches!(
            ev(&l),
            Event::Released {
                id: "ep-0000000002",
                ..
            }
        ));
        assert_eq!(
            ev("ep-0000000002 connected http-outgoing-5"),
            Event::Bound {
                endpoint: "ep-0000000002",
                conn: 5
            }
        );
        assert_eq!(
            ev("ep-0000000002 executing exchange ex-0000000001 over http-outgoing-5"),
            Event::Bound {
                endpoint: "ep-0000000002",
                conn: 5
            }
        );
        assert_eq!(
            ev("ex-0000000001 endpoint lease failed"),
            Event::LeaseFailed {
                id: "ex-0000000001"
            }
        );
        assert_eq!(parse_kind("ep-0000000002 releasing endpoint"), Kind::Noise);
    }

    #[test]
    fn cut_pool_lines_are_garbled() {
        assert!(matches!(
            parse_kind("Connection leased: [id: 7][route: {}->http://orders.inter"),
            Kind::Garbled(_)
        ));
        assert!(matches!(
            parse_kind(
                "Connection request: [route: x][total available: 0; route allocated: a of 2; total allocated: 1 of 20]"
            ),
            Kind::Garbled(_)
        ));
        assert_eq!(parse_kind("INFO com.example.App - started"), Kind::Unknown);
    }

    #[test]
    fn reads_timestamps_of_the_usual_frameworks() {
        let day = days_from_civil(2024, 1, 15).unwrap() as f64 * 86400.0;
        let at = |h: f64, m: f64, s: f64| day + h * 3600.0 + m * 60.0 + s;
        let cases = [
            (
                "2024-01-15 10:23:45,123 [main] DEBUG x - y",
                at(10.0, 23.0, 45.123),
            ),
            ("2024-01-15T10:23:45.5Z DEBUG", at(10.0, 23.0, 45.5)),
            ("[2024-01-15 10:23:45.123] DEBUG", at(10.0, 23.0, 45.123)),
            (
                "2024/01/15 10:23:45:123 UTC [DEBUG] headers - x",
                at(10.0, 23.0, 45.123),
            ),
            (
                "Jan 15, 2024 10:23:45 PM org.apache.http.X m",
                at(22.0, 23.0, 45.0),
            ),
            (
                "Jan 15, 2024 12:00:01 AM org.apache.http.X m",
                at(0.0, 0.0, 1.0),
            ),
        ];
        for (line, want) in cases {
            let st = parse_stamp(line).unwrap_or_else(|| panic!("{line}"));
            assert!(st.dated && (st.secs - want).abs() < 1e-6, "{line}: {st:?}");
        }
        let st = parse_stamp("10:23:45.123 [main] DEBUG").unwrap();
        assert!(!st.dated && (st.secs - 37425.123).abs() < 1e-6);
        assert_eq!(parse_stamp("DEBUG no time"), None);
        assert_eq!(parse_stamp("25:00:00 x"), None);
        assert_eq!(
            civil_from_days(days_from_civil(2024, 2, 29).unwrap()),
            (2024, 2, 29)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn random_text_never_panics(s in "\\PC{0,200}") {
            let _ = parse_line(&s);
        }

        #[test]
        fn mangled_pool_lines_never_panic(cut in 0usize..200, junk in "[\\[\\]:; 0-9a-z{}>-]{0,20}") {
            let base = "2024-01-15 10:23:45,123 [t] DEBUG PoolingHttpClientConnectionManager - Connection leased: [id: 64][route: {}->http://[::1]:8080][total available: 2; route allocated: 50 of 50; total allocated: 52 of 100]";
            let mut s: String = base.chars().take(cut).collect();
            s.push_str(&junk);
            s.push_str(&base.chars().skip(cut).collect::<String>());
            let _ = parse_line(&s);
            let half: String = s.chars().take(s.chars().count() / 2).collect();
            let _ = parse_line(&half);
        }
    }
}
