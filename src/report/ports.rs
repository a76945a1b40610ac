//! Ephemeral-port use per destination: a client that opens a connection per
//! request and closes it leaves one TIME_WAIT socket per request, each holding a
//! local port for a minute, and `connect()` to that destination fails with
//! `EADDRNOTAVAIL` once every port of `ip_local_port_range` is taken from one
//! local address. The 4-tuple space is per destination: ports are shared between
//! destinations, so the judgement is per remote `ip:port`. Ports listed in
//! `ip_local_reserved_ports` are never given out: a destination can use the
//! range less those.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::FastMap;
use crate::model::{Direction, LocalPorts, NetnsId, PortUse, Socket, TcpState};

/// Every outbound destination's port use, by `(netns, remote ip:port)`.
#[derive(Debug, Default)]
pub struct PortTable {
    used: FastMap<(NetnsId, SocketAddr), u64>,
    /// Each namespace's usable ports (range less reserved).
    usable: HashMap<NetnsId, u64>,
}

impl PortTable {
    /// Count, for every outbound socket, the local port it holds inside its
    /// namespace's range and not reserved, per local address and destination; a
    /// destination's use is that of the local address holding most of its ports.
    pub fn new(
        sockets: &[Socket],
        dirs: &[Direction],
        ranges: &HashMap<NetnsId, LocalPorts>,
    ) -> PortTable {
        let mut per_source: FastMap<(NetnsId, IpAddr, SocketAddr), u64> = FastMap::default();
        let default = LocalPorts::default();
        // Sockets come namespace by namespace: one range lookup per run.
        let mut range: Option<(NetnsId, &LocalPorts)> = None;
        for (s, d) in sockets.iter().zip(dirs) {
            if *d != Direction::Outbound || s.state == TcpState::Listen {
                continue;
            }
            let r = match range {
                Some((ns, r)) if ns == s.netns => r,
                _ => {
                    let r = ranges.get(&s.netns).unwrap_or(&default);
                    range = Some((s.netns, r));
                    r
                }
            };
            // A port bound outside the range or to a reserved port (a fixed
            // source port) takes none of what connect() picks from.
            if r.assignable(s.local.port()) {
                *per_source
                    .entry((s.netns, s.local.ip(), s.remote))
                    .or_default() += 1;
            }
        }
        let mut used: FastMap<(NetnsId, SocketAddr), u64> = FastMap::default();
        for ((ns, _, remote), n) in per_source {
            let u = used.entry((ns, remote)).or_default();
            *u = (*u).max(n);
        }
        PortTable {
            used,
            usable: ranges.iter().map(|(ns, p)| (*ns, p.usable())).collect(),
        }
    }

    /// The port use of the destination `remote` in `netns`.
    pub fn of(&self, netns: NetnsId, remote: SocketAddr) -> PortUse {
        PortUse {
            used: self.used.get(&(netns, remote)).copied().unwrap_or(0),
            range: self
                .usable
                .get(&netns)
                .copied()
                .unwrap_or_else(|| LocalPorts::default().usable()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortRange, ReservedPorts};

    fn sock(state: TcpState, local: &str, remote: &str) -> Socket {
        Socket::for_test(state, local, remote)
    }

    #[test]
    fn counts_ports_in_the_range_per_destination_from_the_busiest_source() {
        let dest = "10.0.0.5:80";
        let mut s: Vec<Socket> = (0..7)
            .map(|i| sock(TcpState::TimeWait, &format!("10.0.0.1:{}", 40000 + i), dest))
            .collect();
        s.push(sock(TcpState::Established, "10.0.0.1:40050", dest));
        // Another source address: its own 4-tuple space.
        s.push(sock(TcpState::TimeWait, "10.0.0.2:40000", dest));
        // Below the range, and another destination: not counted here.
        s.push(sock(TcpState::Established, "10.0.0.1:900", dest));
        s.push(sock(TcpState::TimeWait, "10.0.0.1:40000", "10.0.0.6:80"));
        let dirs = vec![Direction::Outbound; s.len()];
        let ranges: HashMap<NetnsId, LocalPorts> = [(
            1,
            LocalPorts {
                range: PortRange {
                    low: 40000,
                    high: 40099,
                },
                reserved: Default::default(),
            },
        )]
        .into();
        let t = PortTable::new(&s, &dirs, &ranges);
        let u = t.of(1, dest.parse().unwrap());
        assert_eq!((u.used, u.range), (8, 100));
        assert_eq!(u.flag(), crate::model::watch::Flag::Ok);
        assert_eq!(t.of(1, "10.0.0.6:80".parse().unwrap()).used, 1);
        assert_eq!(
            t.of(2, dest.parse().unwrap()).range,
            28232,
            "Linux's default"
        );
        // Inbound sockets hold no port of the range towards a destination.
        let inbound = vec![Direction::Inbound; s.len()];
        assert_eq!(
            PortTable::new(&s, &inbound, &ranges)
                .of(1, dest.parse().unwrap())
                .used,
            0
        );
    }

    #[test]
    fn reserved_ports_are_neither_usable_nor_used() {
        let dest = "10.0.0.5:80";
        // 40000-40049 with 40000-40039 reserved: connect() has 10 ports.
        let (reserved, problem) = ReservedPorts::parse("8080,40000-40039\n");
        assert_eq!(problem, None);
        let ranges: HashMap<NetnsId, LocalPorts> = [(
            1,
            LocalPorts {
                range: PortRange {
                    low: 40000,
                    high: 40049,
                },
                reserved,
            },
        )]
        .into();
        // Ten picked by connect(), and one bound to a reserved port by hand.
        let mut s: Vec<Socket> = (40040..40050)
            .map(|p| sock(TcpState::TimeWait, &format!("10.0.0.1:{p}"), dest))
            .collect();
        s.push(sock(TcpState::Established, "10.0.0.1:40001", dest));
        let dirs = vec![Direction::Outbound; s.len()];
        let u = PortTable::new(&s, &dirs, &ranges).of(1, dest.parse().unwrap());
        assert_eq!((u.used, u.range), (10, 10));
        assert_eq!(u.flag(), crate::model::watch::Flag::Full);
    }

    #[test]
    fn levels_are_half_and_nine_tenths_of_the_range() {
        use crate::model::watch::Flag;
        let at = |used| PortUse { used, range: 100 }.flag();
        assert_eq!(
            (at(49), at(50), at(89), at(90), at(100)),
            (Flag::Ok, Flag::Warn, Flag::Warn, Flag::Full, Flag::Full)
        );
    }
}
