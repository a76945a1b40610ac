//! The flight recorder (`sockleak trace`): load, attach, pin, unpin, and read it.
//!
//! The BPF object is `bpf/recorder.bpf.o`, compiled from `bpf/recorder.bpf.c` by
//! `scripts/build-bpf.sh` and embedded here, so no build needs clang. It is loaded with
//! aya (pure Rust) and attached to the cgroup-v2 root, egress and ingress, by BPF links:
//! a link dies with its last fd, so a private recorder (`--watch --trace`) disappears
//! with the process, `kill -9` included; a pinned one (`trace start`) stays until its
//! pins are removed (`trace stop`).
//!
//! Reading the map is the only I/O the other commands do with it: [`read`] turns each
//! record into a [`SocketExchange`] (`proto`), so raw bytes never leave this module.

pub mod proto;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use aya::maps::{HashMap as BpfHashMap, Map, MapData};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use aya::programs::CgroupSkb;
use aya::util::KernelVersion;
use aya::{Ebpf, EbpfLoader};

use super::privilege::own_caps;
use crate::exit::UsageError;
use crate::model::trace::SocketExchange;
use crate::model::warning::caps::{CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN};
use proto::Captured;

/// The compiled recorder (see `scripts/build-bpf.sh`), aligned as aya's ELF parser
/// needs (a plain `include_bytes!` promises no alignment).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../../bpf/recorder.bpf.o");

const MAP: &str = "SOCKLEAK_RECORDS";
/// The programs, their `bpf_attach_type` (BPF_CGROUP_INET_EGRESS, _INGRESS) and
/// the names of their link pins.
const PROGRAMS: [(&str, u32, &str); 2] = [
    ("sockleak_egress", 1, "egress"),
    ("sockleak_ingress", 0, "ingress"),
];
/// The map's pin under the pin directory.
const MAP_PIN: &str = "records";

/// Sockets the map holds by default (`--max-sockets`): 16384 records of 312 bytes,
/// 6.0 MiB of kernel memory with the hash table's own overhead (384 bytes a socket,
/// bpftool's memlock, bench/NOTES.md).
pub const DEFAULT_ENTRIES: u32 = 16384;
/// `struct record` in recorder.bpf.c: two messages of 152 bytes, then first and last
/// direction and padding.
const RECORD: usize = 312;
const MESSAGE: usize = 152;
const CAPTURE: usize = 128;
const DIR_OUT: u8 = 1;

/// The oldest kernel the recorder runs on: BPF_LINK_CREATE for cgroup programs
/// (what makes a private recorder die with its process) came in Linux 5.7;
/// `bpf_get_socket_cookie` and `bpf_skb_load_bytes` in cgroup_skb programs are older.
pub const MIN_KERNEL: (u8, u8) = (5, 7);

/// Where a recorder is pinned: `/sys/fs/bpf/sockleak`, or `$SOCKLEAK_TRACE_DIR`
/// (tests use their own, so other runs on the host never see their recorders).
pub fn pin_dir() -> PathBuf {
    std::env::var_os("SOCKLEAK_TRACE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/fs/bpf/sockleak"))
}

/// An armed recorder: dropping it detaches and unloads it (unless pinned).
pub struct Recorder {
    ebpf: Ebpf,
    links: Vec<OwnedFd>,
    pub cgroup: PathBuf,
    pub entries: u32,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("cgroup", &self.cgroup)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

/// Refused before anything is loaded: privileges, kernel, cgroup v2. Every message
/// names the fix; the error is a [`UsageError`] (exit 3).
pub fn preflight() -> Result<PathBuf> {
    let caps = own_caps();
    let has = |c| caps.has(c);
    if !has(CAP_NET_ADMIN) || !(has(CAP_BPF) || has(CAP_SYS_ADMIN)) {
        return Err(UsageError(
            "the recorder needs CAP_BPF and CAP_NET_ADMIN (root in practice): run `sudo sockleak trace ...`".to_string(),
        )
        .into());
    }
    let (major, minor) = MIN_KERNEL;
    match KernelVersion::current() {
        Ok(v) if v >= KernelVersion::new(major, minor, 0) => {}
        Ok(v) => {
            return Err(UsageError(format!(
                "the recorder needs Linux {major}.{minor} or later (BPF links for cgroup programs); this kernel is {v:?}: upgrade the kernel, or use --peek and pool-log instead"
            ))
            .into());
        }
        Err(e) => {
            return Err(UsageError(format!(
                "cannot tell this kernel's version ({e}); the recorder needs Linux {major}.{minor} or later"
            ))
            .into());
        }
    }
    cgroup2_root()?.ok_or_else(|| {
        UsageError("the recorder attaches to the cgroup-v2 root and no cgroup2 file system is mounted (RHEL 7 and other v1-only hosts): mount one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) or go on without the recorder".to_string()).into()
    })
}

/// The mount point of the cgroup-v2 hierarchy (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on hybrid hosts), from mountinfo.
/// A mount of the hierarchy's root is preferred to one of a sub-cgroup (a bind
/// mount in a container).
pub fn cgroup2_root() -> Result<Option<PathBuf>> {
    let mounts = mounts_of("cgroup2")?;
    let root = mounts.iter().find(|(r, _)| r == "/").or(mounts.first());
    Ok(root.map(|(_, m)| PathBuf::from(m)))
}

/// Every mount of file system type `fstype` as (root within the file system, mount
/// point) (mountinfo: fields after the ` - ` separator are type, source, options;
/// the root is field 4, the mount point field 5).
fn mounts_of(fstype: &str) -> Result<Vec<(String, String)>> {
    let info =
        fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
    Ok(parse_mounts(&info, fstype))
}

fn parse_mounts(info: &str, fstype: &str) -> Vec<(String, String)> {
    info.lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            if tail.split(' ').next()? != fstype {
                return None;
            }
            let mut f = head.split(' ').skip(3);
            Some((unescape(f.next()?), unescape(f.next()?)))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Load the recorder and attach it to `cgroup`, egress and ingress, by links. On any
/// failure everything loaded so far is dropped (links detach, programs unload): never
/// half attached.
pub fn arm(cgroup: &Path, entries: u32) -> Result<Recorder> {
    let mut ebpf = EbpfLoader::new()
        .set_max_entries(MAP, entries)
        .load(OBJECT)
        .context("cannot load the recorder's BPF object")?;
    let dir =
        fs::File::open(cgroup).with_context(|| format!("cannot open {}", cgroup.display()))?;
    let mut links = Vec::new();
    for (name, attach, _) in PROGRAMS {
        let prog: &mut CgroupSkb = ebpf
            .program_mut(name)
            .with_context(|| format!("the BPF object has no program {name}"))?
            .try_into()
            .context("not a cgroup_skb program")?;
        prog.load()
            .with_context(|| format!("the kernel refused the program {name}"))?;
        let fd = prog.fd().context("the program has no fd")?.as_fd();
        links.push(
            link_create(fd, dir.as_fd(), attach)
                .with_context(|| format!("cannot attach {name} to {}", cgroup.display()))?,
        );
    }
    Ok(Recorder {
        ebpf,
        links,
        cgroup: cgroup.to_path_buf(),
        entries,
    })
}

impl Recorder {
    /// Pin the map, then the links, in `dir` (bpffs mounted if needed, the directory
    /// root-only). On failure every pin made is removed; the links then die with
    /// `self`.
    pub fn pin(mut self, dir: &Path) -> Result<()> {
        ensure_bpffs(dir)?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        let result = self.pin_all(dir);
        if result.is_err() {
            let _ = remove_pins(dir);
        }
        result
    }

    fn pin_all(&mut self, dir: &Path) -> Result<()> {
        let map = self.ebpf.map(MAP).context("the BPF object has no map")?;
        map.pin(dir.join(MAP_PIN)).context("cannot pin the map")?;
        for ((_, _, pin), link) in PROGRAMS.iter().zip(&self.links) {
            obj_pin(link.as_fd(), &dir.join(pin))
                .with_context(|| format!("cannot pin the {pin} link"))?;
        }
        Ok(())
    }

    fn map(&self) -> Option<&Map> {
        self.ebpf.map(MAP)
    }
}

/// bpffs is mounted at /sys/fs/bpf on most distributions; mount it where it is not
/// (mode 0700: the pins are root's).
fn ensure_bpffs(dir: &Path) -> Result<()> {
    let bpffs = Path::new("/sys/fs/bpf");
    let mounted = mounts_of("bpf")?.iter().any(|(_, m)| Path::new(m) == bpffs);
    if !dir.starts_with(bpffs) || mounted {
        return Ok(());
    }
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (src, target, fstype, data) = (c("bpf"), c("/sys/fs/bpf"), c("bpf"), c("mode=0700"));
    // SAFETY: every pointer is a valid NUL-terminated string for the call's duration.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).context("cannot mount bpffs on /sys/fs/bpf");
    }
    Ok(())
}

/// A pinned recorder's state, for `trace status`.
#[derive(Debug, Clone)]
pub struct Status {
    pub since: Option<SystemTime>,
    pub recorded: u64,
    pub capacity: u32,
    pub dir: PathBuf,
}

/// Whether a recorder is pinned in `dir`: all three pins present.
pub fn is_pinned(dir: &Path) -> bool {
    dir.join(MAP_PIN).exists() && PROGRAMS.iter().all(|(_, _, p)| dir.join(p).exists())
}

/// The pinned recorder's state, `None` when none is pinned.
pub fn status(dir: &Path) -> Result<Option<Status>> {
    if !is_pinned(dir) {
        return Ok(None);
    }
    let since = fs::metadata(dir.join(PROGRAMS[0].2))
        .and_then(|m| m.modified())
        .ok();
    let data = MapData::from_pin(dir.join(MAP_PIN)).context("cannot open the pinned map")?;
    let capacity = data.info().map(|i| i.max_entries()).unwrap_or(0);
    let map = Map::LruHashMap(data);
    let recorded = raw_records(&map)?.len() as u64;
    Ok(Some(Status {
        since,
        recorded,
        capacity,
        dir: dir.to_path_buf(),
    }))
}

/// Remove every pin in `dir` and the directory: the links (and with them the
/// programs and the map) die with their last reference. Returns whether anything
/// was there.
pub fn remove_pins(dir: &Path) -> Result<bool> {
    let mut found = false;
    for name in [PROGRAMS[0].2, PROGRAMS[1].2, MAP_PIN] {
        let p = dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => found = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => found = true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", dir.display())),
    }
    Ok(found)
}

/// Where the records are read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A recorder pinned by `trace start`, if any.
    Pinned(PathBuf),
    /// This process's own recorder (`--watch --trace`, `serve --trace`).
    Private(Arc<Recorder>),
}

/// Every socket's last exchange, by socket cookie.
pub type Exchanges = HashMap<u64, SocketExchange>;

/// What reading the records gave.
#[derive(Debug)]
pub enum Read {
    /// No recorder is armed: nothing is shown.
    Absent,
    /// A recorder is armed but its map could not be read (privileges): said once.
    Unreadable(String),
    Records(Exchanges),
}

/// Read the records and parse each into its exchange.
pub fn read(source: &Source, show_query: bool) -> Read {
    let raw = match source {
        Source::Private(r) => match r.map() {
            Some(m) => raw_records(m),
            None => return Read::Unreadable("the recorder has no map".to_string()),
        },
        Source::Pinned(dir) => {
            let pin = dir.join(MAP_PIN);
            match fs::symlink_metadata(&pin) {
                // bpffs is root-only on most distributions: an unprivileged run
                // cannot tell whether a recorder is armed, and saying "armed but
                // unreadable" on every such run would be a guess.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    return Read::Absent;
                }
                Err(e) => return Read::Unreadable(format!("{}: {e}", pin.display())),
                Ok(_) => {}
            }
            match MapData::from_pin(&pin) {
                Ok(d) => raw_records(&Map::LruHashMap(d)),
                Err(e) => return Read::Unreadable(format!("{}: {e}", pin.display())),
            }
        }
    };
    match raw {
        Ok(raw) => Read::Records(
            raw.into_iter()
                .filter_map(|(cookie, rec)| Some((cookie, parse(&rec, show_query)?)))
                .collect(),
        ),
        Err(e) => Read::Unreadable(format!("{e:#}")),
    }
}

fn raw_records(map: &Map) -> Result<Vec<(u64, [u8; RECORD])>> {
    let hash: BpfHashMap<&MapData, u64, [u8; RECORD]> =
        BpfHashMap::try_from(map).context("the pinned map is not sockleak's recorder map")?;
    // An entry evicted or deleted between listing and lookup is skipped, not an error.
    Ok(hash.iter().filter_map(|r| r.ok()).collect())
}

/// One record to its exchange: the request is the message of the side that spoke
/// first on the connection (a client's egress, a server's ingress), unless the bytes
/// say otherwise (an HTTP status line is always the response).
fn parse(rec: &[u8; RECORD], show_query: bool) -> Option<SocketExchange> {
    let out = message(&rec[..MESSAGE]);
    let inn = message(&rec[MESSAGE..2 * MESSAGE]);
    let first_out = rec[2 * MESSAGE] == DIR_OUT;
    let (mut req, mut resp) = if first_out { (out, inn) } else { (inn, out) };
    if req.data.starts_with(b"HTTP/1.") && !resp.data.starts_with(b"HTTP/1.") && resp.seen() {
        std::mem::swap(&mut req, &mut resp);
    }
    proto::exchange(&req, &resp, show_query)
}

fn message(m: &[u8]) -> Captured {
    let u32_at = |at: usize| u32::from_ne_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]);
    let len = u32_at(8);
    let kept = (len as usize).min(CAPTURE);
    // The recorder keeps a segment's last 8 bytes only past the capture; within it
    // they are the data's own.
    let mut tail = [0u8; 8];
    if kept == len as usize && kept >= 8 {
        tail.copy_from_slice(&m[16 + kept - 8..16 + kept]);
    } else {
        tail.copy_from_slice(&m[16 + CAPTURE..16 + CAPTURE + 8]);
    }
    Captured {
        ns: u64::from_ne_bytes(m[..8].try_into().unwrap_or_default()),
        len,
        count: u32_at(12),
        data: m[16..16 + kept].to_vec(),
        tail,
    }
}

/// `bpf(2)` with an attribute block: the fields a command reads at their UAPI
/// offsets, the rest zero (the kernel checks that what it does not know is zero).
fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> io::Result<libc::c_long> {
    // SAFETY: attr is a valid, writable 128-byte block for the call's duration.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 128usize) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// BPF_LINK_CREATE (Linux 5.7) of a cgroup program: flags 0, as cgroup links
/// require; a link always runs beside the cgroup's other programs. aya 0.13 makes
/// such links too, but cannot hand them out for pinning, so they are made here.
fn link_create(prog: BorrowedFd, cgroup: BorrowedFd, attach_type: u32) -> io::Result<OwnedFd> {
    const BPF_LINK_CREATE: libc::c_long = 28;
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(prog.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 4, &(cgroup.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attr, 8, &attach_type.to_ne_bytes());
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_OBJ_PIN: the pin file is created mode 0600 (owner root), so only root can
/// open the map through it.
fn obj_pin(fd: BorrowedFd, path: &Path) -> io::Result<()> {
    const BPF_OBJ_PIN: libc::c_long = 6;
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("a pin path with a NUL byte"))?;
    let mut attr = [0u8; 128];
    put(&mut attr, 0, &(path.as_ptr() as u64).to_ne_bytes());
    put(&mut attr, 8, &(fd.as_raw_fd() as u32).to_ne_bytes());
    bpf(BPF_OBJ_PIN, &mut attr).map(|_| ())
}

fn put(attr: &mut [u8; 128], at: usize, bytes: &[u8]) {
    attr[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_of_a_hybrid_host() {
        let info = "\
35 24 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
90 24 0:31 /system.slice/app /srv/my\\040cg rw - cgroup2 cgroup2 rw
41 24 0:35 / /sys/fs/bpf rw - bpf bpf rw,mode=700
";
        assert_eq!(
            parse_mounts(info, "cgroup2"),
            vec![
                ("/".to_string(), "/sys/fs/cgroup/unified".to_string()),
                ("/system.slice/app".to_string(), "/srv/my cg".to_string())
            ]
        );
        assert_eq!(parse_mounts(info, "bpf")[0].1, "/sys/fs/bpf");
        assert!(parse_mounts("garbage\n\n - \n", "cgroup2").is_empty());
    }
}
