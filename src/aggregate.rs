//! Aggregation: classify each socket's direction, apply the filters, and count
//! sockets into groups keyed by the `--by` fields. The result, [`Report`], is the
//! JSON contract (version 1) that every renderer works from.
//!
//! A socket held by several processes counts once in each distinct group its owners
//! fall into, and once in the totals. Totals always describe the whole table;
//! filters only choose which groups are shown.

use std::collections::{BTreeMap, HashMap, HashSet};

/// Maps and sets probed once per socket: a fast hasher (keys are kernel numbers and
/// our own group keys, nothing an attacker picks). Output order never depends on
/// it: groups are sorted before they are returned.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<T> = HashSet<T, foldhash::fast::FixedState>;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::collect::container::Container;
use crate::collect::{Collection, Source};
use crate::filter::Filters;
use crate::model::{Direction, NetnsId, Process, Socket, StateCounts, TcpState};

/// The JSON schema version this module produces. Bump only on a breaking change;
/// adding fields is not one.
pub const SCHEMA_VERSION: u32 = 1;

/// A `--by` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupField {
    /// Per pid (with its name and user).
    Process,
    /// Per process name, all its pids together.
    Command,
    User,
    /// Inbound: the local ip:port it was accepted on; outbound: the remote ip:port.
    Endpoint,
    Remote,
    RemoteHost,
    RemotePort,
    LocalPort,
    State,
    Direction,
    Netns,
    Container,
}

impl GroupField {
    pub const ALL: [GroupField; 12] = [
        GroupField::Process,
        GroupField::Command,
        GroupField::User,
        GroupField::Endpoint,
        GroupField::Remote,
        GroupField::RemoteHost,
        GroupField::RemotePort,
        GroupField::LocalPort,
        GroupField::State,
        GroupField::Direction,
        GroupField::Netns,
        GroupField::Container,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GroupField::Process => "process",
            GroupField::Command => "command",
            GroupField::User => "user",
            GroupField::Endpoint => "endpoint",
            GroupField::Remote => "remote",
            GroupField::RemoteHost => "remote-host",
            GroupField::RemotePort => "remote-port",
            GroupField::LocalPort => "local-port",
            GroupField::State => "state",
            GroupField::Direction => "direction",
            GroupField::Netns => "netns",
            GroupField::Container => "container",
        }
    }
}

/// Serialised as its `--by` name, e.g. `"remote-host"`.
impl Serialize for GroupField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for GroupField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GroupField {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let norm = match norm.as_str() {
            "pid" => "process",
            "comm" | "name" => "command",
            "host" => "remote-host",
            other => other,
        };
        GroupField::ALL
            .into_iter()
            .find(|f| f.name() == norm)
            .ok_or_else(|| {
                format!(
                    "unknown key '{s}' (expected one or more of: {})",
                    GroupField::ALL.map(|f| f.name()).join(", ")
                )
            })
    }
}

/// The default grouping: one row per process and endpoint.
pub const DEFAULT_GROUP_BY: [GroupField; 2] = [GroupField::Process, GroupField::Endpoint];

/// Whether a group's sockets have an owning process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attribution {
    /// Held by the process(es) named in the group.
    Process,
    /// Inode 0: no fd refers to it (TIME_WAIT, orphaned FIN_WAIT, request sockets).
    Unowned,
    /// Has an inode but no readable process holds it.
    Unattributed,
}

/// The remote side of a group key: a full endpoint or just the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RemoteKey {
    Endpoint(SocketAddr),
    Host(IpAddr),
}

impl fmt::Display for RemoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteKey::Endpoint(a) => a.fmt(f),
            RemoteKey::Host(h) => h.fmt(f),
        }
    }
}

/// What identifies a group. Fields outside the `--by` keys are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupKey {
    pub attribution: Option<Attribution>,
    pub pid: Option<u32>,
    pub command: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    pub direction: Option<Direction>,
    pub local: Option<SocketAddr>,
    pub local_port: Option<u16>,
    pub remote: Option<RemoteKey>,
    pub remote_port: Option<u16>,
    pub state: Option<TcpState>,
    /// Always set: sockets of different network namespaces are never one group,
    /// even with identical endpoints.
    pub netns: Option<NetnsId>,
    pub container: Option<Container>,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    #[serde(skip)]
    pub key: GroupKey,
    pub pid: Option<u32>,
    /// Every pid holding a socket of the group, ascending.
    pub pids: Vec<u32>,
    pub process: Option<String>,
    pub user: Option<String>,
    pub direction: Option<Direction>,
    pub local: Option<String>,
    pub remote: Option<String>,
    #[serde(serialize_with = "nonzero_states")]
    pub states: StateCounts,
    pub total: u64,
    pub recv_q: u64,
    pub send_q: u64,
    pub oldest_close_wait_idle_s: Option<f64>,
    // Extensions to the v1 contract (additive):
    pub attribution: Option<Attribution>,
    pub local_port: Option<u16>,
    pub remote_port: Option<u16>,
    pub state: Option<TcpState>,
    pub netns: Option<NetnsId>,
    /// The container of the group's process (or of the `--by container` key).
    pub container: Option<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// `--watch` statistics; only in watch output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::watch::WatchStats>,
}

impl Group {
    pub fn close_wait(&self) -> u64 {
        self.states.get(TcpState::CloseWait)
    }

    /// Sockets of the group that occupy a pool slot (all but LISTEN and TIME_WAIT).
    pub fn pool_usage(&self) -> u64 {
        self.states
            .nonzero()
            .filter(|(s, _)| s.holds_connection())
            .map(|(_, n)| n)
            .sum()
    }

    /// The endpoint to show in one column: local for inbound/listen, remote otherwise.
    pub fn endpoint_label(&self) -> String {
        match (&self.local, &self.remote) {
            (Some(l), Some(r)) => format!("{l} <- {r}"),
            (Some(l), None) => l.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => match (self.local_port, self.remote_port) {
                (Some(l), Some(r)) => format!(":{l} <- :{r}"),
                (Some(l), None) => format!(":{l}"),
                (None, Some(r)) => format!(":{r}"),
                (None, None) => "*".to_string(),
            },
        }
    }

    /// The process column: name, or how the sockets are (not) owned.
    pub fn process_label(&self) -> String {
        match self.attribution {
            Some(Attribution::Unowned) => "(unowned)".to_string(),
            Some(Attribution::Unattributed) => "(unattributed)".to_string(),
            _ => self.process.clone().unwrap_or_else(|| "-".to_string()),
        }
    }

    /// [`Group::process_label`] for a terminal line (control characters escaped).
    pub fn process_text(&self) -> String {
        crate::model::printable(&self.process_label()).into_owned()
    }
}

/// Host-wide counts over the whole table, whatever the filters.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub sockets: u64,
    /// Every state, zeros included.
    #[serde(serialize_with = "all_states")]
    pub states: StateCounts,
    pub unowned: u64,
    pub unattributed: u64,
    /// Extension: sockets that pass the filters, each counted once.
    pub matched: u64,
    /// Per network namespace (inode) whose table was read: every state. The host
    /// totals above are their sum.
    #[serde(serialize_with = "per_netns")]
    pub netns: BTreeMap<NetnsId, StateCounts>,
}

/// A snapshot, aggregated: the JSON document of version 1.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub time: String,
    pub host: String,
    pub source: Source,
    pub group_by: Vec<GroupField>,
    pub totals: Totals,
    pub groups: Vec<Group>,
    pub warnings: Vec<String>,
    /// How long collection took (not part of the JSON document).
    #[serde(skip)]
    pub elapsed: Duration,
    /// sockleak's own network namespace (not part of the JSON document).
    #[serde(skip)]
    pub host_netns: NetnsId,
    #[serde(skip)]
    pub taken_at: SystemTime,
}

fn nonzero_states<S: Serializer>(c: &StateCounts, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    for (st, n) in c.nonzero() {
        m.serialize_entry(st.snake(), &n)?;
    }
    m.end()
}

fn per_netns<S: Serializer>(m: &BTreeMap<NetnsId, StateCounts>, s: S) -> Result<S::Ok, S::Error> {
    struct All<'a>(&'a StateCounts);
    impl Serialize for All<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            all_states(self.0, s)
        }
    }
    let mut out = s.serialize_map(Some(m.len()))?;
    for (ns, c) in m {
        out.serialize_entry(&ns.to_string(), &All(c))?;
    }
    out.end()
}

fn all_states<S: Serializer>(c: &StateCounts, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(TcpState::ALL.len()))?;
    for st in TcpState::ALL {
        m.serialize_entry(st.snake(), &c.get(st))?;
    }
    m.end()
}

#[derive(Default)]
struct Acc {
    states: StateCounts,
    recv_q: u64,
    send_q: u64,
    oldest_idle_ms: Option<u32>,
    pids: Vec<u32>,
}

/// Per-process values shared by every key built for that process.
struct OwnerInfo<'a> {
    proc: &'a Process,
    comm: Arc<str>,
    user: Arc<str>,
}

/// Aggregate a collection into a report.
pub fn aggregate(c: &Collection, by: &[GroupField], filters: &Filters) -> Report {
    let taken_at = SystemTime::now();
    let listening: FastSet<(NetnsId, u16)> = c
        .sockets
        .iter()
        .filter(|s| s.state == TcpState::Listen)
        .map(|s| (s.netns, s.local.port()))
        .collect();

    let owners: FastMap<u32, OwnerInfo> = c
        .processes
        .iter()
        .map(|(pid, p)| {
            (
                *pid,
                OwnerInfo {
                    proc: p,
                    comm: Arc::from(p.comm.as_str()),
                    user: Arc::from(p.user.as_str()),
                },
            )
        })
        .collect();

    let owner_filter = filters.has_owner_filter();
    let mut totals = StateCounts::default();
    let mut per_ns: BTreeMap<NetnsId, StateCounts> = c
        .namespaces
        .iter()
        .map(|n| (*n, StateCounts::default()))
        .collect();
    let mut matched = 0u64;
    let mut groups: FastMap<GroupKey, Acc> = FastMap::default();
    let mut keys: Vec<(GroupKey, Option<u32>)> = Vec::new();

    for s in &c.sockets {
        totals.add(s.state);
        per_ns.entry(s.netns).or_default().add(s.state);
        if !filters.socket_matches(s) {
            continue;
        }
        let dir = direction(s, &listening);
        let held = if s.inode == 0 {
            &[][..]
        } else {
            c.fds.held(s.inode)
        };
        let attribution = if s.inode == 0 {
            Attribution::Unowned
        } else if held.is_empty() {
            Attribution::Unattributed
        } else {
            Attribution::Process
        };

        keys.clear();
        for &(_, pid) in held {
            let Some(o) = owners.get(&pid) else { continue };
            if owner_filter && !filters.owner_matches(o.proc) {
                continue;
            }
            keys.push((
                key_for(s, dir, Attribution::Process, Some(o), by),
                Some(pid),
            ));
        }
        if keys.is_empty() {
            if owner_filter {
                continue;
            }
            keys.push((key_for(s, dir, attribution, None, by), None));
        }
        matched += 1;
        if keys.len() > 1 {
            keys.sort();
        }
        let mut last: Option<&GroupKey> = None;
        for (key, pid) in &keys {
            // Look up before inserting: most sockets land in an existing group, and
            // cloning the key (Arc counts) for every socket is measurable at 100k.
            let acc = match groups.get_mut(key) {
                Some(acc) => acc,
                None => groups.entry(key.clone()).or_default(),
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
            acc.states.add(s.state);
            acc.recv_q += u64::from(s.recv_q);
            acc.send_q += u64::from(s.send_q);
            if let Some(idle) = s.idle_ms {
                acc.oldest_idle_ms = Some(acc.oldest_idle_ms.map_or(idle, |o| o.max(idle)));
            }
        }
    }

    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(key, mut acc)| {
            acc.pids.sort_unstable();
            acc.pids.dedup();
            to_group(key, acc, &owners)
        })
        .collect();
    sort_groups(&mut out);

    Report {
        version: SCHEMA_VERSION,
        time: humantime::format_rfc3339_seconds(taken_at).to_string(),
        host: hostname(),
        source: c.source,
        group_by: by.to_vec(),
        totals: Totals {
            sockets: c.sockets.len() as u64,
            states: totals,
            unowned: c.unowned,
            unattributed: c.unattributed,
            matched,
            netns: per_ns,
        },
        groups: out,
        warnings: c.warnings.clone(),
        elapsed: c.elapsed,
        host_netns: c.netns,
        taken_at,
    }
}

/// Table order: CLOSE_WAIT descending, then total descending, then the key, so that
/// equal rows keep a stable order across runs.
pub fn sort_groups(groups: &mut [Group]) {
    groups.sort_by(|a, b| {
        b.close_wait()
            .cmp(&a.close_wait())
            .then(b.total.cmp(&a.total))
            .then_with(|| a.key.cmp(&b.key))
    });
}

fn direction(s: &Socket, listening: &FastSet<(NetnsId, u16)>) -> Direction {
    if s.state == TcpState::Listen {
        Direction::Listen
    } else if listening.contains(&(s.netns, s.local.port())) {
        Direction::Inbound
    } else {
        Direction::Outbound
    }
}

fn key_for(
    s: &Socket,
    dir: Direction,
    attribution: Attribution,
    owner: Option<&OwnerInfo>,
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

fn to_group(key: GroupKey, acc: Acc, owners: &FastMap<u32, OwnerInfo>) -> Group {
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
        oldest_close_wait_idle_s: acc.oldest_idle_ms.map(|ms| f64::from(ms) / 1000.0),
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
        watch: None,
        key,
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::fdscan::FdScan;

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
            unattributed: 0,
            warnings: vec![],
            elapsed: Duration::ZERO,
        };
        let r = aggregate(&c, &DEFAULT_GROUP_BY, &Filters::default());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["totals"]["states"].as_object().unwrap().len(), 11);
        assert_eq!(v["version"], 1);
        assert!(r.groups.is_empty());
    }
}
