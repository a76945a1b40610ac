//! What a collection could not see, and why, as typed values: each warning carries
//! its counts, pids and reasons, and is rendered to text in exactly one place (its
//! `Display`), which JSON, the table, `--watch` and checks all use. `--watch`
//! compares warnings by value ([`Warning::without_counts`]), never by their text.

use std::fmt;

use serde::{Serialize, Serializer};

use super::peek::{PeekMiss, PeekSpent};
use super::unix::Proto;
use super::{ReservedProblem, printable};

pub mod caps;
mod short;
pub use caps::Caps;
pub use short::{SHORT_MAX, Short, short_lines};

/// At most this many pids are named in a warning; the rest are counted.
pub const PIDS_SHOWN: usize = 10;
/// At most this many malformed lines are described in a warning.
pub const LINES_SHOWN: usize = 5;
/// At most this many users are named in a warning.
pub const USERS_SHOWN: usize = 5;

/// What sockleak may already do, so that a warning's advice fits: "run with sudo" is
/// no help to root, whom the kernel can still refuse (a process that is not dumpable
/// and holds capabilities root lacks here, or a security module).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Privilege {
    /// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: every fd table and ns link.
    pub ptrace_and_read: bool,
    /// CAP_SYS_ADMIN: setns into other namespaces.
    pub admin: bool,
    /// This binary's path, for the setcap advice (`$(command -v sockleak)` is empty
    /// when it was started as ./target/release/sockleak).
    pub exe: String,
}

impl Privilege {
    /// From the `CapEff:` line of a `/proc/<pid>/status` (none read: none held).
    pub fn from_status(status: &str, exe: String) -> Privilege {
        Privilege::from_caps(Caps::from_status(status).unwrap_or_default(), exe)
    }

    /// From an effective capability set.
    pub fn from_caps(caps: Caps, exe: String) -> Privilege {
        Privilege {
            ptrace_and_read: caps.has(caps::CAP_SYS_PTRACE) && caps.has(caps::CAP_DAC_READ_SEARCH),
            admin: caps.has(caps::CAP_SYS_ADMIN),
            exe,
        }
    }

    /// For an unreadable `/proc/<pid>/fd`.
    pub fn fd_fix(&self) -> String {
        if self.ptrace_and_read {
            return "sockleak already has CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, so the kernel refused for another reason: a security module (AppArmor, SELinux, Yama) or a non-dumpable process holding capabilities sockleak lacks".to_string();
        }
        format!(
            "run with sudo, or give the binary the two capabilities it needs: setcap cap_sys_ptrace,cap_dac_read_search+ep {}",
            self.exe
        )
    }

    /// For an unreadable `/proc/<pid>/ns/net` link (a ptrace access check).
    pub fn ns_link_fix(&self) -> &'static str {
        if self.ptrace_and_read {
            "sockleak already has CAP_SYS_PTRACE, so the kernel refused for another reason: a security module (AppArmor, SELinux, Yama) or a non-dumpable process holding capabilities sockleak lacks"
        } else {
            "run as root (or give the binary cap_sys_ptrace) to see its sockets"
        }
    }

    /// For a namespace that could be neither entered nor read through /proc.
    pub fn ns_enter_fix(&self) -> &'static str {
        if self.ptrace_and_read && self.admin {
            "sockleak already has CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, so the kernel refused for another reason: a security module (AppArmor, SELinux, Yama) or a non-dumpable process holding capabilities sockleak lacks"
        } else {
            "run as root to see its sockets (entering a namespace needs CAP_SYS_ADMIN)"
        }
    }
}

/// A line of a table file that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLine {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// A process named in a warning: its pid and (escaped) name, empty when gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPid {
    pub pid: u32,
    pub comm: String,
}

/// Something a collection could not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// `/proc/<pid>/ns/net` unreadable for `count` processes (the first
    /// [`PIDS_SHOWN`] in `pids`).
    NsLinksUnreadable {
        count: usize,
        pids: Vec<u32>,
        privilege: Privilege,
    },
    /// Another namespace's table was read from /proc instead of netlink.
    NetnsFellBack {
        netns: u64,
        member: NamedPid,
        why: String,
        root: String,
    },
    /// Another namespace could not be read at all.
    NetnsSkipped {
        netns: u64,
        member: Option<NamedPid>,
        why: String,
        privilege: Privilege,
    },
    /// `--source auto` fell back to /proc/net/tcp.
    NetlinkUnavailable { error: String, root: String },
    /// Lines of a TCP table that were not counted (the first [`LINES_SHOWN`] shown).
    MalformedLines {
        count: usize,
        shown: Vec<MalformedLine>,
    },
    /// Unattributed sockets whose uid runs processes with unreadable fd tables.
    UnattributedHeld {
        /// Which table they are of (TCP, or unix with `--proto unix|all`).
        proto: Proto,
        sockets: u64,
        /// The processes that may hold them (the first [`PIDS_SHOWN`]) and how many.
        pids: Vec<u32>,
        processes: usize,
        /// `(uid, name)` of their owners, the first [`USERS_SHOWN`].
        owners: Vec<(u32, String)>,
        privilege: Privilege,
    },
    /// A focused query (`--pid`, `--process`, `--user`) matched processes whose fd
    /// tables could not be read: their sockets are not in the groups.
    FocusUnreadable {
        processes: usize,
        pids: Vec<u32>,
        privilege: Privilege,
    },
    /// The IPv6 table was not read (the kernel refused the dump, or `tcp6` was
    /// unreadable or odd): the answer is IPv4's.
    Ipv6NotCounted { why: String },
    /// Files of socket owners (comm, status, cgroup, cmdline) that were odd or
    /// unreadable for other than the ordinary reasons: the first few, and how many.
    FilesSkipped {
        count: usize,
        first: Vec<String>,
        root: String,
    },
    /// sockleak's own fd limit stopped the fd scan: `processes` fd tables (the first
    /// [`PIDS_SHOWN`] in `pids`) could not be opened. Counts stay exact; only who
    /// holds what is incomplete.
    OwnFdsExhausted {
        limit: u64,
        processes: usize,
        pids: Vec<u32>,
        unattributed: u64,
        /// Other fd tables that were not readable (permission).
        unreadable: usize,
    },
    /// Unattributed sockets that no (visible) process holds, with the `(uid,
    /// name)` they were created by (the first [`USERS_SHOWN`]).
    UnattributedGone {
        proto: Proto,
        sockets: u64,
        owners: Vec<(u32, String)>,
        hidepid: bool,
    },
    /// Socket fds matching no table whose protocol was not asked (more than
    /// `asked` in one process): reset-but-held TCP sockets among them are not
    /// counted.
    ClosedUnexamined {
        sockets: u64,
        /// The processes (the first [`PIDS_SHOWN`]).
        pids: Vec<u32>,
        asked: u64,
    },
    /// The unix table came from `/proc/net/unix` (`--source proc`, a fixture
    /// tree, or netlink failing: `why`), which names no peers and no queues.
    UnixWithoutPeers { why: Option<String>, root: String },
    /// Unix sockets of other network namespaces are not read (only the host's).
    UnixOtherNetns { namespaces: usize },
    /// Sockets whose holder kept their lock: reading their tcp_info (the idle
    /// age) would wait for it, uninterruptibly, so it was abandoned. Counts stay
    /// exact; only idle ages are missing.
    SocketsLocked {
        /// How many sockets did not answer.
        locked: usize,
        /// Their holders (the first [`PIDS_SHOWN`]), when the fd scan found them.
        holders: Vec<NamedPid>,
        /// Sockets left without an idle age (the locked ones included).
        ages_missing: usize,
        /// Why the read stopped short without naming every socket, when it did.
        cause: Option<String>,
    },
    /// A namespace's `ip_local_reserved_ports` was not read whole: the ports it
    /// reserves may count as usable in destinations' `ports.range`.
    ReservedPortsIgnored {
        netns: u64,
        problem: ReservedProblem,
    },
    /// `--peek`: `sockets` with unread bytes were not peeked, for one reason; the
    /// counts and the rest of the report are unaffected.
    PeekMissed {
        why: PeekMiss,
        sockets: u64,
        /// The holders concerned (the first [`PIDS_SHOWN`]), when known.
        pids: Vec<u32>,
        /// `/proc/sys/kernel/yama/ptrace_scope`, when Yama is there.
        yama: Option<u8>,
        /// Whether sockleak has CAP_SYS_PTRACE (then "run as root" is no advice).
        ptrace_cap: bool,
        /// The `--peek` time budget, in milliseconds.
        budget_ms: u64,
        /// Where the time went (said when the budget ran out).
        spent: PeekSpent,
    },
    /// A flight recorder is armed (`sockleak trace start`) but its records could not
    /// be read (`why`: not root, most often): no group shows its exchanges.
    TraceUnreadable { why: String },
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// `unix ` before "socket" in a warning about unix sockets; TCP's warnings keep
/// the words they always had.
fn kind_prefix(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "",
        Proto::Unix => "unix ",
    }
}

/// `1, 2, 3, ...`: the pids shown, and `...` when there were more.
fn pid_list(pids: &[u32], total: usize) -> String {
    let mut s: Vec<String> = pids.iter().map(u32::to_string).collect();
    if total > pids.len() {
        s.push("...".to_string());
    }
    s.join(", ")
}

/// `uid 1000 app, uid 0 root`: a name only where the uid has one.
fn user_list(owners: &[(u32, String)]) -> String {
    owners
        .iter()
        .map(|(uid, name)| {
            if *name == uid.to_string() {
                format!("uid {uid}")
            } else {
                format!("uid {uid} {}", printable(name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Warning {
    /// The warning in one short line (`-v` shows the full [`fmt::Display`]).
    pub fn short(&self) -> Short<'_> {
        Short(self)
    }

    /// Whether a check's verdict may miss a leak because of it: a namespace or
    /// family not read, idle ages not read (a leak is then at most `suspect`),
    /// sockets whose holders could not be seen. Churn (a socket closed during
    /// the scan) and cosmetic gaps are not.
    pub fn blinds_a_check(&self) -> bool {
        matches!(
            self,
            Warning::NsLinksUnreadable { .. }
                | Warning::NetnsFellBack { .. }
                | Warning::NetnsSkipped { .. }
                | Warning::NetlinkUnavailable { .. }
                | Warning::UnattributedHeld { .. }
                | Warning::FocusUnreadable { .. }
                | Warning::Ipv6NotCounted { .. }
                | Warning::OwnFdsExhausted { .. }
        )
    }

    /// The same warning with its counts zeroed: two samples whose warnings differ
    /// only in how many sockets they concern say nothing new.
    pub fn without_counts(&self) -> Warning {
        let mut w = self.clone();
        match &mut w {
            Warning::NsLinksUnreadable { count, .. } | Warning::MalformedLines { count, .. } => {
                *count = 0
            }
            Warning::UnattributedHeld {
                sockets, processes, ..
            } => {
                *sockets = 0;
                *processes = 0;
            }
            Warning::UnattributedGone { sockets, .. } => *sockets = 0,
            Warning::FilesSkipped { count, first, .. } => {
                *count = 0;
                first.clear();
            }
            Warning::OwnFdsExhausted {
                processes,
                pids,
                unattributed,
                unreadable,
                ..
            } => {
                *processes = 0;
                pids.clear();
                *unattributed = 0;
                *unreadable = 0;
            }
            Warning::Ipv6NotCounted { .. } => {}
            Warning::FocusUnreadable { processes, .. } => *processes = 0,
            Warning::ClosedUnexamined { sockets, .. } => *sockets = 0,
            Warning::PeekMissed {
                sockets,
                pids,
                spent,
                ..
            } => {
                *sockets = 0;
                pids.clear();
                *spent = PeekSpent::default();
            }
            Warning::NetnsFellBack { .. }
            | Warning::NetnsSkipped { .. }
            | Warning::NetlinkUnavailable { .. }
            | Warning::UnixWithoutPeers { .. }
            | Warning::TraceUnreadable { .. } => {}
            Warning::UnixOtherNetns { namespaces } => *namespaces = 0,
            Warning::SocketsLocked {
                locked,
                ages_missing,
                ..
            } => {
                *locked = 0;
                *ages_missing = 0;
            }
            Warning::ReservedPortsIgnored { .. } => {}
        }
        if let Warning::MalformedLines { shown, .. } = &mut w {
            shown.clear();
        }
        w
    }

    fn fmt_closed_unexamined(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::ClosedUnexamined {
            sockets,
            pids,
            asked,
        } = self
        else {
            return Ok(());
        };
        write!(
            f,
            "{sockets} socket fd{} matching no TCP table not examined in pid {} (only the first {asked} of a process are asked whether they are TCP): reset-but-held sockets among them are not counted",
            plural(*sockets, "", "s"),
            pid_list(pids, pids.len())
        )
    }

    fn fmt_unattributed_held(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::UnattributedHeld {
            proto,
            sockets,
            pids,
            processes,
            owners,
            privilege,
        } = self
        else {
            return Ok(());
        };
        let owners = user_list(owners);
        // Without the capabilities, the unreadable processes are every other
        // user's: most likely the owners. With them, only a few protected ones
        // refuse, and a socket closed mid-scan is as likely.
        let how = if privilege.ptrace_and_read {
            "possibly held by processes whose /proc/<pid>/fd is not readable (or closed during the scan)"
        } else {
            "most likely held by processes whose /proc/<pid>/fd is not readable"
        };
        write!(
            f,
            "{sockets} {}socket{} unattributed, {how}: {processes} process{} running as {} (pid {}); {}",
            kind_prefix(*proto),
            plural(*sockets, "", "s"),
            plural(*processes as u64, "", "es"),
            owners,
            pid_list(pids, *processes),
            privilege.fd_fix()
        )
    }
}

impl Warning {
    fn fmt_unattributed_gone(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::UnattributedGone {
            proto,
            sockets,
            owners,
            hidepid,
        } = self
        else {
            return Ok(());
        };
        // With hidepid, other users' processes are not even listed: their
        // sockets look ownerless, and "closed during the scan" would be false.
        let them = plural(*sockets, "it", "them");
        let (holder, why) = if *hidepid {
            (
                format!("no visible process holds {them}"),
                "/proc is mounted with hidepid, so other users' processes are not listed; run as root (or in the proc mount's gid= group) to see them",
            )
        } else {
            (
                format!("no process holds {them} any more"),
                "closed, or its process exited, during the scan; or held by the kernel",
            )
        };
        let by = if owners.is_empty() {
            String::new()
        } else {
            format!(" (created by {})", user_list(owners))
        };
        write!(
            f,
            "{sockets} {}socket{} unattributed{by}: {holder} ({why})",
            kind_prefix(*proto),
            plural(*sockets, "", "s")
        )
    }

    fn fmt_malformed(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::MalformedLines { count, shown } = self else {
            return Ok(());
        };
        let lines: Vec<String> = shown
            .iter()
            .map(|m| format!("{} line {}: {}", m.file, m.line, m.reason))
            .collect();
        // The unix table's lines are reported apart (collect::Collector::read_unix).
        let table = match shown.first() {
            Some(m) if m.file.ends_with("/unix") || m.file == "unix" => "unix",
            _ => "TCP",
        };
        write!(
            f,
            "{count} malformed line{} in the {table} table not counted: {}{}",
            plural(*count as u64, "", "s"),
            lines.join("; "),
            if *count > shown.len() { "; ..." } else { "" }
        )
    }

    fn fmt_own_fds(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::OwnFdsExhausted {
            limit,
            processes,
            pids,
            unattributed,
            unreadable,
        } = self
        else {
            return Ok(());
        };
        let effect = if *unattributed > 0 {
            format!(
                "{unattributed} socket{} unattributed, most likely held by them",
                plural(*unattributed, " is", "s are")
            )
        } else {
            "owners shared with them may be missing".to_string()
        };
        let also = if *unreadable == 0 {
            String::new()
        } else {
            format!(
                " ({unreadable} other fd table{} not readable)",
                plural(*unreadable as u64, " was", "s were")
            )
        };
        write!(
            f,
            "sockleak ran out of its own file descriptors (limit {limit} open files): the fd tables of {processes} process{} (pid {}) could not be opened, so attribution is incomplete: {effect}{also}; counts and states are exact. Raise the limit: ulimit -n in the shell, LimitNOFILE= in a systemd unit",
            plural(*processes as u64, "", "es"),
            pid_list(pids, *processes),
        )
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NsLinksUnreadable { .. }
            | Warning::NetnsFellBack { .. }
            | Warning::NetnsSkipped { .. }
            | Warning::NetlinkUnavailable { .. } => self.fmt_netns(f),
            Warning::Ipv6NotCounted { .. }
            | Warning::UnixWithoutPeers { .. }
            | Warning::UnixOtherNetns { .. } => self.fmt_tables_unread(f),
            Warning::MalformedLines { .. } => self.fmt_malformed(f),
            Warning::UnattributedHeld { .. } => self.fmt_unattributed_held(f),
            Warning::ClosedUnexamined { .. } => self.fmt_closed_unexamined(f),
            Warning::FocusUnreadable {
                processes,
                pids,
                privilege,
            } => write!(
                f,
                "the fd tables of {processes} matching process{} (pid {}) could not be read, so their sockets are not shown; {}",
                plural(*processes as u64, "", "es"),
                pid_list(pids, *processes),
                privilege.fd_fix()
            ),
            Warning::FilesSkipped { count, first, root } => write!(
                f,
                "{count} file{} of socket owners under {root} not read, the fields they give shown as unknown: {}{}",
                plural(*count as u64, "", "s"),
                first.join("; "),
                if *count > first.len() {
                    format!("; and {} more", count - first.len())
                } else {
                    String::new()
                }
            ),
            Warning::OwnFdsExhausted { .. } => self.fmt_own_fds(f),
            Warning::UnattributedGone { .. } => self.fmt_unattributed_gone(f),
            Warning::PeekMissed { .. } => self.fmt_peek_missed(f),
            Warning::SocketsLocked { .. } => self.fmt_sockets_locked(f),
            Warning::TraceUnreadable { why } => write!(
                f,
                "a flight recorder is armed but its records could not be read ({}): run as root to see each group's last exchanges",
                printable(why)
            ),
            Warning::ReservedPortsIgnored { .. } => self.fmt_reserved_ports(f),
        }
    }
}

impl Warning {
    /// Network namespaces read another way than asked, or not at all.
    fn fmt_netns(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NsLinksUnreadable {
                count,
                pids,
                privilege,
            } => write!(
                f,
                "/proc/<pid>/ns/net not readable for {count} process{} (pid {}): a network namespace only they are in is not read; {}",
                plural(*count as u64, "", "es"),
                pid_list(pids, *count),
                privilege.ns_link_fix()
            ),
            Warning::NetnsFellBack {
                netns,
                member,
                why,
                root,
            } => write!(
                f,
                "network namespace {netns} (pid {} {}): {why}; read {root}/{}/net/tcp instead, without idle ages",
                member.pid, member.comm, member.pid
            ),
            Warning::NetnsSkipped {
                netns,
                member,
                why,
                privilege,
            } => {
                let member = member
                    .as_ref()
                    .map_or_else(String::new, |m| format!(" (pid {} {})", m.pid, m.comm));
                write!(
                    f,
                    "network namespace {netns}{member} skipped: {why}; {}",
                    privilege.ns_enter_fix()
                )
            }
            Warning::NetlinkUnavailable { error, root } => write!(
                f,
                "netlink sock_diag unavailable ({error}); read {root}/net/tcp instead, without idle ages"
            ),
            _ => Ok(()),
        }
    }

    /// Tables read in part: IPv6 missing, unix sockets without peers or only the
    /// host namespace's.
    fn fmt_tables_unread(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Ipv6NotCounted { why } => {
                write!(f, "{why}: IPv6 sockets are not counted, only IPv4")
            }
            Warning::UnixWithoutPeers { why, root } => write!(
                f,
                "{}unix sockets read from {root}/net/unix, which names no peers: clients show as (unknown peer), with no peer process, and Recv-Q and Send-Q are 0",
                why.as_ref().map_or_else(String::new, |w| format!(
                    "netlink sock_diag of unix sockets unavailable ({w}); "
                ))
            ),
            Warning::UnixOtherNetns { namespaces } => write!(
                f,
                "unix sockets are read in the host network namespace only: those of {namespaces} other namespace{} are not counted",
                plural(*namespaces as u64, "", "s")
            ),
            _ => Ok(()),
        }
    }

    fn fmt_reserved_ports(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::ReservedPortsIgnored { netns, problem } = self else {
            return Ok(());
        };
        write!(f, "ip_local_reserved_ports of network namespace {netns}: ")?;
        match problem {
            ReservedProblem::Unreadable(why) => write!(f, "not read ({why})")?,
            ReservedProblem::Malformed { entries, first } => write!(
                f,
                "{entries} malformed entr{} ignored (the first: \"{first}\")",
                plural(*entries as u64, "y", "ies")
            )?,
        }
        f.write_str(
            "; ports it reserves may be counted as usable, so a destination's ports range can be larger than what connect() can use",
        )
    }
}

impl Warning {
    /// Whose socket lock stopped the idle-age read, and what it cost: one line.
    fn fmt_sockets_locked(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::SocketsLocked {
            locked,
            holders,
            ages_missing,
            cause,
        } = self
        else {
            return Ok(());
        };
        let n = *ages_missing as u64;
        write!(
            f,
            "idle ages of {n} socket{} not read (counts are exact)",
            plural(n, "", "s")
        )?;
        if *locked > 0 {
            let who: Vec<String> = holders
                .iter()
                .map(|h| format!("pid {} {}", h.pid, printable(&h.comm)))
                .collect();
            let who = if who.is_empty() {
                "a process sockleak cannot see".to_string()
            } else {
                who.join(", ")
            };
            write!(
                f,
                ": {locked} socket{} held by {who} kept {} lock, so asking its tcp_info would wait until that process lets go (a recv() stuck in a page fault: FUSE or userfaultfd); look at that process",
                plural(*locked as u64, "", "s"),
                plural(*locked as u64, "its", "their"),
            )?;
        }
        if let Some(c) = cause {
            write!(f, "; {c}")?;
        }
        Ok(())
    }
}

impl Warning {
    /// Why `--peek` could not read some queues, and how to get them: one line.
    fn fmt_peek_missed(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::PeekMissed {
            why,
            sockets,
            pids,
            spent,
            yama,
            ptrace_cap,
            budget_ms,
        } = self
        else {
            return Ok(());
        };
        let of = if pids.is_empty() {
            String::new()
        } else {
            format!(" of pid {}", pid_list(pids, pids.len()))
        };
        let s = plural(*sockets, "", "s");
        write!(
            f,
            "--peek: {sockets} socket{s} with unread bytes{of} not peeked (their counts are exact): "
        )?;
        match why {
            PeekMiss::NoHolder => f.write_str(
                "no process sockleak can read holds them (their /proc/<pid>/fd is not readable); run as root, or as the user running them",
            ),
            PeekMiss::NoFinYet => f.write_str(
                "no FIN received on them yet (ESTABLISHED, FIN-WAIT): a peek could take a pending socket error (ECONNRESET) from their holder, so only CLOSE-WAIT, LAST-ACK and CLOSING sockets are peeked",
            ),
            PeekMiss::NotPermitted if *ptrace_cap => f.write_str(
                "the kernel refused to duplicate their fds although sockleak has CAP_SYS_PTRACE: a security module (AppArmor, SELinux, Yama ptrace_scope 3) or a seccomp filter forbids pidfd_getfd here; peek from outside that sandbox",
            ),
            PeekMiss::NotPermitted => {
                f.write_str("the kernel refused to duplicate their fds (pidfd_getfd needs ptrace access to the process: root, or CAP_SYS_PTRACE over it")?;
                match yama {
                    Some(3) => f.write_str("; Yama ptrace_scope is 3 here, which forbids it even to root until the next boot)"),
                    Some(n @ 1..=2) => write!(f, "; Yama ptrace_scope is {n} here: without CAP_SYS_PTRACE only descendants)"),
                    _ => f.write_str("; or a security module refused)"),
                }
            }
            PeekMiss::NoSyscall => f.write_str(
                "pidfd_open or pidfd_getfd is not available (ENOSYS): the kernel is older than Linux 5.6, or a seccomp filter forbids them; run on Linux 5.6 or later outside such a sandbox",
            ),
            PeekMiss::Changed => f.write_str(
                "their fds were closed or replaced during the peek (churn); the next run sees them",
            ),
            PeekMiss::PeekOffset => f.write_str(
                "their process uses SO_PEEK_OFF, which a peek would move, so they are left alone",
            ),
            PeekMiss::Locked => f.write_str(
                "their holder keeps the socket locked (a recv() stuck in a page fault: FUSE or userfaultfd), so a peek would wait until it lets go; look at that process",
            ),
            PeekMiss::Budget => fmt_budget(f, *budget_ms, spent),
            PeekMiss::Failed(errno) => write!(
                f,
                "the peek failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

/// What used the `--peek` budget: one fd table that took most of it (no
/// `--peek-max` helps there), or the peeks themselves.
fn fmt_budget(f: &mut fmt::Formatter<'_>, budget_ms: u64, spent: &PeekSpent) -> fmt::Result {
    write!(f, "the time budget of {budget_ms} ms ran out")?;
    match spent.slowest_table {
        Some((pid, links, ms)) if ms * 2 >= budget_ms => write!(
            f,
            ": finding the socket fds of pid {pid} took {ms} ms ({links} fd links read, one readlink each); --peek-max does not shorten that, peek that process on its own (--pid {pid})"
        ),
        _ => write!(
            f,
            " ({} ms in the peeks); lower --peek-max to peek fewer sockets per group",
            spent.peeks_ms
        ),
    }
}

/// In JSON a warning is its text, as in every earlier version of the document.
impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_fits_the_privilege_held() {
        let root = Privilege::from_status("Name:\tx\nCapEff:\t000001ffffffffff\n", "/x".into());
        assert!(root.ptrace_and_read && root.admin);
        assert!(!root.fd_fix().contains("sudo"));
        assert!(!root.ns_link_fix().contains("run as root"));
        assert!(!root.ns_enter_fix().contains("run as root"));
        // The two setcap capabilities alone (bits 2 and 19): fds and links yes,
        // setns no.
        let setcap = Privilege::from_status("CapEff:\t0000000000080004\n", "/x".into());
        assert!(setcap.ptrace_and_read && !setcap.admin);
        assert!(!setcap.ns_link_fix().contains("run as root"));
        assert!(setcap.ns_enter_fix().contains("CAP_SYS_ADMIN"));
        let nobody = Privilege::from_status("CapEff:\t0000000000000000\n", "/bin/sockleak".into());
        assert!(
            nobody
                .fd_fix()
                .contains("setcap cap_sys_ptrace,cap_dac_read_search+ep /bin/sockleak")
        );
        assert_eq!(
            Privilege::from_status("garbage", "/bin/sockleak".into()),
            nobody
        );
    }

    #[test]
    fn peek_warnings_say_why_and_how() {
        let w = |why, yama, ptrace_cap| {
            Warning::PeekMissed {
                why,
                sockets: 2,
                pids: vec![7],
                yama,
                ptrace_cap,
                budget_ms: 250,
                spent: PeekSpent::default(),
            }
            .to_string()
        };
        let prefix =
            "--peek: 2 sockets with unread bytes of pid 7 not peeked (their counts are exact): ";
        assert_eq!(
            w(PeekMiss::NotPermitted, Some(1), false),
            format!(
                "{prefix}the kernel refused to duplicate their fds (pidfd_getfd needs ptrace access to the process: root, or CAP_SYS_PTRACE over it; Yama ptrace_scope is 1 here: without CAP_SYS_PTRACE only descendants)"
            )
        );
        assert!(w(PeekMiss::NotPermitted, Some(3), false).contains("even to root"));
        assert!(
            w(PeekMiss::NotPermitted, None, true).contains("although sockleak has CAP_SYS_PTRACE")
        );
        assert!(w(PeekMiss::Budget, None, true).contains("time budget of 250 ms"));
        assert!(w(PeekMiss::Failed(libc::EIO), None, true).contains("Input/output error"));
        // The budget names what spent it: one holder's fd table, or the peeks.
        let budget = |spent| {
            Warning::PeekMissed {
                why: PeekMiss::Budget,
                sockets: 9,
                pids: vec![7],
                yama: None,
                ptrace_cap: true,
                budget_ms: 250,
                spent,
            }
            .to_string()
        };
        let table = budget(PeekSpent {
            slowest_table: Some((7, 20_000, 240)),
            peeks_ms: 3,
        });
        assert!(
            table.contains("finding the socket fds of pid 7 took 240 ms (20000 fd links read")
                && table.contains("--peek-max does not shorten that"),
            "{table}"
        );
        let peeks = budget(PeekSpent {
            slowest_table: Some((7, 40, 1)),
            peeks_ms: 249,
        });
        assert!(
            peeks.contains("(249 ms in the peeks); lower --peek-max"),
            "{peeks}"
        );
        let a = Warning::PeekMissed {
            why: PeekMiss::Changed,
            sockets: 1,
            pids: vec![1],
            yama: None,
            ptrace_cap: true,
            budget_ms: 250,
            spent: PeekSpent::default(),
        };
        let b = Warning::PeekMissed {
            why: PeekMiss::Changed,
            sockets: 3,
            pids: vec![2],
            yama: None,
            ptrace_cap: true,
            budget_ms: 250,
            spent: PeekSpent::default(),
        };
        assert_eq!(a.without_counts(), b.without_counts());
    }

    #[test]
    fn reserved_ports_warning_says_what_was_ignored() {
        let (r, problem) = crate::model::ReservedPorts::parse("80,9000-8000,x\u{1b}y,90-95");
        assert!(r.contains(80) && r.contains(93) && !r.contains(8500));
        let w = Warning::ReservedPortsIgnored {
            netns: 7,
            problem: problem.unwrap(),
        };
        assert_eq!(
            w.to_string(),
            "ip_local_reserved_ports of network namespace 7: 2 malformed entries ignored (the first: \"9000-8000\"); ports it reserves may be counted as usable, so a destination's ports range can be larger than what connect() can use"
        );
        let (_, p) = crate::model::ReservedPorts::parse("x\u{1b}y");
        assert!(format!("{p:?}").contains("x\\\\x1by"), "{p:?}");
    }

    #[test]
    fn counts_do_not_make_a_new_warning() {
        let a = Warning::UnattributedGone {
            proto: Proto::Tcp,
            sockets: 5,
            owners: vec![],
            hidepid: false,
        };
        let b = Warning::UnattributedGone {
            proto: Proto::Tcp,
            sockets: 6,
            owners: vec![],
            hidepid: false,
        };
        let c = Warning::UnattributedGone {
            proto: Proto::Tcp,
            sockets: 6,
            owners: vec![],
            hidepid: true,
        };
        assert_ne!(a, b);
        assert_eq!(a.without_counts(), b.without_counts());
        assert_ne!(b.without_counts(), c.without_counts());
        assert_eq!(
            b.to_string(),
            "6 sockets unattributed: no process holds them any more (closed, or its process exited, during the scan; or held by the kernel)"
        );
    }
}
