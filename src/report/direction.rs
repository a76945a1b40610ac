//! Which end of each socket is the service: `listen`, `inbound` (this host
//! serves it) or `outbound` (this host is the client). The default `endpoint` key
//! follows it: the service end names the group, so a server shows one row per
//! service and a client one row per destination.
//!
//! In order, for each socket of a namespace's table:
//! 1. LISTEN sockets are `listen`.
//! 2. A local port that listens in the namespace: `inbound` (it was accepted).
//! 3. A remote `ip:port` that a listener of the same namespace serves (loopback, or
//!    this host's own address): `outbound` (a client of a local server, whatever its
//!    own port).
//! 4. Fan-in, among the sockets of the namespace that rules 1-3 leave: the end that
//!    more sockets share is the service (a local `ip:port` many remotes reached is
//!    a server that has exited or restarted, its TIME_WAIT and orphans left; a remote
//!    many sockets go to is a pool's destination).
//! 5. A tie of more than one: the namespace's ephemeral port range (the end outside
//!    it is the service), and when both or neither are inside, the lower port.
//! 6. A tie of ones (a lone socket): `inbound` when the remote port is ephemeral and
//!    the local one is not, else `outbound`.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::{FastMap, FastSet};
use crate::model::{Direction, LocalPorts, NetnsId, PortRange, Socket, TcpState};

/// The direction of every socket of `sockets`, in order.
pub fn directions(sockets: &[Socket], ranges: &HashMap<NetnsId, LocalPorts>) -> Vec<Direction> {
    let listeners = Listeners::of(sockets);
    // Rules 1-3 first; what they leave is decided by fan-in over those same sockets.
    let mut dirs: Vec<Option<Direction>> = sockets.iter().map(|s| listeners.explain(s)).collect();
    let mut locals: FastMap<(NetnsId, SocketAddr), u32> = FastMap::default();
    let mut remotes: FastMap<(NetnsId, SocketAddr), u32> = FastMap::default();
    for (s, d) in sockets.iter().zip(&dirs) {
        if d.is_none() {
            *locals.entry((s.netns, s.local)).or_default() += 1;
            *remotes.entry((s.netns, s.remote)).or_default() += 1;
        }
    }
    // Sockets come namespace by namespace: the range is looked up once per run.
    let mut range: Option<(NetnsId, PortRange)> = None;
    for (s, d) in sockets.iter().zip(dirs.iter_mut()) {
        if d.is_some() {
            continue;
        }
        let r = match range {
            Some((ns, r)) if ns == s.netns => r,
            _ => {
                let r = ranges.get(&s.netns).map(|p| p.range).unwrap_or_default();
                range = Some((s.netns, r));
                r
            }
        };
        let local = locals.get(&(s.netns, s.local)).copied().unwrap_or(0);
        let remote = remotes.get(&(s.netns, s.remote)).copied().unwrap_or(0);
        *d = Some(by_fan_in(s, local, remote, r));
    }
    dirs.into_iter()
        .map(|d| d.unwrap_or(Direction::Outbound))
        .collect()
}

/// Rules 4-6 for a socket whose local end `local` sockets share and whose remote
/// end `remote` sockets share.
fn by_fan_in(s: &Socket, local: u32, remote: u32, range: PortRange) -> Direction {
    let (lp, rp) = (s.local.port(), s.remote.port());
    if local != remote {
        return if local > remote {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
    }
    let (l_eph, r_eph) = (range.contains(lp), range.contains(rp));
    if local > 1 {
        return match (l_eph, r_eph) {
            (false, true) => Direction::Inbound,
            (true, false) => Direction::Outbound,
            _ if lp < rp => Direction::Inbound,
            _ => Direction::Outbound,
        };
    }
    if r_eph && !l_eph {
        Direction::Inbound
    } else {
        Direction::Outbound
    }
}

/// The listening sockets of every namespace.
struct Listeners {
    /// `(netns, port)` of every listener, whatever its address.
    ports: FastSet<(NetnsId, u16)>,
    /// `(netns, port)` of listeners bound to every address (`0.0.0.0`, `::`).
    wildcard: FastSet<(NetnsId, u16)>,
    /// `(netns, ip:port)` of listeners bound to one address.
    bound: FastSet<(NetnsId, SocketAddr)>,
}

impl Listeners {
    fn of(sockets: &[Socket]) -> Listeners {
        let mut l = Listeners {
            ports: FastSet::default(),
            wildcard: FastSet::default(),
            bound: FastSet::default(),
        };
        for s in sockets.iter().filter(|s| s.state == TcpState::Listen) {
            l.ports.insert((s.netns, s.local.port()));
            if s.local.ip().is_unspecified() {
                l.wildcard.insert((s.netns, s.local.port()));
            } else {
                l.bound.insert((s.netns, s.local));
            }
        }
        l
    }

    /// Rules 1-3: the direction a listener gives `s`, if any.
    fn explain(&self, s: &Socket) -> Option<Direction> {
        if s.state == TcpState::Listen {
            return Some(Direction::Listen);
        }
        if self.ports.contains(&(s.netns, s.local.port())) {
            return Some(Direction::Inbound);
        }
        let ip = s.remote.ip();
        let served = self.bound.contains(&(s.netns, s.remote))
            || (self.wildcard.contains(&(s.netns, s.remote.port()))
                && (ip.is_loopback() || ip == s.local.ip()));
        served.then_some(Direction::Outbound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(state: TcpState, local: &str, remote: &str) -> Socket {
        Socket::for_test(state, local, remote)
    }

    fn dirs(sockets: &[Socket]) -> Vec<Direction> {
        directions(sockets, &HashMap::new())
    }

    use Direction::{Inbound, Listen, Outbound};
    use TcpState::{CloseWait, Established, Listen as L, TimeWait};

    #[test]
    fn an_exited_server_on_an_ephemeral_port_is_inbound_by_fan_in() {
        // Both ports inside 32768-60999: the port range alone cannot tell.
        let s: Vec<Socket> = (0..5)
            .map(|i| {
                sock(
                    TimeWait,
                    "127.0.0.1:43433",
                    &format!("127.0.0.1:{}", 50000 + i),
                )
            })
            .collect();
        assert_eq!(dirs(&s), vec![Inbound; 5]);
    }

    #[test]
    fn a_pool_to_a_gone_server_on_an_ephemeral_port_is_outbound() {
        let s: Vec<Socket> = (0..6)
            .map(|i| {
                sock(
                    CloseWait,
                    &format!("127.0.0.1:{}", 50000 + i),
                    "127.0.0.1:43433",
                )
            })
            .collect();
        assert_eq!(dirs(&s), vec![Outbound; 6]);
    }

    #[test]
    fn a_client_on_a_low_port_to_local_ephemeral_servers_is_outbound() {
        let mut s = vec![
            sock(L, "127.0.0.1:41000", "0.0.0.0:0"),
            sock(L, "0.0.0.0:42000", "0.0.0.0:0"),
        ];
        // One fixed local port, two servers: fan-in alone would call it a server.
        s.push(sock(Established, "127.0.0.1:900", "127.0.0.1:41000"));
        s.push(sock(Established, "127.0.0.1:900", "127.0.0.1:42000"));
        // The servers' accepted ends.
        s.push(sock(Established, "127.0.0.1:41000", "127.0.0.1:900"));
        s.push(sock(Established, "127.0.0.1:42000", "127.0.0.1:900"));
        assert_eq!(
            dirs(&s),
            vec![Listen, Listen, Outbound, Outbound, Inbound, Inbound]
        );
    }

    #[test]
    fn ties_fall_back_to_the_port_range_then_to_the_lone_socket_rule() {
        let range = PortRange {
            low: 32768,
            high: 60999,
        };
        let s = sock(TimeWait, "10.0.0.1:5432", "10.0.0.9:40000");
        assert_eq!(
            by_fan_in(&s, 2, 2, range),
            Inbound,
            "service port outside the range"
        );
        let s = sock(TimeWait, "10.0.0.1:40000", "10.0.0.9:5432");
        assert_eq!(by_fan_in(&s, 2, 2, range), Outbound);
        let s = sock(TimeWait, "10.0.0.1:40000", "10.0.0.9:45000");
        assert_eq!(
            by_fan_in(&s, 2, 2, range),
            Inbound,
            "both inside: the lower port"
        );
        // A lone socket keeps the old rule: both inside is outbound.
        assert_eq!(by_fan_in(&s, 1, 1, range), Outbound);
        let s = sock(TimeWait, "10.0.0.1:8080", "10.0.0.9:45000");
        assert_eq!(by_fan_in(&s, 1, 1, range), Inbound);
    }

    #[test]
    fn namespaces_are_counted_apart() {
        let mut s: Vec<Socket> = (0..3)
            .map(|i| {
                sock(
                    TimeWait,
                    "127.0.0.1:43433",
                    &format!("127.0.0.1:{}", 50000 + i),
                )
            })
            .collect();
        for x in &mut s[1..] {
            x.netns = 2;
        }
        // ns 1 holds one socket (a tie of ones: outbound); ns 2 two sharing the local end.
        assert_eq!(dirs(&s), vec![Outbound, Inbound, Inbound]);
    }
}
