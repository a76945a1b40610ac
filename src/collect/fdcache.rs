//! Incremental fd scans for `--watch` and `serve`: a sample re-reads only the fd
//! tables that can have changed since the last one, and the counts stay what a full
//! scan would give.
//!
//! The fd scan is most of a snapshot's cost (one `readlink` per open fd on the
//! host), and between two samples most processes open and close nothing. Since
//! Linux 6.2 `stat` of `/proc/<pid>/fd` gives the process's open fd count for the
//! price of one syscall, so a process is read again when:
//! - it is new, or its pid was reused (the start time in `/proc/<pid>/stat`
//!   differs), or its fd count changed;
//! - it shares a socket of the table with another process, and one `readlink`
//!   of the remembered fd says it no longer holds it (fds passed or closed while
//!   others were opened: the count alone would not show that);
//! - a socket of the table has no known owner although a process sockleak can
//!   read may hold it: a process that closed one fd and opened this socket keeps
//!   its fd count (a server that hangs up one connection and accepts the next, a
//!   pool that replaces one). Sockets no process can hold never count: those with
//!   inode 0 (orphans, TIME_WAIT and request minisocks, children still in a
//!   listener's accept queue: the kernel reports `sock_i_ino`, 0 until `accept`
//!   grafts the sock to a `struct socket`), TIME_WAIT in any case, and those
//!   remembered ownerless (by inode and cookie) since the last full read. The
//!   others are looked for, cheapest first:
//!   1. the kernel is asked again about each one ([`super::recheck`]; in another
//!      network namespace from a thread that has entered it): a socket closed
//!      since the table was read (most of them on a web host) is held by no one,
//!      and a full scan would not find it either;
//!   2. the processes of the socket's endpoints: those holding a listener on its
//!      local port (an accepted connection) or another socket to its remote
//!      address (a pool's sibling connection); those still not found are asked
//!      about once more (closed while their holder's table was being read);
//!   3. the processes of the socket's uid (its creator's): a `uid-reread` sample;
//!   4. every remembered table (a daemon that dropped privileges holds sockets of
//!      root's uid): a full scan.
//!
//! A full scan is also taken on the first sample and then at least every
//! [`FULL_EVERY`], which bounds what no rule above sees (an fd passed between two
//! processes that each also closed one). Without the fd count (kernels before 6.2,
//! a `--proc-root` tree that is not procfs) every sample is a full scan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::fdscan::{self, FdScan, FdTable, InodeSet};
use super::netns::Namespace;
use super::recheck::{self, Now};
use crate::model::scan::{ScanKind, Trigger};
use crate::model::{NetnsId, Socket, TcpState};

/// The longest an incremental sampler goes without reading every fd table.
pub const FULL_EVERY: Duration = Duration::from_secs(60);

/// Why a sample read every fd table (the model's type: JSON names it).
pub use crate::model::scan::FullReason;

/// How one sample's fd scan was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// Why every table was read, if it was.
    pub full: Option<FullReason>,
    /// Processes whose fd table was read.
    pub read: usize,
    /// Processes whose remembered table was used.
    pub reused: usize,
    /// Remembered fds checked with one `readlink` (shared sockets).
    pub checked: usize,
    /// Processes read again because such a check failed.
    pub stale: usize,
    /// Processes read again because they hold a listener or a peer socket of a
    /// socket without a known owner (a step of an incremental sample).
    pub affine: usize,
    /// Sockets without a known owner asked about again ([`recheck`]), and of
    /// them those found closed since the table was read.
    pub rechecked: usize,
    pub closed: usize,
    /// Processes read again because a socket of their uid had no known owner.
    pub suspects: usize,
    /// The socket that sent the sample to its uid's processes, or to a full scan.
    pub trigger: Option<Trigger>,
}

impl ScanStats {
    /// The kind of sample this was, for its report's `scan`.
    pub fn kind(&self) -> ScanKind {
        if self.full.is_some() {
            ScanKind::Full
        } else if self.trigger.is_some() {
            ScanKind::UidReread
        } else {
            ScanKind::Incremental
        }
    }

    /// Why the sample was not incremental (`scan.full_reason`).
    pub fn reason(&self) -> Option<FullReason> {
        match self.kind() {
            ScanKind::Full => self.full,
            ScanKind::UidReread => Some(FullReason::OwnerUnknown),
            ScanKind::Incremental => None,
        }
    }
}

impl Default for ScanStats {
    fn default() -> Self {
        ScanStats {
            full: Some(FullReason::NotIncremental),
            read: 0,
            reused: 0,
            checked: 0,
            stale: 0,
            affine: 0,
            rechecked: 0,
            closed: 0,
            suspects: 0,
            trigger: None,
        }
    }
}

/// A process's fd table as last read.
#[derive(Debug)]
struct Remembered {
    /// Start time (clock ticks after boot): a reused pid is another process.
    start: u64,
    /// The fd count `stat` gave before the table was read. Compared with the next
    /// `stat`, not with the entries read: `stat` counts an fd number reserved by a
    /// call still blocked (a server waiting in `accept` holds one), which no
    /// directory entry shows, so the two differ for as long as it waits.
    probed: u32,
    table: FdTable,
}

/// The fd tables of the last sample, to sample incrementally.
#[derive(Debug, Default)]
pub struct FdCache {
    tables: HashMap<u32, Remembered>,
    /// Table sockets (inode -> cookie) that no readable process held when every
    /// table was last read: still ownerless, they send no sample to a re-read.
    ownerless: HashMap<u64, u64>,
    last_full: Option<Instant>,
    /// A member process of each other network namespace of this sample, through
    /// which [`recheck`] asks there.
    members: HashMap<NetnsId, u32>,
}

/// One sample's fd scan as it is built: the tables read so far and the
/// remembered ones still trusted.
struct Pass {
    reuse: Vec<u32>,
    read: Vec<u32>,
    fresh: FdScan,
    result: FdScan,
    /// What `stat` said of each process's fd directory at the start of the sample.
    probes: HashMap<u32, Probe>,
}

/// What `stat` of a process's fd directory says.
#[derive(Debug, Clone, Copy)]
struct Probe {
    open: u32,
    uid: u32,
}

impl FdCache {
    /// An incremental sampler, if the fd count can be had under `root` (procfs on
    /// Linux 6.2 or later).
    pub fn for_root(root: &Path) -> Option<FdCache> {
        (is_procfs(root) && probe(root, std::process::id()).is_some_and(|p| p.open > 0))
            .then(FdCache::default)
    }

    /// The fd scan of one sample (see the module docs): the same result as
    /// [`fdscan::scan`] of `pids`, with how it was taken.
    pub fn scan<S: BuildHasher + Sync>(
        &mut self,
        root: &Path,
        pids: &[u32],
        (sockets, spaces): (&[Socket], &[Namespace]),
        wanted: &HashSet<u64, S>,
        threads: usize,
    ) -> (FdScan, ScanStats) {
        self.members = (spaces.iter())
            .filter_map(|n| Some((n.id, n.member?)))
            .collect();
        let full = match self.last_full {
            None => Some(FullReason::First),
            Some(t) if t.elapsed() >= FULL_EVERY => Some(FullReason::Periodic),
            Some(_) => None,
        };
        let mut stats = ScanStats {
            full,
            ..ScanStats::default()
        };
        let (reuse, read, probes) = self.triage(root, pids, full.is_some());
        self.tables.retain(|pid, _| pids.binary_search(pid).is_ok());
        let fresh = self.read(root, &read, &probes, wanted, threads);
        let result = self.combine(root, &fresh, &reuse, wanted);
        let mut pass = Pass {
            reuse,
            read,
            fresh,
            result,
            probes,
        };
        // Shared sockets first (a cheap readlink each), then the ownerless ones.
        let stale = self.stale(root, &pass.reuse, &pass.result, &mut stats);
        stats.stale = stale.len();
        self.reread(root, &mut pass, &stale, wanted, threads);
        self.explain(root, &mut pass, sockets, wanted, threads, &mut stats);
        if pass.reuse.is_empty() {
            // Every readable table was read: what is ownerless now is known to be.
            self.ownerless = ownerless(sockets, &pass.result);
            self.last_full = Some(Instant::now());
        } else {
            self.ownerless.retain(|i, _| wanted.contains(i));
        }
        stats.read = pass.read.len();
        stats.reused = pass.reuse.len();
        (pass.result, stats)
    }

    /// Read the remembered tables of `pids` (a sorted part of `pass.reuse`) again.
    fn reread<S: BuildHasher + Sync>(
        &mut self,
        root: &Path,
        pass: &mut Pass,
        pids: &[u32],
        wanted: &HashSet<u64, S>,
        threads: usize,
    ) {
        if pids.is_empty() {
            return;
        }
        pass.fresh
            .absorb(self.read(root, pids, &pass.probes, wanted, threads));
        pass.reuse.retain(|p| pids.binary_search(p).is_err());
        pass.read.extend_from_slice(pids);
        pass.result = self.combine(root, &pass.fresh, &pass.reuse, wanted);
    }

    /// Find the owners of the table's sockets that have none in `pass` although
    /// a readable process may hold them, cheapest first (the module docs' steps).
    fn explain<S: BuildHasher + Sync>(
        &mut self,
        root: &Path,
        pass: &mut Pass,
        sockets: &[Socket],
        wanted: &HashSet<u64, S>,
        threads: usize,
        stats: &mut ScanStats,
    ) {
        let mut open = self.unexplained(sockets, wanted, &pass.result, &pass.probes);
        if open.is_empty() || pass.reuse.is_empty() {
            return;
        }
        let still = |open: &mut Vec<usize>, result: &FdScan| {
            open.retain(|&i| result.held(sockets[i].inode).is_empty())
        };
        // A lookup costs microseconds, a table read a readlink per fd: the
        // sockets closed since the table was read need no search at all.
        self.drop_closed(root, sockets, &mut open, stats);
        if open.is_empty() {
            return;
        }
        let affine = affine(sockets, &open, &pass.result, &pass.reuse);
        stats.affine = affine.len();
        self.reread(root, pass, &affine, wanted, threads);
        still(&mut open, &pass.result);
        // Asked again before going further: open when first asked, closed before
        // its holder's table was read (a churning pool) is no reason to read a uid.
        if !affine.is_empty() && !open.is_empty() {
            self.drop_closed(root, sockets, &mut open, stats);
        }
        let Some(&first) = open.first() else {
            return;
        };
        // A socket's uid is its creator's: that uid's processes next.
        stats.trigger = Some(Trigger::new(&sockets[first], open.len()));
        let uids: HashSet<u32> = open.iter().map(|&i| sockets[i].uid).collect();
        let suspects: Vec<u32> = (pass.reuse.iter().copied())
            .filter(|p| pass.probes.get(p).is_some_and(|x| uids.contains(&x.uid)))
            .collect();
        stats.suspects = suspects.len();
        self.reread(root, pass, &suspects, wanted, threads);
        still(&mut open, &pass.result);
        if let (Some(&first), false) = (open.first(), pass.reuse.is_empty()) {
            // Held by another uid (a daemon that dropped privileges, a passed fd).
            stats.full = Some(FullReason::Unexplained);
            stats.trigger = Some(Trigger::new(&sockets[first], open.len()));
            let rest = pass.reuse.clone();
            self.reread(root, pass, &rest, wanted, threads);
        }
    }

    /// Take out of `open` the sockets the kernel says were closed since the table
    /// was read ([`recheck`]): asked in sockleak's own namespace directly, in
    /// another from a thread that has entered it through a member
    /// ([`netns::inside`](super::netns::inside); root only: without the privilege
    /// they stay unexplained, as without an answer).
    fn drop_closed(
        &self,
        root: &Path,
        sockets: &[Socket],
        open: &mut Vec<usize>,
        stats: &mut ScanStats,
    ) {
        let here = super::netns::read_ns(&root.join("self/ns/net"));
        let mut by_ns: BTreeMap<NetnsId, Vec<usize>> = BTreeMap::new();
        let askable = (open.iter().copied()).filter(|&i| recheck::askable(&sockets[i]));
        for i in askable.take(recheck::MAX_LOOKUPS) {
            by_ns.entry(sockets[i].netns).or_default().push(i);
        }
        let mut closed: HashSet<usize> = HashSet::new();
        for (ns, asked) in by_ns {
            let refs: Vec<&Socket> = asked.iter().map(|&i| &sockets[i]).collect();
            let now = match (Some(ns) == here, self.members.get(&ns)) {
                (true, _) => recheck::ask(&refs),
                (false, Some(member)) => {
                    let link = root.join(format!("{member}/ns/net"));
                    super::netns::inside(&link, ns, || recheck::ask(&refs))
                }
                (false, None) => continue,
            };
            // No answer: they stay unexplained, and are looked for as before.
            let Ok(now) = now else { continue };
            stats.rechecked += asked.len();
            let gone = asked.iter().zip(&now).filter(|(_, n)| **n == Now::Closed);
            closed.extend(gone.map(|(i, _)| *i));
        }
        stats.closed += closed.len();
        open.retain(|i| !closed.contains(i));
    }

    /// Which pids can be answered from memory and which must be read; and the
    /// uid of each process whose fd directory could be looked at.
    fn triage(
        &self,
        root: &Path,
        pids: &[u32],
        full: bool,
    ) -> (Vec<u32>, Vec<u32>, HashMap<u32, Probe>) {
        let (mut reuse, mut read) = (Vec::new(), Vec::new());
        let mut probes = HashMap::new();
        for &pid in pids {
            let Some(p) = probe(root, pid) else {
                // Gone or unreadable: the read says which, as in a full scan.
                read.push(pid);
                continue;
            };
            probes.insert(pid, p);
            let same = !full
                && self
                    .tables
                    .get(&pid)
                    .is_some_and(|r| r.probed == p.open && start_time(root, pid) == Some(r.start));
            if same {
                reuse.push(pid)
            } else {
                read.push(pid)
            }
        }
        (reuse, read, probes)
    }

    /// Read the fd tables of `pids` and remember them.
    fn read<S: BuildHasher + Sync>(
        &mut self,
        root: &Path,
        pids: &[u32],
        probes: &HashMap<u32, Probe>,
        wanted: &HashSet<u64, S>,
        threads: usize,
    ) -> FdScan {
        // The start time and the fd count (the probe of triage) before the table:
        // a pid reused or a table changed in between is caught by the next
        // sample's comparison, never hidden by it.
        let starts: Vec<(u32, Option<u64>)> =
            pids.iter().map(|&p| (p, start_time(root, p))).collect();
        let (part, tables) = fdscan::scan_parts(root, pids, wanted, threads, true);
        for &(pid, _) in &starts {
            self.tables.remove(&pid);
        }
        let starts: HashMap<u32, Option<u64>> = starts.into_iter().collect();
        for (pid, table) in tables {
            // Without a probe the process is read again next time.
            if let (Some(Some(start)), Some(p)) = (starts.get(&pid), probes.get(&pid)) {
                self.tables.insert(
                    pid,
                    Remembered {
                        start: *start,
                        probed: p.open,
                        table,
                    },
                );
            }
        }
        part
    }

    /// The scan of this sample: the tables read now and the remembered ones.
    fn combine<S: BuildHasher>(
        &mut self,
        root: &Path,
        fresh: &FdScan,
        reuse: &[u32],
        wanted: &HashSet<u64, S>,
    ) -> FdScan {
        let mut all = fresh.clone();
        let root = root.as_os_str().as_bytes();
        let mut path = Vec::with_capacity(root.len() + 24);
        for &pid in reuse {
            if let Some(r) = self.tables.get_mut(&pid) {
                fdscan::fd_dir_path(&mut path, root, pid);
                all.add_table(pid, &mut r.table, wanted, &path);
                all.add_read(pid, r.table.open);
            }
        }
        fdscan::finish(all)
    }

    /// Remembered processes that no longer hold a socket of the table they share
    /// with another process: one `readlink` of the remembered fd each.
    fn stale(
        &self,
        root: &Path,
        reuse: &[u32],
        result: &FdScan,
        stats: &mut ScanStats,
    ) -> Vec<u32> {
        // Sorted pairs: a shared socket is a run of one inode with several pids.
        let shared: InodeSet = result
            .pairs()
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[0].0)
            .collect();
        if shared.is_empty() {
            return Vec::new();
        }
        let root = CString::new(root.as_os_str().as_bytes()).unwrap_or_default();
        let mut path = Vec::new();
        let mut stale = Vec::new();
        for &pid in reuse {
            let Some(r) = self.tables.get(&pid) else {
                continue;
            };
            fdscan::fd_dir_path(&mut path, root.to_bytes(), pid);
            let gone = r
                .table
                .sockets
                .iter()
                .filter(|s| shared.contains(&s.inode))
                .any(|s| {
                    stats.checked += 1;
                    !fdscan::still_holds(&path, s.fd, s.inode)
                });
            if gone {
                stale.push(pid);
            }
        }
        stale
    }

    /// The sockets of the table (their indices) with no owner in `result` that a
    /// readable process may hold: with an inode, not in TIME_WAIT, not ownerless
    /// when every table was last read, and of a uid that runs a process whose fd
    /// directory could be looked at.
    fn unexplained<S: BuildHasher>(
        &self,
        sockets: &[Socket],
        wanted: &HashSet<u64, S>,
        result: &FdScan,
        probes: &HashMap<u32, Probe>,
    ) -> Vec<usize> {
        // Cheap first (sequential over the sorted pairs): when every inode of the
        // table is owned or known to be ownerless, no socket needs a lookup.
        let mut owned = result.pairs().len();
        owned -= result
            .pairs()
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .count();
        let ownerless = self.ownerless.keys().filter(|i| wanted.contains(i)).count();
        if owned + ownerless >= wanted.len() {
            return Vec::new();
        }
        let readable: HashSet<u32> = probes.values().map(|p| p.uid).collect();
        (0..sockets.len())
            .filter(|&i| {
                let s = &sockets[i];
                s.inode != 0
                    && s.state != TcpState::TimeWait
                    && self.ownerless.get(&s.inode) != Some(&s.cookie)
                    && readable.contains(&s.uid)
                    && result.held(s.inode).is_empty()
            })
            .collect()
    }
}

/// The remembered processes (of `reuse`) at the endpoints of the sockets `open`:
/// those holding a listener on one's local port (it was accepted there) or
/// another socket to one's remote address (a pool's sibling connection).
fn affine(sockets: &[Socket], open: &[usize], result: &FdScan, reuse: &[u32]) -> Vec<u32> {
    let ports: HashSet<(NetnsId, u16)> = (open.iter())
        .map(|&i| (sockets[i].netns, sockets[i].local.port()))
        .collect();
    let peers: HashSet<(NetnsId, SocketAddr)> = (open.iter())
        .filter(|&&i| sockets[i].state != TcpState::Listen)
        .map(|&i| (sockets[i].netns, sockets[i].remote))
        .collect();
    let mut pids = HashSet::new();
    for s in sockets.iter().filter(|s| s.inode != 0) {
        let near = match s.state {
            TcpState::Listen => ports.contains(&(s.netns, s.local.port())),
            _ => peers.contains(&(s.netns, s.remote)),
        };
        if near {
            pids.extend(result.held(s.inode).iter().map(|&(_, pid)| pid));
        }
    }
    reuse.iter().copied().filter(|p| pids.contains(p)).collect()
}

/// The sockets of `sockets` (inode -> cookie) that no process in `result` holds.
fn ownerless(sockets: &[Socket], result: &FdScan) -> HashMap<u64, u64> {
    sockets
        .iter()
        .filter(|s| s.inode != 0 && result.held(s.inode).is_empty())
        .map(|s| (s.inode, s.cookie))
        .collect()
}

/// `stat` of `<root>/<pid>/fd`: its size is the open fd count (Linux 6.2+), its
/// owner the process's uid. `None` if it cannot be looked at.
fn probe(root: &Path, pid: u32) -> Option<Probe> {
    let mut path = Vec::new();
    fdscan::fd_dir_path(&mut path, root.as_os_str().as_bytes(), pid);
    // SAFETY: path is NUL-terminated; st is written by stat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path.as_ptr().cast(), &mut st) } != 0 {
        return None;
    }
    Some(Probe {
        open: u32::try_from(st.st_size).unwrap_or(u32::MAX),
        uid: st.st_uid,
    })
}

/// When the process started (field 22 of `/proc/<pid>/stat`), in clock ticks.
fn start_time(root: &Path, pid: u32) -> Option<u64> {
    super::process::stat_field(root, pid, 22)
}

/// Whether `root` is a procfs mount (not a fixture tree).
fn is_procfs(root: &Path) -> bool {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let Ok(path) = CString::new(root.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: path is NUL-terminated; fs is written by statfs on success.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(path.as_ptr(), &mut fs) == 0 && fs.f_type as i64 == PROC_SUPER_MAGIC }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_and_fd_count() {
        let root = Path::new("/proc");
        let me = std::process::id();
        assert!(start_time(root, me).is_some_and(|t| t > 0));
        let p = probe(root, me).expect("stat /proc/self/fd");
        // Linux 6.2+ (CI and the dev VMs): the size is the open fd count.
        assert!(p.open >= 3, "fd count {}", p.open);
        assert!(is_procfs(root));
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc-basic");
        assert!(
            FdCache::for_root(&fixture).is_none(),
            "a fixture tree is no procfs"
        );
    }
}
