//! Report building: classify each socket's direction, apply the filters, and count
//! sockets into groups keyed by the `--by` fields, giving the [`Report`] that every
//! renderer works from.
//!
//! A socket held by several processes counts once in each distinct group its owners
//! fall into, and once in the totals. Totals always describe the whole table;
//! filters only choose which groups are shown.
//!
//! Every protocol is keyed and counted by one core (`grouping`): TCP sockets
//! here, with the reset-but-held ones, and unix sockets (`unix`). The report's
//! time is given (the sampler's): this layer reads no clock.

pub mod exchange;
mod grouping;
pub mod peek;
mod unix;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crate::model::{FastMap, FastSet};

mod direction;
mod ports;

use crate::collect::Collection;
use crate::filter::Filters;
use crate::model::report::{
    Group, GroupField, GroupKey, IdleAges, RemoteKey, Report, SCHEMA_VERSION, Totals,
};
use crate::model::unix::Proto;
use crate::model::{Direction, NetnsId, Process, Socket, Source, StateCounts, TcpState};
use grouping::{GroupAcc, Grouper, Holdable, OwnerInfo, Ownerless};

#[derive(Default)]
struct Acc {
    states: StateCounts,
    recv_q: u64,
    send_q: u64,
    oldest_close_wait_idle_ms: Option<u32>,
    oldest_idle_ms: Option<u32>,
    pids: Vec<u32>,
    idle: IdleAges,
}

/// A report of a collection that carries no sampling time (`time` is the epoch),
/// ranked by CLOSE_WAIT (the default view): for fixtures, which set `time`
/// themselves. A sample is aggregated by [`aggregate_ranked`] with the time the
/// sampler stamped it with.
pub fn aggregate(c: &Collection, by: &[GroupField], filters: &Filters) -> Report {
    aggregate_ranked(c, by, filters, TcpState::CloseWait, SystemTime::UNIX_EPOCH)
}

/// Aggregate a collection taken at `taken_at` into a report whose groups are
/// ranked by `rank` ([`sort_groups_by`]).
pub fn aggregate_ranked(
    c: &Collection,
    by: &[GroupField],
    filters: &Filters,
    rank: TcpState,
    taken_at: SystemTime,
) -> Report {
    let mut agg = Aggregator::new(c, by, filters);
    for (i, s) in c.sockets.iter().enumerate() {
        agg.add(i, s);
    }
    let closed = c.fds.closed_inodes();
    for &inode in &closed {
        agg.add_closed(inode);
    }
    // `--proto unix`: TCP is still counted in the totals, but shown in no group.
    if !filters.protos.tcp {
        agg.groups.clear();
        agg.matched = 0;
    }
    let mut out = agg.tcp_groups();
    let unix = unix::aggregate(c, filters, &mut agg.grouper).map(|(groups, totals)| {
        out.extend(groups);
        totals
    });
    sort_groups_by(&mut out, rank);

    Report {
        version: SCHEMA_VERSION,
        time: humantime::format_rfc3339_seconds(taken_at).to_string(),
        host: c.host.clone(),
        source: c.source,
        group_by: by.to_vec(),
        totals: Totals {
            sockets: c.sockets.len() as u64,
            states: agg.totals,
            unowned: c.unowned,
            unattributed: c.unattributed,
            held_closed: closed.len() as u64,
            matched: agg.matched,
            netns: agg.per_ns,
            unix,
        },
        groups: out,
        warnings: c.warnings.clone(),
        scan: c.scan_info(),
        elapsed: c.elapsed,
        host_netns: c.netns,
        taken_at,
    }
}

/// Every socket `wanted` picks that passes the filters, with the indexes of the
/// report's groups it was counted in (sorted, once each) and the first holder the
/// aggregation keyed it by: the one walk from sockets to groups that `--peek`'s
/// plan and the flight recorder's join share, with the aggregation's own keys.
fn for_each_grouped(
    r: &Report,
    c: &Collection,
    by: &[GroupField],
    filters: &Filters,
    wanted: impl Fn(&Socket) -> bool,
    mut each: impl FnMut(&Socket, Vec<usize>, Option<u32>),
) {
    let index: HashMap<&GroupKey, usize> = r
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (&g.key, i))
        .collect();
    let dirs = direction::directions(&c.sockets, &c.port_ranges);
    let mut grouper = Grouper::new(c, by, filters);
    for (i, s) in c.sockets.iter().enumerate() {
        if !wanted(s) || !filters.socket_matches(s) || !grouper.key(&Tcp::new(c, &dirs, i, s)) {
            continue;
        }
        let mut groups: Vec<usize> = grouper
            .keys
            .iter()
            .filter_map(|(k, _)| index.get(k).copied())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let holder = grouper.keys.iter().find_map(|(_, p)| *p);
        each(s, groups, holder);
    }
}

/// The state of one TCP aggregation: what every socket is looked up in, and the
/// counts so far.
struct Aggregator<'a> {
    c: &'a Collection,
    filters: &'a Filters,
    grouper: Grouper<'a>,
    /// The direction of each socket of the table ([`direction::directions`]).
    dirs: Vec<Direction>,
    totals: StateCounts,
    per_ns: BTreeMap<NetnsId, StateCounts>,
    matched: u64,
    groups: FastMap<GroupKey, Acc>,
}

impl<'a> Aggregator<'a> {
    fn new(c: &'a Collection, by: &'a [GroupField], filters: &'a Filters) -> Self {
        Aggregator {
            c,
            filters,
            grouper: Grouper::new(c, by, filters),
            dirs: direction::directions(&c.sockets, &c.port_ranges),
            totals: StateCounts::default(),
            per_ns: c
                .namespaces
                .iter()
                .map(|n| (*n, StateCounts::default()))
                .collect(),
            matched: 0,
            groups: FastMap::default(),
        }
    }

    /// Count one socket of the table: in the totals always, and in the group of
    /// each distinct key its owners give it when it passes the filters.
    fn add(&mut self, i: usize, s: &Socket) {
        self.totals.add(s.state);
        self.per_ns.entry(s.netns).or_default().add(s.state);
        if !self.filters.socket_matches(s) {
            return;
        }
        let tcp = Tcp::new(self.c, &self.dirs, i, s);
        if self.grouper.add(&tcp, &mut self.groups) {
            self.matched += 1;
        }
    }

    /// Count one reset-but-held socket (state CLOSE, in no table) in the group of
    /// each distinct key its owners give it, when it passes the filters. It is in
    /// no totals of the table: `totals.held_closed` counts it.
    fn add_closed(&mut self, inode: u64) {
        if !self.filters.closed_matches() {
            return;
        }
        let closed = Closed { c: self.c, inode };
        if self.grouper.add(&closed, &mut self.groups) {
            self.matched += 1;
        }
    }

    /// The TCP groups counted so far, with their pids and destination ports.
    fn tcp_groups(&mut self) -> Vec<Group> {
        // Idle ages are netlink's; under `--watch`, /proc-source CLOSE_WAIT sockets
        // get first-seen ages, which only `oldest_close_wait_idle_s` may show.
        let idle_known = self.c.source == Source::Netlink;
        let ports = ports::PortTable::new(&self.c.sockets, &self.dirs, &self.c.port_ranges);
        let owners = &self.grouper.owners;
        std::mem::take(&mut self.groups)
            .into_iter()
            .map(|(key, mut acc)| {
                acc.pids.sort_unstable();
                acc.pids.dedup();
                let mut g = to_group(key, acc, owners, idle_known);
                g.ports = destination_ports(&g.key, &ports);
                g
            })
            .collect()
    }
}

/// A TCP socket of the table, as the aggregation core groups it.
struct Tcp<'s> {
    s: &'s Socket,
    dir: Direction,
    held: &'s [(u64, u32)],
}

impl<'s> Tcp<'s> {
    fn new(c: &'s Collection, dirs: &[Direction], i: usize, s: &'s Socket) -> Self {
        let held = if s.inode == 0 { &[][..] } else { c.held(i) };
        Tcp {
            s,
            dir: dirs[i],
            held,
        }
    }
}

impl Holdable for Tcp<'_> {
    type Acc = Acc;
    const PROTO: Proto = Proto::Tcp;

    fn holders(&self) -> impl Iterator<Item = u32> {
        self.held.iter().map(|&(_, pid)| pid)
    }

    fn ownerless(&self) -> Option<Ownerless> {
        Some(Ownerless::of(self.s.inode, self.held, Some(self.s.uid)))
    }

    fn netns(&self, _: Option<&Process>) -> NetnsId {
        self.s.netns
    }

    fn endpoint_key(&self, f: GroupField, k: &mut GroupKey) {
        let s = self.s;
        match f {
            GroupField::Endpoint => {
                k.direction = Some(self.dir);
                match self.dir {
                    Direction::Outbound => k.remote = Some(RemoteKey::Endpoint(s.remote)),
                    Direction::Inbound | Direction::Listen => k.local = Some(s.local),
                }
            }
            GroupField::Remote => k.remote = Some(RemoteKey::Endpoint(s.remote)),
            GroupField::RemoteHost => {
                if !matches!(k.remote, Some(RemoteKey::Endpoint(_))) {
                    k.remote = Some(RemoteKey::Host(s.remote.ip()));
                }
            }
            GroupField::RemotePort => k.remote_port = Some(s.remote.port()),
            GroupField::LocalPort => k.local_port = Some(s.local.port()),
            GroupField::State => k.state = Some(s.state),
            GroupField::Direction => k.direction = Some(self.dir),
            // The owner half (`grouping::key_for`).
            GroupField::Process
            | GroupField::Command
            | GroupField::User
            | GroupField::Netns
            | GroupField::Container => {}
        }
    }

    fn count(&self, acc: &mut Acc) {
        acc.add(self.s);
    }
}

/// A reset-but-held socket: in no table, known only by its inode and holders.
struct Closed<'c> {
    c: &'c Collection,
    inode: u64,
}

impl Holdable for Closed<'_> {
    type Acc = Acc;
    const PROTO: Proto = Proto::Tcp;

    fn holders(&self) -> impl Iterator<Item = u32> {
        self.c.fds.closed_owners(self.inode)
    }

    /// Only its holders are known of it: without one kept, it is in no group.
    fn ownerless(&self) -> Option<Ownerless> {
        None
    }

    /// Its holder's namespace (the host's when unknown).
    fn netns(&self, owner: Option<&Process>) -> NetnsId {
        match owner {
            Some(p) if p.netns != 0 => p.netns,
            _ => self.c.netns,
        }
    }

    /// Its endpoint, direction and remote are unknown, so every endpoint-like key
    /// marks it `closed` (a group of its own, shown as `(closed)`); with only
    /// owner keys it joins its owner's row.
    fn endpoint_key(&self, f: GroupField, k: &mut GroupKey) {
        match f {
            GroupField::Endpoint
            | GroupField::Remote
            | GroupField::RemoteHost
            | GroupField::RemotePort
            | GroupField::LocalPort
            | GroupField::Direction => k.closed = true,
            GroupField::State => k.state = Some(TcpState::Close),
            // The owner half (`grouping::key_for`).
            GroupField::Process
            | GroupField::Command
            | GroupField::User
            | GroupField::Netns
            | GroupField::Container => {}
        }
    }

    fn count(&self, acc: &mut Acc) {
        acc.states.add(TcpState::Close);
    }
}

impl GroupAcc for Acc {
    fn pids(&mut self) -> &mut Vec<u32> {
        &mut self.pids
    }
}

impl Acc {
    fn add(&mut self, s: &Socket) {
        self.states.add(s.state);
        self.recv_q += u64::from(s.recv_q);
        self.send_q += u64::from(s.send_q);
        let oldest = |o: Option<u32>, idle: u32| Some(o.map_or(idle, |o| o.max(idle)));
        if let Some(idle) = s.idle_ms {
            if s.state == TcpState::CloseWait {
                self.oldest_close_wait_idle_ms = oldest(self.oldest_close_wait_idle_ms, idle);
            }
            if s.state.has_idle_age() {
                self.oldest_idle_ms = oldest(self.oldest_idle_ms, idle);
            }
            match s.state {
                TcpState::CloseWait => self.idle.close_wait.push(idle),
                TcpState::Established => self.idle.established.push(idle),
                _ => {}
            }
        }
    }
}

/// Table order: the watched state's count descending ([`Group::rank_count`]: with
/// CLOSE_WAIT, reset-but-held sockets count too), then total descending, then the
/// key, so that equal rows keep a stable order across runs.
pub fn sort_groups_by(groups: &mut [Group], metric: TcpState) {
    groups.sort_by(|a, b| {
        b.rank_count(metric)
            .cmp(&a.rank_count(metric))
            .then(b.total.cmp(&a.total))
            .then_with(|| a.key.cmp(&b.key))
    });
}

fn to_group(key: GroupKey, acc: Acc, owners: &FastMap<u32, OwnerInfo>, idle_known: bool) -> Group {
    let owner = key.pid.and_then(|p| owners.get(&p));
    let process = match (owner, &key.command) {
        (Some(o), _) => Some(o.proc.comm.clone()),
        (None, Some(c)) => Some(c.to_string()),
        _ => None,
    };
    let user = match (owner, &key.user) {
        (Some(o), _) => Some(o.proc.user.clone()),
        (None, Some(u)) => Some(u.to_string()),
        _ => None,
    };
    Group {
        pid: key.pid,
        pids: acc.pids,
        process,
        user,
        direction: key.direction,
        local: key.local.map(|a| a.to_string()),
        remote: key.remote.map(|r| r.to_string()),
        total: acc.states.total(),
        states: acc.states,
        recv_q: acc.recv_q,
        send_q: acc.send_q,
        oldest_close_wait_idle: acc
            .oldest_close_wait_idle_ms
            .map(|ms| Duration::from_millis(ms.into())),
        oldest_idle: acc
            .oldest_idle_ms
            .filter(|_| idle_known)
            .map(|ms| Duration::from_millis(ms.into())),
        fds: owner.and_then(|o| o.proc.fds),
        attribution: key.attribution,
        local_port: key.local_port.or(key.local.map(|a| a.port())),
        remote_port: key.remote_port.or(match key.remote {
            Some(RemoteKey::Endpoint(a)) => Some(a.port()),
            _ => None,
        }),
        state: key.state,
        netns: key.netns,
        container: key
            .container
            .clone()
            .or_else(|| owner.and_then(|o| o.proc.container.clone())),
        cmdline: owner.and_then(|o| o.proc.cmdline.clone()),
        ports: None,
        proto: key.proto,
        unix_name_hex: key
            .unix
            .as_ref()
            .and_then(crate::model::unix::UnixEndpoint::name_hex),
        peer: None,
        watch: None,
        unread: None,
        exchanges: None,
        exchanges_unrecorded: None,
        peek: None,
        verdict: None,
        idle: {
            let mut idle = acc.idle;
            idle.sort();
            idle
        },
        pool_size: None,
        key,
    }
}

/// The port use of a group's destination: only for an outbound group (or one
/// whose direction is not a key) keyed by a remote `ip:port`.
fn destination_ports(key: &GroupKey, ports: &ports::PortTable) -> Option<crate::model::PortUse> {
    match (key.direction, &key.remote, key.netns) {
        (None | Some(Direction::Outbound), Some(RemoteKey::Endpoint(remote)), Some(ns)) => {
            Some(ports.of(ns, *remote))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::fdscan::FdScan;
    use crate::model::report::DEFAULT_GROUP_BY;
    use std::time::Duration;

    #[test]
    fn group_fields_parse() {
        assert_eq!(
            "remote-host".parse::<GroupField>(),
            Ok(GroupField::RemoteHost)
        );
        assert_eq!(
            "REMOTE_PORT".parse::<GroupField>(),
            Ok(GroupField::RemotePort)
        );
        assert!(
            "nonsense"
                .parse::<GroupField>()
                .unwrap_err()
                .contains("remote-host")
        );
    }

    fn empty_collection() -> Collection {
        Collection {
            source: Source::Proc,
            netns: 1,
            namespaces: vec![1],
            sockets: vec![],
            fds: FdScan::default(),
            processes: HashMap::new(),
            unowned: 0,
            unattributed: Some(0),
            warnings: vec![],
            elapsed: Duration::ZERO,
            port_ranges: HashMap::new(),
            uid_names: HashMap::new(),
            scan: Default::default(),
            starts: vec![],
            cost: None,
            unix: None,
            host: String::new(),
        }
    }

    /// The report's time is the one it is given (the sampler's), never the clock's.
    #[test]
    fn the_time_is_the_samples() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_212_800);
        let r = aggregate_ranked(
            &empty_collection(),
            &DEFAULT_GROUP_BY,
            &Filters::default(),
            TcpState::CloseWait,
            at,
        );
        assert_eq!((r.time.as_str(), r.taken_at), ("2026-12-02T12:00:00Z", at));
    }

    #[test]
    fn empty_collection_has_all_states_in_totals() {
        let c = empty_collection();
        let r = aggregate(&c, &DEFAULT_GROUP_BY, &Filters::default());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["totals"]["states"].as_object().unwrap().len(), 11);
        assert_eq!(v["version"], 1);
        assert!(r.groups.is_empty());
    }

    /// Pid 7 holds a CLOSE_WAIT TCP socket (inode 10), a reset-but-held one (11)
    /// and a connected unix socket (12).
    fn one_owner_three_sockets() -> Collection {
        use crate::collect::unix::UnixCollection;
        use crate::model::unix::{PeerRef, UnixName, UnixSocket, UnixState, UnixType};
        let mut c = empty_collection();
        c.sockets = vec![Socket {
            inode: 10,
            ..Socket::for_test(TcpState::CloseWait, "127.0.0.1:40000", "127.0.0.1:80")
        }];
        c.fds = FdScan::from_pairs(vec![(10, 7), (12, 7)]);
        c.fds.closed = vec![(11, 7)];
        let p = Process {
            pid: 7,
            comm: "app".to_string(),
            full_names: Vec::new(),
            uid: Some(1000),
            user: "alice".to_string(),
            cmdline: None,
            netns: 1,
            container: None,
            fds: None,
        };
        c.processes.insert(7, p);
        let mut u = UnixCollection {
            sockets: vec![UnixSocket {
                inode: 12,
                kind: UnixType::Stream,
                state: UnixState::Connected,
                name: UnixName::from_text("/run/app.sock"),
                peer: Some(PeerRef::Inode(13)),
                recv_q: 0,
                send_q: 0,
                netns: 1,
                uid: None,
            }],
            source: Source::Netlink,
            ..Default::default()
        };
        u.join(&c.fds, false);
        c.unix = Some(u);
        c
    }

    /// The owner half of a key is built once for every protocol: a TCP, a
    /// reset-but-held and a unix socket of one owner carry the same owner fields,
    /// and differ only in their endpoint half.
    #[test]
    fn every_protocol_shares_the_owner_half() {
        let c = one_owner_three_sockets();
        let filters = Filters {
            protos: crate::model::unix::Protos {
                tcp: true,
                unix: true,
            },
            ..Filters::default()
        };
        let owner = |k: &GroupKey| (k.attribution, k.pid, k.command.clone(), k.user.clone());
        let by = [GroupField::Process, GroupField::Command, GroupField::User];
        let r = aggregate(&c, &by, &filters);
        assert_eq!(r.groups.len(), 2, "{:?}", r.groups);
        let (tcp, unix) = (&r.groups[0].key, &r.groups[1].key);
        assert_eq!((tcp.proto, unix.proto), (Proto::Tcp, Proto::Unix));
        assert_eq!(owner(tcp), owner(unix));
        assert_eq!(owner(tcp).1, Some(7));
        // With owner keys only, the reset-but-held socket joins its owner's row.
        assert_eq!(r.groups[0].states.get(TcpState::Close), 1);
        assert_eq!(r.groups[0].states.get(TcpState::CloseWait), 1);

        // With an endpoint key it is a group of its own, with the same owner half.
        let by = [GroupField::Process, GroupField::Endpoint];
        let r = aggregate(&c, &by, &filters);
        let closed: Vec<&Group> = r.groups.iter().filter(|g| g.key.closed).collect();
        assert_eq!(closed.len(), 1);
        assert_eq!(r.groups.len(), 3);
        assert!(
            r.groups
                .iter()
                .all(|g| owner(&g.key) == owner(&closed[0].key))
        );
        assert_eq!(r.totals.matched, 2, "TCP and reset-but-held; unix apart");
        assert_eq!(r.totals.unix.map(|u| u.matched), Some(1));
    }
}
