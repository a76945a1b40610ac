//! Report building: classify each socket's direction, apply the filters, and count
//! sockets into groups keyed by the `--by` fields, giving the [`Report`] that every
//! renderer works from.
//!
//! A socket held by several processes counts once in each distinct group its owners
//! fall into, and once in the totals. Totals always describe the whole table;
//! filters only choose which groups are shown.

pub mod exchange;
pub mod peek;
mod unix;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

/// Maps and sets probed once per socket: a fast hasher (keys are kernel numbers and
/// our own group keys, nothing an attacker picks). Output order never depends on
/// it: groups are sorted before they are returned.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<T> = HashSet<T, foldhash::fast::FixedState>;

mod direction;
mod ports;

use crate::collect::Collection;
use crate::filter::Filters;
use crate::model::report::{
    Attribution, Group, GroupField, GroupKey, IdleAges, RemoteKey, Report, SCHEMA_VERSION, Totals,
};
use crate::model::{Direction, NetnsId, Process, Socket, Source, StateCounts, TcpState};
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

/// Per-process values shared by every key built for that process.
struct OwnerInfo<'a> {
    proc: &'a Process,
    comm: Arc<str>,
    user: Arc<str>,
}

/// Aggregate a collection into a report, ranked by CLOSE_WAIT (the default view).
pub fn aggregate(c: &Collection, by: &[GroupField], filters: &Filters) -> Report {
    aggregate_ranked(c, by, filters, TcpState::CloseWait)
}

/// Aggregate a collection into a report whose groups are ranked by `rank`
/// ([`sort_groups_by`]).
pub fn aggregate_ranked(
    c: &Collection,
    by: &[GroupField],
    filters: &Filters,
    rank: TcpState,
) -> Report {
    let taken_at = SystemTime::now();
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
    // Idle ages are netlink's; under `--watch`, /proc-source CLOSE_WAIT sockets
    // get first-seen ages, which only `oldest_close_wait_idle_s` may show.
    let idle_known = c.source == Source::Netlink;
    let Aggregator {
        owners,
        groups,
        totals,
        per_ns,
        matched,
        dirs,
        ..
    } = agg;
    let ports = ports::PortTable::new(&c.sockets, &dirs, &c.port_ranges);
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(key, mut acc)| {
            acc.pids.sort_unstable();
            acc.pids.dedup();
            let mut g = to_group(key, acc, &owners, idle_known);
            g.ports = destination_ports(&g.key, &ports);
            g
        })
        .collect();
    let unix = unix::aggregate(c, by, filters, &owners).map(|(groups, totals)| {
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
            states: totals,
            unowned: c.unowned,
            unattributed: c.unattributed,
            held_closed: closed.len() as u64,
            matched,
            netns: per_ns,
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
    let mut agg = Aggregator::new(c, by, filters);
    for (i, s) in c.sockets.iter().enumerate() {
        if !wanted(s) || !filters.socket_matches(s) || !agg.key_socket(i, s) {
            continue;
        }
        let mut groups: Vec<usize> = agg
            .keys
            .iter()
            .filter_map(|(k, _)| index.get(k).copied())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let holder = agg.keys.iter().find_map(|(_, p)| *p);
        each(s, groups, holder);
    }
}

/// The state of one aggregation: what every socket is looked up in, and the
/// counts so far.
struct Aggregator<'a> {
    c: &'a Collection,
    by: &'a [GroupField],
    filters: &'a Filters,
    owner_filter: bool,
    /// The direction of each socket of the table ([`direction::directions`]).
    dirs: Vec<Direction>,
    owners: FastMap<u32, OwnerInfo<'a>>,
    /// The users of unattributed sockets' uids.
    uid_users: FastMap<u32, Arc<str>>,
    totals: StateCounts,
    per_ns: BTreeMap<NetnsId, StateCounts>,
    matched: u64,
    groups: FastMap<GroupKey, Acc>,
    /// The keys of the socket being added (reused: no allocation per socket).
    keys: Vec<(GroupKey, Option<u32>)>,
}

impl<'a> Aggregator<'a> {
    fn new(c: &'a Collection, by: &'a [GroupField], filters: &'a Filters) -> Self {
        let dirs = direction::directions(&c.sockets, &c.port_ranges);
        let owners = c
            .processes
            .iter()
            .map(|(pid, p)| {
                let info = OwnerInfo {
                    proc: p,
                    comm: Arc::from(p.comm.as_str()),
                    user: Arc::from(p.user.as_str()),
                };
                (*pid, info)
            })
            .collect();
        let uid_users = c
            .uid_names
            .iter()
            .map(|(uid, name)| (*uid, Arc::from(name.as_str())))
            .collect();
        Aggregator {
            c,
            by,
            filters,
            owner_filter: filters.has_owner_filter(),
            dirs,
            owners,
            uid_users,
            totals: StateCounts::default(),
            per_ns: c
                .namespaces
                .iter()
                .map(|n| (*n, StateCounts::default()))
                .collect(),
            matched: 0,
            groups: FastMap::default(),
            keys: Vec::new(),
        }
    }

    /// Count one socket of the table: in the totals always, and in the group of
    /// each distinct key its owners give it when it passes the filters.
    fn add(&mut self, i: usize, s: &Socket) {
        self.totals.add(s.state);
        self.per_ns.entry(s.netns).or_default().add(s.state);
        if !self.filters.socket_matches(s) || !self.key_socket(i, s) {
            return;
        }
        self.matched += 1;
        if self.keys.len() > 1 {
            self.keys.sort();
        }
        let mut last: Option<&GroupKey> = None;
        for (key, pid) in &self.keys {
            // Look up before inserting: most sockets land in an existing group, and
            // cloning the key (Arc counts) for every socket is measurable at 100k.
            let acc = match self.groups.get_mut(key) {
                Some(acc) => acc,
                None => self.groups.entry(key.clone()).or_default(),
            };
            // Sorted and deduplicated later; skipping repeats keeps a 50k-socket
            // group's pid list one entry long instead of 50k.
            if let Some(pid) = pid
                && acc.pids.last() != Some(pid)
            {
                acc.pids.push(*pid);
            }
            // The same socket reaching the same group through two owners counts once.
            if last == Some(key) {
                continue;
            }
            last = Some(key);
            acc.add(s);
        }
    }

    /// Count one reset-but-held socket (state CLOSE, in no table) in the group of
    /// each distinct key its owners give it, when it passes the filters. It is in
    /// no totals of the table: `totals.held_closed` counts it.
    fn add_closed(&mut self, inode: u64) {
        if !self.filters.closed_matches() {
            return;
        }
        self.keys.clear();
        for pid in self.c.fds.closed_owners(inode) {
            let Some(o) = self.owners.get(&pid) else {
                continue;
            };
            if self.owner_filter && !self.filters.owner_matches(o.proc) {
                continue;
            }
            let ns = if o.proc.netns == 0 {
                self.c.netns
            } else {
                o.proc.netns
            };
            self.keys.push((key_for_closed(ns, o, self.by), Some(pid)));
        }
        if self.keys.is_empty() {
            return;
        }
        self.matched += 1;
        self.keys.sort();
        self.keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let mut last: Option<GroupKey> = None;
        for (key, pid) in std::mem::take(&mut self.keys) {
            let acc = self.groups.entry(key.clone()).or_default();
            if let Some(pid) = pid {
                acc.pids.push(pid);
            }
            if last.as_ref() != Some(&key) {
                acc.states.add(TcpState::Close);
            }
            last = Some(key);
        }
    }

    /// Fill `keys` with the socket's group keys, one per owner that passes the
    /// owner filters (or one ownerless key); false when none is left.
    fn key_socket(&mut self, i: usize, s: &Socket) -> bool {
        let dir = self.dirs[i];
        let held = if s.inode == 0 {
            &[][..]
        } else {
            self.c.held(i)
        };
        self.keys.clear();
        for &(_, pid) in held {
            let Some(o) = self.owners.get(&pid) else {
                continue;
            };
            if self.owner_filter && !self.filters.owner_matches(o.proc) {
                continue;
            }
            let key = key_for(s, dir, Attribution::Process, Some(o), None, self.by);
            self.keys.push((key, Some(pid)));
        }
        if self.keys.is_empty() {
            if self.owner_filter {
                return false;
            }
            let attribution = if s.inode == 0 {
                Attribution::Unowned
            } else if held.is_empty() {
                Attribution::Unattributed
            } else {
                Attribution::Process
            };
            let uid_user = self.uid_users.get(&s.uid);
            let key = key_for(s, dir, attribution, None, uid_user, self.by);
            self.keys.push((key, None));
        }
        true
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

/// The group key of socket `s` under the `--by` keys, for one owner (or none).
/// An unattributed socket's group carries its uid's user (`uid_user`), so that the
/// reader knows whose sockets they are.
fn key_for(
    s: &Socket,
    dir: Direction,
    attribution: Attribution,
    owner: Option<&OwnerInfo>,
    uid_user: Option<&Arc<str>>,
    by: &[GroupField],
) -> GroupKey {
    let mut k = GroupKey {
        netns: Some(s.netns),
        ..Default::default()
    };
    for f in by {
        match f {
            GroupField::Process | GroupField::Command | GroupField::User => {
                k.attribution = Some(attribution);
                if let Some(o) = owner {
                    match f {
                        GroupField::Process => k.pid = Some(o.proc.pid),
                        GroupField::Command => k.command = Some(o.comm.clone()),
                        _ => k.user = Some(o.user.clone()),
                    }
                } else if attribution == Attribution::Unattributed {
                    k.user = uid_user.cloned();
                }
            }
            GroupField::Endpoint => {
                k.direction = Some(dir);
                match dir {
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
            GroupField::Direction => k.direction = Some(dir),
            GroupField::Netns => {}
            GroupField::Container => {
                k.container = owner.and_then(|o| o.proc.container.clone());
            }
        }
    }
    k
}

/// The key of a reset-but-held socket of `owner`: its endpoint, direction and
/// remote are unknown, so every endpoint-like key marks it `closed` (a group of
/// its own, shown as `(closed)`); with only owner keys it joins its owner's row.
fn key_for_closed(netns: NetnsId, owner: &OwnerInfo, by: &[GroupField]) -> GroupKey {
    let mut k = GroupKey {
        netns: Some(netns),
        ..Default::default()
    };
    for f in by {
        match f {
            GroupField::Process => k.pid = Some(owner.proc.pid),
            GroupField::Command => k.command = Some(owner.comm.clone()),
            GroupField::User => k.user = Some(owner.user.clone()),
            GroupField::Endpoint
            | GroupField::Remote
            | GroupField::RemoteHost
            | GroupField::RemotePort
            | GroupField::LocalPort
            | GroupField::Direction => k.closed = true,
            GroupField::State => k.state = Some(TcpState::Close),
            GroupField::Netns => {}
            GroupField::Container => k.container = owner.proc.container.clone(),
        }
        if matches!(
            f,
            GroupField::Process | GroupField::Command | GroupField::User
        ) {
            k.attribution = Some(Attribution::Process);
        }
    }
    k
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
        oldest_close_wait_idle_s: acc
            .oldest_close_wait_idle_ms
            .map(|ms| f64::from(ms) / 1000.0),
        oldest_idle_s: acc
            .oldest_idle_ms
            .filter(|_| idle_known)
            .map(|ms| f64::from(ms) / 1000.0),
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

    #[test]
    fn empty_collection_has_all_states_in_totals() {
        let c = Collection {
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
        };
        let r = aggregate(&c, &DEFAULT_GROUP_BY, &Filters::default());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["totals"]["states"].as_object().unwrap().len(), 11);
        assert_eq!(v["version"], 1);
        assert!(r.groups.is_empty());
    }
}
