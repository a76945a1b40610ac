//! `--peek`: read the first bytes of sockets' receive queues without consuming
//! them. For each socket, `pidfd_open(2)` on a holder and `pidfd_getfd(2)` (Linux
//! 5.6+, ptrace access to the holder) duplicate its fd into sockleak; `fstat`
//! checks it is still the same socket inode (the holder may have closed the fd
//! and reused the number); `recv(MSG_PEEK | MSG_DONTWAIT)` copies at most
//! [`classify::PEEK_BYTES`] bytes, and the duplicate is closed at once.
//!
//! Nothing is written, shut down or consumed: a peek leaves the queue, the read
//! position and the state as they were (tests/it/peek/live.rs checks that the client
//! reads every byte afterwards). Three guards keep it so: only sockets that have
//! received their peer's FIN are asked (`report::peek::fin_received`: with
//! nothing to copy, the kernel returns end-of-file before it would hand out, and
//! clear, a pending socket error), a socket whose holder set `SO_PEEK_OFF` is
//! skipped (a peek would advance that offset), and the peek is only made when
//! `FIONREAD` says data is queued.
//!
//! `FIONREAD` and `recv` take the socket lock, which a holder stuck in its own
//! `recv()` can keep forever: those calls run in a guarded child
//! ([`super::guard`]), and a socket that keeps it waiting is reported as locked.
//!
//! Bounded: one pass per holder process, a time budget for the whole report,
//! non-blocking calls only; what is not peeked is counted by reason.

pub mod classify;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::model::peek::{PeekMiss, PeekSpent};

use super::fdscan;
use super::guard::{self, Ended, Frames};
use super::privilege::own_caps;
use crate::model::warning::caps::CAP_SYS_PTRACE;

/// What `--peek` was asked for, validated by the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeekOptions {
    /// Content bytes a summary may show (`--peek-bytes`; 0: class only).
    pub shown: usize,
    /// Sockets peeked per group at most (`--peek-max`).
    pub max_per_group: usize,
    /// Wall time for every peek of one report together.
    pub budget: Duration,
}

impl PeekOptions {
    pub const DEFAULT_SHOWN: usize = 48;
    pub const DEFAULT_MAX_PER_GROUP: usize = 16;
    pub const BUDGET: Duration = Duration::from_millis(250);
}

/// One socket to peek through one of its holders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub inode: u64,
    pub pid: u32,
}

/// What a peek found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The queue's first bytes (at most [`classify::PEEK_BYTES`]).
    Bytes(Vec<u8>),
    /// Nothing queued any more (read meanwhile, or only the FIN).
    Empty,
    Missed(PeekMiss),
}

/// Peek every request through `proc_root` (the live `/proc`: the configuration
/// refuses `--peek` with `--proc-root`), within `budget`. Outcomes are in the
/// order of `requests`.
///
/// Two steps. Finding each socket's fd number (one `readlink` per fd of the
/// holder, until its wanted sockets are found) takes no socket lock and runs
/// here, on a few threads: a few processes hold most fds. The peeks themselves
/// (`FIONREAD` and `recv` take the socket lock, which a stuck holder can keep)
/// run in a guarded child ([`guard`]); one that does not answer within
/// [`PEEK_STALL`] is [`PeekMiss::Locked`], and a new child goes on after it.
pub fn peek_all(proc_root: &Path, requests: &[Request], budget: Duration) -> Peeked {
    let deadline = Instant::now() + budget;
    let mut outcomes = vec![Outcome::Missed(PeekMiss::Budget); requests.len()];
    let (mut jobs, slowest_table) = find_fds(proc_root, requests, deadline, &mut outcomes);
    jobs.sort_unstable_by_key(|j| (j.pid, j.fd));
    let peeks = Instant::now();
    let mut next = 0;
    while next < jobs.len() && Instant::now() < deadline {
        next = peek_jobs(&jobs[next..], deadline, &mut outcomes).map_or(jobs.len(), |k| next + k);
    }
    Peeked {
        outcomes,
        spent: PeekSpent {
            slowest_table,
            peeks_ms: millis(peeks.elapsed()),
        },
        yama: yama_scope(),
        ptrace_cap: has_ptrace_cap(),
    }
}

/// Every request's outcome, in their order, where the time went, and the
/// privileges that explain the misses (for the warnings).
#[derive(Debug)]
pub struct Peeked {
    pub outcomes: Vec<Outcome>,
    pub spent: PeekSpent,
    pub yama: Option<u8>,
    pub ptrace_cap: bool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One peek for the guarded child: socket `inode` is fd `fd` of `pid`, and its
/// outcome goes to `requests[at]`.
#[derive(Debug, Clone, Copy)]
struct Job {
    pid: u32,
    fd: u32,
    inode: u64,
    at: usize,
}

/// A peek that has not answered in this long is waiting on the socket's lock.
const PEEK_STALL: Duration = Duration::from_millis(100);

/// The fd number of every request, found by a few threads; requests whose fd
/// is not found (closed meanwhile) get [`PeekMiss::Changed`] in `out`. Also
/// the slowest holder's table: (pid, fd links read, ms).
fn find_fds(
    proc_root: &Path,
    requests: &[Request],
    deadline: Instant,
    out: &mut [Outcome],
) -> (Vec<Job>, Option<(u32, u64, u64)>) {
    let mut by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        by_pid.entry(r.pid).or_default().push(i);
    }
    let mut work: Vec<(u32, Vec<usize>)> = by_pid.into_iter().collect();
    work.sort_unstable();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(work.len().max(1));
    let run = || {
        let (mut found, mut slowest) = (Vec::new(), None::<(u32, u64, u64)>);
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((pid, idx)) = work.get(i) else { break };
            if Instant::now() >= deadline {
                continue; // left as Budget
            }
            let inodes: Vec<u64> = idx.iter().map(|&i| requests[i].inode).collect();
            let t = Instant::now();
            let (fds, links) = socket_fds(proc_root, *pid, &inodes);
            slowest = slower(slowest, Some((*pid, links, millis(t.elapsed()))));
            found.extend(
                idx.iter()
                    .map(|&at| (at, fds.get(&requests[at].inode).copied())),
            );
        }
        (found, slowest)
    };
    let (mut all, mut slowest) = (Vec::new(), None);
    std::thread::scope(|s| {
        // A helper that cannot be spawned is no error: the counter hands its
        // holders to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, run).ok())
            .collect();
        (all, slowest) = run();
        for h in helpers {
            let (found, slow) = h.join().expect("peek thread panicked");
            all.extend(found);
            slowest = slower(slowest, slow);
        }
    });
    let mut jobs = Vec::with_capacity(all.len());
    for (at, fd) in all {
        match fd {
            Some(fd) => jobs.push(Job {
                pid: requests[at].pid,
                fd,
                inode: requests[at].inode,
                at,
            }),
            None => out[at] = Outcome::Missed(PeekMiss::Changed),
        }
    }
    (jobs, slowest)
}

/// The slower of two fd-table reads (pid, links, ms).
fn slower(a: Option<(u32, u64, u64)>, b: Option<(u32, u64, u64)>) -> Option<(u32, u64, u64)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.2 > x.2 { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// Peek `jobs` in one guarded child, writing each outcome into `out`. `None`
/// when it got through them all (or the deadline came); `Some(k)` when it
/// stalled on `jobs[k - 1]`, which is marked locked: go on from `k`.
fn peek_jobs(jobs: &[Job], deadline: Instant, out: &mut [Outcome]) -> Option<usize> {
    let mut buf = vec![0u8; classify::PEEK_BYTES];
    let mut answered = 0;
    let ended = guard::run(
        PEEK_STALL,
        Some(deadline),
        &[],
        &mut |frames| child_peeks(jobs, &mut buf, frames),
        &mut |frame| {
            let Some((k, outcome)) = decode(frame) else {
                return;
            };
            if let Some(job) = jobs.get(k) {
                out[job.at] = outcome;
                answered = k + 1;
            }
        },
    );
    match ended {
        Ended::Stalled => {
            let job = jobs.get(answered)?;
            out[job.at] = Outcome::Missed(PeekMiss::Locked);
            Some(answered + 1)
        }
        // Budget (left as is), a stop, or no child to be had: the rest stay
        // Budget, which says they were not peeked.
        Ended::Done | Ended::OutOfTime | Ended::Stopped | Ended::NotStarted => None,
    }
}

/// Frame tags from the peeking child: bytes, an empty queue, a miss (a
/// [`PeekMiss`] code and an errno).
const TAG_BYTES: u8 = 0;
const TAG_EMPTY: u8 = 1;
const TAG_MISS: u8 = 2;

fn decode(frame: &[u8]) -> Option<(usize, Outcome)> {
    let (k, rest) = frame.split_at_checked(4)?;
    let k = u32::from_ne_bytes(k.try_into().ok()?) as usize;
    let (&tag, body) = rest.split_first()?;
    let outcome = match tag {
        TAG_BYTES => Outcome::Bytes(body.to_vec()),
        TAG_EMPTY => Outcome::Empty,
        TAG_MISS => {
            let (&code, e) = body.split_first()?;
            Outcome::Missed(miss_from_code(code, i32::from_ne_bytes(e.try_into().ok()?)))
        }
        _ => return None,
    };
    Some((k, outcome))
}

/// The child's peeks, in `jobs`' order (by pid: one pidfd per holder). Raw
/// syscalls on memory made before the fork only (see [`guard::run`]).
fn child_peeks(jobs: &[Job], buf: &mut [u8], frames: &mut Frames) {
    let mut pidfd: Option<(u32, Result<OwnedFd, RawMiss>)> = None;
    for (k, job) in jobs.iter().enumerate() {
        if pidfd.as_ref().is_none_or(|(p, _)| *p != job.pid) {
            pidfd = Some((job.pid, pidfd_open(job.pid)));
        }
        let head = (k as u32).to_ne_bytes();
        let sent = match pidfd.as_ref().map(|(_, r)| r) {
            Some(Ok(fd)) => match peek_fd(fd, job.fd, job.inode, buf) {
                Ok(0) => frames.send(&[&head, &[TAG_EMPTY]]),
                Ok(n) => frames.send(&[&head, &[TAG_BYTES], &buf[..n]]),
                Err((code, e)) => frames.send(&[&head, &[TAG_MISS, code], &e.to_ne_bytes()]),
            },
            Some(Err((code, e))) => frames.send(&[&head, &[TAG_MISS, *code], &e.to_ne_bytes()]),
            None => false,
        };
        if !sent {
            return;
        }
    }
}

/// The fd numbers under which `pid` holds `inodes`: its fd links read in
/// directory order until every one is found; and how many links were read.
fn socket_fds(root: &Path, pid: u32, inodes: &[u64]) -> (HashMap<u64, u32>, u64) {
    let mut found = HashMap::with_capacity(inodes.len());
    let mut links = 0u64;
    let wanted: std::collections::HashSet<u64> = inodes.iter().copied().collect();
    let Ok(dir) = std::fs::read_dir(root.join(pid.to_string()).join("fd")) else {
        return (found, links);
    };
    for entry in dir.flatten() {
        links += 1;
        let name = entry.file_name();
        let Some(fd) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue; // closed meanwhile
        };
        if let Some(inode) = fdscan::socket_inode(link.as_os_str().as_encoded_bytes())
            && wanted.contains(&inode)
        {
            found.entry(inode).or_insert(fd);
            if found.len() == wanted.len() {
                break;
            }
        }
    }
    (found, links)
}

/// A miss as it crosses the pipe: a code and an errno.
type RawMiss = (u8, i32);

const MISS_CHANGED: u8 = 0;
const MISS_PEEK_OFFSET: u8 = 1;
const MISS_ERRNO: u8 = 2;

fn miss_from_code(code: u8, errno: i32) -> PeekMiss {
    match code {
        MISS_CHANGED => PeekMiss::Changed,
        MISS_PEEK_OFFSET => PeekMiss::PeekOffset,
        _ => miss(errno),
    }
}

fn pidfd_open(pid: u32) -> Result<OwnedFd, RawMiss> {
    // SAFETY: pidfd_open(pid, flags) takes two integers and returns an fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err((MISS_ERRNO, guard::errno()));
    }
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Duplicate fd `fd` of the process behind `pidfd`, check it is socket `inode`,
/// peek into `buf`, and close the duplicate (when the OwnedFd drops, on every
/// path). The bytes peeked (0: nothing queued). Raw syscalls only: it runs in
/// the guarded child.
fn peek_fd(pidfd: &OwnedFd, fd: u32, inode: u64, buf: &mut [u8]) -> Result<usize, RawMiss> {
    // SAFETY: pidfd_getfd(pidfd, targetfd, flags) takes integers and returns a new
    // fd (close-on-exec) or -1.
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd as i32, 0) };
    if dup < 0 {
        return Err((MISS_ERRNO, guard::errno()));
    }
    // SAFETY: a new fd that nothing else owns.
    let dup = unsafe { OwnedFd::from_raw_fd(dup as i32) };
    let raw = dup.as_raw_fd();
    // SAFETY: fstat writes a stat into the zeroed buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(raw, &mut st) } != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFSOCK
        || st.st_ino != inode
    {
        return Err((MISS_CHANGED, 0));
    }
    if peek_offset_set(raw) {
        return Err((MISS_PEEK_OFFSET, 0));
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(raw, libc::FIONREAD, &mut queued) } != 0 || queued <= 0 {
        return Ok(0);
    }
    // SAFETY: buf is valid for its length; MSG_PEEK copies without consuming.
    let n = unsafe {
        libc::recv(
            raw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        n if n >= 0 => Ok(n as usize),
        _ => match guard::errno() {
            libc::EAGAIN => Ok(0),
            e => Err((MISS_ERRNO, e)),
        },
    }
}

/// Whether the socket's `SO_PEEK_OFF` is on (>= 0): then `MSG_PEEK` moves it.
fn peek_offset_set(fd: i32) -> bool {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into v.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEEK_OFF,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && v >= 0
}

/// Why a pidfd call failed, as a reason to report.
fn miss(errno: i32) -> PeekMiss {
    match errno {
        libc::EPERM | libc::EACCES => PeekMiss::NotPermitted,
        libc::ENOSYS => PeekMiss::NoSyscall,
        // The process exited, or the fd was closed meanwhile.
        libc::ESRCH | libc::EBADF => PeekMiss::Changed,
        e => PeekMiss::Failed(e),
    }
}

/// Whether sockleak itself has CAP_SYS_PTRACE, for the warning's advice.
pub fn has_ptrace_cap() -> bool {
    own_caps().has(CAP_SYS_PTRACE)
}

/// Yama's `ptrace_scope` (for the warning's advice), when Yama is there. Read
/// from the live `/proc`, never from a fixture tree.
pub fn yama_scope() -> Option<u8> {
    let s = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn errors_are_reasons() {
        assert_eq!(miss(libc::EPERM), PeekMiss::NotPermitted);
        assert_eq!(miss(libc::ENOSYS), PeekMiss::NoSyscall);
        assert_eq!(miss(libc::EBADF), PeekMiss::Changed);
        assert_eq!(miss(libc::EIO), PeekMiss::Failed(libc::EIO));
    }

    /// Our own socket through our own pidfd: the bytes are seen, and read whole
    /// afterwards; an fd number that is no socket, or another socket, is skipped.
    #[test]
    fn peeks_without_consuming() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut a, _) = l.accept().unwrap();
        a.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\nno").unwrap();
        let inode = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/self/fd/{}", c.as_raw_fd()))
                .unwrap()
                .ino()
        };
        // Wait until the bytes are queued.
        let deadline = Instant::now() + Duration::from_secs(5);
        let me = std::process::id();
        let req = Request { inode, pid: me };
        let root = Path::new("/proc");
        let got = loop {
            match &peek_all(root, &[req], Duration::from_secs(1)).outcomes[0] {
                Outcome::Bytes(b) if b.len() == 28 => break b.clone(),
                _ if Instant::now() > deadline => panic!("nothing peeked"),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        assert_eq!(got, b"HTTP/1.1 403 Forbidden\r\n\r\nno");
        let mut all = [0u8; 28];
        c.read_exact(&mut all).unwrap();
        assert_eq!(&all, b"HTTP/1.1 403 Forbidden\r\n\r\nno");
        // Now read: nothing queued.
        assert_eq!(
            peek_all(root, &[req], Duration::from_secs(1)).outcomes,
            [Outcome::Empty]
        );
        // Another inode than the fd holds: the fd check refuses it.
        let pidfd = pidfd_open(me).unwrap();
        let mut buf = [0u8; 64];
        let other = peek_fd(&pidfd, c.as_raw_fd() as u32, inode + 1, &mut buf);
        assert_eq!(other, Err((MISS_CHANGED, 0)));
        // Where the time went: our own fd table was the one read.
        let spent = peek_all(root, &[req], Duration::from_secs(1)).spent;
        let (pid, links, _) = spent.slowest_table.expect("a table was read");
        assert_eq!(pid, me);
        assert!(links >= 1, "{spent:?}");
        // Held by no fd of ours.
        let gone = Request { inode: 1, pid: me };
        assert_eq!(
            peek_all(root, &[gone], Duration::from_secs(1)).outcomes,
            [Outcome::Missed(PeekMiss::Changed)]
        );
        // No budget: nothing is tried.
        assert_eq!(
            peek_all(root, &[req], Duration::ZERO).outcomes,
            [Outcome::Missed(PeekMiss::Budget)]
        );
    }
}
