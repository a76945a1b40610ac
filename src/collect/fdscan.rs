//! The inode → process join: one pass over `/proc/<pid>/fd` of every process.
//!
//! This is the expensive half of a snapshot (one `readlink` per open fd on the
//! host), so it works relative to directory fds with `readlinkat`, allocates nothing
//! per fd, only records inodes the socket table holds, and splits the pids across
//! threads. Every failure is classified rather than ignored: a process whose fd
//! directory is unreadable is reported (its sockets become "unattributed"), one
//! that sockleak could not open for want of file descriptors of its own is
//! reported apart, a process that exits mid-scan is skipped silently.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::model::{FastMap, FastSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The set of socket inodes the fd scan looks for, with a fast hasher: it is
/// probed once per socket fd on the host.
pub type InodeSet = FastSet<u64>;

/// Who holds which socket inodes.
#[derive(Debug, Default, Clone)]
pub struct FdScan {
    /// `(inode, pid)`, sorted, without duplicates (a process holding one socket on
    /// several fds counts once).
    pairs: Vec<(u64, u32)>,
    /// inode → index of its first pair. Every socket of the table is looked up
    /// here (twice per snapshot); a binary search over 100k pairs is a chain of
    /// ~17 dependent cache misses, a hash probe about one.
    first: FastMap<u64, u32>,
    /// Processes whose fd table could not be read (EACCES/EPERM), with the reason.
    pub unreadable: Vec<(u32, io::ErrorKind)>,
    /// Processes whose fd table sockleak could not open because it ran out of file
    /// descriptors itself (EMFILE/ENFILE): no fault of theirs or of any security
    /// module, and kept apart from `unreadable` so that no warning says otherwise.
    pub exhausted: Vec<u32>,
    /// Processes that exited between listing /proc and reading their fds.
    pub vanished: usize,
    /// Processes whose fds were read.
    pub scanned: usize,
    /// Fd directories opened and read in this scan (whole or in part), and the
    /// fds looked at in them (one `readlink` each): what the scan cost. Tables
    /// answered from memory by an incremental sampler are not counted.
    pub tables_read: u64,
    pub fds_read: u64,
    /// `(pid, open fds)` of every process whose fd table was read, by pid.
    pub open_fds: Vec<(u32, u32)>,
    /// `(inode, pid)` of TCP socket fds whose inode is in no table read: the
    /// kernel's TCP_CLOSE (reset, or never connected) while the fd is still held.
    /// Sorted, without duplicates. The scan finds candidates; the collector keeps
    /// only those still in no table afterwards ([`FdScan::retain_closed`]).
    pub closed: Vec<(u64, u32)>,
    /// `(pid, sockets)` whose protocol was not asked: more unmatched socket fds
    /// than [`MAX_PROTOCOL_QUESTIONS`] in one process.
    pub unexamined: Vec<(u32, u64)>,
}

/// [`FdScan::starts`] of a socket no process holds.
pub const NO_PAIRS: u32 = u32::MAX;

/// At most this many socket fds per process that match no table are asked for
/// their protocol (one `getxattr` each): a process holding a million unix sockets
/// must not stall the snapshot.
pub const MAX_PROTOCOL_QUESTIONS: u64 = 1 << 16;

impl FdScan {
    /// A scan result from known `(inode, pid)` pairs: for reports built in memory
    /// (renderer tests, fakes) without reading any /proc.
    pub fn from_pairs(mut pairs: Vec<(u64, u32)>) -> FdScan {
        pairs.sort_unstable();
        pairs.dedup();
        let scanned = pairs.iter().map(|(_, p)| *p).collect::<HashSet<_>>().len();
        FdScan {
            pairs,
            scanned,
            ..FdScan::default()
        }
    }

    /// Every pid holding `inode`, ascending.
    pub fn owners(&self, inode: u64) -> impl Iterator<Item = u32> + '_ {
        self.held(inode).iter().map(|(_, p)| *p)
    }

    /// The `(inode, pid)` pairs of `inode`: one binary search, for callers that
    /// need both "is it held" and "by whom".
    pub fn held(&self, inode: u64) -> &[(u64, u32)] {
        // Without an index (an FdScan not built by `scan`), binary search.
        let start = if !self.first.is_empty() {
            match self.first.get(&inode) {
                Some(&i) => i as usize,
                None => return &[],
            }
        } else {
            self.pairs.partition_point(|(i, _)| *i < inode)
        };
        self.run_from(start, inode)
    }

    /// The run of `inode`'s pairs from `start`: usually one owner, so a short
    /// forward scan rather than another search.
    fn run_from(&self, start: usize, inode: u64) -> &[(u64, u32)] {
        let len = self.pairs[start..]
            .iter()
            .take_while(|(i, _)| *i == inode)
            .count();
        &self.pairs[start..start + len]
    }

    /// Where the pairs of each of `inodes` start ([`NO_PAIRS`]: held by no process),
    /// in their order: one sort and one merge with the sorted pairs. Every consumer
    /// walks the socket table in its own order, and a hash probe per socket into
    /// 100k pairs misses the cache each time (13% of a `--watch` sample at 100k).
    pub fn starts(&self, inodes: impl Iterator<Item = u64>) -> Vec<u32> {
        let mut order: Vec<(u64, u32)> = inodes.zip(0u32..).collect();
        let mut starts = vec![NO_PAIRS; order.len()];
        order.sort_unstable();
        let mut p = 0;
        for (inode, i) in order {
            while p < self.pairs.len() && self.pairs[p].0 < inode {
                p += 1;
            }
            if inode != 0 && self.pairs.get(p).is_some_and(|(x, _)| *x == inode) {
                starts[i as usize] = p as u32;
            }
        }
        starts
    }

    /// The pairs of `inode` from its start as [`FdScan::starts`] found it.
    pub fn held_from(&self, start: u32, inode: u64) -> &[(u64, u32)] {
        if start == NO_PAIRS {
            return &[];
        }
        self.run_from(start as usize, inode)
    }

    /// Distinct pids that hold at least one wanted socket, ascending.
    pub fn owner_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.pairs.iter().map(|(_, p)| *p).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    pub fn pairs(&self) -> &[(u64, u32)] {
        &self.pairs
    }

    /// The open fd count of `pid`, if its fd table was read.
    pub fn open_fds(&self, pid: u32) -> Option<u64> {
        self.open_fds
            .binary_search_by_key(&pid, |(p, _)| *p)
            .ok()
            .map(|i| u64::from(self.open_fds[i].1))
    }

    /// Keep only the reset-but-held candidates `keep` accepts.
    pub fn retain_closed(&mut self, keep: impl FnMut(&(u64, u32)) -> bool) {
        self.closed.retain(keep);
    }

    /// Every pid holding a reset-but-held socket `inode`, ascending.
    pub fn closed_owners(&self, inode: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.closed.partition_point(|(i, _)| *i < inode);
        self.closed[start..]
            .iter()
            .take_while(move |(i, _)| *i == inode)
            .map(|(_, p)| *p)
    }

    /// Distinct reset-but-held inodes, ascending.
    pub fn closed_inodes(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.closed.iter().map(|(i, _)| *i).collect();
        v.dedup();
        v
    }
}

/// List the numeric entries (pids) of a `/proc` root.
pub fn list_pids(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(proc_root)? {
        let entry = entry?;
        if let Some(pid) = parse_pid(entry.file_name().as_bytes()) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// Scan the fd tables of `pids` under `proc_root`, keeping only sockets in `wanted`.
pub fn scan<S: BuildHasher + Sync>(
    proc_root: &Path,
    pids: &[u32],
    wanted: &HashSet<u64, S>,
    threads: usize,
) -> FdScan {
    let (parts, _) = scan_parts(proc_root, pids, wanted, threads, false);
    finish(parts)
}

/// A socket fd of a process, as its fd table was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketFd {
    pub fd: u32,
    pub inode: u64,
    /// Whether it is TCP, once asked (only sockets in no table are asked).
    pub tcp: Option<bool>,
}

/// A process's fd table as read: its open fd count and its socket fds.
#[derive(Debug, Clone, Default)]
pub struct FdTable {
    pub open: u32,
    pub sockets: Vec<SocketFd>,
}

/// The fd tables of `pids`, read in `threads` threads: what they hold of `wanted`
/// (not yet sorted: see [`finish`]) and, when `keep`, each readable table whole.
///
/// Threads take pids one at a time from a shared counter rather than fixed chunks:
/// the fds are concentrated in a few processes (a server with 50k sockets among
/// hundreds of idle daemons), so fixed chunks leave one thread doing all the work.
pub(super) fn scan_parts<S: BuildHasher + Sync>(
    proc_root: &Path,
    pids: &[u32],
    wanted: &HashSet<u64, S>,
    threads: usize,
    keep: bool,
) -> (FdScan, Vec<(u32, FdTable)>) {
    let threads = threads.clamp(1, 16).min(pids.len().max(1));
    let root = CString::new(proc_root.as_os_str().as_bytes()).unwrap_or_default();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        // The calling thread scans too. A helper that cannot be spawned (thread
        // limit) is no error: the shared counter hands its pids to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(s, || scan_some(&root, pids, &next, wanted, keep))
                    .ok()
            })
            .collect();
        let (mut all, mut tables) = scan_some(&root, pids, &next, wanted, keep);
        for h in helpers {
            // A panic in a scan thread would be a bug; surface it rather than
            // silently lose a chunk of processes.
            let (part, t) = h.join().expect("fd scan thread panicked");
            all.absorb(part);
            tables.extend(t);
        }
        (all, tables)
    })
}

impl FdScan {
    /// Add another part of the same scan (other processes).
    pub(super) fn absorb(&mut self, part: FdScan) {
        self.pairs.extend(part.pairs);
        self.unreadable.extend(part.unreadable);
        self.exhausted.extend(part.exhausted);
        self.vanished += part.vanished;
        self.scanned += part.scanned;
        self.tables_read += part.tables_read;
        self.fds_read += part.fds_read;
        self.open_fds.extend(part.open_fds);
        self.closed.extend(part.closed);
        self.unexamined.extend(part.unexamined);
    }

    /// What process `pid`'s socket fds hold of `wanted`: its pairs and its
    /// reset-but-held candidates (asking the protocol of at most
    /// [`MAX_PROTOCOL_QUESTIONS`] unmatched sockets, through `fd_dir`, the
    /// NUL-terminated path of its fd directory).
    pub(super) fn add_table<S: BuildHasher>(
        &mut self,
        pid: u32,
        table: &mut FdTable,
        wanted: &HashSet<u64, S>,
        fd_dir: &[u8],
    ) {
        let mut asked = 0u64;
        for s in &mut table.sockets {
            if wanted.contains(&s.inode) {
                self.pairs.push((s.inode, pid));
                continue;
            }
            // In no table: is it TCP (reset but held)? Bounded per process.
            asked += 1;
            if asked > MAX_PROTOCOL_QUESTIONS {
                continue;
            }
            let tcp = *s.tcp.get_or_insert_with(|| is_tcp_fd(fd_dir, s.fd));
            if tcp {
                self.closed.push((s.inode, pid));
            }
        }
        if asked > MAX_PROTOCOL_QUESTIONS {
            self.unexamined.push((pid, asked - MAX_PROTOCOL_QUESTIONS));
        }
    }

    /// Count `pid`'s table as read whole, with `open` fds.
    pub(super) fn add_read(&mut self, pid: u32, open: u32) {
        self.scanned += 1;
        self.open_fds.push((pid, open));
    }
}

/// Sort a scan's parts and index them by inode.
pub(super) fn finish(mut result: FdScan) -> FdScan {
    result.open_fds.sort_unstable();
    result.closed.sort_unstable();
    result.closed.dedup();
    result.unexamined.sort_unstable();
    result.pairs.sort_unstable();
    result.pairs.dedup();
    result.first.reserve(result.pairs.len());
    for (i, (inode, _)) in result.pairs.iter().enumerate() {
        // Sorted: the first pair of each inode is the one that inserts.
        result.first.entry(*inode).or_insert(i as u32);
    }
    result.unreadable.sort_unstable_by_key(|(p, _)| *p);
    result.exhausted.sort_unstable();
    result
}

/// `<root>/<pid>/fd` and a NUL, into `path` (no String per pid).
pub(super) fn fd_dir_path(path: &mut Vec<u8>, root: &[u8], pid: u32) {
    path.clear();
    path.extend_from_slice(root);
    // Writing into a Vec cannot fail.
    let _ = write!(path, "/{pid}/fd\0");
}

/// Scan pids taken from `next` until none are left.
fn scan_some<S: BuildHasher>(
    root: &CStr,
    pids: &[u32],
    next: &AtomicUsize,
    wanted: &HashSet<u64, S>,
    keep: bool,
) -> (FdScan, Vec<(u32, FdTable)>) {
    let mut out = FdScan::default();
    let mut tables = Vec::new();
    let mut path = Vec::with_capacity(root.to_bytes().len() + 24);
    let mut table = FdTable::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&pid) = pids.get(i) else { break };
        fd_dir_path(&mut path, root.to_bytes(), pid);
        let read = read_table(&path, &mut table);
        if read.is_ok() {
            out.tables_read += 1;
            out.fds_read += u64::from(table.open);
        }
        match read {
            // Some links refused (EACCES): what was read still counts, but the
            // table is not whole, so the process is reported as unreadable.
            Ok(Some(kind)) => {
                out.add_table(pid, &mut table, wanted, &path);
                out.unreadable.push((pid, kind));
            }
            Ok(None) => {
                out.add_table(pid, &mut table, wanted, &path);
                out.add_read(pid, table.open);
                if keep {
                    tables.push((pid, std::mem::take(&mut table)));
                }
            }
            Err(FdTableError::Gone) => out.vanished += 1,
            Err(FdTableError::OutOfFds) => out.exhausted.push(pid),
            Err(FdTableError::Denied(kind)) => out.unreadable.push((pid, kind)),
        }
    }
    (out, tables)
}

/// Why a process's fd table was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FdTableError {
    /// The process exited meanwhile: skipped silently.
    Gone,
    /// sockleak itself ran out of file descriptors.
    OutOfFds,
    /// The directory could not be opened (EACCES/EPERM, or odd).
    Denied(io::ErrorKind),
}

/// Read the fd directory at `path` (NUL-terminated) into `table`: its open fd
/// count and every socket fd with its inode. `Some(kind)`: some links were
/// refused, so the table is not whole.
pub(super) fn read_table(
    path: &[u8],
    table: &mut FdTable,
) -> Result<Option<io::ErrorKind>, FdTableError> {
    table.open = 0;
    table.sockets.clear();
    let dir = Dir::open(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => FdTableError::Gone,
        _ if crate::exit::is_out_of_fds(&e) => FdTableError::OutOfFds,
        _ => FdTableError::Denied(e.kind()),
    })?;
    let mut denied = false;
    let mut link = [0u8; 64];
    dir.for_each_name(|name| {
        table.open += 1;
        // SAFETY: `name` is NUL-terminated (from readdir), `link` is a valid buffer.
        let n = unsafe {
            libc::readlinkat(
                dir.fd(),
                name.as_ptr(),
                link.as_mut_ptr().cast(),
                link.len(),
            )
        };
        if n < 0 {
            // ENOENT: the fd was closed after readdir, a normal race.
            if io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
                denied = true;
            }
            return;
        }
        if let (Some(inode), Some(fd)) = (socket_inode(&link[..n as usize]), fd_number(name)) {
            table.sockets.push(SocketFd {
                fd,
                inode,
                tcp: None,
            });
        }
    });
    Ok(denied.then_some(io::ErrorKind::PermissionDenied))
}

/// An fd directory entry's name as its fd number.
fn fd_number(name: &CStr) -> Option<u32> {
    let b = name.to_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `<fd_dir>/<fd>` and a NUL, from the NUL-terminated `fd_dir` of [`fd_dir_path`].
fn fd_path(fd_dir: &[u8], fd: u32) -> Vec<u8> {
    let mut path = Vec::with_capacity(fd_dir.len() + 12);
    path.extend_from_slice(fd_dir.strip_suffix(b"\0").unwrap_or(fd_dir));
    // Writing into a Vec cannot fail.
    let _ = write!(path, "/{fd}\0");
    path
}

/// Whether fd `fd` of the fd directory `fd_dir` (NUL-terminated) still refers to
/// socket `inode`: one `readlink`, to check a remembered table entry.
pub(super) fn still_holds(fd_dir: &[u8], fd: u32, inode: u64) -> bool {
    let path = fd_path(fd_dir, fd);
    let mut link = [0u8; 64];
    // SAFETY: path is NUL-terminated; link is valid for its length.
    let n = unsafe { libc::readlink(path.as_ptr().cast(), link.as_mut_ptr().cast(), link.len()) };
    n > 0 && socket_inode(&link[..n as usize]) == Some(inode)
}

/// Whether the socket behind fd `fd` of the fd directory `fd_dir` (NUL-terminated,
/// as the scan builds it) is TCP: `getxattr` of `system.sockprotoname` follows the
/// fd link to the socket inode and names its protocol, `TCP` or `TCPv6` (what
/// `lsof` prints as `protocol: TCP`). Any failure (the fd closed meanwhile) is no.
fn is_tcp_fd(fd_dir: &[u8], fd: u32) -> bool {
    let path = fd_path(fd_dir, fd);
    let mut value = [0u8; 16];
    // SAFETY: both strings are NUL-terminated; value is valid for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr().cast(),
            c"system.sockprotoname".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    if n <= 0 {
        return false;
    }
    let proto = &value[..n as usize];
    let proto = proto.strip_suffix(b"\0").unwrap_or(proto);
    proto == b"TCP" || proto == b"TCPv6"
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    // Exactly what the kernel writes (`socket:[%lu]`): no leading zeros.
    if digits.is_empty() || digits.len() > 20 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// `net:[4026531840]` (the target of `/proc/<pid>/ns/net`) → 4026531840.
pub fn ns_inode(link: &OsStr) -> Option<u64> {
    let b = link.as_bytes();
    let start = b.iter().position(|c| *c == b'[')? + 1;
    let end = b.iter().rposition(|c| *c == b']')?;
    std::str::from_utf8(b.get(start..end)?).ok()?.parse().ok()
}

/// A directory stream over raw `readdir`, so that entry names can be passed to
/// `*at` syscalls without building a path per entry.
struct Dir(*mut libc::DIR);

impl Dir {
    /// `path` must be NUL-terminated.
    fn open(path: &[u8]) -> io::Result<Dir> {
        // SAFETY: path is NUL-terminated by the caller.
        let fd = unsafe {
            libc::open(
                path.as_ptr().cast(),
                // O_NONBLOCK: a FIFO planted as `fd` under a --proc-root fails
                // O_DIRECTORY anyway; this makes sure no open here ever waits.
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is an open directory; on success DIR owns it.
        let dir = unsafe { libc::fdopendir(fd) };
        if dir.is_null() {
            let e = io::Error::last_os_error();
            unsafe { libc::close(fd) };
            return Err(e);
        }
        Ok(Dir(dir))
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: self.0 is a valid open DIR.
        unsafe { libc::dirfd(self.0) }
    }

    fn for_each_name(&self, mut f: impl FnMut(&CStr)) {
        loop {
            // SAFETY: self.0 is valid; the entry is valid until the next readdir.
            let ent = unsafe { libc::readdir64(self.0) };
            if ent.is_null() {
                break;
            }
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            if name.to_bytes().first() == Some(&b'.') {
                continue;
            }
            f(name);
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: self.0 is a valid DIR, closed exactly once.
        unsafe { libc::closedir(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[0]"), Some(0));
        assert_eq!(socket_inode(b"socket:[00]"), None);
        assert_eq!(socket_inode(b"socket:[0123]"), None);
        assert_eq!(socket_inode(b"socket:[12x]"), None);
        assert_eq!(socket_inode(b"pipe:[12]"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999]"), None);
        assert_eq!(socket_inode(b"socket:[4294967296]"), Some(1 << 32));
    }

    #[test]
    fn indexed_owners_match_a_linear_search() {
        // A shared socket (1003 in pids 200 and 201), a process without an fd
        // directory (300), an fd to a socket not in the table (99999), and every
        // thread count: the index must agree with a plain scan of the pairs.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc-basic");
        let wanted: InodeSet = (1000..1010).chain([42]).collect();
        for threads in [1, 2, 3, 8] {
            let fds = scan(&root, &[100, 200, 201, 300, 400], &wanted, threads);
            assert!(fds.pairs().iter().all(|(i, _)| wanted.contains(i)));
            assert_eq!(fds.owners(1003).collect::<Vec<_>>(), vec![200, 201]);
            assert_eq!(fds.owners(99999).count(), 0);
            for inode in (1000..1010).chain([0, 42, 99999, u64::MAX]) {
                let linear: Vec<u32> = fds
                    .pairs()
                    .iter()
                    .filter(|(i, _)| *i == inode)
                    .map(|(_, p)| *p)
                    .collect();
                assert_eq!(fds.owners(inode).collect::<Vec<_>>(), linear, "{inode}");
            }
            // The merge-join index agrees with the hash index, in any order,
            // with repeats and with inode 0 (no owner, ever).
            let inodes = [1003, 0, 99999, 1000, 1003, 42, u64::MAX, 1009];
            let starts = fds.starts(inodes.iter().copied());
            for (inode, start) in inodes.iter().zip(&starts) {
                let want = if *inode == 0 {
                    &[][..]
                } else {
                    fds.held(*inode)
                };
                assert_eq!(fds.held_from(*start, *inode), want, "{inode}");
            }
            assert_eq!(fds.vanished, 1, "pid 300 has no fd directory");
        }
    }

    #[test]
    fn ns_links() {
        assert_eq!(ns_inode(OsStr::new("net:[4026531840]")), Some(4026531840));
        assert_eq!(ns_inode(OsStr::new("net:[]")), None);
        assert_eq!(ns_inode(OsStr::new("garbage")), None);
    }
}
