//! Asking the kernel again about single sockets: one exact `sock_diag` lookup
//! (no dump) by address, port and cookie per socket.
//!
//! The incremental sampler ([`super::fdcache`]) reads the socket table first and
//! the fd tables after. A socket closed in between is in the table with its inode
//! but in no fd table: on a web host, where servers and pools close connections
//! every second, that is most samples. Such a socket needs no owner search: once
//! closed it is orphaned (the kernel then reports inode 0, `sock_i_ino` of a sock
//! without its `struct socket`) or gone. One lookup tells that apart from a socket
//! still open, whose holder must be found.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, Parseable,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY},
    inet::{ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags},
};
use netlink_sys::Socket as NlSocket;

use crate::model::{Socket, TcpState};

/// At most this many lookups per sample: beyond, the sockets stay unexplained
/// (and the sampler re-reads, as without a lookup).
pub const MAX_LOOKUPS: usize = 256;

/// What the kernel says of a socket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    /// Still open with the same inode: some fd (or one in flight) holds it.
    Open,
    /// Closed since the table was read: orphaned (inode 0), in TIME_WAIT, gone,
    /// or its address now someone else's (another cookie).
    Closed,
    /// Not asked (no cookie, not in a hash), no answer, or another listener.
    Unknown,
}

/// Whether an exact lookup can answer for `s`: it has a cookie, and a state the
/// kernel looks up by address (the established hash, or a listener's; not a
/// socket in CLOSE, in no hash). The lookup names the interface the socket is
/// bound to (`bound_if`), as the kernel's match of a bound socket requires.
pub fn askable(s: &Socket) -> bool {
    let hashed = !matches!(s.state, TcpState::Close | TcpState::TimeWait);
    s.cookie != 0 && s.inode != 0 && hashed
}

/// Ask about each socket of `sockets` (in the calling thread's namespace, which
/// must be theirs); `Unknown` for those not [`askable`].
pub fn ask(sockets: &[&Socket]) -> io::Result<Vec<Now>> {
    let nl = super::netlink::open()?;
    let mut buf = vec![0u8; 16 << 10];
    Ok(sockets
        .iter()
        .map(|s| match askable(s) {
            true => verdict(&nl, &mut buf, s).unwrap_or(Now::Unknown),
            false => Now::Unknown,
        })
        .collect())
}

/// What one lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A socket, with this inode (0: no `struct socket` any more).
    Socket(u64),
    /// `ENOENT`: no socket with that address, or one with another cookie.
    Nothing,
    Error,
}

/// What the kernel says of `s`. A listener's lookup answers one listener of the
/// port (a reuseport sibling, a more specific bind): when that is not ours, one
/// more lookup without the cookie tells "no listener there" (ours is gone) from
/// "another one" (ours may be there too: unknown).
fn verdict(nl: &NlSocket, buf: &mut [u8], s: &Socket) -> io::Result<Now> {
    let mine = lookup(nl, buf, s, s.cookie)?;
    Ok(match mine {
        Found::Socket(i) if i == s.inode => Now::Open,
        Found::Socket(0) => Now::Closed,
        Found::Socket(_) | Found::Error => Now::Unknown,
        Found::Nothing if s.state != TcpState::Listen => Now::Closed,
        Found::Nothing => match lookup(nl, buf, s, NO_COOKIE)? {
            Found::Nothing => Now::Closed,
            _ => Now::Unknown,
        },
    })
}

/// `INET_DIAG_NOCOOKIE` in both halves: any socket at that address.
const NO_COOKIE: u64 = u64::MAX;

/// One exact lookup of `s`'s addresses (and interface) with `cookie`: the reply
/// is the socket's message then an ACK, or an error.
fn lookup(nl: &NlSocket, buf: &mut [u8], s: &Socket, cookie: u64) -> io::Result<Found> {
    let mut raw = [0u8; 8];
    raw[..4].copy_from_slice(&(cookie as u32).to_ne_bytes());
    raw[4..].copy_from_slice(&((cookie >> 32) as u32).to_ne_bytes());
    let family = if s.local.is_ipv4() { AF_INET } else { AF_INET6 };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut req = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id: SocketId {
                source_port: s.local.port(),
                destination_port: s.remote.port(),
                source_address: s.local.ip(),
                destination_address: s.remote.ip(),
                interface_id: s.bound_if,
                cookie: raw,
            },
        })
        .into(),
    );
    req.finalize();
    let mut out = vec![0u8; req.buffer_len()];
    req.serialize(&mut out);
    nl.send(&out, 0)?;
    let mut inode = None;
    // Bounded: the kernel answers with at most the socket and the ACK.
    for _ in 0..4 {
        let n = nl.recv(&mut &mut buf[..], 0)?;
        let mut off = 0;
        while off < n.min(buf.len()) {
            let msg =
                NetlinkBuffer::new_checked(&buf[off..n]).map_err(super::netlink::bad_message)?;
            let len = msg.length() as usize;
            match msg.message_type() {
                SOCK_DIAG_BY_FAMILY => {
                    let h = InetResponseHeader::parse(msg.payload())
                        .map_err(super::netlink::bad_message)?;
                    inode = Some(u64::from(h.inode));
                }
                NLMSG_ERROR => return Ok(found(&buf[off..off + len], inode)),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
    Ok(Found::Error)
}

/// The closing `NLMSG_ERROR` (an ACK, or the lookup's error) and the inode the
/// socket's message gave, if one came.
fn found(error: &[u8], inode: Option<u64>) -> Found {
    let Ok(full) = NetlinkMessage::<SockDiagMessage>::deserialize(error) else {
        return Found::Error;
    };
    let NetlinkPayload::Error(e) = full.payload else {
        return Found::Error;
    };
    match (e.code, inode) {
        (None, Some(i)) => Found::Socket(i),
        (None, None) => Found::Error,
        // ESTALE: older kernels' answer to another cookie at that address.
        (Some(_), _) => match e.to_io().raw_os_error() {
            Some(libc::ENOENT | libc::ESTALE) => Found::Nothing,
            _ => Found::Error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    /// The inode of a socket fd, as the table reports it.
    fn inode_of(fd: i32) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let text = link.to_string_lossy().to_string();
        text.trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    /// Our own socket as the kernel's table has it (its cookie included).
    fn from_table(inode: u64) -> Socket {
        let ns = super::super::netns::read_ns(std::path::Path::new("/proc/self/ns/net")).unwrap();
        let dump = super::super::netlink::dump(ns, false).expect("sock_diag dump");
        dump.sockets
            .into_iter()
            .find(|s| s.inode == inode)
            .expect("our socket in the table")
    }

    #[test]
    fn an_open_socket_is_open_and_a_closed_one_closed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (a, _) = l.accept().unwrap();
        let client = from_table(inode_of(c.as_raw_fd()));
        let server = from_table(inode_of(a.as_raw_fd()));
        assert_ne!(client.cookie, 0);
        assert_eq!(ask(&[&client, &server]).unwrap(), [Now::Open, Now::Open]);
        // The same four-tuple with another cookie is another socket.
        let other = Socket {
            cookie: client.cookie ^ 1,
            ..client.clone()
        };
        assert_eq!(ask(&[&other]).unwrap(), [Now::Closed]);
        // The server closes first: its side is orphaned (FIN_WAIT, inode 0).
        drop(a);
        // The client closes: its side is gone, or orphaned in LAST_ACK.
        drop(c);
        assert_eq!(
            ask(&[&server, &client]).unwrap(),
            [Now::Closed, Now::Closed]
        );
        // A listener is found by its port; another cookie there is no answer,
        // no listener at all is.
        let listener = from_table(inode_of(l.as_raw_fd()));
        let sibling = Socket {
            cookie: listener.cookie ^ 1,
            ..listener.clone()
        };
        assert_eq!(
            ask(&[&listener, &sibling]).unwrap(),
            [Now::Open, Now::Unknown]
        );
        drop(l);
        assert_eq!(ask(&[&listener]).unwrap(), [Now::Closed]);
    }
}
