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
//!   read may hold it (its uid runs a readable process, and the last full scan
//!   did not find it ownerless): a process that closed one fd and opened this
//!   socket keeps its fd count. The processes of the socket's uid (its creator's)
//!   are read again first, and every remembered table if that did not find it (a
//!   daemon that dropped privileges holds sockets of root's uid).
//!
//! A full scan is also taken on the first sample and then at least every
//! [`FULL_EVERY`], which bounds what no rule above sees (an fd passed between two
//! processes that each also closed one). Without the fd count (kernels before 6.2,
//! a `--proc-root` tree that is not procfs) every sample is a full scan.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::hash::BuildHasher;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::fdscan::{self, FdScan, FdTable, InodeSet};
use crate::model::Socket;
use crate::model::scan::ScanKind;

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
    /// Processes read again because a socket of their uid had no known owner.
    pub suspects: usize,
}

impl ScanStats {
    /// The kind of sample this was, for its report's `scan`.
    pub fn kind(&self) -> ScanKind {
        if self.full.is_some() {
            ScanKind::Full
        } else if self.suspects > 0 {
            ScanKind::UidReread
        } else {
            ScanKind::Incremental
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
            suspects: 0,
        }
    }
}

/// A process's fd table as last read.
#[derive(Debug)]
struct Remembered {
    /// Start time (clock ticks after boot): a reused pid is another process.
    start: u64,
    table: FdTable,
}

/// The fd tables of the last sample, to sample incrementally.
#[derive(Debug, Default)]
pub struct FdCache {
    tables: HashMap<u32, Remembered>,
    /// Table inodes that no readable process held at the last full scan: still
    /// ownerless, they send no sample to a full scan.
    ownerless: InodeSet,
    last_full: Option<Instant>,
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
        sockets: &[Socket],
        wanted: &HashSet<u64, S>,
        threads: usize,
    ) -> (FdScan, ScanStats) {
        let full = match self.last_full {
            None => Some(FullReason::First),
            Some(t) if t.elapsed() >= FULL_EVERY => Some(FullReason::Periodic),
            Some(_) => None,
        };
        let mut stats = ScanStats {
            full,
            ..ScanStats::default()
        };
        let (mut reuse, mut read, uid_of) = self.triage(root, pids, full.is_some());
        self.tables.retain(|pid, _| pids.binary_search(pid).is_ok());
        let mut fresh = self.read(root, &read, wanted, threads);
        let mut result = self.combine(root, &fresh, &reuse, wanted);
        // Shared sockets first (a cheap readlink each), then the ownerless ones.
        let stale = self.stale(root, &reuse, &result, &mut stats);
        if !stale.is_empty() {
            stats.stale = stale.len();
            fresh.absorb(self.read(root, &stale, wanted, threads));
            reuse.retain(|p| stale.binary_search(p).is_err());
            read.extend(stale);
            result = self.combine(root, &fresh, &reuse, wanted);
        }
        let unexplained = self.unexplained(sockets, wanted, &result, &uid_of);
        if !unexplained.is_empty() && !reuse.is_empty() {
            // A socket's uid is its creator's: that uid's processes first.
            let suspects: Vec<u32> = reuse
                .iter()
                .copied()
                .filter(|p| uid_of.get(p).is_some_and(|u| unexplained.contains(u)))
                .collect();
            stats.suspects = suspects.len();
            fresh.absorb(self.read(root, &suspects, wanted, threads));
            reuse.retain(|p| suspects.binary_search(p).is_err());
            read.extend(suspects);
            result = self.combine(root, &fresh, &reuse, wanted);
        }
        let left = match unexplained.is_empty() {
            true => unexplained,
            false => self.unexplained(sockets, wanted, &result, &uid_of),
        };
        if !left.is_empty() && !reuse.is_empty() {
            // Held by another uid (a daemon that dropped privileges, a passed fd).
            stats.full = Some(FullReason::Unexplained);
            fresh.absorb(self.read(root, &reuse, wanted, threads));
            read.append(&mut reuse);
            result = self.combine(root, &fresh, &reuse, wanted);
        }
        if reuse.is_empty() {
            // Every readable table was read: what is ownerless now is known to be.
            self.ownerless = ownerless(sockets, &result);
            self.last_full = Some(Instant::now());
        } else {
            self.ownerless.retain(|i| wanted.contains(i));
        }
        stats.read = read.len();
        stats.reused = reuse.len();
        (result, stats)
    }

    /// Which pids can be answered from memory and which must be read; and the
    /// uid of each process whose fd directory could be looked at.
    fn triage(
        &self,
        root: &Path,
        pids: &[u32],
        full: bool,
    ) -> (Vec<u32>, Vec<u32>, HashMap<u32, u32>) {
        let (mut reuse, mut read) = (Vec::new(), Vec::new());
        let mut uids = HashMap::new();
        for &pid in pids {
            let Some(p) = probe(root, pid) else {
                // Gone or unreadable: the read says which, as in a full scan.
                read.push(pid);
                continue;
            };
            uids.insert(pid, p.uid);
            let same = !full
                && self.tables.get(&pid).is_some_and(|r| {
                    r.table.open == p.open && start_time(root, pid) == Some(r.start)
                });
            if same {
                reuse.push(pid)
            } else {
                read.push(pid)
            }
        }
        (reuse, read, uids)
    }

    /// Read the fd tables of `pids` and remember them.
    fn read<S: BuildHasher + Sync>(
        &mut self,
        root: &Path,
        pids: &[u32],
        wanted: &HashSet<u64, S>,
        threads: usize,
    ) -> FdScan {
        // The start time before the table: a pid reused in between is caught
        // by the next sample's comparison, never hidden by it.
        let starts: Vec<(u32, Option<u64>)> =
            pids.iter().map(|&p| (p, start_time(root, p))).collect();
        let (part, tables) = fdscan::scan_parts(root, pids, wanted, threads, true);
        for &(pid, _) in &starts {
            self.tables.remove(&pid);
        }
        let starts: HashMap<u32, Option<u64>> = starts.into_iter().collect();
        for (pid, table) in tables {
            if let Some(Some(start)) = starts.get(&pid) {
                self.tables.insert(
                    pid,
                    Remembered {
                        start: *start,
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

    /// The uids of the sockets of the table with no owner in `result` that a
    /// readable process may hold: not ownerless at the last full scan, and of a
    /// uid that runs a process whose fd directory could be looked at.
    fn unexplained<S: BuildHasher>(
        &self,
        sockets: &[Socket],
        wanted: &HashSet<u64, S>,
        result: &FdScan,
        uid_of: &HashMap<u32, u32>,
    ) -> HashSet<u32> {
        // Cheap first (sequential over the sorted pairs): when every inode of the
        // table is owned or known to be ownerless, no socket needs a lookup.
        let mut owned = result.pairs().len();
        owned -= result
            .pairs()
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .count();
        let ownerless = self.ownerless.iter().filter(|i| wanted.contains(i)).count();
        if owned + ownerless >= wanted.len() {
            return HashSet::new();
        }
        let readable: HashSet<u32> = uid_of.values().copied().collect();
        sockets
            .iter()
            .filter(|s| s.inode != 0 && !self.ownerless.contains(&s.inode))
            .filter(|s| readable.contains(&s.uid) && result.held(s.inode).is_empty())
            .map(|s| s.uid)
            .collect()
    }
}

/// Inodes of `sockets` that no process in `result` holds.
fn ownerless(sockets: &[Socket], result: &FdScan) -> InodeSet {
    sockets
        .iter()
        .filter(|s| s.inode != 0 && result.held(s.inode).is_empty())
        .map(|s| s.inode)
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
    super::stat_field(root, pid, 22)
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
