//! Unix-domain sockets as plain data: which protocols a view counts, a unix
//! socket as the kernel's `sock_diag` (or `/proc/net/unix`) reports it, the name a
//! group of them is keyed by, the peer processes of a group, and the host's unix
//! totals.
//!
//! A unix socket has three states of its own ([`UnixState`]), which the kernel
//! writes in two vocabularies: sock_diag in TCP's numbers (`TCP_ESTABLISHED`
//! connected, `TCP_LISTEN` listening, `TCP_CLOSE` unconnected), `/proc/net/unix` as
//! `SS_*` socket states and a listening flag. Each is read into [`UnixState`] at the
//! edge; it is counted and filtered as the [`TcpState`] `ss -x` shows it as (ESTAB,
//! LISTEN, UNCONN: [`UnixState::counted_as`]), so that `--state`, `--metric`, the
//! pool rules and the JSON `states` object need no second vocabulary.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::{NetnsId, TcpState, escape};

/// The protocol of a group: JSON `proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Unix,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Unix => "unix",
        }
    }
}

/// The protocols a view counts (`--proto`): TCP alone by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protos {
    pub tcp: bool,
    pub unix: bool,
}

impl Default for Protos {
    fn default() -> Self {
        Protos {
            tcp: true,
            unix: false,
        }
    }
}

/// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`: the kernel's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnixType {
    Stream,
    Dgram,
    Seqpacket,
}

impl UnixType {
    pub fn from_kernel(n: u32) -> Option<UnixType> {
        match n {
            1 => Some(UnixType::Stream),
            2 => Some(UnixType::Dgram),
            5 => Some(UnixType::Seqpacket),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnixType::Stream => "stream",
            UnixType::Dgram => "dgram",
            UnixType::Seqpacket => "seqpacket",
        }
    }

    /// Connection-oriented types are grouped; datagram sockets are counted in
    /// the totals only (a connected datagram socket is a destination, not a
    /// connection: every process logging to `/dev/log` holds one).
    pub fn is_connection(self) -> bool {
        matches!(self, UnixType::Stream | UnixType::Seqpacket)
    }
}

/// A unix socket's address: a filesystem path, an abstract name (`@name`, the
/// kernel's leading NUL written as `@`, as `ss` does), or none (a socketpair, an
/// unbound client). The kernel's bytes, kept exactly: names are another user's
/// text, and two names that differ in any byte are two groups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnixName {
    Unnamed,
    /// Up to the path's NUL.
    Path(Arc<[u8]>),
    /// Without the leading NUL; every other byte kept, NULs too.
    Abstract(Arc<[u8]>),
}

impl UnixName {
    /// From the kernel's `sun_path` bytes (UNIX_DIAG_NAME, or `/proc/net/unix`'s
    /// path column already turned into `@name`): a leading NUL is abstract.
    pub fn from_kernel(bytes: &[u8]) -> UnixName {
        match bytes.split_first() {
            None => UnixName::Unnamed,
            Some((0, rest)) => UnixName::Abstract(Arc::from(rest)),
            Some(_) => UnixName::Path(Arc::from(bytes)),
        }
    }

    /// A path or `@abstract` name typed by the user (a `--pool-size` rule).
    pub fn from_text(s: &str) -> UnixName {
        match s.strip_prefix('@') {
            Some(a) => UnixName::Abstract(Arc::from(a.as_bytes())),
            None if s.is_empty() => UnixName::Unnamed,
            None => UnixName::Path(Arc::from(s.as_bytes())),
        }
    }

    pub fn is_named(&self) -> bool {
        !matches!(self, UnixName::Unnamed)
    }

    /// The name as `sun_path` holds it (abstract: a leading NUL); empty if unnamed.
    pub fn sun_path(&self) -> Vec<u8> {
        match self {
            UnixName::Unnamed => Vec::new(),
            UnixName::Path(p) => p.to_vec(),
            UnixName::Abstract(a) => [&[0u8][..], a].concat(),
        }
    }

    /// The JSON `local`/`remote` text: for a UTF-8 name, the name as `ss` writes
    /// it (and as sockleak always did: NULs of an abstract name as `@`); for any
    /// other, its escaped form. [`UnixName::exact_in_json`] says whether this text
    /// alone gives the bytes back.
    pub fn json_text(&self) -> String {
        let utf8 = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
        match self {
            UnixName::Unnamed => "(unnamed)".to_string(),
            UnixName::Path(p) => utf8(p).unwrap_or_else(|| self.to_string()),
            UnixName::Abstract(a) => match utf8(a) {
                Some(t) => format!("@{}", t.replace('\0', "@")),
                None => self.to_string(),
            },
        }
    }

    /// Whether [`UnixName::json_text`] is the name's bytes exactly and cannot be
    /// read as another kind of name or as one of sockleak's labels: UTF-8, no NUL
    /// in an abstract name, no path starting with `@` (it would read as abstract)
    /// or `(` (as a label).
    pub fn exact_in_json(&self) -> bool {
        match self {
            UnixName::Unnamed => true,
            UnixName::Path(p) => {
                std::str::from_utf8(p).is_ok() && !matches!(p.first(), Some(b'@' | b'('))
            }
            UnixName::Abstract(a) => std::str::from_utf8(a).is_ok() && !a.contains(&0),
        }
    }
}

/// The name for a human format ([`super::escape`]): an abstract name `@` and its
/// escaped bytes, a path escaped as a name (never starting with `(`, as labels do)
/// and with a leading `@` escaped (`\x40`: it would read as abstract).
impl fmt::Display for UnixName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match self {
            UnixName::Unnamed => return f.write_str("(unnamed)"),
            UnixName::Path(p) => match p.strip_prefix(b"@") {
                Some(rest) => {
                    out.push_str("\\x40");
                    escape::escape_into(&mut out, rest, escape::Context::default());
                }
                None => out = escape::name(p),
            },
            UnixName::Abstract(a) => {
                out.push('@');
                escape::escape_into(&mut out, a, escape::Context::default());
            }
        }
        f.write_str(&out)
    }
}

/// The state of a unix socket: all a stream or seqpacket socket can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnixState {
    /// Connected to a peer (or to a released one, or not accepted yet).
    Connected,
    /// Listening: `listen()` was called.
    Listening,
    /// Neither: never connected, or shut down.
    Unconnected,
}

impl UnixState {
    /// From sock_diag's `udiag_state`, in TCP's numbers; `None` for a number
    /// that is no TCP state at all (unknown to sockleak). The kernel uses
    /// `TCP_SYN_SENT` only transiently and `TCP_CLOSE` for the rest: anything
    /// neither connected nor listening is unconnected.
    pub fn from_diag(state: u8) -> Option<UnixState> {
        Some(match TcpState::from_kernel(state)? {
            TcpState::Established => UnixState::Connected,
            TcpState::Listen => UnixState::Listening,
            _ => UnixState::Unconnected,
        })
    }

    /// From `/proc/net/unix`: its listening flag (`__SO_ACCEPTCON`), else its
    /// `St` column's `SS_CONNECTED`.
    pub fn from_proc(listening: bool, connected: bool) -> UnixState {
        match (listening, connected) {
            (true, _) => UnixState::Listening,
            (false, true) => UnixState::Connected,
            (false, false) => UnixState::Unconnected,
        }
    }

    /// The TCP state it is counted, filtered and keyed as, as `ss -x` shows it.
    pub fn counted_as(self) -> TcpState {
        match self {
            UnixState::Connected => TcpState::Established,
            UnixState::Listening => TcpState::Listen,
            UnixState::Unconnected => TcpState::Close,
        }
    }
}

/// One unix socket as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    pub inode: u64,
    pub kind: UnixType,
    pub state: UnixState,
    /// Its own address: a listener's, and (in the kernel) every socket that
    /// listener accepted; unnamed for most clients.
    pub name: UnixName,
    /// Its peer; `None` when it has none (listening, unconnected) or the source
    /// cannot say (`/proc/net/unix`).
    pub peer: Option<PeerRef>,
    /// Unread bytes (a listener: connections waiting for accept), as `ss -x`.
    pub recv_q: u32,
    /// Unsent bytes (a listener: 0, not its backlog).
    pub send_q: u32,
    pub netns: NetnsId,
    /// The uid it was created by (`UNIX_DIAG_UID`, Linux 5.3+); `None` from
    /// `/proc/net/unix` or an older kernel.
    pub uid: Option<u32>,
}

/// What the kernel says of a connected socket's peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRef {
    /// The peer socket's inode.
    Inode(u64),
    /// The peer was released (the kernel keeps this socket connected, to no one,
    /// until it is closed: the unix form of CLOSE_WAIT).
    Closed,
    /// The connection waits in the listener's backlog: its server-side socket
    /// has no inode until it is accepted.
    Pending,
}

/// The server-side end a unix group is keyed by (see `report::unix`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnixEndpoint {
    /// The server's path or abstract name.
    Name(UnixName),
    /// Both ends unnamed: a `socketpair(2)` (or an unbound client of one).
    Socketpair,
    /// Connected, and the peer has closed: its name is gone with it.
    PeerClosed,
    /// Connected, waiting for the server to accept (no server-side inode yet).
    Pending,
    /// Neither bound nor connected (a `socket(2)` never connected, or one whose
    /// `connect` failed).
    Unconnected,
    /// Connected, but the source cannot see the peer (`/proc/net/unix`).
    UnknownPeer,
}

impl UnixEndpoint {
    /// sockleak's own label for an end without a name; `None` for a name.
    pub fn label(&self) -> Option<&'static str> {
        match self {
            UnixEndpoint::Name(UnixName::Unnamed) => Some("(unnamed)"),
            UnixEndpoint::Name(_) => None,
            UnixEndpoint::Socketpair => Some("(socketpair)"),
            UnixEndpoint::PeerClosed => Some("(peer closed)"),
            UnixEndpoint::Pending => Some("(not accepted)"),
            UnixEndpoint::Unconnected => Some("(unconnected)"),
            UnixEndpoint::UnknownPeer => Some("(unknown peer)"),
        }
    }

    /// The JSON `local`/`remote` text (see [`UnixName::json_text`]).
    pub fn json_text(&self) -> String {
        match (self, self.label()) {
            (_, Some(l)) => l.to_string(),
            (UnixEndpoint::Name(n), None) => n.json_text(),
            (_, None) => String::new(),
        }
    }

    /// JSON `unix_name_hex`: the name's `sun_path` bytes in hex when
    /// [`UnixEndpoint::json_text`] does not say them exactly; `None` otherwise.
    pub fn name_hex(&self) -> Option<String> {
        match self {
            UnixEndpoint::Name(n) if !n.exact_in_json() => Some(escape::hex(&n.sun_path())),
            _ => None,
        }
    }
}

/// For a human format: the label, or the escaped name (which never reads as one).
impl fmt::Display for UnixEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.label()) {
            (_, Some(l)) => f.write_str(l),
            (UnixEndpoint::Name(n), None) => n.fmt(f),
            (_, None) => Ok(()),
        }
    }
}

/// The processes at the other end of a unix group's sockets: the holders of
/// their peers' inodes, from the same fd scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Peer {
    /// Every pid holding a peer socket, ascending.
    pub pids: Vec<u32>,
    /// Their names, sorted, each once.
    pub processes: Vec<String>,
    /// Sockets of the group whose peer no readable process holds.
    pub unattributed: u64,
    /// Sockets of the group whose peer has closed (connected to no one).
    pub closed: u64,
}

impl Peer {
    /// `postgres[4242]`, `postgres (20 pids)`, `php-fpm,nginx (3 pids)`, or `-`;
    /// `, 3 closed` when peers have closed.
    /// Names escaped ([`escape::name`]).
    pub fn label(&self) -> String {
        let names: Vec<String> = self
            .processes
            .iter()
            .map(|p| escape::name(p.as_bytes()))
            .collect();
        let names = names.join(",");
        let who = match self.pids.as_slice() {
            [] => "-".to_string(),
            [one] => format!("{names}[{one}]"),
            many => format!("{names} ({} pids)", many.len()),
        };
        match self.closed {
            0 => who,
            n if self.pids.is_empty() => format!("{n} closed"),
            n => format!("{who}, {n} closed"),
        }
    }
}

/// Counts of one unix socket type: connected, listening, unconnected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UnixStates {
    pub connected: u64,
    pub listening: u64,
    pub unconnected: u64,
}

impl UnixStates {
    pub fn add(&mut self, st: TcpState) {
        match st {
            TcpState::Established => self.connected += 1,
            TcpState::Listen => self.listening += 1,
            _ => self.unconnected += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.connected + self.listening + self.unconnected
    }
}

/// The host's unix sockets (JSON `totals.unix`), whatever the filters: every
/// socket of the table, datagram sockets too, so that the sum matches `ss -xa`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnixTotals {
    pub sockets: u64,
    pub stream: UnixStates,
    pub seqpacket: UnixStates,
    pub dgram: UnixStates,
    /// Stream and seqpacket sockets connected to a peer that has closed.
    pub peer_closed: u64,
    /// Sockets no readable process holds (in flight in an SCM_RIGHTS message,
    /// or held by a process whose fd table is unreadable); null for a focused
    /// query.
    pub unattributed: Option<u64>,
    /// Stream and seqpacket sockets passing the filters, each counted once.
    pub matched: u64,
    #[serde(serialize_with = "source_str")]
    pub source: super::Source,
}

fn source_str<S: Serializer>(s: &super::Source, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

impl UnixTotals {
    pub fn of_type(&mut self, t: UnixType) -> &mut UnixStates {
        match t {
            UnixType::Stream => &mut self.stream,
            UnixType::Seqpacket => &mut self.seqpacket,
            UnixType::Dgram => &mut self.dgram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kernel vocabularies land on the same three states, each counted as
    /// what `ss -x` shows; a number that is no state at all is refused.
    #[test]
    fn unix_states_from_both_vocabularies() {
        assert_eq!(UnixState::from_diag(1), Some(UnixState::Connected));
        assert_eq!(UnixState::from_diag(10), Some(UnixState::Listening));
        assert_eq!(UnixState::from_diag(7), Some(UnixState::Unconnected));
        assert_eq!(UnixState::from_diag(2), Some(UnixState::Unconnected));
        assert_eq!(UnixState::from_diag(0), None);
        assert_eq!(UnixState::from_diag(200), None);
        assert_eq!(UnixState::from_proc(true, false), UnixState::Listening);
        assert_eq!(UnixState::from_proc(false, true), UnixState::Connected);
        assert_eq!(UnixState::from_proc(false, false), UnixState::Unconnected);
        let shown: Vec<TcpState> = [
            UnixState::Connected,
            UnixState::Listening,
            UnixState::Unconnected,
        ]
        .map(UnixState::counted_as)
        .to_vec();
        assert_eq!(
            shown,
            [TcpState::Established, TcpState::Listen, TcpState::Close]
        );
    }

    #[test]
    fn names_are_written_as_ss_writes_them() {
        assert_eq!(UnixName::from_kernel(b"").to_string(), "(unnamed)");
        assert_eq!(
            UnixName::from_kernel(b"/run/postgresql/.s.PGSQL.5432").to_string(),
            "/run/postgresql/.s.PGSQL.5432"
        );
        assert_eq!(
            UnixName::from_kernel(b"\0dbus-xyz").to_string(),
            "@dbus-xyz"
        );
        assert_eq!(UnixEndpoint::Socketpair.to_string(), "(socketpair)");
    }

    #[test]
    fn names_never_read_as_labels_or_as_each_other() {
        let end = |b: &[u8]| UnixEndpoint::Name(UnixName::from_kernel(b));
        // (shown, JSON text, JSON unix_name_hex)
        let cases: [(UnixEndpoint, &str, &str, Option<&str>); 8] = [
            (
                UnixEndpoint::Socketpair,
                "(socketpair)",
                "(socketpair)",
                None,
            ),
            (
                end(b"(socketpair)"),
                "\\x28socketpair)",
                "(socketpair)",
                Some("28736f636b65747061697229"),
            ),
            (end(b"\0x"), "@x", "@x", None),
            (end(b"@x"), "\\x40x", "@x", Some("4078")),
            (end(b"\0x\xff"), "@x\\xff", "@x\\xff", Some("0078ff")),
            (end(b"\0a\0b"), "@a\\x00b", "@a@b", Some("00610062")),
            (end(b"\0\x1b[2J\n"), "@\\x1b[2J\\n", "@\x1b[2J\n", None),
            (end(b"-"), "\\x2d", "-", None),
        ];
        for (e, shown, json, hex) in cases {
            assert_eq!(e.to_string(), shown, "{e:?}");
            assert_eq!(e.json_text(), json, "{e:?}");
            assert_eq!(e.name_hex().as_deref(), hex, "{e:?}");
        }
    }

    #[test]
    fn peer_labels() {
        let p = |pids: Vec<u32>, names: &[&str]| Peer {
            pids,
            processes: names.iter().map(|s| s.to_string()).collect(),
            unattributed: 0,
            closed: 0,
        };
        assert_eq!(p(vec![], &[]).label(), "-");
        assert_eq!(p(vec![7], &["postgres"]).label(), "postgres[7]");
        assert_eq!(p(vec![7, 8], &["postgres"]).label(), "postgres (2 pids)");
        assert_eq!(p(vec![7], &["(x)\n"]).label(), "\\x28x)\\n[7]");
    }
}
