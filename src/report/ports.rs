//! Ephemeral-port use per destination: a client that opens a connection per
//! request and closes it leaves one TIME_WAIT socket per request, each holding a
//! local port for a minute, and `connect()` to that destination fails with
//! `EADDRNOTAVAIL` once every port of `ip_local_port_range` is taken from one
//! local address. The 4-tuple space is per destination: ports are shared between
//! destinations, so the judgement is per remote `ip:port`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::FastMap;
use crate::model::{Direction, NetnsId, PortRange, PortUse, Socket, TcpState};

/// Every outbound destination's port use, by `(netns, remote ip:port)`.
#[derive(Debug, Default)]
pub struct PortTable {
    used: FastMap<(NetnsId, SocketAddr), u64>,
    ranges: HashMap<NetnsId, PortRange>,
}

impl PortTable {
    /// Count, for every outbound socket, the local port it holds inside its
    /// namespace's range, per local address and destination; a destination's use is
    /// that of the local address holding most of its ports.
    pub fn new(
        sockets: &[Socket],
        dirs: &[Direction],
        ranges: &HashMap<NetnsId, PortRange>,
    ) -> PortTable {
        let mut per_source: FastMap<(NetnsId, IpAddr, SocketAddr), u64> = FastMap::default();
        // Sockets come namespace by namespace: one range lookup per run.
        let mut range: Option<(NetnsId, PortRange)> = None;
        for (s, d) in sockets.iter().zip(dirs) {
            if *d != Direction::Outbound || s.state == TcpState::Listen {
                continue;
            }
            let r = match range {
                Some((ns, r)) if ns == s.netns => r,
                _ => {
                    let r = ranges.get(&s.netns).copied().unwrap_or_default();
                    range = Some((s.netns, r));
                    r
                }
            };
            // A port bound below the range (a fixed source port) takes none of it.
            if r.contains(s.local.port()) {
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
            ranges: ranges.clone(),
        }
    }

    /// The port use of the destination `remote` in `netns`.
    pub fn of(&self, netns: NetnsId, remote: SocketAddr) -> PortUse {
        PortUse {
            used: self.used.get(&(netns, remote)).copied().unwrap_or(0),
            range: self.ranges.get(&netns).copied().unwrap_or_default().size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ranges: HashMap<NetnsId, PortRange> = [(
            1,
            PortRange {
                low: 40000,
                high: 40099,
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
    fn levels_are_half_and_nine_tenths_of_the_range() {
        use crate::model::watch::Flag;
        let at = |used| PortUse { used, range: 100 }.flag();
        assert_eq!(
            (at(49), at(50), at(89), at(90), at(100)),
            (Flag::Ok, Flag::Warn, Flag::Warn, Flag::Full, Flag::Full)
        );
    }
}
