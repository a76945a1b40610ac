//! Syscalls that can sleep on another process's socket lock, run where that sleep
//! cannot hold sockleak: in a forked child whose results stream back through a
//! pipe, abandoned when it stalls.
//!
//! Why: `tcp_get_info` (sock_diag's `INET_DIAG_INFO`), `FIONREAD` and `recv` take
//! the socket lock, and a holder whose own `recv()` sleeps in a page fault
//! (userfaultfd, a FUSE-backed buffer: any user can arrange one) keeps that lock
//! for as long as it likes. The sleep is uninterruptible: a thread of sockleak
//! caught in it cannot be killed, and the process cannot exit until it wakes
//! (`timeout 5 sockleak` returned after 24 s). A child process can be left behind
//! instead: it is sent SIGKILL, dies when the holder lets go, and sockleak goes on.
//!
//! The child runs only raw syscalls on memory prepared before the fork (no
//! allocation, no lock: the parent may be multi-threaded), and writes frames
//! (`u32` length, bytes) to a pipe. The parent reads them as they come, so work
//! finished before a stall is kept, and says which frame it was waiting for.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a guarded child ended, from the parent's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It wrote everything and exited.
    Done,
    /// No frame came for the stall limit: it is stuck (in the kernel, on a lock
    /// another process holds). It was sent SIGKILL and left to die.
    Stalled,
    /// The caller's time limit came first (the child was killed).
    OutOfTime,
    /// sockleak was asked to stop (SIGTERM, SIGINT, SIGHUP) while waiting.
    Stopped,
    /// It could not be started (no process or pipe to be had): the caller does
    /// without what it would have read.
    NotStarted,
}

/// Set by a stop signal: a guarded wait returns [`Ended::Stopped`] within
/// [`POLL_SLICE`], so SIGTERM ends any mode within a second.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Whether a stop signal has arrived: a collection that ran while it did may
/// have had a guarded read cut short (and done without it), so it is not shown.
pub fn stopping() -> bool {
    stop_flag().load(Ordering::Relaxed)
}

/// How often a wait looks at the stop flag.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// Where the child writes its frames. Only `write(2)`: safe after `fork`.
pub struct Frames {
    fd: i32,
}

impl Frames {
    /// One frame: its length, then its bytes (several writes if the pipe is
    /// full; the parent drains it). False when the parent has gone away.
    pub fn send(&mut self, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let head = (len as u32).to_ne_bytes();
        self.write_all(&head) && parts.iter().all(|p| self.write_all(p))
    }

    fn write_all(&mut self, mut b: &[u8]) -> bool {
        while !b.is_empty() {
            // SAFETY: b is valid for its length; write(2) is async-signal-safe.
            let n = unsafe { libc::write(self.fd, b.as_ptr().cast(), b.len()) };
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return false;
            }
            b = &b[n as usize..];
        }
        true
    }
}

/// Run `child` in a forked process and hand each frame it sends to `on_frame`,
/// until it exits, stops sending for `stall`, `until` passes, or sockleak is
/// asked to stop.
///
/// `child` runs after `fork` in a copy of a possibly multi-threaded process: it
/// must not allocate, lock, or panic; only raw syscalls on memory made before
/// this call. What it borrows is copied into the child with the address space,
/// so the parent keeps its own. Of the parent's fds it keeps only `keep`: a
/// stuck child must not hold sockleak's stdout open (whoever reads it would
/// wait for the child), nor `serve`'s listening socket or an output file.
pub fn run(
    stall: Duration,
    until: Option<Instant>,
    keep: &[i32],
    child: &mut dyn FnMut(&mut Frames),
    on_frame: &mut dyn FnMut(&[u8]),
) -> Ended {
    let Some((rx, tx)) = pipe() else {
        return Ended::NotStarted;
    };
    // SAFETY: fork(2); the child branch below calls only async-signal-safe
    // functions and `child` (same contract), then _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Ended::NotStarted;
    }
    if pid == 0 {
        drop(rx);
        in_child(tx.as_raw_fd(), keep, child);
    }
    drop(tx);
    let ended = read_frames(&rx, stall, until, on_frame);
    if ended == Ended::Done {
        reap(pid, true);
    } else {
        // SAFETY: kill(2) on our own child. It is killed now and dies when the
        // lock it waits for is released; whoever reaps orphans reaps it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        abandon(pid);
    }
    ended
}

/// The child's side: default signal actions (the parent's handlers write to its
/// signal pipe), killed with the thread that forked it, then the work.
fn in_child(fd: i32, keep: &[i32], child: &mut dyn FnMut(&mut Frames)) -> ! {
    // SAFETY: signal(2), prctl(2) and _exit(2) are async-signal-safe.
    unsafe {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    close_all_but(fd, keep);
    child(&mut Frames { fd });
    // SAFETY: _exit skips atexit handlers and stdio flushing, which belong to
    // the parent.
    unsafe { libc::_exit(0) }
}

/// The calling thread's errno (async-signal-safe: usable in a child).
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Close every fd but `pipe` and `keep` (no allocation: it runs in the child).
fn close_all_but(pipe: i32, keep: &[i32]) {
    let mut lo: u32 = 0;
    loop {
        // The next fd to keep at or above `lo`.
        let next = std::iter::once(pipe)
            .chain(keep.iter().copied())
            .filter_map(|k| u32::try_from(k).ok())
            .filter(|&k| k >= lo)
            .min();
        let hi = next.map_or(u32::MAX, |k| k.saturating_sub(1));
        if next != Some(lo) {
            close_range(lo, hi);
        }
        match next {
            Some(k) if k < u32::MAX => lo = k + 1,
            _ => return,
        }
    }
}

/// close_range(2) (Linux 5.9); before it, one close(2) per fd up to the limit.
fn close_range(lo: u32, hi: u32) {
    // SAFETY: close_range takes integers; close and getrlimit are
    // async-signal-safe.
    unsafe {
        if libc::syscall(libc::SYS_close_range, lo, hi, 0) == 0 {
            return;
        }
        let mut lim: libc::rlimit = std::mem::zeroed();
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            u32::try_from(lim.rlim_cur).unwrap_or(1 << 20)
        } else {
            1 << 20
        };
        for fd in lo..=hi.min(max) {
            libc::close(fd as i32);
        }
    }
}

fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // A bigger pipe lets a whole sock_diag dump stream with fewer wake-ups; the
    // default size works too (refused above /proc/sys/fs/pipe-max-size).
    // SAFETY: fcntl on our own fd.
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) };
    // SAFETY: two new fds that nothing else owns.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The parent's side: frames until end of file (the child exited), a stall, or
/// a stop.
fn read_frames(
    rx: &OwnedFd,
    stall: Duration,
    until: Option<Instant>,
    on_frame: &mut dyn FnMut(&[u8]),
) -> Ended {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 << 10];
    let mut last = Instant::now();
    loop {
        if stopping() {
            return Ended::Stopped;
        }
        if until.is_some_and(|u| Instant::now() >= u) {
            return Ended::OutOfTime;
        }
        let wait = stall.saturating_sub(last.elapsed()).min(POLL_SLICE);
        // A stall is a child that sent nothing, not a parent that was not
        // scheduled to read: what is waiting in the pipe is read first.
        if !readable(rx, wait) {
            if wait.is_zero() {
                return Ended::Stalled;
            }
            continue;
        }
        // SAFETY: chunk is valid for its length.
        let n = unsafe { libc::read(rx.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => return Ended::Done,
            n if n < 0 => {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Ended::Done;
            }
            n => {
                last = Instant::now();
                buf.extend_from_slice(&chunk[..n as usize]);
                let used = split_frames(&buf, on_frame);
                buf.drain(..used);
            }
        }
    }
}

/// Hand every whole frame at the start of `buf` to `on_frame`; the bytes used.
fn split_frames(buf: &[u8], on_frame: &mut dyn FnMut(&[u8])) -> usize {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + 4) {
        let len = u32::from_ne_bytes(head.try_into().expect("4 bytes")) as usize;
        let Some(frame) = buf.get(at + 4..at + 4 + len) else {
            break;
        };
        on_frame(frame);
        at += 4 + len;
    }
    at
}

fn readable(fd: &OwnedFd, wait: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Rounded up: a wait of 0.4 ms is a wait, not a spin.
    let ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    // SAFETY: one pollfd.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// Children left stuck, reaped when they finally die (a later sample asks).
fn abandoned() -> &'static std::sync::Mutex<Vec<libc::pid_t>> {
    static LIST: OnceLock<std::sync::Mutex<Vec<libc::pid_t>>> = OnceLock::new();
    LIST.get_or_init(Default::default)
}

fn abandon(pid: libc::pid_t) {
    let mut list = abandoned().lock().unwrap_or_else(|p| p.into_inner());
    list.push(pid);
    list.retain(|&p| !reap(p, false));
}

/// Wait for `pid` (blocking, or only if it is gone); whether it was reaped.
fn reap(pid: libc::pid_t, block: bool) -> bool {
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        // Reaped, or not ours any more (ECHILD: someone else reaped it).
        return r == pid || r < 0;
    }
}

/// Children still stuck on a lock from an earlier sample (reaped first).
pub fn stuck_children() -> usize {
    let mut list = abandoned().lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|&p| !reap(p, false));
    list.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_arrive_in_order_and_whole() {
        let payload = vec![7u8; 300_000];
        let mut got = Vec::new();
        let ended = run(
            Duration::from_secs(5),
            None,
            &[],
            &mut |f| {
                for i in 0u32..50 {
                    if !f.send(&[&i.to_ne_bytes(), &payload[..(i as usize) * 1000]]) {
                        return;
                    }
                }
            },
            &mut |frame| got.push(frame.len()),
        );
        assert_eq!(ended, Ended::Done);
        let want: Vec<usize> = (0..50).map(|i| 4 + i * 1000).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_child_that_stops_sending_is_abandoned_with_what_it_sent() {
        let started = Instant::now();
        let mut got = 0;
        let ended = run(
            Duration::from_millis(300),
            None,
            &[],
            &mut |f| {
                f.send(&[b"first"]);
                // SAFETY: pause(2) sleeps until a signal: a stand-in for a child
                // stuck in the kernel.
                unsafe { libc::pause() };
            },
            &mut |_| got += 1,
        );
        assert_eq!((ended, got), (Ended::Stalled, 1));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
