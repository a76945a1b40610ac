//! The one way a file under the proc root is read: never blocking, never
//! unbounded.
//!
//! A `--proc-root` tree may be hostile or just odd: a FIFO as `net/tcp` would block
//! `open(2)` forever, `/dev/zero` as `comm` would be read until memory runs out, and
//! a 1 MB `comm` would become hundreds of megabytes of output. So every file is
//! `stat`ed first and refused unless it is a regular file (the kernel's own /proc
//! files are regular files of size 0), then opened with `O_NONBLOCK` (a FIFO
//! swapped in after the check still cannot block the open) and checked again with
//! `fstat` on the descriptor, and read to at most a bound that fits what the
//! kernel writes there.
//!
//! Symbolic links are followed: the real `/proc/net` and `/proc/self` are links,
//! and fixture trees may be built of them. Only what is finally opened matters, and
//! that is checked on the descriptor. (A binary with file capabilities refuses
//! `--proc-root` altogether, so links cannot be used to read files through it.)

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `/proc/<pid>/comm`: the kernel's TASK_COMM_LEN is 16; kernel threads' names
/// (workqueues) may show up to 64 bytes.
pub const COMM: u64 = 64;
/// `/proc/<pid>/status`, `stat`: about 1.5 KiB and 400 B. Status is read as a
/// prefix (see [`Oversize::Truncate`]): its `Groups:` line can be long, and the
/// `Uid:` line sits near the top.
pub const STATUS: u64 = 16 << 10;
pub const STAT: u64 = 16 << 10;
/// `/proc/<pid>/cgroup`: one line per hierarchy (a dozen with cgroup v1), each a
/// path of at most PATH_MAX.
pub const CGROUP: u64 = 64 << 10;
/// `/proc/<pid>/cmdline`: shown on one line; longer ones are cut (and marked).
pub const CMDLINE: u64 = 64 << 10;
/// `mountinfo`: ~150 B a mount; container hosts have thousands.
pub const MOUNTINFO: u64 = 16 << 20;
/// `sockstat{,6}`: a few short lines.
pub const SOCKSTAT: u64 = 4 << 10;
/// `net/tcp{,6}`: the kernel writes 150 B per IPv4 and 178 B per IPv6 socket, so
/// 256 MiB holds about 1.5 million sockets, ten times the largest table sockleak
/// is benchmarked on. A larger table is refused by name rather than read into
/// memory; netlink (the default source) has no such bound.
pub const TCP_TABLE: u64 = 256 << 20;

/// What to do with a file longer than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Refuse it ([`ReadError::TooLarge`]).
    Refuse,
    /// Keep the first `limit` bytes (the caller only needs a prefix).
    Truncate,
}

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// `stat`, `open` or `read` failed.
    Io(io::Error),
    /// Not a regular file: a FIFO, device, directory or socket.
    NotRegular(&'static str),
    /// Longer than the bound that fits the file.
    TooLarge(u64),
}

impl ReadError {
    /// The OS error, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            ReadError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    /// Gone or not ours to read (a process exiting, another user's process): the
    /// usual cases, which callers treat as "unknown" without a warning of its own.
    pub fn is_ordinary(&self) -> bool {
        matches!(
            self,
            ReadError::Io(e) if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ESRCH | libc::EACCES | libc::EPERM)
            )
        )
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(kind) => write!(f, "{kind}, not a regular file"),
            ReadError::TooLarge(limit) => {
                write!(
                    f,
                    "larger than {} (more than the kernel writes there)",
                    human(*limit)
                )
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// A path for messages, control characters escaped (a --proc-root is the
/// caller's, and messages are printed on terminals).
pub fn shown(path: &Path) -> String {
    crate::model::printable(&path.display().to_string()).into_owned()
}

/// What an odd file is, for messages; `None` for a regular file.
pub use crate::output::odd_kind as kind_of;

/// Read `path` (a regular file, following links) to at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64, oversize: Oversize) -> Result<Vec<u8>, ReadError> {
    read_prefix(path, limit, oversize).map(|(bytes, _)| bytes)
}

/// [`read_bounded`], also saying whether the file was cut ([`Oversize::Truncate`]).
pub fn read_prefix(
    path: &Path,
    limit: u64,
    oversize: Oversize,
) -> Result<(Vec<u8>, bool), ReadError> {
    // stat before open: opening a device can have effects of its own (a tape
    // rewinds, a terminal becomes ours), so one is never opened at all.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(ReadError::NotRegular(kind));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(ReadError::Io)?;
    read_open(file, limit, oversize)
}

/// The descriptor half of [`read_bounded`]: check the type again (the path may
/// have been swapped since the `stat`), refuse a file whose size already says it
/// is too large (a sparse 1 TB file is not read to find out), then read.
fn read_open(file: File, limit: u64, oversize: Oversize) -> Result<(Vec<u8>, bool), ReadError> {
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(ReadError::NotRegular(kind));
    }
    if meta.len() > limit && oversize == Oversize::Refuse {
        return Err(ReadError::TooLarge(limit));
    }
    // /proc files say size 0: the read itself is bounded, one byte over the limit
    // to tell "exactly the limit" from "more".
    let mut buf = Vec::with_capacity(meta.len().min(limit) as usize + 1);
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    let cut = buf.len() as u64 > limit;
    if cut {
        match oversize {
            Oversize::Refuse => return Err(ReadError::TooLarge(limit)),
            Oversize::Truncate => buf.truncate(limit as usize),
        }
    }
    Ok((buf, cut))
}

/// Open a namespace link's target for `setns`, without blocking on a FIFO.
pub fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Raise sockleak's soft limit on open files to its hard limit, so that the fd
/// scan (one directory fd per thread) and `serve`'s connections do not run out
/// where the system allows more. Returns `(before, after)` soft limits; `after`
/// equals `before` when it could not (or need not) be raised.
pub fn raise_fd_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (0, 0);
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur >= lim.rlim_max {
        return (before, before);
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads a valid rlimit; raising the soft limit up to the
    // hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return (before, before);
    }
    (before, lim.rlim_max)
}

/// The current soft limit on open files (for messages).
pub fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur
}

/// This host's name, for the report (`localhost` when it cannot be read).
pub fn hostname() -> String {
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
    use std::time::{Duration, Instant};

    #[test]
    fn fifo_device_and_directory_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = Instant::now();
        for (p, kind) in [
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/zero"), "character device"),
            (dir.path(), "directory"),
        ] {
            let e = read_bounded(p, 64, Oversize::Refuse).unwrap_err();
            assert!(e.to_string().contains(kind), "{e}");
            assert!(!e.is_ordinary());
        }
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn bounds_refuse_or_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [b'x'; 100]).unwrap();
        assert_eq!(read_bounded(&p, 100, Oversize::Refuse).unwrap().len(), 100);
        let e = read_bounded(&p, 99, Oversize::Refuse).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge(99)), "{e}");
        assert_eq!(read_bounded(&p, 10, Oversize::Truncate).unwrap().len(), 10);
        // A sparse terabyte is refused by its size, not read.
        let f = File::create(&p).unwrap();
        f.set_len(1 << 40).unwrap();
        let t = Instant::now();
        assert!(matches!(
            read_bounded(&p, TCP_TABLE, Oversize::Refuse),
            Err(ReadError::TooLarge(_))
        ));
        assert!(t.elapsed() < Duration::from_secs(1));
        // The kernel's own files (size 0) are read by the bounded read.
        let status = read_bounded(Path::new("/proc/self/status"), STATUS, Oversize::Truncate);
        assert!(status.unwrap().starts_with(b"Name:"));
        let e = read_bounded(&dir.path().join("missing"), 1, Oversize::Refuse).unwrap_err();
        assert!(e.is_ordinary());
    }

    #[test]
    fn the_soft_fd_limit_is_raised_to_the_hard_one() {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid rlimit pointers throughout.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
            // Lowered (not below what the other tests of this binary need), then
            // raised back.
            let low = libc::rlimit {
                rlim_cur: lim.rlim_max.min(512),
                rlim_max: lim.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
        }
        let (before, after) = raise_fd_limit();
        assert_eq!((before, after), (lim.rlim_max.min(512), lim.rlim_max));
        assert_eq!(fd_limit(), lim.rlim_max);
        assert_eq!(
            raise_fd_limit(),
            (lim.rlim_max, lim.rlim_max),
            "nothing to do"
        );
    }
}
