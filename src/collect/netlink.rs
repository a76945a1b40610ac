//! The default socket source: `NETLINK_SOCK_DIAG` dumps of the TCP table of the
//! network namespace the calling thread is in.
//!
//! Counts come from one dump per address family over every state, exactly what
//! `ss -tan` asks for. The same dump asks for `INET_DIAG_INFO` (tcp_info), whose
//! two idle clocks give every connected socket its idle age: an idle ESTABLISHED
//! socket is how a forgotten database checkout leaks. Only those two u32 fields
//! are read, in place (see bench/NOTES.md for what tcp_info costs at 10k sockets).

use std::io;

use netlink_packet_core::{
    DecodeError, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload, Parseable,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY},
    inet::{ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags},
};
use netlink_sys::{Socket as NlSocket, SocketAddr as NlAddr, protocols::NETLINK_SOCK_DIAG};

use crate::model::{NetnsId, Socket, TcpState, normalize};

/// Every TCP state, including `TCP_NEW_SYN_RECV` (bit 12) so that half-open request
/// sockets are counted as SYN_RECV, as in `/proc/net/tcp`.
const ALL_STATES: u32 = (1 << 12) | 0xffe;

/// Offsets in `struct tcp_info` (`include/uapi/linux/tcp.h`): 8 single-byte
/// fields, then the u32s rto, ato, snd_mss, rcv_mss, unacked, sacked, lost,
/// retrans, fackets (8..44), then last_data_sent @44, last_ack_sent @48,
/// last_data_recv @52. Stable since Linux 2.6.
const TCPI_LAST_DATA_SENT: usize = 44;
const TCPI_LAST_DATA_RECV: usize = 52;
/// `sizeof(struct inet_diag_msg)`: the attributes follow it.
const DIAG_MSG_LEN: usize = 72;
/// `INET_DIAG_INFO`: the attribute holding `struct tcp_info`.
const INET_DIAG_INFO: u16 = 2;

/// One namespace's table as netlink gave it.
#[derive(Debug, Default)]
pub struct Dump {
    pub sockets: Vec<Socket>,
    /// Why the IPv6 table is missing, when the kernel refused an `AF_INET6` dump as
    /// a family it lacks (IPv6 disabled or not built): the IPv4 answer stands.
    pub ipv6_refused: Option<String>,
}

/// Whether an `AF_INET6` dump error means the kernel has no IPv6 sock_diag (no
/// handler for the family: ENOENT from sock_diag, or the family itself missing),
/// rather than a failure of the dump.
pub fn family_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EOPNOTSUPP)
    )
}

/// Dump the TCP table (IPv4 and IPv6) of the current network namespace.
/// With `idle`, connected sockets also get `idle_ms` from tcp_info.
///
/// The two families are dumped at the same time from two threads. Every dump walks
/// the kernel's whole established hash (touching every socket, whatever its
/// family), so at 100k sockets the IPv6 dump costs tens of milliseconds even when
/// it returns little; overlapping it with the IPv4 dump hides that.
pub fn dump(netns: NetnsId, idle: bool) -> io::Result<Dump> {
    // Both sockets are opened here, by the calling thread: a netlink socket belongs
    // to the network namespace of the thread that creates it (see netns.rs).
    let v4 = open()?;
    let v6 = open()?;
    // Reserving the expected size up front avoids the doubling copies of a growing
    // Vec (and their transient double footprint) at 100k sockets; pages that stay
    // unused are never touched, so an over-estimate costs no memory. The hint
    // covers both families, so appending the IPv6 sockets does not reallocate.
    let hint = table_size_hint();
    let (r4, r6) = std::thread::scope(|s| {
        let h6 = std::thread::Builder::new()
            .spawn_scoped(s, || dump_one(&v6, AF_INET6, netns, idle, 0))
            .ok();
        let r4 = dump_one(&v4, AF_INET, netns, idle, hint);
        let r6 = match h6 {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("IPv6 sock_diag thread panicked"))),
            // No thread to be had (thread limit): one after the other.
            None => dump_one(&v6, AF_INET6, netns, idle, 0),
        };
        (r4, r6)
    });
    let mut sockets = r4?;
    let ipv6_refused = match r6 {
        Ok(s) => {
            sockets.extend(s);
            None
        }
        Err(e) if family_missing(&e) => Some(format!(
            "the kernel refused the IPv6 sock_diag dump ({e}; IPv6 disabled?)"
        )),
        Err(e) => return Err(e),
    };
    Ok(Dump {
        sockets,
        ipv6_refused,
    })
}

pub(super) fn open() -> io::Result<NlSocket> {
    let mut nl = NlSocket::new(NETLINK_SOCK_DIAG)?;
    nl.bind_auto()?;
    nl.connect(&NlAddr::new(0, 0))?;
    // A large receive buffer keeps the kernel from pausing the dump between reads.
    let _ = nl.set_rx_buf_sz(4 << 20);
    Ok(nl)
}

/// One family's table; with `idle`, each socket's idle age from the tcp_info the
/// same dump carries (one walk of the kernel's hash table, not two).
fn dump_one(
    nl: &NlSocket,
    family: u8,
    netns: NetnsId,
    idle: bool,
    capacity: usize,
) -> io::Result<Vec<Socket>> {
    let mut buf = vec![0u8; 256 << 10];
    let mut sockets = Vec::with_capacity(capacity);
    // By family, not by address: an IPv4-mapped socket of the IPv6 table is
    // normalised to IPv4.
    dump_family(nl, &mut buf, family, ALL_STATES, idle, &mut |payload| {
        // The fixed header through the crate; of the attributes only tcp_info's
        // two idle clocks, read in place (parsing every attribute of 100k
        // messages into the crate's types would cost more than the dump).
        let h = InetResponseHeader::parse(payload).map_err(bad_message)?;
        if let Some(mut s) = to_socket(&h, netns) {
            if idle && s.state.has_idle_age() {
                s.idle_ms = payload.get(DIAG_MSG_LEN..).and_then(idle_from_attrs);
            }
            sockets.push(s);
        }
        Ok(())
    })?;
    Ok(sockets)
}

/// Expected number of TCP sockets in this thread's namespace, from
/// `sockstat{,6}` (in use, IPv4 and IPv6, plus TIME_WAIT), with some slack. Only
/// a capacity hint: 0 when it cannot be read.
fn table_size_hint() -> usize {
    let mut n = 0usize;
    for (file, prefix) in [("sockstat", "TCP:"), ("sockstat6", "TCP6:")] {
        let path = format!("/proc/thread-self/net/{file}");
        let Ok(raw) = super::fsread::read_bounded(
            std::path::Path::new(&path),
            super::fsread::SOCKSTAT,
            super::fsread::Oversize::Truncate,
        ) else {
            continue;
        };
        let text = String::from_utf8_lossy(&raw);
        let Some(line) = text.lines().find(|l| l.starts_with(prefix)) else {
            continue;
        };
        let mut words = line.split_ascii_whitespace().skip(1);
        while let (Some(k), Some(v)) = (words.next(), words.next()) {
            if k == "inuse" || k == "tw" {
                n += v.parse::<usize>().unwrap_or(0);
            }
        }
    }
    if n == 0 { 0 } else { n + n / 16 + 256 }
}

/// Send one dump request and hand each socket message's payload (an
/// `inet_diag_msg` and its attributes) to `on_socket`, until the kernel says done.
fn dump_family(
    nl: &NlSocket,
    buf: &mut [u8],
    family: u8,
    states: u32,
    info: bool,
    on_socket: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let req = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: if info {
                ExtensionFlags::INFO
            } else {
                ExtensionFlags::empty()
            },
            states: StateFlags::from_bits_retain(states),
            socket_id,
        })
        .into(),
    );
    request(nl, buf, req, on_socket)
}

/// Send one dump request (TCP's, or `unix::dump`'s) and hand each socket
/// message's payload to `on_socket`, until the kernel says done.
pub(super) fn request(
    nl: &NlSocket,
    buf: &mut [u8],
    mut req: NetlinkMessage<SockDiagMessage>,
    on_socket: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    req.finalize();
    let mut out = vec![0u8; req.buffer_len()];
    req.serialize(&mut out);
    nl.send(&out, 0)?;

    loop {
        let n = nl.recv(&mut &mut buf[..], 0)?;
        if n > buf.len() {
            return Err(io::Error::other("netlink message truncated"));
        }
        let mut off = 0;
        while off < n {
            // The netlink header is read in place; only error messages (rare) go
            // through the crate's full message parser.
            let msg = NetlinkBuffer::new_checked(&buf[off..n]).map_err(bad_message)?;
            let len = msg.length() as usize;
            match msg.message_type() {
                SOCK_DIAG_BY_FAMILY => on_socket(msg.payload())?,
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let full = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[off..off + len])
                        .map_err(bad_message)?;
                    if let NetlinkPayload::Error(e) = full.payload
                        && e.code.is_some()
                    {
                        return Err(e.to_io());
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            // Netlink messages are 4-byte aligned.
            off += (len + 3) & !3;
        }
    }
}

pub(super) fn bad_message(e: DecodeError) -> io::Error {
    io::Error::other(format!("bad sock_diag message: {e}"))
}

fn to_socket(h: &InetResponseHeader, netns: NetnsId) -> Option<Socket> {
    let state = TcpState::from_kernel(h.state)?;
    let id = &h.socket_id;
    Some(Socket {
        state,
        local: normalize((id.source_address, id.source_port).into()),
        remote: normalize((id.destination_address, id.destination_port).into()),
        inode: u64::from(h.inode),
        uid: h.uid,
        recv_q: h.recv_queue,
        // For a listener the kernel puts its backlog limit here, not bytes; the
        // /proc table says 0. Both sources must agree.
        send_q: if state == TcpState::Listen {
            0
        } else {
            h.send_queue
        },
        idle_ms: None,
        netns,
        cookie: Some(cookie(&id.cookie)),
        bound_if: id.interface_id,
    })
}

/// The socket cookie as `ss` prints it: `idiag_cookie[1] << 32 | idiag_cookie[0]`
/// (two u32s in host byte order).
pub(super) fn cookie(raw: &[u8; 8]) -> u64 {
    let lo = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let hi = u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Milliseconds since data last moved either way, from the `INET_DIAG_INFO`
/// attribute among `attrs` (the bytes after the `inet_diag_msg`): walked in place,
/// every attribute bounds-checked, `None` when absent or short.
fn idle_from_attrs(mut attrs: &[u8]) -> Option<u32> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == INET_DIAG_INFO {
            let info = &attrs[4..len];
            let recv = u32_at(info, TCPI_LAST_DATA_RECV)?;
            let sent = u32_at(info, TCPI_LAST_DATA_SENT)?;
            return Some(recv.min(sent));
        }
        // Attributes are 4-byte aligned.
        attrs = attrs.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((data.len() + 4) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    #[test]
    fn idle_is_the_younger_of_the_two_data_clocks() {
        let mut info = vec![0u8; 104];
        info[TCPI_LAST_DATA_SENT..TCPI_LAST_DATA_SENT + 4].copy_from_slice(&7000u32.to_ne_bytes());
        info[TCPI_LAST_DATA_RECV..TCPI_LAST_DATA_RECV + 4].copy_from_slice(&9000u32.to_ne_bytes());
        // Another attribute (shutdown, one byte, padded) before tcp_info.
        let attrs = [attr(8, &[0]), attr(INET_DIAG_INFO, &info)].concat();
        assert_eq!(idle_from_attrs(&attrs), Some(7000));
        assert_eq!(idle_from_attrs(&attr(8, &[0])), None, "no tcp_info");
        // Short tcp_info, a length past the end, a zero length: no age, no panic.
        assert_eq!(idle_from_attrs(&attr(INET_DIAG_INFO, &info[..50])), None);
        let mut bad = attr(INET_DIAG_INFO, &info);
        bad[0] = 0xff;
        assert_eq!(idle_from_attrs(&bad), None);
        assert_eq!(idle_from_attrs(&[0, 0, 2, 0]), None);
        assert_eq!(idle_from_attrs(&[]), None);
    }

    #[test]
    fn a_missing_family_is_told_from_a_failed_dump() {
        for code in [libc::ENOENT, libc::EAFNOSUPPORT, libc::EPROTONOSUPPORT] {
            assert!(family_missing(&io::Error::from_raw_os_error(code)));
        }
        for code in [libc::EPERM, libc::ENOBUFS, libc::EMFILE] {
            assert!(!family_missing(&io::Error::from_raw_os_error(code)));
        }
        assert!(!family_missing(&io::Error::other("bad sock_diag message")));
    }
}
