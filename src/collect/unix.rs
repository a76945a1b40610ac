//! The unix socket table (`--proto unix|all`): a netlink `sock_diag` dump of
//! `AF_UNIX` with every socket's name, peer inode and queue lengths (what `ss -xa`
//! asks for), or the `/proc/net/unix` fallback, which has no peer and no queues.
//!
//! Only the host namespace's table is read: unix sockets of other network
//! namespaces are said to be uncounted (`Warning::UnixOtherNetns`).
//!
//! Like `proc_net`, the text parser never fails on a bad line and never drops one
//! unseen: each is counted into the same bounded [`MalformedLog`].

use std::io;
use std::path::Path;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags, UnixRequest};

use super::fdscan::FdScan;
use super::fsread::{self, Oversize};
use super::lines::{self, MalformedLog, quoted};
use super::netlink;
use super::nlattr::{Attrs, u32_at};
use crate::model::unix::{PeerRef, UnixName, UnixSocket, UnixState, UnixType};
use crate::model::{NetnsId, Source};

/// `sizeof(struct unix_diag_msg)`: family, type, state, pad, inode, cookie[2].
const DIAG_MSG_LEN: usize = 16;
/// Attribute kinds of `include/uapi/linux/unix_diag.h`.
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_RQLEN: u16 = 4;
const UNIX_DIAG_SHUTDOWN: u16 = 6;
const UNIX_DIAG_UID: u16 = 7;
/// `UDIAG_SHOW_UID` (Linux 5.3+; older kernels ignore it), which the crate lacks.
const UDIAG_SHOW_UID: u32 = 0x40;
/// `SHUTDOWN_MASK`: both directions shut, what the kernel sets on a connected
/// socket when its peer is released.
const SHUTDOWN_BOTH: u8 = 3;
/// `__SO_ACCEPTCON` in `/proc/net/unix`'s Flags column: a listener.
const SO_ACCEPTCON: u32 = 1 << 16;
/// `SS_CONNECTED` in its St column.
const SS_CONNECTED: u8 = 3;

/// The unix half of a collection (`--proto unix|all`): the host namespace's unix
/// sockets, joined to their holders through the same fd scan as the TCP table.
#[derive(Debug, Clone, Default)]
pub struct UnixCollection {
    pub sockets: Vec<UnixSocket>,
    pub source: Source,
    /// Where each socket's `(inode, pid)` pairs start in the collection's fd
    /// scan ([`FdScan::starts`]); empty for one built in memory.
    pub starts: Vec<u32>,
    /// Sockets no scanned process holds; `None` for a focused query.
    pub unattributed: Option<u64>,
}

impl UnixCollection {
    /// Who holds socket `i`, as `(inode, pid)` pairs of `fds`.
    pub fn held<'a>(&self, fds: &'a FdScan, i: usize) -> &'a [(u64, u32)] {
        let inode = self.sockets[i].inode;
        match self.starts.get(i) {
            Some(&start) if self.starts.len() == self.sockets.len() => fds.held_from(start, inode),
            _ => fds.held(inode),
        }
    }

    /// Join the table to the fd scan: where each socket's holders start, and how
    /// many have none (unknown when only some fd tables were read).
    pub fn join(&mut self, fds: &FdScan, focused: bool) {
        self.starts = fds.starts(self.sockets.iter().map(|s| s.inode));
        let none = self
            .starts
            .iter()
            .filter(|&&st| st == super::fdscan::NO_PAIRS)
            .count() as u64;
        self.unattributed = (!focused).then_some(none);
    }
}

/// One read of the unix table.
#[derive(Debug, Default)]
pub struct UnixTable {
    pub sockets: Vec<UnixSocket>,
    pub malformed: MalformedLog,
}

/// Dump every unix socket of the calling thread's namespace, with its name, its
/// peer's inode and its queue lengths.
pub fn dump(netns: NetnsId) -> io::Result<Vec<UnixSocket>> {
    let nl = netlink::open()?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let req = NetlinkMessage::new(
        header,
        SockDiagMessage::UnixRequest(UnixRequest {
            // Every state: connected, listening and unconnected (ss -xa).
            state_flags: StateFlags::from_bits_retain(u32::MAX),
            inode: 0,
            // The uid tells an unattributed socket's likely holders (see
            // `Collector::warn_unattributed`).
            show_flags: ShowFlags::NAME
                | ShowFlags::PEER
                | ShowFlags::RQLEN
                | ShowFlags::from_bits_retain(UDIAG_SHOW_UID),
            cookie: [0xff; 8],
        })
        .into(),
    );
    let mut buf = vec![0u8; 256 << 10];
    let mut out = Vec::new();
    netlink::request(&nl, &mut buf, req, &mut |payload| {
        if let Some(s) = parse_message(payload, netns) {
            out.push(s);
        }
        Ok(())
    })?;
    Ok(out)
}

/// One `unix_diag_msg` and its attributes, read in place (the crate's attribute
/// parser allocates per attribute: 50k sockets' worth is measurable). `None` for
/// a socket type or state sockleak does not know (counted nowhere: the kernel
/// has none today).
fn parse_message(p: &[u8], netns: NetnsId) -> Option<UnixSocket> {
    let head = p.get(..DIAG_MSG_LEN)?;
    let kind = UnixType::from_kernel(u32::from(head[1]))?;
    let state = UnixState::from_diag(head[2])?;
    let mut s = UnixSocket {
        inode: u64::from(u32::from_ne_bytes(head[4..8].try_into().ok()?)),
        kind,
        state,
        name: UnixName::Unnamed,
        peer: None,
        recv_q: 0,
        send_q: 0,
        netns,
        uid: None,
    };
    let (mut shutdown, mut peer) = (0u8, None);
    for (kind, data) in Attrs::new(&p[DIAG_MSG_LEN..]) {
        match kind {
            UNIX_DIAG_NAME => s.name = name_from_kernel(data),
            UNIX_DIAG_PEER => peer = u32_at(data, 0),
            UNIX_DIAG_RQLEN => {
                s.recv_q = u32_at(data, 0).unwrap_or(0);
                // A listener's "write queue" is its backlog limit: 0, as for TCP.
                if state != UnixState::Listening {
                    s.send_q = u32_at(data, 4).unwrap_or(0);
                }
            }
            UNIX_DIAG_SHUTDOWN => shutdown = data.first().copied().unwrap_or(0),
            UNIX_DIAG_UID => s.uid = u32_at(data, 0),
            _ => {}
        }
    }
    // Peer inode 0 is either a released peer (our side shut both ways) or one
    // not accepted yet (no inode before accept).
    s.peer = peer.map(|ino| match ino {
        0 if shutdown == SHUTDOWN_BOTH => PeerRef::Closed,
        0 => PeerRef::Pending,
        n => PeerRef::Inode(u64::from(n)),
    });
    Some(s)
}

/// `sun_path` as the kernel gives it: a path ends at its NUL; an abstract name
/// keeps every byte, NULs inside too (shown `\x00`; `ss` writes them `@`, which
/// would make `@a\0b` and `@a@b` one group).
fn name_from_kernel(data: &[u8]) -> UnixName {
    match data.first() {
        None => UnixName::Unnamed,
        Some(0) => UnixName::from_kernel(data),
        Some(_) => {
            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
            UnixName::from_kernel(&data[..end])
        }
    }
}

/// Read `<dir>/unix` (a namespace's `net` directory).
pub fn read_proc(proc_net_dir: &Path, netns: NetnsId) -> io::Result<UnixTable> {
    let path = proc_net_dir.join("unix");
    let shown = fsread::shown(&path);
    let text = fsread::read_bounded(&path, fsread::TCP_TABLE, Oversize::Refuse).map_err(|e| {
        let e = io::Error::from(e);
        io::Error::new(e.kind(), format!("{shown}: {e}"))
    })?;
    let mut t = UnixTable::default();
    parse_proc(&text, &shown, netns, &mut t.sockets, &mut t.malformed);
    Ok(t)
}

/// Parse `/proc/net/unix` text, appending sockets to `out` and every line that
/// is not one to `malformed`.
pub fn parse_proc(
    text: &[u8],
    file: &str,
    netns: NetnsId,
    out: &mut Vec<UnixSocket>,
    malformed: &mut MalformedLog,
) {
    let header = |line: &[u8]| line.starts_with(b"Num ");
    let parse = |line: &[u8]| parse_proc_line(line, netns);
    lines::parse_lines(text, file, header, parse, out, malformed);
}

/// `Num: RefCount Protocol Flags Type St Inode [Path]`, hex but the inode; the
/// path is the rest of the line (it may hold spaces), its bytes kept as they are.
fn parse_proc_line(line: &[u8], netns: NetnsId) -> Result<UnixSocket, String> {
    let mut rest = line.trim_ascii_start();
    let mut fields = Vec::with_capacity(7);
    for _ in 0..7 {
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let field = String::from_utf8_lossy(&rest[..end]);
        if field.is_empty() {
            return Err(format!("{} fields, expected at least 7", fields.len()));
        }
        fields.push(field);
        rest = rest[end..].strip_prefix(b" ").unwrap_or_default();
        let spaces = rest.iter().take_while(|&&b| b == b' ').count();
        rest = &rest[spaces..];
    }
    if !fields[0].ends_with(':') {
        return Err(format!("slot {} does not end in ':'", quoted(&fields[0])));
    }
    let hex = |i: usize, what: &str| {
        u32::from_str_radix(&fields[i], 16)
            .map_err(|_| format!("bad {what} {}", quoted(&fields[i])))
    };
    let flags = hex(3, "flags")?;
    let kind = UnixType::from_kernel(hex(4, "type")?)
        .ok_or_else(|| format!("unknown socket type {}", quoted(&fields[4])))?;
    let st = u8::from_str_radix(&fields[5], 16)
        .ok()
        .filter(|s| (1..=4).contains(s))
        .ok_or_else(|| format!("bad state {}", quoted(&fields[5])))?;
    let inode = fields[6]
        .parse::<u64>()
        .map_err(|_| format!("bad inode {}", quoted(&fields[6])))?;
    let state = UnixState::from_proc(flags & SO_ACCEPTCON != 0, st == SS_CONNECTED);
    let mut path = rest;
    while let Some(p) = path.strip_suffix(b"\r").or_else(|| path.strip_suffix(b" ")) {
        path = p;
    }
    // The kernel writes an abstract name's NULs (the leading one too) as `@`.
    let name = match path.strip_prefix(b"@") {
        _ if path.is_empty() => UnixName::Unnamed,
        Some(a) => UnixName::Abstract(a.into()),
        None => UnixName::Path(path.into()),
    };
    Ok(UnixSocket {
        inode,
        kind,
        state,
        name,
        peer: None,
        recv_q: 0,
        send_q: 0,
        netns,
        uid: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::nlattr::tests::attr;

    fn msg(kind: u8, state: u8, inode: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![1, kind, state, 0];
        m.extend_from_slice(&inode.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        for a in attrs {
            m.extend_from_slice(a);
        }
        m
    }

    #[test]
    fn a_connected_client_has_its_peer_and_queues() {
        let rq = [7u32.to_ne_bytes(), 9u32.to_ne_bytes()].concat();
        let m = msg(
            1,
            1,
            42,
            &[
                attr(UNIX_DIAG_PEER, &43u32.to_ne_bytes()),
                attr(UNIX_DIAG_RQLEN, &rq),
                attr(UNIX_DIAG_SHUTDOWN, &[0]),
                attr(UNIX_DIAG_UID, &1000u32.to_ne_bytes()),
            ],
        );
        let s = parse_message(&m, 5).unwrap();
        assert_eq!(s.uid, Some(1000));
        assert_eq!(
            (
                s.inode, s.kind, s.state, s.peer, s.recv_q, s.send_q, s.netns
            ),
            (
                42,
                UnixType::Stream,
                UnixState::Connected,
                Some(PeerRef::Inode(43)),
                7,
                9,
                5
            )
        );
        assert_eq!(s.name, UnixName::Unnamed);
    }

    #[test]
    fn names_paths_abstract_and_closed_peers() {
        let path = msg(5, 10, 1, &[attr(UNIX_DIAG_NAME, b"/run/x.sock\0")]);
        let s = parse_message(&path, 0).unwrap();
        assert_eq!(s.name.to_string(), "/run/x.sock");
        assert_eq!(
            (s.kind, s.state),
            (UnixType::Seqpacket, UnixState::Listening)
        );
        let abs = msg(2, 7, 1, &[attr(UNIX_DIAG_NAME, b"\0my\0name")]);
        // Every byte of an abstract name kept: a NUL inside is not an `@`.
        let name = parse_message(&abs, 0).unwrap().name;
        assert_eq!(name.to_string(), "@my\\x00name");
        assert_eq!(name.json_text(), "@my@name");
        assert_ne!(name, UnixName::from_text("@my@name"));
        // Peer inode 0: released (both ways shut) or not yet accepted.
        let gone = msg(1, 1, 3, &[attr(UNIX_DIAG_PEER, &[0; 4]), attr(6, &[3])]);
        assert_eq!(parse_message(&gone, 0).unwrap().peer, Some(PeerRef::Closed));
        let pending = msg(1, 1, 3, &[attr(UNIX_DIAG_PEER, &[0; 4]), attr(6, &[0])]);
        assert_eq!(
            parse_message(&pending, 0).unwrap().peer,
            Some(PeerRef::Pending)
        );
        // Short, odd lengths, unknown type: no panic.
        assert!(parse_message(&[1, 1, 1], 0).is_none());
        assert!(parse_message(&msg(3, 1, 1, &[]), 0).is_none());
        let mut bad = msg(1, 1, 1, &[attr(UNIX_DIAG_PEER, &[1; 4])]);
        bad[16] = 0xff;
        assert_eq!(parse_message(&bad, 0).unwrap().peer, None);
    }

    #[test]
    fn proc_net_unix_names_keep_their_bytes() {
        let text = b"0000000000000000: 00000003 00000000 00000000 0001 03 1 @x\xff\n\
0000000000000000: 00000003 00000000 00000000 0001 03 2 @x\xfe\n\
0000000000000000: 00000003 00000000 00000000 0001 03 3 rel \x1b[2J\n";
        let (mut out, mut bad) = (Vec::new(), MalformedLog::default());
        parse_proc(text, "net/unix", 1, &mut out, &mut bad);
        assert_eq!(bad.len(), 0);
        let names: Vec<_> = out.iter().map(|s| s.name.clone()).collect();
        assert_eq!(
            names,
            vec![
                UnixName::Abstract(b"x\xff"[..].into()),
                UnixName::Abstract(b"x\xfe"[..].into()),
                UnixName::Path(b"rel \x1b[2J"[..].into()),
            ]
        );
        assert_eq!(names[0].to_string(), "@x\\xff");
        assert_eq!(names[2].to_string(), "rel \\x1b[2J");
    }

    #[test]
    fn proc_net_unix_lines() {
        let text = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 100 /run/postgresql/.s.PGSQL.5432\n\
0000000000000000: 00000003 00000000 00000000 0001 03 101\n\
0000000000000000: 00000003 00000000 00000000 0005 03 102 @abstract name\n\
0000000000000000: 00000002 00000000 00000000 0002 01 103 /dev/log\n\
garbage\n\
0000000000000000: 00000002 00000000 00000000 0009 01 104\n\
0000000000000000: 00000002 00000000 00000000 0001 01 x\n";
        let (mut out, mut bad) = (Vec::new(), MalformedLog::default());
        parse_proc(text, "net/unix", 1, &mut out, &mut bad);
        let got: Vec<_> = out
            .iter()
            .map(|s| (s.inode, s.kind, s.state, s.name.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    100,
                    UnixType::Stream,
                    UnixState::Listening,
                    "/run/postgresql/.s.PGSQL.5432".into()
                ),
                (
                    101,
                    UnixType::Stream,
                    UnixState::Connected,
                    "(unnamed)".into()
                ),
                (
                    102,
                    UnixType::Seqpacket,
                    UnixState::Connected,
                    "@abstract name".into()
                ),
                (
                    103,
                    UnixType::Dgram,
                    UnixState::Unconnected,
                    "/dev/log".into()
                ),
            ]
        );
        assert_eq!(bad.len(), 3);
        let lines: Vec<usize> = bad.kept().iter().map(|m| m.line).collect();
        assert_eq!(lines, vec![6, 7, 8]);
        assert!(
            bad.kept()[1].reason.contains("unknown socket type"),
            "{:?}",
            bad.kept()
        );
    }
}
