//! Network namespaces: find the ones in use (`/proc/<pid>/ns/net` inode identity)
//! and read each one's TCP table exactly once.
//!
//! Another namespace's table is read with netlink from a short-lived thread that
//! has `setns`-ed into it (the main thread never changes namespace), or, without
//! the privilege for that, from `/proc/<member>/net/tcp{,6}` of one member process.
//! A namespace that can be read neither way is skipped with a warning naming it.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::model::{NetnsId, Socket};

use super::fsread::shown;
use super::lines::MalformedLog;
use super::source::{NoFallback, SourceChoice, Via, netlink_or_proc};
use super::{fdscan, netlink, proc_net};
use crate::model::warning::Warning;
use crate::model::{LocalPorts, PortRange, ReservedPorts, ReservedProblem, Source};

/// A network namespace in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: NetnsId,
    /// The lowest pid in it, through which it is entered or read.
    pub member: Option<u32>,
    /// sockleak's own namespace.
    pub is_host: bool,
}

/// Which namespaces to read (`--netns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    #[default]
    All,
    Host,
    /// A namespace inode, or a pid whose namespace is meant.
    Id(u64),
}

/// The namespaces of `pids` (plus the host's), host first, filtered by `sel`.
/// An `Id` that names neither a namespace nor a process is an error. Pids whose
/// namespace link exists but cannot be read are appended to `unreadable`.
pub fn discover(
    root: &Path,
    pids: &[u32],
    host: NetnsId,
    sel: Selection,
    unreadable: &mut Vec<u32>,
) -> Result<Vec<Namespace>, String> {
    let mut by_id: BTreeMap<NetnsId, u32> = BTreeMap::new();
    if sel != Selection::Host {
        for &pid in pids {
            // Unreadable (another user's process without privilege) or gone: such a
            // process's namespace can only be found through another member.
            let link = root.join(format!("{pid}/ns/net"));
            match std::fs::read_link(&link) {
                Ok(_) => {
                    if let Some(id) = read_ns(&link) {
                        by_id.entry(id).or_insert(pid);
                    }
                }
                // Gone mid-scan (or a fixture without ns links): nothing hidden.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => unreadable.push(pid),
            }
        }
    }
    let host_ns = Namespace {
        id: host,
        member: by_id.get(&host).copied(),
        is_host: true,
    };
    let others = by_id
        .iter()
        .filter(|(id, _)| **id != host)
        .map(|(id, pid)| Namespace {
            id: *id,
            member: Some(*pid),
            is_host: false,
        });
    match sel {
        Selection::Host => Ok(vec![host_ns]),
        Selection::All => Ok(std::iter::once(host_ns).chain(others).collect()),
        Selection::Id(n) => {
            // A pid first (the common case: "the namespace of that container's pid").
            let want = read_ns(&root.join(format!("{n}/ns/net"))).unwrap_or(n);
            if want == host {
                return Ok(vec![host_ns]);
            }
            others
                .into_iter()
                .find(|ns| ns.id == want)
                .map(|ns| vec![ns])
                .ok_or_else(|| not_found(root, n))
        }
    }
}

/// Why `--netns N` names nothing: no such process or namespace, or a process
/// whose namespace link cannot be read (another user's, without privilege).
fn not_found(root: &Path, n: u64) -> String {
    let link = root.join(format!("{n}/ns/net"));
    match std::fs::read_link(&link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            // SAFETY: geteuid has no preconditions.
            let fix = match unsafe { libc::geteuid() } {
                0 => "refused even to root (a sandbox or security module)",
                _ => "run as root",
            };
            format!(
                "--netns {n}: cannot read {} ({e}): {fix}; or give the namespace's inode (`lsns -t net`)",
                shown(&link)
            )
        }
        _ => format!(
            "--netns {n}: no process {n} and no network namespace with inode {n} (see `lsns -t net`)"
        ),
    }
}

/// What reading another namespace's table gave.
#[derive(Debug)]
pub struct OtherTable {
    pub sockets: Vec<Socket>,
    pub malformed: MalformedLog,
    /// Why netlink could not be used from inside it, when the /proc table was read
    /// instead (no idle ages for that namespace).
    pub fell_back: Option<String>,
    /// How it was read.
    pub source: Source,
    /// Its ephemeral ports, when read from inside it.
    pub ports: Option<PortsRead>,
    /// What was missing but did not stop the answer (its IPv6 table).
    pub warnings: Vec<Warning>,
    /// Idle ages the guarded tcp_info read could not get (locked sockets).
    pub info_gaps: netlink::InfoGaps,
}

/// Read another namespace's table: netlink from inside it when allowed (and
/// `source` is not `--source proc`), else its member's `/proc/<pid>/net/tcp{,6}`.
/// `Err` says why both failed, or `stopped`: a stop signal came while the
/// guarded read inside it waited, and nothing is read in its place (the sample
/// is dropped).
pub fn read_other(
    root: &Path,
    ns: &Namespace,
    source: SourceChoice,
    idle: bool,
) -> Result<OtherTable, String> {
    let Some(member) = ns.member else {
        return Err("no process of it could be read".into());
    };
    // `--source netlink` holds the host's table to netlink; another namespace's
    // falls back to its member's /proc (warned: `NetnsFellBack`), since entering
    // it takes CAP_SYS_ADMIN, which the flag does not grant.
    let source = match source {
        SourceChoice::Proc => SourceChoice::Proc,
        SourceChoice::Auto | SourceChoice::Netlink => SourceChoice::Auto,
    };
    let link = root.join(format!("{member}/ns/net"));
    let fell_back = match netlink_or_proc(source, || dump_inside(&link, ns.id, idle)) {
        Ok(Via::Netlink((d, ports))) => return Ok(from_netlink(d, ports)),
        Ok(Via::Proc(failed)) => failed.map(|e| format!("cannot enter it ({e})")),
        Err(NoFallback::Stopped(_)) => return Err("stopped".into()),
        Err(NoFallback::OutOfFds(e) | NoFallback::Refused(e)) => {
            return Err(format!("cannot enter it ({e})"));
        }
    };
    match proc_net::read_tables(&root.join(format!("{member}/net")), ns.id) {
        Ok(t) => Ok(OtherTable {
            sockets: t.sockets,
            malformed: t.malformed,
            fell_back,
            source: Source::Proc,
            ports: None,
            warnings: t
                .warnings
                .into_iter()
                .map(|why| Warning::Ipv6NotCounted { why })
                .collect(),
            info_gaps: netlink::InfoGaps::default(),
        }),
        Err(e) => {
            let proc = format!("cannot read {}/{member}/net/tcp ({e})", shown(root));
            Err(fell_back.map_or(proc.clone(), |why| format!("{why}, {proc}")))
        }
    }
}

/// What a netlink dump from inside a namespace gave, as its table.
fn from_netlink(d: netlink::Dump, ports: Option<PortsRead>) -> OtherTable {
    OtherTable {
        sockets: d.sockets,
        malformed: MalformedLog::default(),
        fell_back: None,
        source: Source::Netlink,
        ports,
        warnings: d
            .ipv6_refused
            .map(|why| Warning::Ipv6NotCounted { why })
            .into_iter()
            .collect(),
        info_gaps: d.info_gaps,
    }
}

/// Netlink dump from a thread that has joined the namespace behind `ns_link`, and
/// the namespace's ephemeral port range (its sysctls answer that thread).
fn dump_inside(
    ns_link: &Path,
    id: NetnsId,
    idle: bool,
) -> io::Result<(netlink::Dump, Option<PortsRead>)> {
    inside(ns_link, id, || {
        let dump = netlink::dump(id, idle)?;
        Ok((dump, read_local_ports(Path::new("/proc"))))
    })
}

/// Run `f` in a short-lived thread that has joined network namespace `id`
/// through `ns_link` (a member's `ns/net`): netlink sockets it opens and sysctls
/// it reads are that namespace's. The main thread never changes namespace. The
/// link is checked to still name `id` once opened: its process may have exited
/// and its pid gone to a process of another namespace.
pub fn inside<T: Send>(
    ns_link: &Path,
    id: NetnsId,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    // Non-blocking: under a --proc-root the link may be a FIFO (setns then
    // refuses the fd); a blocking open would hang.
    let file = super::fsread::open_nonblocking(ns_link)?;
    let ino = std::os::unix::fs::MetadataExt::ino(&file.metadata()?);
    if ino != id {
        return Err(io::Error::other(format!(
            "{} is namespace {ino} now, not {id} (its process exited)",
            super::shown(ns_link)
        )));
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on a valid namespace fd; it changes only this thread,
            // which ends when `f` returns.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// A namespace's ephemeral ports as read, and what was wrong with its reserved
/// ports (then counted as usable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortsRead {
    pub ports: LocalPorts,
    pub problem: Option<ReservedProblem>,
}

/// `<root>/sys/net/ipv4/ip_local_port_range` less `ip_local_reserved_ports`, of
/// the namespace the calling thread is in when `root` is the real /proc. `None`
/// when the range cannot be read (Linux's default is assumed).
pub fn read_local_ports(root: &Path) -> Option<PortsRead> {
    let range = read_port_range(root)?;
    let (reserved, problem) = read_reserved(root);
    Some(PortsRead {
        ports: LocalPorts { range, reserved },
        problem,
    })
}

/// Inode of a namespace link such as `/proc/self/ns/net`.
pub fn read_ns(link: &Path) -> Option<NetnsId> {
    fdscan::ns_inode(std::fs::read_link(link).ok()?.as_os_str())
}

/// `<root>/sys/net/ipv4/ip_local_port_range`.
pub fn read_port_range(root: &Path) -> Option<PortRange> {
    let path = root.join("sys/net/ipv4/ip_local_port_range");
    let raw = super::fsread::read_bounded(&path, 64, super::fsread::Oversize::Refuse).ok()?;
    PortRange::parse(&String::from_utf8_lossy(&raw))
}

/// Every odd port listed one by one: `1,3,5,...,65535` is about 190 KiB.
const RESERVED_MAX_BYTES: u64 = 256 << 10;

/// `<root>/sys/net/ipv4/ip_local_reserved_ports`. Absent (a fixture tree, a
/// kernel without it) is no reservation, not a problem.
fn read_reserved(root: &Path) -> (ReservedPorts, Option<ReservedProblem>) {
    use super::fsread::{Oversize, ReadError, read_bounded};
    let path = root.join("sys/net/ipv4/ip_local_reserved_ports");
    match read_bounded(&path, RESERVED_MAX_BYTES, Oversize::Refuse) {
        Ok(raw) => ReservedPorts::parse(&String::from_utf8_lossy(&raw)),
        Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            (ReservedPorts::default(), None)
        }
        Err(e) => (
            ReservedPorts::default(),
            Some(ReservedProblem::Unreadable(format!(
                "{}: {e}",
                shown(&path)
            ))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_has_one_namespace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc-basic");
        let all = discover(
            &root,
            &[100, 200, 201, 300, 400],
            4026531840,
            Selection::All,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(all.len(), 1);
        assert!(all[0].is_host);
        assert_eq!(all[0].member, Some(100));
        assert_eq!(
            discover(
                &root,
                &[100],
                4026531840,
                Selection::Id(100),
                &mut Vec::new()
            )
            .unwrap()[0]
                .id,
            4026531840
        );
        let e = discover(
            &root,
            &[100],
            4026531840,
            Selection::Id(12345),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.contains("--netns 12345"), "{e}");
    }
}
