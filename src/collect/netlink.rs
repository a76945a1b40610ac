//! The default socket source: `NETLINK_SOCK_DIAG` dumps of the TCP table of the
//! network namespace the calling thread is in.
//!
//! Counts come from one dump per address family over every state, exactly what
//! `ss -tan` asks for. The same dump asks for `INET_DIAG_INFO` (tcp_info), whose
//! two idle clocks give every connected socket its idle age: an idle ESTABLISHED
//! socket is how a forgotten database checkout leaks. Only those two u32 fields
//! are read, in place (see bench/NOTES.md for what tcp_info costs at 10k sockets).

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

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

use super::guard::{self, Ended, Frames};
use super::nlattr::{self, Attrs};
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
    /// What the tcp_info read could not see (empty when every idle age was read).
    pub info_gaps: InfoGaps,
}

/// Sockets whose idle age the guarded tcp_info read could not get (see
/// [`guard`]): the ones that kept it waiting (their holder keeps the socket
/// lock) and how many others went without an age because of them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InfoGaps {
    /// Sockets that did not answer within [`PROBE_STALL`]: (inode, cookie).
    pub locked: Vec<(u64, u64)>,
    /// Sockets of states with an idle age left without one (the locked ones
    /// included).
    pub ages_missing: usize,
    /// Why the read stopped short when no single socket could be named (a
    /// helper process that could not be started, the probe budget spent).
    pub cause: Option<String>,
}

impl InfoGaps {
    pub fn is_empty(&self) -> bool {
        self.ages_missing == 0 && self.locked.is_empty() && self.cause.is_none()
    }

    pub fn add(&mut self, other: InfoGaps) {
        self.locked.extend(other.locked);
        self.ages_missing += other.ages_missing;
        self.cause = self.cause.take().or(other.cause);
    }
}

/// A dump with tcp_info that sends nothing for this long is stuck on a socket
/// lock (a healthy one sends a buffer every few microseconds, and even a
/// starved one within a scheduling period or two).
const DUMP_STALL: Duration = Duration::from_secs(1);
/// One exact tcp_info query that has not answered in this long is waiting on
/// its socket's lock.
pub const PROBE_STALL: Duration = Duration::from_millis(500);
/// Wall time for the exact queries that fill the ages a stuck dump missed.
const PROBE_BUDGET: Duration = Duration::from_millis(1500);
/// Locked sockets named at most; past that the rest go without an age.
const LOCKED_MAX: usize = 8;

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
    let (mut sockets, mut info_gaps) = r4?;
    let ipv6_refused = match r6 {
        Ok((s, gaps)) => {
            sockets.extend(s);
            info_gaps.add(gaps);
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
        info_gaps,
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
///
/// tcp_info takes each socket's lock, so that dump runs in a guarded child
/// ([`guard`]). If it stalls, the table is read again here without tcp_info
/// (lock-free: states, queues, inodes and cookies stay exact), the ages the
/// child sent are kept, and the rest are asked one socket at a time
/// ([`probe_ages`]), which names the sockets that keep it waiting.
fn dump_one(
    nl: &NlSocket,
    family: u8,
    netns: NetnsId,
    idle: bool,
    capacity: usize,
) -> io::Result<(Vec<Socket>, InfoGaps)> {
    if !idle {
        return Ok((
            plain_dump(nl, family, netns, capacity, None)?,
            InfoGaps::default(),
        ));
    }
    let mut sockets = Vec::with_capacity(capacity);
    let (ended, result) = guarded_dump(nl, family, &mut |header, idle| {
        let h = InetResponseHeader::parse(header).map_err(bad_message)?;
        if let Some(mut s) = to_socket(&h, netns) {
            if s.state.has_idle_age() {
                s.idle_ms = idle;
            }
            sockets.push(s);
        }
        Ok(())
    });
    match ended {
        Ended::Done => result.map(|()| (sockets, InfoGaps::default())),
        Ended::Stopped => Err(io::Error::from(io::ErrorKind::Interrupted)),
        Ended::Stalled | Ended::OutOfTime | Ended::NotStarted => {
            let why = (ended == Ended::NotStarted)
                .then(|| "no helper process could be started for the tcp_info read".to_string());
            // The child may still be inside a dump on `nl`: a fresh socket.
            refill(&open()?, family, netns, capacity, &sockets, why)
        }
    }
}

/// After a stalled or impossible tcp_info dump: the table read again without
/// tcp_info, with the ages `partial` got, and the others probed.
fn refill(
    nl: &NlSocket,
    family: u8,
    netns: NetnsId,
    capacity: usize,
    partial: &[Socket],
    why: Option<String>,
) -> io::Result<(Vec<Socket>, InfoGaps)> {
    let known: foldhash::HashMap<u64, Option<u32>> =
        partial.iter().map(|s| (s.cookie, s.idle_ms)).collect();
    let mut ids = Vec::new();
    let mut sockets = plain_dump(nl, family, netns, capacity, Some(&mut ids))?;
    let mut todo = Vec::new();
    for (i, s) in sockets.iter_mut().enumerate() {
        match known.get(&s.cookie) {
            Some(age) => s.idle_ms = *age,
            None if s.state.has_idle_age() => todo.push(i),
            None => {}
        }
    }
    let mut gaps = InfoGaps {
        cause: why.clone(),
        ..InfoGaps::default()
    };
    if why.is_none() {
        probe_ages(family, &ids, &mut sockets, &todo, &mut gaps);
    }
    gaps.ages_missing = todo
        .iter()
        .filter(|&&i| sockets[i].idle_ms.is_none())
        .count();
    Ok((sockets, gaps))
}

/// The table without tcp_info, read here: nothing in it takes a socket lock.
/// With `ids`, each socket's raw `inet_diag_sockid` too (for exact queries).
fn plain_dump(
    nl: &NlSocket,
    family: u8,
    netns: NetnsId,
    capacity: usize,
    mut ids: Option<&mut Vec<[u8; SOCKID_LEN]>>,
) -> io::Result<Vec<Socket>> {
    let mut buf = vec![0u8; 256 << 10];
    let mut sockets = Vec::with_capacity(capacity);
    // By family, not by address: an IPv4-mapped socket of the IPv6 table is
    // normalised to IPv4.
    dump_family(nl, &mut buf, family, ALL_STATES, false, &mut |payload| {
        let h = InetResponseHeader::parse(payload).map_err(bad_message)?;
        if let Some(s) = to_socket(&h, netns) {
            if let Some(ids) = ids.as_deref_mut() {
                ids.push(sockid(payload));
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

/// The request for one family's table (a dump), or with `exact` for one socket
/// (its `inet_diag_sockid` patched in at [`SOCKID_AT`]), serialised.
fn request_bytes(family: u8, info: bool, exact: bool) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = if exact {
        NLM_F_REQUEST
    } else {
        NLM_F_REQUEST | NLM_F_DUMP
    };
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut req = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: if info {
                ExtensionFlags::INFO
            } else {
                ExtensionFlags::empty()
            },
            states: StateFlags::from_bits_retain(ALL_STATES),
            socket_id,
        })
        .into(),
    );
    serialize(&mut req)
}

fn serialize(req: &mut NetlinkMessage<SockDiagMessage>) -> Vec<u8> {
    req.finalize();
    let mut out = vec![0u8; req.buffer_len()];
    req.serialize(&mut out);
    out
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
    debug_assert_eq!(states, ALL_STATES);
    let out = request_bytes(family, info, false);
    nl.send(&out, 0)?;
    receive(nl, buf, on_socket)
}

/// Send one dump request (`unix::dump`'s) and hand each socket message's
/// payload to `on_socket`, until the kernel says done.
pub(super) fn request(
    nl: &NlSocket,
    buf: &mut [u8],
    mut req: NetlinkMessage<SockDiagMessage>,
    on_socket: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    nl.send(&serialize(&mut req), 0)?;
    receive(nl, buf, on_socket)
}

fn receive(
    nl: &NlSocket,
    buf: &mut [u8],
    on_socket: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        let n = nl.recv(&mut &mut buf[..], 0)?;
        if n > buf.len() {
            return Err(io::Error::other("netlink message truncated"));
        }
        if parse_chunk(&buf[..n], on_socket)? {
            return Ok(());
        }
    }
}

/// Hand each socket message of one read to `on_socket`; true once the kernel
/// says the dump is done.
fn parse_chunk(
    chunk: &[u8],
    on_socket: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<bool> {
    let mut off = 0;
    while off < chunk.len() {
        // The netlink header is read in place; only error messages (rare) go
        // through the crate's full message parser.
        let msg = NetlinkBuffer::new_checked(&chunk[off..]).map_err(bad_message)?;
        let len = msg.length() as usize;
        match msg.message_type() {
            SOCK_DIAG_BY_FAMILY => on_socket(msg.payload())?,
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let full = NetlinkMessage::<SockDiagMessage>::deserialize(&chunk[off..off + len])
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
    Ok(false)
}

/// `inet_diag_sockid` (ports, addresses, interface, cookie): its length, where
/// it sits in a request (`nlmsghdr`, then family, protocol, ext, pad, states)
/// and in a response (`inet_diag_msg`: family, state, timer, retrans, then it).
const SOCKID_LEN: usize = 48;
const SOCKID_AT: usize = 16 + 8;
const SOCKID_IN_MSG: usize = 4;

fn sockid(payload: &[u8]) -> [u8; SOCKID_LEN] {
    let mut id = [0u8; SOCKID_LEN];
    if let Some(b) = payload.get(SOCKID_IN_MSG..SOCKID_IN_MSG + SOCKID_LEN) {
        id.copy_from_slice(b);
    }
    id
}

/// Frame tags from the guarded children: a read as the kernel gave it, an
/// errno, or a read compacted to [`COMPACT_LEN`]-byte records.
const TAG_DATA: u8 = 0;
const TAG_ERRNO: u8 = 1;
const TAG_COMPACT: u8 = 2;

/// A compacted socket message: the `inet_diag_msg` header and the idle age
/// ([`NO_AGE`]: none). A fifth of a message with tcp_info: at 100k sockets the
/// pipe carries 7.6 MB a dump instead of 34 MB.
const COMPACT_LEN: usize = DIAG_MSG_LEN + 4;
const NO_AGE: u32 = u32::MAX;

/// Takes one socket's `inet_diag_msg` header and its idle age.
type OnAged<'a> = dyn FnMut(&[u8], Option<u32>) -> io::Result<()> + 'a;

/// The tcp_info dump, run in a guarded child; each socket's `inet_diag_msg`
/// header and idle age to `on_socket` as the child streams them.
fn guarded_dump(nl: &NlSocket, family: u8, on_socket: &mut OnAged<'_>) -> (Ended, io::Result<()>) {
    // Everything the child touches is made before the fork.
    let req = request_bytes(family, true, false);
    let (mut buf, mut compacted) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let fd = nl.as_raw_fd();
    let (mut done, mut result) = (false, Ok(()));
    let ended = guard::run(
        DUMP_STALL,
        None,
        &[fd],
        &mut |frames| child_dump(fd, &req, &mut buf, &mut compacted, frames),
        &mut |frame| {
            if done || result.is_err() {
                return;
            }
            result = match frame.split_first() {
                Some((&TAG_COMPACT, records)) => read_compact(records, on_socket),
                Some((&TAG_DATA, chunk)) => parse_chunk(chunk, &mut |payload| {
                    let age = payload.get(DIAG_MSG_LEN..).and_then(idle_from_attrs);
                    on_socket(payload, age)
                })
                .map(|d| done = d),
                Some((&TAG_ERRNO, e)) => Err(io::Error::from_raw_os_error(errno_from(e))),
                _ => Err(io::Error::other("bad frame from the tcp_info reader")),
            };
        },
    );
    if ended == Ended::Done && !done && result.is_ok() {
        result = Err(io::Error::other(
            "the tcp_info dump ended before the kernel said done",
        ));
    }
    (ended, result)
}

fn errno_from(b: &[u8]) -> i32 {
    b.try_into().map_or(libc::EIO, i32::from_ne_bytes)
}

/// Compacted records to `on_socket`.
fn read_compact(records: &[u8], on_socket: &mut OnAged<'_>) -> io::Result<()> {
    if records.len() % COMPACT_LEN != 0 {
        return Err(io::Error::other("bad frame from the tcp_info reader"));
    }
    for rec in records.chunks_exact(COMPACT_LEN) {
        let (header, age) = rec.split_at(DIAG_MSG_LEN);
        let age = u32::from_ne_bytes([age[0], age[1], age[2], age[3]]);
        on_socket(header, (age != NO_AGE).then_some(age))?;
    }
    Ok(())
}

/// One read's socket messages as compacted records in `out`, their length;
/// `None` when the read holds anything else (the last one: done or an error)
/// or a message too short to compact: then it crosses whole and the parent's
/// parser says what is wrong. Runs in the guarded child: slices only, no
/// allocation, no panic.
fn compact(chunk: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut off, mut w) = (0usize, 0usize);
    while off < chunk.len() {
        let head = chunk.get(off..off + 16)?;
        let len = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if u16::from_ne_bytes([head[4], head[5]]) != SOCK_DIAG_BY_FAMILY || len < 16 {
            return None;
        }
        let payload = chunk.get(off + 16..off + len)?;
        let age = payload
            .get(DIAG_MSG_LEN..)
            .and_then(idle_from_attrs)
            .unwrap_or(NO_AGE);
        let slot = out.get_mut(w..w + COMPACT_LEN)?;
        slot[..DIAG_MSG_LEN].copy_from_slice(payload.get(..DIAG_MSG_LEN)?);
        slot[DIAG_MSG_LEN..].copy_from_slice(&age.to_ne_bytes());
        w += COMPACT_LEN;
        off += (len + 3) & !3;
    }
    Some(w)
}

/// The child's dump: send, then forward every read (compacted) until the kernel
/// says done. Raw syscalls on memory made before the fork only (see
/// [`guard::run`]).
fn child_dump(fd: i32, req: &[u8], buf: &mut [u8], compacted: &mut [u8], frames: &mut Frames) {
    if !child_send(fd, req, frames) {
        return;
    }
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            if guard::errno() == libc::EINTR {
                continue;
            }
            frames.send(&[&[TAG_ERRNO], &guard::errno().to_ne_bytes()]);
            return;
        }
        let chunk = &buf[..n as usize];
        let sent = match compact(chunk, compacted) {
            Some(w) => frames.send(&[&[TAG_COMPACT], &compacted[..w]]),
            None => frames.send(&[&[TAG_DATA], chunk]),
        };
        if !sent || ends_dump(chunk) || n == 0 {
            return;
        }
    }
}

fn child_send(fd: i32, req: &[u8], frames: &mut Frames) -> bool {
    // SAFETY: req is valid for its length.
    if unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) } < 0 {
        frames.send(&[&[TAG_ERRNO], &guard::errno().to_ne_bytes()]);
        return false;
    }
    true
}

/// Whether a read holds the dump's last message (done, or an error). Headers
/// only, bounds-checked, no allocation (it runs in the guarded child).
fn ends_dump(chunk: &[u8]) -> bool {
    let mut off = 0usize;
    while let (Some(len), Some(ty)) = (chunk.get(off..off + 4), chunk.get(off + 4..off + 6)) {
        let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let ty = u16::from_ne_bytes([ty[0], ty[1]]);
        if ty == NLMSG_DONE || ty == NLMSG_ERROR {
            return true;
        }
        if len < 16 {
            return false;
        }
        off += (len + 3) & !3;
    }
    false
}

/// Ask the sockets at `todo` (indexes into `sockets` and `ids`) for their
/// tcp_info one at a time, in guarded children: a query that does not answer
/// within [`PROBE_STALL`] names a locked socket, and the next child goes on
/// after it. Bounded by [`PROBE_BUDGET`] and [`LOCKED_MAX`].
fn probe_ages(
    family: u8,
    ids: &[[u8; SOCKID_LEN]],
    sockets: &mut [Socket],
    todo: &[usize],
    gaps: &mut InfoGaps,
) {
    let until = Instant::now() + PROBE_BUDGET;
    let template = request_bytes(family, true, true);
    let mut next = 0;
    while next < todo.len() {
        // A fresh socket each time: a stuck child keeps its request in the old one.
        let Ok(nl) = open() else {
            gaps.cause = Some("no netlink socket for the exact tcp_info queries".into());
            return;
        };
        let (fd, mut req, mut buf) = (nl.as_raw_fd(), template.clone(), vec![0u8; 8192]);
        let mut answered = next;
        let rest = &todo[next..];
        let ended = guard::run(
            PROBE_STALL,
            Some(until),
            &[fd],
            &mut |frames| child_probe(fd, &mut req, &mut buf, ids, rest, frames),
            &mut |frame| {
                let Some((i, reply)) = frame.split_at_checked(4) else {
                    return;
                };
                let k = next + errno_from(i) as usize;
                if let Some(s) = todo.get(k).and_then(|&t| sockets.get_mut(t)) {
                    s.idle_ms = reply_age(reply);
                }
                answered = k + 1;
            },
        );
        match ended {
            Ended::Done | Ended::Stopped => return,
            Ended::Stalled => {
                if let Some(s) = todo.get(answered).map(|&t| &sockets[t]) {
                    gaps.locked.push((s.inode, s.cookie));
                }
                next = answered + 1;
                if gaps.locked.len() >= LOCKED_MAX {
                    gaps.cause = Some(format!(
                        "{LOCKED_MAX} locked sockets named; the rest not asked"
                    ));
                    return;
                }
            }
            Ended::OutOfTime => {
                gaps.cause = Some(format!(
                    "the exact tcp_info queries ran out of their {} ms",
                    PROBE_BUDGET.as_millis()
                ));
                return;
            }
            Ended::NotStarted => {
                gaps.cause =
                    Some("no helper process could be started for the tcp_info read".into());
                return;
            }
        }
    }
}

/// The child's exact queries: one request and one reply per socket, each reply
/// framed with its index in `todo`. Raw syscalls only (see [`guard::run`]).
fn child_probe(
    fd: i32,
    req: &mut [u8],
    buf: &mut [u8],
    ids: &[[u8; SOCKID_LEN]],
    todo: &[usize],
    frames: &mut Frames,
) {
    for (i, &t) in todo.iter().enumerate() {
        let (Some(id), Some(slot)) = (ids.get(t), req.get_mut(SOCKID_AT..SOCKID_AT + SOCKID_LEN))
        else {
            return;
        };
        slot.copy_from_slice(id);
        // SAFETY: req is valid for its length. A failed send ends the probes:
        // the sockets not answered keep no age.
        if unsafe { libc::send(fd, req.as_ptr().cast(), req.len(), 0) } < 0 {
            return;
        }
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        let reply = buf.get(..n.max(0) as usize).unwrap_or_default();
        if !frames.send(&[&(i as u32).to_ne_bytes(), reply]) {
            return;
        }
    }
}

/// The idle age in an exact query's reply (none for an error: the socket closed).
fn reply_age(reply: &[u8]) -> Option<u32> {
    let msg = NetlinkBuffer::new_checked(reply).ok()?;
    if msg.message_type() != SOCK_DIAG_BY_FAMILY {
        return None;
    }
    msg.payload().get(DIAG_MSG_LEN..).and_then(idle_from_attrs)
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
        cookie: cookie(&id.cookie),
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
/// attribute among `attrs` (the bytes after the `inet_diag_msg`): walked in place
/// ([`Attrs`]), `None` when absent or short.
fn idle_from_attrs(attrs: &[u8]) -> Option<u32> {
    let (_, info) = Attrs::new(attrs).find(|&(kind, _)| kind == INET_DIAG_INFO)?;
    let recv = nlattr::u32_at(info, TCPI_LAST_DATA_RECV)?;
    let sent = nlattr::u32_at(info, TCPI_LAST_DATA_SENT)?;
    Some(recv.min(sent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::nlattr::tests::attr;

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

    /// A netlink message of `ty` around `payload`, padded to 4 bytes.
    fn message(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((payload.len() + 16) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn compacted_reads_give_what_whole_ones_give() {
        let mut info = vec![0u8; 104];
        info[TCPI_LAST_DATA_SENT..TCPI_LAST_DATA_SENT + 4].copy_from_slice(&700u32.to_ne_bytes());
        info[TCPI_LAST_DATA_RECV..TCPI_LAST_DATA_RECV + 4].copy_from_slice(&900u32.to_ne_bytes());
        let header = |b: u8| -> Vec<u8> { (0..DIAG_MSG_LEN as u8).map(|i| i ^ b).collect() };
        let with_age = [header(1), attr(8, &[0]), attr(INET_DIAG_INFO, &info)].concat();
        let without = [header(2), attr(8, &[0])].concat();
        let chunk = [
            message(SOCK_DIAG_BY_FAMILY, &with_age),
            message(SOCK_DIAG_BY_FAMILY, &without),
        ]
        .concat();
        let mut whole = Vec::new();
        let done = parse_chunk(&chunk, &mut |p| {
            let age = p.get(DIAG_MSG_LEN..).and_then(idle_from_attrs);
            whole.push((p[..DIAG_MSG_LEN].to_vec(), age));
            Ok(())
        })
        .unwrap();
        assert!(!done);
        let mut out = vec![0u8; chunk.len()];
        let n = compact(&chunk, &mut out).expect("socket messages compact");
        assert_eq!(n, 2 * COMPACT_LEN);
        let mut small = Vec::new();
        read_compact(&out[..n], &mut |h, age| {
            small.push((h.to_vec(), age));
            Ok(())
        })
        .unwrap();
        assert_eq!(small, whole);
        assert_eq!(small[0].1, Some(700));
        assert_eq!(small[1].1, None);
        // The last read (done), or a message too short to compact: sent whole.
        let last = [chunk.clone(), message(NLMSG_DONE, &[0; 4])].concat();
        assert_eq!(compact(&last, &mut vec![0u8; last.len()]), None);
        let short = message(SOCK_DIAG_BY_FAMILY, &[0u8; 20]);
        assert_eq!(compact(&short, &mut [0u8; 64]), None);
        assert!(read_compact(&out[..n - 1], &mut |_, _| Ok(())).is_err());
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
