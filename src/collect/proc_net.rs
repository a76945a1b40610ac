//! Parser for `/proc/net/tcp` and `/proc/net/tcp6`: the fallback socket source, and
//! the only one that works on a fixture `/proc` tree.
//!
//! Malformed lines are never fatal and never silently dropped: each one is returned
//! with its file and line number so the caller can report it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::fsread::{self, Oversize};
use super::lines;
pub use super::lines::{Malformed, MalformedLog, quoted};
use crate::model::{NetnsId, Socket, TcpState, normalize};

/// Whether a table's first line is the kernel's column header (`  sl  local_address
/// ...`). A first line that is not is parsed as a socket (or reported), never
/// skipped unseen.
fn is_header(line: &[u8]) -> bool {
    line.split(u8::is_ascii_whitespace)
        .find(|w| !w.is_empty())
        .is_some_and(|w| w == b"sl")
}

/// Parse the contents of one `/proc/net/tcp{,6}` file, appending sockets to `out`.
/// `file` names the source in [`Malformed`] reports.
pub fn parse_table(
    text: &[u8],
    file: &str,
    netns: NetnsId,
    out: &mut Vec<Socket>,
    malformed: &mut MalformedLog,
) {
    let parse = |line: &[u8]| parse_line(line, netns);
    lines::parse_lines(text, file, is_header, parse, out, malformed);
}

/// What reading a namespace's `net/tcp{,6}` gave.
#[derive(Debug, Default)]
pub struct Tables {
    pub sockets: Vec<Socket>,
    pub malformed: MalformedLog,
    /// Why the IPv6 table was not read when that did not stop the answer (an
    /// unreadable or odd tcp6).
    pub warnings: Vec<String>,
}

/// Read and parse `<root>/net/tcp` and `<root>/net/tcp6`. `tcp` is required: any
/// failure to read it is an error naming it. A missing `tcp6` is normal (IPv6
/// disabled: `ipv6.disable=1`); an unreadable or odd one leaves the IPv4 answer
/// with a warning.
pub fn read_tables(proc_net_dir: &Path, netns: NetnsId) -> std::io::Result<Tables> {
    let mut t = Tables::default();
    for (name, required) in [("tcp", true), ("tcp6", false)] {
        let path = proc_net_dir.join(name);
        let shown = fsread::shown(&path);
        match fsread::read_bounded(&path, fsread::TCP_TABLE, Oversize::Refuse) {
            Ok(text) => parse_table(&text, &shown, netns, &mut t.sockets, &mut t.malformed),
            Err(e) if !required && e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) if !required => t.warnings.push(format!("{shown} not read ({e})")),
            Err(e) => {
                let e = std::io::Error::from(e);
                return Err(std::io::Error::new(e.kind(), format!("{shown}: {e}")));
            }
        }
    }
    Ok(t)
}

fn parse_line(line: &[u8], netns: NetnsId) -> Result<Socket, String> {
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let mut f = line.split_ascii_whitespace();
    let mut next = |what: &str| f.next().ok_or_else(|| format!("missing {what} field"));
    let _slot = next("sl")?;
    let local = parse_endpoint(next("local_address")?)?;
    let remote = parse_endpoint(next("rem_address")?)?;
    let st = next("st")?;
    let st = u8::from_str_radix(st, 16).map_err(|_| format!("bad state {}", quoted(st)))?;
    let state = TcpState::from_kernel(st).ok_or_else(|| format!("unknown state {st:#04x}"))?;
    let queues = next("tx_queue:rx_queue")?;
    let (tx, rx) = queues
        .split_once(':')
        .ok_or_else(|| format!("bad queues {}", quoted(queues)))?;
    let send_q = hex_u32(tx, "tx_queue")?;
    let recv_q = hex_u32(rx, "rx_queue")?;
    let _timer = next("tr:tm->when")?;
    let _retrnsmt = next("retrnsmt")?;
    let uid = next("uid")?;
    let uid = uid
        .parse::<u32>()
        .map_err(|_| format!("bad uid {}", quoted(uid)))?;
    let _timeout = next("timeout")?;
    let inode = next("inode")?;
    let inode = inode
        .parse::<u64>()
        .map_err(|_| format!("bad inode {}", quoted(inode)))?;
    Ok(Socket {
        state,
        local,
        remote,
        inode,
        uid,
        recv_q,
        send_q,
        idle_ms: None,
        cookie: 0,
        netns,
        bound_if: 0,
    })
}

fn hex_u32(s: &str, what: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 16).map_err(|_| format!("bad {what} {}", quoted(s)))
}

/// `0100007F:1F90` → 127.0.0.1:8080. The kernel prints each 32-bit word of the
/// network-order address as a native-endian integer, so the bytes come back with
/// `to_ne_bytes`; the port is already in host order.
fn parse_endpoint(s: &str) -> Result<SocketAddr, String> {
    let (addr, port) = s
        .split_once(':')
        .ok_or_else(|| format!("bad address {}", quoted(s)))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("bad port in {}", quoted(s)))?;
    // Checked before slicing by byte offsets below: a multi-byte character would
    // otherwise split mid-character and panic (found by fuzzing).
    if !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("bad address {}", quoted(s)));
    }
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(hex_u32(addr, "address")?.to_ne_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let word = hex_u32(&addr[i * 8..i * 8 + 8], "address")?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return Err(format!("bad address {}", quoted(s))),
    };
    Ok(normalize(SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn parse(body: &str) -> (Vec<Socket>, Vec<Malformed>) {
        let text = format!("{HEADER}{body}");
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        parse_table(text.as_bytes(), "tcp", 7, &mut s, &mut m);
        (s, m.kept().to_vec())
    }

    #[test]
    fn parses_ipv4_line() {
        let (s, m) = parse(
            "   0: 0100007F:1F90 0200007F:D431 08 00000002:0000000A 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 0 10 -1\n",
        );
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.state, TcpState::CloseWait);
        assert_eq!(s.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.remote, "127.0.0.2:54321".parse().unwrap());
        assert_eq!(
            (s.send_q, s.recv_q, s.uid, s.inode, s.netns),
            (2, 10, 1000, 4242, 7)
        );
    }

    #[test]
    fn parses_ipv6_and_normalises_mapped() {
        let (s, m) = parse(concat!(
            "   0: 00000000000000000000000001000000:0050 00000000000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 11 1 0 20 4 0 10 -1\n",
            "   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:C351 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0\n",
        ));
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(s[0].local, "[::1]:80".parse().unwrap());
        assert_eq!(s[0].remote, "[::1]:50000".parse().unwrap());
        assert_eq!(s[1].local, "127.0.0.1:80".parse().unwrap());
        assert_eq!(s[1].remote, "127.0.0.2:50001".parse().unwrap());
        assert_eq!(s[1].state, TcpState::TimeWait);
        assert_eq!(s[1].inode, 0);
    }

    #[test]
    fn malformed_lines_are_reported_with_line_numbers() {
        let (s, m) = parse(concat!(
            "   0: 0100007F:1F90 0200007F:D431 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
            "garbage\n",
            "   2: 0100007F:1F90 0200007F:D431 63 00000000:00000000 00:00000000 00000000 0 0 1 1\n",
            "   3: 0100007F:1F90 0200007F:D431 01 00000000:00000000 00:00000000 00000000 0 0\n",
        ));
        assert_eq!(s.len(), 1);
        assert_eq!(
            m.iter().map(|m| m.line).collect::<Vec<_>>(),
            vec![3, 4, 5],
            "{m:?}"
        );
        assert!(m[1].reason.contains("unknown state"), "{m:?}");
        assert!(m[2].reason.contains("missing inode"), "{m:?}");
    }

    #[test]
    fn non_ascii_address_is_malformed_not_a_panic() {
        // 32 bytes, but one 4-byte character straddles a word boundary.
        let addr = "0000000\u{1F600}000000000000000000001";
        assert_eq!(addr.len(), 32);
        let (s, m) = parse(&format!(
            "   0: {addr}:0050 00000000000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000 0 0 11 1\n"
        ));
        assert!(s.is_empty());
        assert_eq!(m.len(), 1);
        assert!(m[0].reason.starts_with("bad address"), "{m:?}");
    }

    #[test]
    fn random_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix and byte-flip of a valid line.
        let line = b"   0: 0000000000000000FFFF00000100007F:0050 0100007F:C351 06 0000000A:00000000 03:00000000 00000000     0        0 0 3 0\n";
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(line);
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        for cut in 0..text.len() {
            parse_table(&text[..cut], "tcp", 0, &mut s, &mut m);
        }
        let mut seed = 0x2545F4914F6CDD1Du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut t = text.clone();
            let i = (seed as usize) % t.len();
            t[i] = (seed >> 32) as u8;
            parse_table(&t, "tcp", 0, &mut s, &mut m);
        }
    }

    #[test]
    fn a_table_without_its_header_keeps_its_first_socket() {
        let line = "   0: 0100007F:1F90 0200007F:D431 08 00000002:0000000A 00:00000000 00000000  1000        0 4242 1 0\n";
        let (mut s, mut m) = (Vec::new(), MalformedLog::default());
        parse_table(line.as_bytes(), "tcp", 0, &mut s, &mut m);
        assert_eq!((s.len(), m.len()), (1, 0));
        // A first line that is neither header nor socket is reported, as line 1.
        parse_table(b"garbage\n", "tcp", 0, &mut s, &mut m);
        assert_eq!(m.kept()[0].line, 1);
        // The IPv6 header (remote_address, wider columns) is a header too.
        let h6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        parse_table(h6.as_bytes(), "tcp6", 0, &mut s, &mut m);
        assert_eq!((s.len(), m.len()), (1, 1));
    }

    #[test]
    fn huge_fields_give_short_reasons_and_few_are_kept() {
        let field = format!("\x1b[31m{}", "Z".repeat(1_000_000));
        let (s, m) = parse(&format!(
            "   0: 0100007F:1F90 0200007F:D431 {field} 00000000:00000000 00:00000000 00000000 0 0 1 1\n"
        ));
        assert!(s.is_empty());
        assert!(m[0].reason.len() < 100, "{}", m[0].reason.len());
        assert!(
            m[0].reason.starts_with("bad state '\\x1b[31mZZ"),
            "{}",
            m[0].reason
        );
        assert!(m[0].reason.ends_with("...'"), "{}", m[0].reason);
        let mut log = MalformedLog::default();
        let (mut s, text) = (Vec::new(), "x\n".repeat(100_000));
        parse_table(
            format!("{HEADER}{text}").as_bytes(),
            "tcp",
            0,
            &mut s,
            &mut log,
        );
        assert_eq!((log.len(), log.kept().len()), (100_000, MalformedLog::KEPT));
        let mut more = MalformedLog::default();
        more.extend(log.clone());
        more.extend(log);
        assert_eq!(
            (more.len(), more.kept().len()),
            (200_000, MalformedLog::KEPT)
        );
    }
}
