//! The data model, the bottom layer: TCP states, normalised endpoints, sockets as
//! the kernel reports them, the processes that hold them, and the report built from
//! them (with its watch statistics and warnings), all as plain data.

pub mod check;
pub mod container;
pub mod escape;
pub mod peek;
pub mod pool_log;
pub mod report;
pub mod scan;
pub mod time;
pub mod trace;
pub mod unix;
pub mod verdict;
pub mod warning;
pub mod watch;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Maps and sets probed once per socket or per socket fd (the aggregation, the fd
/// scan): a fast hasher, since keys are kernel numbers and sockleak's own group
/// keys, nothing an attacker picks. Output order never depends on it: groups are
/// sorted before they are returned.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// The set counterpart of [`FastMap`].
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

/// A TCP state as the kernel numbers it (`include/net/tcp_states.h`).
///
/// `TCP_NEW_SYN_RECV` (12, request sockets) is reported as [`TcpState::SynRecv`],
/// exactly as `/proc/net/tcp` and `ss` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

impl TcpState {
    /// Every state, in the order columns and JSON keys use: CLOSE_WAIT first because
    /// it is the leak signal, then the rest in kernel order.
    pub const ALL: [TcpState; 11] = [
        TcpState::CloseWait,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
    ];

    /// Decode the kernel's state number; 12 (`TCP_NEW_SYN_RECV`) folds into SYN_RECV.
    pub fn from_kernel(n: u8) -> Option<TcpState> {
        Some(match n {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 | 12 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            _ => return None,
        })
    }

    /// Dense index into per-state count arrays (`[u64; 11]`).
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// The JSON / Prometheus label spelling: `close_wait`.
    pub fn snake(self) -> &'static str {
        match self {
            TcpState::Established => "established",
            TcpState::SynSent => "syn_sent",
            TcpState::SynRecv => "syn_recv",
            TcpState::FinWait1 => "fin_wait1",
            TcpState::FinWait2 => "fin_wait2",
            TcpState::TimeWait => "time_wait",
            TcpState::Close => "close",
            TcpState::CloseWait => "close_wait",
            TcpState::LastAck => "last_ack",
            TcpState::Listen => "listen",
            TcpState::Closing => "closing",
        }
    }

    /// The table header spelling, as netstat prints it: `CLOSE_WAIT`.
    pub fn upper(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// Whether a socket in this state occupies a slot of a client's connection
    /// pool: connected or connecting (ESTABLISHED, SYN_SENT), half-closed by the
    /// peer but still held (CLOSE_WAIT), or reset while still held (CLOSE). A
    /// socket the pool already let go of (FIN_WAIT1/2, LAST_ACK, CLOSING,
    /// TIME_WAIT) is in no slot.
    pub fn occupies_pool_slot(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::CloseWait | TcpState::SynSent | TcpState::Close
        )
    }

    /// Whether the kernel's idle clocks (time since data was last sent and
    /// received) mean something in this state. Not for LISTEN and TIME_WAIT (no
    /// connection, no tcp_info), SYN_SENT and SYN_RECV (no data yet: the clocks
    /// are unset), nor CLOSE.
    pub fn has_idle_age(self) -> bool {
        !matches!(
            self,
            TcpState::Listen
                | TcpState::TimeWait
                | TcpState::SynSent
                | TcpState::SynRecv
                | TcpState::Close
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.upper())
    }
}

/// The spellings accepted for a state: any case, `-`, `_` or nothing between words.
impl FromStr for TcpState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        TcpState::ALL
            .into_iter()
            .find(|st| st.snake().replace('_', "") == norm)
            .ok_or_else(|| {
                format!(
                    "unknown TCP state '{s}' (expected one of: {})",
                    TcpState::ALL
                        .map(|s| s.snake().replace('_', "-"))
                        .join(", ")
                )
            })
    }
}

impl Serialize for TcpState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.snake())
    }
}

/// Per-state counters, indexed by [`TcpState::index`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts(pub [u64; 11]);

impl StateCounts {
    pub fn add(&mut self, st: TcpState) {
        self.0[st.index()] += 1;
    }
    pub fn get(&self, st: TcpState) -> u64 {
        self.0[st.index()]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn merge(&mut self, other: &StateCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
    /// Nonzero states in [`TcpState::ALL`] order.
    pub fn nonzero(&self) -> impl Iterator<Item = (TcpState, u64)> + '_ {
        TcpState::ALL
            .into_iter()
            .map(|s| (s, self.get(s)))
            .filter(|(_, n)| *n > 0)
    }
}

/// Free text from other processes (a path, a command line, a log's route) made
/// safe for a terminal line: [`escape::text`], the one escaping function's
/// free-text form. Names that stand alone in a cell or a line use
/// [`escape::name`], which also keeps them apart from sockleak's labels.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    escape::text(s)
}

/// Map IPv4-mapped IPv6 addresses (`::ffff:10.0.0.5`) to plain IPv4, so that a
/// dual-stack client and an IPv4 client of the same server land in one group.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

pub fn normalize(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(normalize_ip(addr.ip()), addr.port())
}

/// Whether a socket was accepted by a local listener, opened by a local client, or
/// is the listener itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Listen,
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Listen => "listen",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A namespace's ephemeral port range (`net.ipv4.ip_local_port_range`): the local
/// ports clients are given, which tells a server's side of a connection from a
/// client's when no listener says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    /// How many ports the range holds.
    pub fn size(self) -> u64 {
        u64::from(self.high - self.low) + 1
    }

    /// `32768 60999` (tab-separated), as the sysctl file writes it.
    pub fn parse(text: &str) -> Option<PortRange> {
        let mut it = text.split_whitespace().map(|v| v.parse::<u16>().ok());
        match (it.next()??, it.next()??) {
            (low, high) if low <= high => Some(PortRange { low, high }),
            _ => None,
        }
    }
}

/// Linux's default, for a namespace whose range could not be read.
impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            low: 32768,
            high: 60999,
        }
    }
}

/// A namespace's `net.ipv4.ip_local_reserved_ports`: ports the kernel never hands
/// out by itself (`connect()` without `bind()`, `bind()` to port 0) although they
/// lie in the ephemeral range. Kept as sorted, disjoint, inclusive spans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedPorts {
    spans: Vec<(u16, u16)>,
}

/// What was wrong with a namespace's `ip_local_reserved_ports`: its reserved
/// ports may then be counted as usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservedProblem {
    /// The file could not be read (the reason).
    Unreadable(String),
    /// `entries` comma-separated entries were neither a port nor `low-high`
    /// (the first one shown, escaped and cut); the others were kept.
    Malformed { entries: usize, first: String },
}

impl ReservedPorts {
    /// At most this many bytes of a malformed entry are shown.
    const SHOWN: usize = 24;

    /// The sysctl's text: `8080,9148-9149` (the kernel writes ranges merged and
    /// sorted; anything else is accepted too). Entries that are not a port or a
    /// `low-high` range of ports are skipped and described in the error.
    pub fn parse(text: &str) -> (ReservedPorts, Option<ReservedProblem>) {
        let mut spans = Vec::new();
        let (mut bad, mut first) = (0usize, None);
        for entry in text.split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            match Self::span(entry) {
                Some(span) => spans.push(span),
                None => {
                    bad += 1;
                    first.get_or_insert_with(|| {
                        let cut: String = entry.chars().take(Self::SHOWN).collect();
                        printable(&cut).into_owned()
                    });
                }
            }
        }
        let problem = first.map(|first| ReservedProblem::Malformed {
            entries: bad,
            first,
        });
        (ReservedPorts::from_spans(spans), problem)
    }

    /// `N` or `LOW-HIGH` with `LOW <= HIGH`.
    fn span(entry: &str) -> Option<(u16, u16)> {
        let port = |t: &str| {
            let t = t.trim();
            // u16's parser takes a leading `+`; the kernel does not.
            t.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| t.parse::<u16>().ok())?
        };
        match entry.split_once('-') {
            None => port(entry).map(|p| (p, p)),
            Some((lo, hi)) => match (port(lo)?, port(hi)?) {
                (lo, hi) if lo <= hi => Some((lo, hi)),
                _ => None,
            },
        }
    }

    /// Sorted and merged, overlapping or touching spans joined.
    pub fn from_spans(mut spans: Vec<(u16, u16)>) -> ReservedPorts {
        spans.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(spans.len());
        for (lo, hi) in spans {
            match merged.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        ReservedPorts { spans: merged }
    }

    pub fn contains(&self, port: u16) -> bool {
        // The first span starting after `port`; the one before it may hold it.
        let i = self.spans.partition_point(|&(lo, _)| lo <= port);
        i > 0 && self.spans[i - 1].1 >= port
    }

    /// How many ports of `range` are reserved.
    pub fn count_in(&self, range: PortRange) -> u64 {
        self.spans
            .iter()
            .filter(|&&(lo, hi)| hi >= range.low && lo <= range.high)
            .map(|&(lo, hi)| u64::from(hi.min(range.high) - lo.max(range.low)) + 1)
            .sum()
    }
}

/// The ports a namespace's `connect()` can pick from: `ip_local_port_range`
/// less `ip_local_reserved_ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalPorts {
    pub range: PortRange,
    pub reserved: ReservedPorts,
}

impl LocalPorts {
    /// Whether the kernel may give out `port` by itself.
    pub fn assignable(&self, port: u16) -> bool {
        self.range.contains(port) && !self.reserved.contains(port)
    }

    /// How many ports it may give out.
    pub fn usable(&self) -> u64 {
        self.range.size() - self.reserved.count_in(self.range)
    }
}

/// Network namespace identity: the inode of `/proc/<pid>/ns/net`. Zero means "the
/// namespace sockleak itself runs in" when it could not be read.
pub type NetnsId = u64;

/// One TCP socket as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub state: TcpState,
    /// Normalised (IPv4-mapped IPv6 becomes IPv4).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// 0 for sockets no file descriptor refers to (TIME_WAIT, orphans, request socks).
    pub inode: u64,
    pub uid: u32,
    pub recv_q: u32,
    pub send_q: u32,
    /// Milliseconds since data last moved either way: the smaller of netlink's
    /// `tcp_info.tcpi_last_data_recv` and `tcpi_last_data_sent`. Only the netlink
    /// source has it, and only for states where those clocks mean something
    /// ([`TcpState::has_idle_age`]).
    pub idle_ms: Option<u32>,
    pub netns: NetnsId,
    /// The kernel's socket cookie (`inet_diag_msg.id.idiag_cookie`, as `ss -e`
    /// prints it after `sk:`): unlike an inode, never reused while the host runs,
    /// and it lets one socket be asked for again (and keys the flight recorder's
    /// records). 0 from `/proc/net/tcp`, which has none (the kernel's start at 1).
    pub cookie: u64,
    /// The interface the socket is bound to (`idiag_if`, 0: none; netlink
    /// only): an exact lookup of a bound socket must name it.
    pub bound_if: u32,
}

#[cfg(test)]
impl Socket {
    /// A socket for unit tests: `state` between two `ip:port` texts, namespace 1,
    /// everything else zero.
    pub fn for_test(state: TcpState, local: &str, remote: &str) -> Socket {
        Socket {
            state,
            local: local.parse().expect("a test's local ip:port"),
            remote: remote.parse().expect("a test's remote ip:port"),
            inode: 0,
            uid: 0,
            recv_q: 0,
            send_q: 0,
            idle_ms: None,
            cookie: 0,
            netns: 1,
            bound_if: 0,
        }
    }
}

/// A process that holds at least one socket of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// `/proc/<pid>/comm`; `?` if the process exited before it could be read.
    pub comm: String,
    /// Its `argv[0]` and executable basenames, read only for a `--process`
    /// query that `comm` alone did not match (`collect::names`).
    pub full_names: Vec<String>,
    /// Real uid from `/proc/<pid>/status`.
    pub uid: Option<u32>,
    /// The uid's user name, or the uid as a number when it has none; `?` if unknown.
    pub user: String,
    /// Only read with `--cmdline`: command lines can hold secrets.
    pub cmdline: Option<String>,
    pub netns: NetnsId,
    /// The container it runs in, from its cgroup path (best effort).
    pub container: Option<container::Container>,
    /// Its open fds against its soft RLIMIT_NOFILE; `None` when either could not
    /// be read.
    pub fds: Option<FdUsage>,
}

/// A duration as a compact age, to the nearest second: `42s`, `4m05s`,
/// `2h13m`, `3d04h`.
pub fn human_age(d: std::time::Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A share, in percent (`75.0` is 75 %): `--warn-at`, a threshold's `P%`, a
/// pool's or an fd limit's use (which can pass 100). Shown and serialised as
/// the number it holds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// `--warn-at`'s default: a pool 75 % full is worth a look.
    pub const WARN_DEFAULT: Percent = Percent(75.0);

    /// `pct` percent, as long as it is a number, 0 or more.
    pub fn new(pct: f64) -> Option<Percent> {
        (pct.is_finite() && pct >= 0.0).then_some(Percent(pct))
    }

    /// `part` of `whole`, 100 % of nothing (a limit of 0 is reached).
    pub fn of(part: u64, whole: u64) -> Percent {
        if whole == 0 {
            Percent(100.0)
        } else {
            Percent(part as f64 * 100.0 / whole as f64)
        }
    }

    /// The share in percent.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether `part` of `whole` reaches this share (compared without a
    /// division, so that 3 of 4 is exactly 75 %).
    pub fn reached_by(self, part: u64, whole: u64) -> bool {
        part as f64 * 100.0 >= self.0 * whole as f64
    }

    /// This share of `whole`, rounded up: the smallest count that reaches it.
    pub fn of_ceil(self, whole: u64) -> u64 {
        (whole as f64 * self.0 / 100.0).ceil() as u64
    }
}

/// The number, without a `%` (callers add it where they show one); precision
/// as asked: `{:.0}`.
impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// How a user writes a share: `75%` or `75`, more than 0 and at most 100. A bare
/// number below 1 is refused as ambiguous (`0.75` is far likelier a fraction
/// meant as 75 % than a level of 0.75 %).
impl FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Percent, String> {
        let num = s.strip_suffix('%');
        let v = num
            .unwrap_or(s)
            .parse::<f64>()
            .ok()
            .filter(|p| *p > 0.0 && *p <= 100.0)
            .and_then(Percent::new)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a percentage (expected more than 0 and at most 100, e.g. 75%)"
                )
            })?;
        if num.is_none() && v.0 < 1.0 {
            return Err(format!(
                "'{s}' is ambiguous: a percentage is expected (write {}% for a share of {s}, or {s}% if that is meant)",
                (v.0 * 10_000.0).round() / 100.0
            ));
        }
        Ok(v)
    }
}

/// A process's open file descriptors and its soft `RLIMIT_NOFILE`: every fd leak
/// ends at that limit ("Too many open files").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FdUsage {
    pub open: u64,
    pub limit: u64,
}

impl FdUsage {
    /// The table marks a process from this share of its limit.
    pub const MARK_PCT: Percent = Percent(80.0);
    /// `--watch` alerts when a process reaches this share of its limit.
    pub const ALERT_PCT: Percent = Percent(90.0);

    /// Open fds as a share of the limit (100 % for a zero limit).
    pub fn pct(&self) -> Percent {
        Percent::of(self.open, self.limit)
    }
}

/// One destination's use of the ephemeral port range (`ports` in JSON): the local
/// ports inside the namespace's `ip_local_port_range` that sockets to one remote
/// `ip:port` hold, in any state TIME_WAIT included, from the local address that
/// holds most. `connect()` to that destination fails with `EADDRNOTAVAIL` when
/// `used` reaches `range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortUse {
    pub used: u64,
    /// Ports in the namespace's ephemeral range (28,232 by default).
    pub range: u64,
}

impl PortUse {
    /// The table shows PORTS, and `--watch` raises `warn`, from this share.
    pub const WARN_PCT: Percent = Percent(50.0);
    /// `--watch` raises `full` from this share, before `connect()` starts failing.
    pub const FULL_PCT: Percent = Percent(90.0);

    /// Ports used as a share of the range (100 % of an empty range).
    pub fn pct(&self) -> Percent {
        Percent::of(self.used, self.range)
    }

    /// `ok`, `warn` or `full`, by [`PortUse::WARN_PCT`] and [`PortUse::FULL_PCT`].
    pub fn flag(&self) -> watch::Flag {
        match self.pct() {
            p if p >= Self::FULL_PCT => watch::Flag::Full,
            p if p >= Self::WARN_PCT => watch::Flag::Warn,
            _ => watch::Flag::Ok,
        }
    }
}

/// Where the socket table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Netlink,
    #[default]
    Proc,
}

impl Source {
    /// The name used in JSON, the table footer and Prometheus labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Netlink => "netlink",
            Source::Proc => "proc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_as_users_write_them() {
        let p = |s: &str| s.parse::<Percent>().map(Percent::get);
        assert_eq!(p("75%"), Ok(75.0));
        assert_eq!(p("75"), Ok(75.0));
        assert_eq!(p("100%"), Ok(100.0));
        assert_eq!(p("0.5%"), Ok(0.5));
        for bad in ["0", "0%", "101", "-5%", "inf", "NaN%", "x"] {
            assert!(p(bad).unwrap_err().contains("is not a percentage"), "{bad}");
        }
        assert!(
            p("0.75")
                .unwrap_err()
                .contains("write 75% for a share of 0.75")
        );
    }

    #[test]
    fn shares_of_nothing_are_full_and_show_as_numbers() {
        assert_eq!(Percent::of(3, 0).get(), 100.0);
        assert_eq!(format!("{:.0}%", Percent::of(950, 1024)), "93%");
        assert_eq!(serde_json::to_string(&Percent::of(1, 4)).unwrap(), "25.0");
        assert_eq!(Percent::WARN_DEFAULT.of_ceil(10), 8);
    }
}
