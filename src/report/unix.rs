//! Unix socket groups (`--proto unix|all`): the host's unix sockets counted into
//! `totals.unix`, and the connection-oriented ones (stream, seqpacket) into groups
//! per owner × the server-side name, with the processes at the other end.
//!
//! The server-side name of a socket, for both ends of a connection:
//! - a listener: its own name (direction `listen`);
//! - a server's accepted socket: its own name, which the kernel copies from the
//!   listener (`ss -x` shows it as the local address), direction `inbound`;
//! - a client: its peer's name, i.e. the accepted socket's, the listener's path
//!   (direction `outbound`); a client bound to a name of its own is still told
//!   from the server by which of the two names a listener has;
//! - neither end named: `(socketpair)`; a peer released: `(peer closed)`; a
//!   connection still in the listener's backlog: `(not accepted)`; a socket never
//!   connected: its own name, or `(unconnected)`; without peers (`/proc/net/unix`):
//!   `(unknown peer)`. These have no direction.

use super::grouping::{GroupAcc, Grouper, Holdable, OwnerInfo, Ownerless};
use super::{Acc, FastMap, FastSet, to_group};
use crate::collect::Collection;
use crate::collect::fdscan::FdScan;
use crate::collect::unix::UnixCollection;
use crate::filter::Filters;
use crate::model::report::{Group, GroupField, GroupKey};
use crate::model::unix::{
    Peer, PeerRef, Proto, UnixEndpoint, UnixName, UnixSocket, UnixState, UnixTotals,
};
use crate::model::{Direction, NetnsId, Process, Source};

/// A unix group's counts: the TCP accumulator's, and its peers'.
#[derive(Default)]
struct UnixAcc {
    acc: Acc,
    peer_pids: Vec<u32>,
    peer_unattributed: u64,
    peer_closed: u64,
}

impl GroupAcc for UnixAcc {
    fn pids(&mut self) -> &mut Vec<u32> {
        &mut self.acc.pids
    }
}

/// The unix groups and totals of a collection (none without a unix table),
/// grouped by the same core as TCP's (`grouper`).
pub(super) fn aggregate(
    c: &Collection,
    filters: &Filters,
    grouper: &mut Grouper,
) -> Option<(Vec<Group>, UnixTotals)> {
    let u = c.unix.as_ref()?;
    let mut totals = UnixTotals {
        unattributed: u.unattributed,
        source: u.source,
        ..UnixTotals::default()
    };
    let ends = Ends::new(&u.sockets);
    let mut groups: FastMap<GroupKey, UnixAcc> = FastMap::default();
    for (i, s) in u.sockets.iter().enumerate() {
        totals.sockets += 1;
        totals.of_type(s.kind).add(s.state.counted_as());
        if s.kind.is_connection() && s.peer == Some(PeerRef::Closed) {
            totals.peer_closed += 1;
        }
        if !s.kind.is_connection() || !filters.unix_matches(s) {
            continue;
        }
        if grouper.add(&ends.socket(c, u, i), &mut groups) {
            totals.matched += 1;
        }
    }
    let out = groups
        .into_iter()
        .map(|(key, g)| finish(key, g, &grouper.owners, &c.processes, u.source))
        .collect();
    Some((out, totals))
}

/// What a unix socket's server-side end is found with: every socket by inode (its
/// peer), and the names that listen.
struct Ends<'u> {
    by_inode: FastMap<u64, u32>,
    listeners: FastSet<&'u UnixName>,
    sockets: &'u [UnixSocket],
}

impl<'u> Ends<'u> {
    fn new(sockets: &'u [UnixSocket]) -> Self {
        let by_inode = sockets
            .iter()
            .zip(0u32..)
            .filter(|(s, _)| s.inode != 0)
            .map(|(s, i)| (s.inode, i))
            .collect();
        let listeners = sockets
            .iter()
            .filter(|s| s.state == UnixState::Listening && s.name.is_named())
            .map(|s| &s.name)
            .collect();
        Ends {
            by_inode,
            listeners,
            sockets,
        }
    }

    /// Socket `i` of `u`, with its direction, end and holders and its peer's.
    fn socket<'c>(&self, c: &'c Collection, u: &'c UnixCollection, i: usize) -> Unix<'c> {
        let s = &u.sockets[i];
        let peer = match s.peer {
            Some(PeerRef::Inode(p)) => self.by_inode.get(&p).map(|&j| &self.sockets[j as usize]),
            _ => None,
        };
        let (dir, end) = side(s, peer, &self.listeners);
        let held = if s.inode == 0 {
            &[][..]
        } else {
            u.held(&c.fds, i)
        };
        Unix {
            s,
            dir,
            end,
            held,
            peer_pids: peer_holders(&c.fds, s.peer),
        }
    }
}

/// A unix socket of the table, as the aggregation core groups it.
struct Unix<'c> {
    s: &'c UnixSocket,
    dir: Option<Direction>,
    end: UnixEndpoint,
    held: &'c [(u64, u32)],
    peer_pids: &'c [(u64, u32)],
}

impl Holdable for Unix<'_> {
    type Acc = UnixAcc;
    const PROTO: Proto = Proto::Unix;

    fn holders(&self) -> impl Iterator<Item = u32> {
        self.held.iter().map(|&(_, pid)| pid)
    }

    /// Unix groups name no uid's user (TCP's unattributed groups do).
    fn ownerless(&self) -> Option<Ownerless> {
        Some(Ownerless::of(self.s.inode, self.held, None))
    }

    fn netns(&self, _: Option<&Process>) -> NetnsId {
        self.s.netns
    }

    /// Every endpoint-like key (endpoint, remote, remote-host, the ports) is the
    /// server-side end: a unix socket has no host or port.
    fn endpoint_key(&self, f: GroupField, k: &mut GroupKey) {
        match f {
            GroupField::Endpoint => {
                k.direction = self.dir;
                k.unix = Some(self.end.clone());
            }
            GroupField::Remote
            | GroupField::RemoteHost
            | GroupField::RemotePort
            | GroupField::LocalPort => k.unix = Some(self.end.clone()),
            GroupField::State => k.state = Some(self.s.state.counted_as()),
            GroupField::Direction => k.direction = self.dir,
            // The owner half (`grouping::key_for`).
            GroupField::Process
            | GroupField::Command
            | GroupField::User
            | GroupField::Netns
            | GroupField::Container => {}
        }
    }

    fn count(&self, g: &mut UnixAcc) {
        count(g, self.s, self.peer_pids);
    }
}

/// The pids holding a socket's peer (empty: none readable, or no peer inode).
fn peer_holders(fds: &FdScan, peer: Option<PeerRef>) -> &[(u64, u32)] {
    match peer {
        Some(PeerRef::Inode(p)) => fds.held(p),
        _ => &[],
    }
}

fn count(g: &mut UnixAcc, s: &UnixSocket, peer_pids: &[(u64, u32)]) {
    g.acc.states.add(s.state.counted_as());
    g.acc.recv_q += u64::from(s.recv_q);
    g.acc.send_q += u64::from(s.send_q);
    match s.peer {
        Some(PeerRef::Closed) => g.peer_closed += 1,
        Some(PeerRef::Inode(_)) if peer_pids.is_empty() => g.peer_unattributed += 1,
        Some(PeerRef::Inode(_)) => {
            for &(_, p) in peer_pids {
                // Skipping repeats keeps a group of one peer process one entry long.
                if g.peer_pids.last() != Some(&p) {
                    g.peer_pids.push(p);
                }
            }
        }
        _ => {}
    }
}

/// The direction and server-side end of `s` (the module docs say which).
fn side(
    s: &UnixSocket,
    peer: Option<&UnixSocket>,
    listeners: &FastSet<&UnixName>,
) -> (Option<Direction>, UnixEndpoint) {
    let own = || UnixEndpoint::Name(s.name.clone());
    let named = s.name.is_named();
    match s.state {
        UnixState::Listening => return (Some(Direction::Listen), own()),
        UnixState::Connected => {}
        _ if named => return (None, own()),
        _ => return (None, UnixEndpoint::Unconnected),
    }
    match (s.peer, peer) {
        (Some(PeerRef::Pending), _) => (Some(Direction::Outbound), UnixEndpoint::Pending),
        (Some(PeerRef::Inode(_)), Some(p)) => {
            let server = |n: &UnixName| n.is_named() && listeners.contains(n);
            if named && (!p.name.is_named() || (server(&s.name) && !server(&p.name))) {
                (Some(Direction::Inbound), own())
            } else if p.name.is_named() {
                (
                    Some(Direction::Outbound),
                    UnixEndpoint::Name(p.name.clone()),
                )
            } else {
                (None, UnixEndpoint::Socketpair)
            }
        }
        // No peer to look at: a named end is a server's accepted socket.
        _ if named => (Some(Direction::Inbound), own()),
        (Some(PeerRef::Closed), _) => (None, UnixEndpoint::PeerClosed),
        _ => (None, UnixEndpoint::UnknownPeer),
    }
}

/// A unix group: TCP's [`to_group`], its name in `local` or `remote`, its peers.
fn finish(
    key: GroupKey,
    mut g: UnixAcc,
    owners: &FastMap<u32, OwnerInfo>,
    processes: &std::collections::HashMap<u32, Process>,
    source: Source,
) -> Group {
    g.acc.pids.sort_unstable();
    g.acc.pids.dedup();
    g.peer_pids.sort_unstable();
    g.peer_pids.dedup();
    let (local, remote) = key.unix_sides();
    let mut out = to_group(key, g.acc, owners, false);
    out.local = local;
    out.remote = remote;
    let mut names: Vec<String> = g
        .peer_pids
        .iter()
        .map(|p| {
            processes
                .get(p)
                .map_or("?", |p| p.comm.as_str())
                .to_string()
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    // /proc/net/unix names no peers: unknown, not "none".
    out.peer = (source == Source::Netlink).then_some(Peer {
        pids: g.peer_pids,
        processes: names,
        unattributed: g.peer_unattributed,
        closed: g.peer_closed,
    });
    out
}
