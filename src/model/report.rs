//! The report: the JSON document of version 1 that every renderer works from, and
//! the `--by` vocabulary its groups are keyed by. Plain data: it is built by
//! [`crate::report`] and judged by [`crate::policy`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::container::Container;
use super::peek::{PeekCount, Unread};
use super::scan::ScanInfo;
use super::unix::{Peer, Proto, UnixEndpoint, UnixTotals};
use super::verdict::Verdict;
use super::warning::Warning;
use super::watch::WatchStats;
use super::{Direction, FdUsage, NetnsId, PortUse, Source, StateCounts, TcpState};

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

    /// The fields of a group's JSON object this key fills (`report::key_for`
    /// sets the key, `report::to_group` writes it out).
    pub fn json_fields(self) -> &'static [&'static str] {
        match self {
            GroupField::Process => &["pid", "process", "user", "attribution"],
            GroupField::Command => &["process", "attribution"],
            GroupField::User => &["user", "attribution"],
            GroupField::Endpoint => &["direction", "local", "remote"],
            GroupField::Remote | GroupField::RemoteHost => &["remote"],
            GroupField::RemotePort => &["remote_port"],
            GroupField::LocalPort => &["local_port"],
            GroupField::State => &["state"],
            GroupField::Direction => &["direction"],
            GroupField::Netns => &["netns"],
            GroupField::Container => &["container"],
        }
    }
}

/// The fields of a group's JSON object that tell it apart whatever `--by` says:
/// the namespace (always a key), the protocol (TCP and unix groups are never
/// one), and a unix name the JSON text alone does not give exactly.
pub const ALWAYS_KEYED_FIELDS: [&str; 3] = ["netns", "proto", "unix_name_hex"];

/// Every field of a group's JSON object that identifies it, each once: what the
/// `--by` keys fill and [`ALWAYS_KEYED_FIELDS`]. Readers of recorded samples
/// (`plot`) tell groups apart by these.
pub fn group_identity_fields() -> Vec<&'static str> {
    let mut fields: Vec<&'static str> = Vec::new();
    let keyed = GroupField::ALL.iter().flat_map(|f| f.json_fields());
    for name in keyed.chain(&ALWAYS_KEYED_FIELDS) {
        if !fields.contains(name) {
            fields.push(name);
        }
    }
    fields
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
    /// Reset-but-held sockets (state CLOSE, in no table): their endpoints are
    /// unknown, so they form groups of their own, shown as `(closed)`.
    pub closed: bool,
    /// TCP or unix: groups of the two are never one.
    pub proto: Proto,
    /// A unix group's server-side end (with an endpoint-like `--by` key).
    pub unix: Option<UnixEndpoint>,
}

impl GroupKey {
    /// A unix key's endpoint as the JSON `local` and `remote` carry it, the way
    /// TCP's do: the server-side name in `local` for a server's sockets
    /// (inbound, listen), in `remote` for a client's (outbound) and for the
    /// ends without a direction (socketpairs, closed peers).
    pub fn unix_sides(&self) -> (Option<String>, Option<String>) {
        match (&self.unix, self.direction) {
            (None, _) => (None, None),
            (Some(e), Some(Direction::Inbound | Direction::Listen)) => (Some(e.json_text()), None),
            (Some(e), _) => (None, Some(e.json_text())),
        }
    }
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
    /// The longest idle time of the group's CLOSE_WAIT sockets (JSON:
    /// `oldest_close_wait_idle_s`, seconds to the millisecond); `None` without
    /// idle ages.
    #[serde(
        rename = "oldest_close_wait_idle_s",
        serialize_with = "super::time::opt_secs_to_the_milli"
    )]
    pub oldest_close_wait_idle: Option<Duration>,
    /// The longest idle time (no data either way) among the group's sockets,
    /// LISTEN and TIME_WAIT aside (JSON: `oldest_idle_s`, seconds to the
    /// millisecond); `None` without idle ages (the /proc source).
    #[serde(
        rename = "oldest_idle_s",
        serialize_with = "super::time::opt_secs_to_the_milli"
    )]
    pub oldest_idle: Option<Duration>,
    /// The group's process's open fds and soft RLIMIT_NOFILE (groups with a
    /// process key only).
    pub fds: Option<FdUsage>,
    // Extensions to the v1 contract (additive):
    pub attribution: Option<Attribution>,
    pub local_port: Option<u16>,
    pub remote_port: Option<u16>,
    pub state: Option<TcpState>,
    pub netns: Option<NetnsId>,
    /// The container of the group's process (or of the `--by container` key).
    pub container: Option<Container>,
    /// Outbound groups keyed by a remote `ip:port`: that destination's use of the
    /// ephemeral port range, every group to it counted (TIME_WAIT ones are unowned).
    pub ports: Option<PortUse>,
    /// Extension: `"tcp"` or `"unix"`.
    pub proto: Proto,
    /// Extension, unix groups only: the raw bytes of the name in `local` or
    /// `remote` (`sun_path`, an abstract name's leading NUL as `00`), in hex,
    /// when that text does not give them exactly (not UTF-8, a NUL inside an
    /// abstract name, a path starting with `@` or `(`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unix_name_hex: Option<String>,
    /// Extension, unix groups only: the processes holding the peers of the
    /// group's sockets; null for TCP groups and when the source names no peers
    /// (`/proc/net/unix`).
    pub peer: Option<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// `--watch` statistics; only in watch output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchStats>,
    /// `--peek`: what the peeked sockets' receive queues start with, most
    /// frequent first; absent without `--peek`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<Vec<Unread>>,
    /// While a flight recorder is armed (`sockleak trace`): the group's sockets' last
    /// exchanges, most frequent first; absent without a recorder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges: Option<Vec<super::trace::Exchange>>,
    /// With `exchanges`: the group's sockets the recorder has no record of (leaked
    /// before it was armed, silent since, or evicted from a full map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges_unrecorded: Option<u64>,
    /// `--peek`: how many of the group's sockets with unread bytes were peeked
    /// (`16 of 25`); absent without `--peek`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peek: Option<PeekCount>,
    /// Extension: `leak`, `suspect` or `ok`, and why (`policy::verdict`); absent
    /// from a report nothing judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The idle ages the verdict needs (not part of the JSON document).
    #[serde(skip)]
    pub idle: IdleAges,
    /// The pool the group is judged against (`--pool-size`), attached by
    /// `policy::pool::attach` so that renderers read it rather than compute it;
    /// not in the JSON document (Prometheus exports it as `sockleak_pool_size`).
    #[serde(skip)]
    pub pool_size: Option<u64>,
}

/// Every idle age of a group's CLOSE_WAIT and ESTABLISHED sockets that has one,
/// in milliseconds, ascending: what [`crate::policy::verdict`] counts sockets
/// past `--leak-after` and an idle checkout's peers by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdleAges {
    pub close_wait: Vec<u32>,
    pub established: Vec<u32>,
}

impl IdleAges {
    /// Sort both lists (once the group is complete).
    pub fn sort(&mut self) {
        self.close_wait.sort_unstable();
        self.established.sort_unstable();
    }
}

impl Group {
    pub fn close_wait(&self) -> u64 {
        self.states.get(TcpState::CloseWait)
    }

    /// What the group is ranked by when `metric` is watched: its count of that
    /// state, and for CLOSE_WAIT (the default) its reset-but-held (CLOSE) sockets
    /// too: both are leaks whatever the pool.
    pub fn rank_count(&self, metric: TcpState) -> u64 {
        let n = self.states.get(metric);
        if metric == TcpState::CloseWait {
            n + self.states.get(TcpState::Close)
        } else {
            n
        }
    }

    /// Sockets of the group that occupy a pool slot (see
    /// [`TcpState::occupies_pool_slot`]).
    pub fn pool_usage(&self) -> u64 {
        self.states
            .nonzero()
            .filter(|(s, _)| s.occupies_pool_slot())
            .map(|(_, n)| n)
            .sum()
    }

    /// Sockets of the group in a pool slot, and their states, for alerts that say
    /// what they count: `10 of pool 10 (8 close_wait, 2 established)`.
    pub fn usage_breakdown(&self) -> String {
        let parts: Vec<String> = self
            .states
            .nonzero()
            .filter(|(s, _)| s.occupies_pool_slot())
            .map(|(s, n)| format!("{n} {}", s.snake()))
            .collect();
        if parts.is_empty() {
            format!("no {}", TcpState::Established.snake())
        } else {
            parts.join(", ")
        }
    }

    /// A group with its key and nothing counted yet (for reports built in memory).
    pub fn empty(key: GroupKey) -> Group {
        Group {
            pid: key.pid,
            pids: Vec::new(),
            process: key.command.as_deref().map(str::to_string),
            user: key.user.as_deref().map(str::to_string),
            direction: key.direction,
            local: key
                .local
                .map(|a| a.to_string())
                .or_else(|| key.unix_sides().0),
            remote: key
                .remote
                .map(|r| r.to_string())
                .or_else(|| key.unix_sides().1),
            states: StateCounts::default(),
            total: 0,
            recv_q: 0,
            send_q: 0,
            oldest_close_wait_idle: None,
            oldest_idle: None,
            fds: None,
            attribution: key.attribution,
            local_port: key.local_port,
            remote_port: key.remote_port,
            state: key.state,
            netns: key.netns,
            container: key.container.clone(),
            ports: None,
            proto: key.proto,
            unix_name_hex: key.unix.as_ref().and_then(UnixEndpoint::name_hex),
            peer: None,
            cmdline: None,
            watch: None,
            unread: None,
            exchanges: None,
            exchanges_unrecorded: None,
            peek: None,
            verdict: None,
            idle: IdleAges::default(),
            pool_size: None,
            key,
        }
    }

    /// The endpoint to show in one column: local for inbound/listen, remote
    /// otherwise; a unix name escaped ([`UnixEndpoint`]'s `Display`), for a human
    /// format.
    pub fn endpoint_label(&self) -> String {
        if self.key.closed && self.local.is_none() && self.remote.is_none() {
            return "(closed)".to_string();
        }
        if let Some(e) = &self.key.unix {
            return e.to_string();
        }
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

    /// The process column: name, or how the sockets are (not) owned. Raw: for
    /// a human format, [`Group::process_text`].
    pub fn process_label(&self) -> String {
        match self.attribution {
            Some(Attribution::Unowned) => "(unowned)".to_string(),
            Some(Attribution::Unattributed) => "(unattributed)".to_string(),
            _ => self.process.clone().unwrap_or_else(|| "-".to_string()),
        }
    }

    /// [`Group::process_label`] for a human format: the name escaped
    /// ([`super::escape::name`]), so that it can neither act on a terminal nor
    /// read as one of the labels.
    pub fn process_text(&self) -> String {
        match (self.attribution, &self.process) {
            (Some(Attribution::Unowned | Attribution::Unattributed), _) | (_, None) => {
                self.process_label()
            }
            (_, Some(p)) => super::escape::name(p.as_bytes()),
        }
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
    /// Null for a focused query (`--pid`, `--process`, `--user`): only the
    /// matching processes' fd tables were read, so who holds the rest is unknown.
    pub unattributed: Option<u64>,
    /// Extension: reset-but-held TCP sockets: held by a process, in no table of the
    /// kernel (state CLOSE), each counted once. Not in `sockets` or `states`,
    /// which stay the kernel's table.
    pub held_closed: u64,
    /// Extension: sockets that pass the filters, each counted once.
    pub matched: u64,
    /// Per network namespace (inode) whose table was read: every state. The host
    /// totals above are their sum.
    #[serde(serialize_with = "per_netns")]
    pub netns: BTreeMap<NetnsId, StateCounts>,
    /// Extension: the unix sockets, when `--proto` counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unix: Option<UnixTotals>,
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
    pub warnings: Vec<Warning>,
    /// Extension: how the sample was taken and what it cost; absent for a
    /// report built in memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanInfo>,
    /// How long collection took (not part of the JSON document).
    #[serde(skip)]
    pub elapsed: Duration,
    /// sockleak's own network namespace (not part of the JSON document).
    #[serde(skip)]
    pub host_netns: NetnsId,
    #[serde(skip)]
    pub taken_at: SystemTime,
}

impl Report {
    /// A report of `groups` with empty totals and no clock or host (for reports
    /// built in memory: tests, fakes).
    pub fn with_groups(groups: Vec<Group>) -> Report {
        Report {
            version: SCHEMA_VERSION,
            time: String::new(),
            host: String::new(),
            source: Source::Netlink,
            group_by: Vec::new(),
            totals: Totals {
                sockets: 0,
                states: StateCounts::default(),
                unowned: 0,
                unattributed: Some(0),
                held_closed: 0,
                matched: 0,
                netns: BTreeMap::new(),
                unix: None,
            },
            groups,
            warnings: Vec::new(),
            scan: None,
            elapsed: Duration::ZERO,
            host_netns: 0,
            taken_at: SystemTime::UNIX_EPOCH,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_fields_are_group_fields_and_include_proto() {
        let json = serde_json::to_value(Group::empty(GroupKey::default())).unwrap();
        let fields = group_identity_fields();
        for f in &fields {
            // Written only when the text does not give the name exactly.
            if *f != "unix_name_hex" {
                assert!(json.get(f).is_some(), "{f} is not a field of a group");
            }
        }
        for f in [
            "pid", "process", "user", "local", "remote", "state", "proto",
        ] {
            assert!(fields.contains(&f), "{f}");
        }
    }
}
