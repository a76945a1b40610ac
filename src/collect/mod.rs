//! Collection: read the kernel's TCP table and join each socket to the processes
//! holding it. Everything here reads through a `/proc` root so that tests can point
//! it at a fixture tree (`--proc-root`).
//!
//! Order matters for honesty under churn: the socket table is read first and the fd
//! tables after, so a socket opened mid-scan is simply not in this snapshot, while
//! one closed mid-scan is counted and labelled unattributed.

pub mod container;
pub mod fdscan;
pub mod fsread;
pub mod netlink;
pub mod netns;
pub mod proc_net;
pub mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::model::{NetnsId, Process, Socket};
use fdscan::FdScan;
use fsread::Oversize;
pub use fsread::{ReadError, raise_fd_limit, read_bounded};
use users::Users;

/// Where the socket table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Netlink,
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

/// The `--source` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// Netlink, falling back to /proc with a warning.
    #[default]
    Auto,
    Netlink,
    Proc,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub source: SourceChoice,
    /// `/proc`, or a fixture tree.
    pub proc_root: PathBuf,
    /// Read `/proc/<pid>/cmdline` of socket owners. Off by default: secrets.
    pub cmdline: bool,
    /// Ask netlink for CLOSE_WAIT idle ages.
    pub idle: bool,
    /// Threads for the fd scan.
    pub threads: usize,
    /// Network namespaces to read (`--netns`).
    pub netns: netns::Selection,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            source: SourceChoice::Auto,
            proc_root: PathBuf::from("/proc"),
            cmdline: false,
            idle: true,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            netns: netns::Selection::All,
        }
    }
}

/// One snapshot: every socket of the table, who holds it, and what could not be seen.
#[derive(Debug, Clone)]
pub struct Collection {
    pub source: Source,
    /// sockleak's own network namespace.
    pub netns: NetnsId,
    /// Every namespace whose table was read, host first.
    pub namespaces: Vec<NetnsId>,
    pub sockets: Vec<Socket>,
    pub fds: FdScan,
    /// Every process holding at least one socket of the table.
    pub processes: HashMap<u32, Process>,
    /// Sockets no fd refers to (inode 0: TIME_WAIT, orphans, request sockets).
    pub unowned: u64,
    /// Sockets with an inode that no readable process holds.
    pub unattributed: u64,
    /// What could not be seen, and why; shown to the user.
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

/// Reusable collector: keeps caches (user names) across `--watch` samples.
#[derive(Debug)]
pub struct Collector {
    opts: Options,
    users: Users,
    /// Our own capabilities, for advice that fits (read once).
    privilege: Privilege,
}

impl Collector {
    /// Validates the options once, so that a bad `--proc-root` fails before any output.
    pub fn new(opts: Options) -> Result<Collector> {
        let root = &opts.proc_root;
        let meta = std::fs::metadata(root).with_context(|| {
            format!(
                "--proc-root {}: cannot read it (expected a directory holding a /proc tree)",
                shown(root)
            )
        })?;
        if !meta.is_dir() {
            bail!("--proc-root {}: not a directory", shown(root));
        }
        // `exists()` would turn "permission denied" into "missing": tell them apart.
        match std::fs::metadata(root.join("net/tcp")) {
            Ok(m) if !m.is_file() => bail!(
                "--proc-root {}: net/tcp inside is {}, not a regular file; point it at a /proc tree",
                shown(root),
                fsread::kind_of(m.file_type()).unwrap_or("odd")
            ),
            Ok(_) => {}
            Err(e) => {
                if e.kind() == std::io::ErrorKind::NotFound {
                    bail!(
                        "--proc-root {}: no net/tcp inside; point it at a /proc tree",
                        shown(root)
                    );
                }
                bail!(
                    "--proc-root {}: cannot read net/tcp inside ({e}); run as a user who can read it",
                    shown(root)
                );
            }
        }
        Ok(Collector {
            opts,
            users: Users::default(),
            privilege: Privilege::current(),
        })
    }

    pub fn collect(&mut self) -> Result<Collection> {
        let start = Instant::now();
        let root = self.opts.proc_root.clone();
        let mut warnings = Vec::new();
        let netns = read_ns(&root.join("self/ns/net")).unwrap_or(0);

        let pids = fdscan::list_pids(&root)
            .with_context(|| format!("cannot list processes in {}", shown(&root)))?;
        let mut ns_unreadable = Vec::new();
        let spaces = netns::discover(&root, &pids, netns, self.opts.netns, &mut ns_unreadable)
            .map_err(crate::exit::UsageError)?;
        // Kernel threads (asked once per pid and collection) hold no sockets and
        // live in the initial namespace: their unreadable links hide nothing.
        let mut kthreads: HashMap<u32, bool> = HashMap::new();
        let mut is_kthread = |pid: u32| {
            *kthreads
                .entry(pid)
                .or_insert_with(|| is_kernel_thread(&root, pid))
        };
        if self.opts.netns == netns::Selection::All {
            ns_unreadable.retain(|&pid| !is_kthread(pid));
        }
        if !ns_unreadable.is_empty() && self.opts.netns == netns::Selection::All {
            // Their namespaces are still read when another, readable process is in
            // them; one only they are in cannot even be named.
            let n = ns_unreadable.len();
            let shown: Vec<String> = ns_unreadable.iter().take(10).map(u32::to_string).collect();
            warnings.push(format!(
                "/proc/<pid>/ns/net not readable for {n} process{} (pid {}{}): a network namespace only they are in is not read; {}",
                if n == 1 { "" } else { "es" },
                shown.join(", "),
                if n > 10 { ", ..." } else { "" },
                self.privilege.ns_link_fix()
            ));
        }

        // Every table first, then the fd scan (see the module comment).
        let mut sockets = Vec::new();
        // The host table's source when it is read; else netlink only if every
        // other namespace was read through it (fallbacks are warned about).
        let mut host_source = None;
        let mut others_via_netlink = None;
        let mut namespaces = Vec::new();
        for ns in &spaces {
            if ns.is_host {
                let (src, s) = self.read_table(&root, netns, &mut warnings)?;
                host_source = Some(src);
                // Move, not copy: at 100k sockets a copy is 10 MB of peak memory.
                if sockets.is_empty() {
                    sockets = s;
                } else {
                    sockets.extend(s);
                }
                namespaces.push(ns.id);
                continue;
            }
            let netlink_ok = self.opts.source != SourceChoice::Proc;
            match netns::read_other(&root, ns, netlink_ok, self.opts.idle) {
                Ok(t) => {
                    others_via_netlink =
                        Some(others_via_netlink.unwrap_or(true) && t.source == Source::Netlink);
                    if let Some(why) = t.fell_back {
                        let member = ns.member.unwrap_or(0);
                        warnings.push(format!(
                            "network namespace {} (pid {member} {}): {why}; read {}/{member}/net/tcp instead, without idle ages",
                            ns.id,
                            read_comm(&root, member),
                            shown(&root)
                        ));
                    }
                    warn_malformed(&t.malformed, &mut warnings);
                    warnings.extend(t.warnings);
                    sockets.extend(t.sockets);
                    namespaces.push(ns.id);
                }
                Err(why) => {
                    let member = ns.member.map_or_else(String::new, |p| {
                        format!(" (pid {p} {})", read_comm(&root, p))
                    });
                    warnings.push(format!(
                        "network namespace {}{member} skipped: {why}; {}",
                        ns.id,
                        self.privilege.ns_enter_fix()
                    ));
                }
            }
        }

        let source = host_source.unwrap_or(if others_via_netlink == Some(true) {
            Source::Netlink
        } else {
            Source::Proc
        });

        let wanted: fdscan::InodeSet = sockets
            .iter()
            .filter(|s| s.inode != 0)
            .map(|s| s.inode)
            .collect();
        let fds = fdscan::scan(&root, &pids, &wanted, self.opts.threads);

        let mut processes = HashMap::new();
        let mut skipped = Skipped::default();
        for pid in fds.owner_pids() {
            processes.insert(pid, self.read_process(&root, pid, &mut skipped));
        }
        skipped.warn(&root, &mut warnings);

        let unowned = sockets.iter().filter(|s| s.inode == 0).count() as u64;
        // The owner uids of the unattributed sockets: counted here, told apart by
        // the warnings.
        let unattributed_uids: Vec<u32> = sockets
            .iter()
            .filter(|s| s.inode != 0 && fds.owners(s.inode).next().is_none())
            .map(|s| s.uid)
            .collect();
        let unattributed = unattributed_uids.len() as u64;
        if !fds.exhausted.is_empty() {
            // Which sockets the unopened tables hold is unknown: the split below
            // (unreadable owners, churn) would be a guess dressed as a reason.
            warnings.push(exhaustion_warning(&fds, unattributed));
        } else if unattributed > 0 {
            let blocked: Vec<u32> = fds
                .unreadable
                .iter()
                .map(|(pid, _)| *pid)
                .filter(|&pid| !is_kthread(pid))
                .collect();
            self.warn_unattributed(&root, &unattributed_uids, &blocked, &mut warnings);
        }

        Ok(Collection {
            source,
            netns,
            namespaces,
            sockets,
            fds,
            processes,
            unowned,
            unattributed,
            warnings,
            elapsed: start.elapsed(),
        })
    }

    fn read_table(
        &self,
        root: &Path,
        netns: NetnsId,
        warnings: &mut Vec<String>,
    ) -> Result<(Source, Vec<Socket>)> {
        match self.opts.source {
            SourceChoice::Netlink => {
                let d = netlink::dump(netns, self.opts.idle)
                    .context("netlink sock_diag dump failed (try --source proc)")?;
                warnings.extend(d.ipv6_refused);
                Ok((Source::Netlink, d.sockets))
            }
            SourceChoice::Auto => match netlink::dump(netns, self.opts.idle) {
                Ok(d) => {
                    warnings.extend(d.ipv6_refused);
                    Ok((Source::Netlink, d.sockets))
                }
                Err(e) => {
                    warnings.push(format!(
                        "netlink sock_diag unavailable ({e}); read {}/net/tcp instead, without idle ages",
                        shown(root)
                    ));
                    Ok((Source::Proc, read_proc(root, netns, warnings)?))
                }
            },
            SourceChoice::Proc => Ok((Source::Proc, read_proc(root, netns, warnings)?)),
        }
    }

    /// Warn about sockets that have an inode but no readable owner, split by what is
    /// known of each: a socket whose owner uid also runs processes whose fd tables
    /// could not be read (`blocked`, kernel threads left out) may well be theirs;
    /// any other was closed, or its process exited, between the two reads (or the
    /// kernel holds it). Blaming every one on the unreadable processes would be a
    /// lie under churn.
    fn warn_unattributed(
        &mut self,
        root: &Path,
        unattributed_uids: &[u32],
        blocked: &[u32],
        warnings: &mut Vec<String>,
    ) {
        // Every uid a process runs as (real, effective, saved, filesystem): a socket
        // carries the one it was created with.
        let blocked: Vec<(u32, Vec<u32>)> = blocked
            .iter()
            .map(|&pid| {
                let path = root.join(format!("{pid}/status"));
                let uids = fsread::read_bounded(&path, fsread::STATUS, Oversize::Truncate)
                    .map(|b| status_uids(&b))
                    .unwrap_or_default();
                (pid, uids)
            })
            .collect();
        let blocked_uids: std::collections::BTreeSet<u32> = blocked
            .iter()
            .flat_map(|(_, u)| u.iter().copied())
            .collect();
        let (mut hidden, mut gone) = (0u64, 0u64);
        let mut hidden_uids = std::collections::BTreeSet::new();
        for &uid in unattributed_uids {
            if blocked_uids.contains(&uid) {
                hidden += 1;
                hidden_uids.insert(uid);
            } else {
                gone += 1;
            }
        }
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        if hidden > 0 {
            let pids: Vec<u32> = blocked
                .iter()
                .filter(|(_, uids)| uids.iter().any(|u| hidden_uids.contains(u)))
                .map(|(pid, _)| *pid)
                .collect();
            let mut shown: Vec<String> = pids.iter().take(10).map(u32::to_string).collect();
            if pids.len() > 10 {
                shown.push("...".to_string());
            }
            let owners: Vec<String> = hidden_uids
                .iter()
                .take(5)
                .map(|&uid| {
                    let name = self.users.name(uid);
                    if name == uid.to_string() {
                        format!("uid {uid}")
                    } else {
                        format!("uid {uid} {name}")
                    }
                })
                .collect();
            let np = pids.len();
            // Without the capabilities, the unreadable processes are every other
            // user's: most likely the owners. With them, only a few protected ones
            // refuse, and a socket closed mid-scan is as likely.
            let how = if self.privilege.ptrace_and_read {
                "possibly held by processes whose /proc/<pid>/fd is not readable (or closed during the scan)"
            } else {
                "most likely held by processes whose /proc/<pid>/fd is not readable"
            };
            warnings.push(format!(
                "{hidden} socket{} unattributed, {how}: {np} process{} running as {} (pid {}); {}",
                plural(hidden),
                if np == 1 { "" } else { "es" },
                owners.join(", "),
                shown.join(", "),
                self.privilege.fd_fix()
            ));
        }
        if gone > 0 {
            // With hidepid, other users' processes are not even listed: their
            // sockets look ownerless, and "closed during the scan" would be false.
            let hidden_pids = !self.privilege.ptrace_and_read && proc_hides_pids(root);
            let why = if hidden_pids {
                "/proc is mounted with hidepid, so other users' processes are not listed; run as root (or in the proc mount's gid= group) to see them"
            } else {
                "closed, or its process exited, during the scan; or held by the kernel"
            };
            let them = if gone == 1 { "it" } else { "them" };
            let holder = if hidden_pids {
                format!("no visible process holds {them}")
            } else {
                format!("no process holds {them} any more")
            };
            warnings.push(format!(
                "{gone} socket{} unattributed: {holder} ({why})",
                plural(gone)
            ));
        }
    }

    fn read_process(&mut self, root: &Path, pid: u32, skipped: &mut Skipped) -> Process {
        let dir = root.join(pid.to_string());
        let mut read = |name: &str, limit: u64, oversize: Oversize| {
            let path = dir.join(name);
            fsread::read_prefix(&path, limit, oversize)
                .map_err(|e| skipped.note(&path, &e))
                .ok()
        };
        let comm = read("comm", fsread::COMM, Oversize::Refuse)
            .map(|(b, _)| String::from_utf8_lossy(b.trim_ascii_end()).into_owned())
            .unwrap_or_else(|| "?".to_string());
        let uid =
            read("status", fsread::STATUS, Oversize::Truncate).and_then(|(b, _)| status_uid(&b));
        let user = match uid {
            Some(uid) => self.users.name(uid).to_string(),
            None => "?".to_string(),
        };
        let cmdline = self.opts.cmdline.then(|| {
            read("cmdline", fsread::CMDLINE, Oversize::Truncate)
                .map(|(b, cut)| {
                    let mut c = cmdline_string(&b);
                    if cut {
                        c.push_str(" ...");
                    }
                    c
                })
                .unwrap_or_default()
        });
        let container = read("cgroup", fsread::CGROUP, Oversize::Refuse)
            .and_then(|(b, _)| container::from_cgroup(&String::from_utf8_lossy(&b)));
        let netns = read_ns(&dir.join("ns/net")).unwrap_or(0);
        Process {
            pid,
            comm,
            uid,
            user,
            cmdline,
            netns,
            container,
        }
    }
}

fn read_proc(root: &Path, netns: NetnsId, warnings: &mut Vec<String>) -> Result<Vec<Socket>> {
    let t = proc_net::read_tables(&root.join("net"), netns).context("cannot read the TCP table")?;
    warn_malformed(&t.malformed, warnings);
    warnings.extend(t.warnings);
    Ok(t.sockets)
}

/// Files of socket owners (comm, status, cgroup, cmdline) that were odd (a FIFO, a
/// device, oversize) or unreadable for another than the ordinary reasons: the
/// first few named, the rest counted, one warning.
#[derive(Debug, Default)]
struct Skipped {
    first: Vec<String>,
    count: usize,
}

impl Skipped {
    const SHOWN: usize = 5;

    /// Record a failed read; gone or permission-denied files are not news.
    fn note(&mut self, path: &Path, e: &ReadError) {
        if e.is_ordinary() {
            return;
        }
        self.count += 1;
        if self.first.len() < Self::SHOWN {
            let path = shown(path);
            self.first.push(format!("{path}: {e}"));
        }
    }

    fn warn(self, root: &Path, warnings: &mut Vec<String>) {
        if self.count == 0 {
            return;
        }
        warnings.push(format!(
            "{} file{} of socket owners under {} not read, the fields they give shown as unknown: {}{}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            shown(root),
            self.first.join("; "),
            if self.count > self.first.len() {
                format!("; and {} more", self.count - self.first.len())
            } else {
                String::new()
            }
        ));
    }
}

/// sockleak's own fd limit stopped the fd scan: say so, and how to raise it. The
/// counts stay exact (they come from the socket table); only who holds what is
/// incomplete, and every unattributed socket may belong to a table not opened.
fn exhaustion_warning(fds: &FdScan, unattributed: u64) -> String {
    let n = fds.exhausted.len();
    let mut shown: Vec<String> = fds.exhausted.iter().take(10).map(u32::to_string).collect();
    if n > 10 {
        shown.push("...".to_string());
    }
    let effect = if unattributed > 0 {
        format!(
            "{unattributed} socket{} unattributed, most likely held by them",
            if unattributed == 1 { " is" } else { "s are" }
        )
    } else {
        "owners shared with them may be missing".to_string()
    };
    let also = if fds.unreadable.is_empty() {
        String::new()
    } else {
        format!(
            " ({} other fd table{} not readable)",
            fds.unreadable.len(),
            if fds.unreadable.len() == 1 {
                " was"
            } else {
                "s were"
            }
        )
    };
    format!(
        "sockleak ran out of its own file descriptors (limit {} open files): the fd tables of {n} process{} (pid {}) could not be opened, so attribution is incomplete: {effect}{also}; counts and states are exact. Raise the limit: ulimit -n in the shell, LimitNOFILE= in a systemd unit",
        fsread::fd_limit(),
        if n == 1 { "" } else { "es" },
        shown.join(", "),
    )
}

/// A path for messages, control characters escaped (a --proc-root is the
/// caller's, and messages are printed on terminals).
pub fn shown(path: &Path) -> String {
    crate::model::printable(&path.display().to_string()).into_owned()
}

/// A process name for warnings, escaped (warnings are printed on terminals); empty
/// when it is gone.
fn read_comm(root: &Path, pid: u32) -> String {
    let path = root.join(format!("{pid}/comm"));
    fsread::read_bounded(&path, fsread::COMM, Oversize::Refuse)
        .map(|c| {
            let name = String::from_utf8_lossy(c.strip_suffix(b"\n").unwrap_or(&c)).into_owned();
            crate::model::printable(&name).into_owned()
        })
        .unwrap_or_default()
}

fn warn_malformed(malformed: &proc_net::MalformedLog, warnings: &mut Vec<String>) {
    if malformed.is_empty() {
        return;
    }
    // File names are escaped by the reader, reasons quote their fields escaped.
    let shown: Vec<String> = malformed
        .kept()
        .iter()
        .map(|m| format!("{} line {}: {}", m.file, m.line, m.reason))
        .collect();
    warnings.push(format!(
        "{} malformed line{} in the TCP table not counted: {}{}",
        malformed.len(),
        if malformed.len() == 1 { "" } else { "s" },
        shown.join("; "),
        if malformed.len() > shown.len() {
            "; ..."
        } else {
            ""
        }
    ));
}

/// Whether `pid` is a kernel thread (`PF_KTHREAD` in the flags of
/// `/proc/<pid>/stat`, as `ps` tells them apart). Unknown counts as no.
fn is_kernel_thread(root: &Path, pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let path = root.join(format!("{pid}/stat"));
    let Ok(stat) = fsread::read_bounded(&path, fsread::STAT, Oversize::Refuse) else {
        return false;
    };
    // The comm in parentheses may hold spaces and ')': count fields after the last.
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    std::str::from_utf8(&stat[close + 1..])
        .ok()
        .and_then(|rest| rest.split_whitespace().nth(6)?.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// What sockleak may already do, so that a warning's advice fits: "run with sudo" is
/// no help to root, whom the kernel can still refuse (a process that is not dumpable
/// and holds capabilities root lacks here, or a security module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Privilege {
    /// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: every fd table and ns link.
    ptrace_and_read: bool,
    /// CAP_SYS_ADMIN: setns into other namespaces.
    admin: bool,
}

impl Privilege {
    const CAP_DAC_READ_SEARCH: u32 = 2;
    const CAP_SYS_PTRACE: u32 = 19;
    const CAP_SYS_ADMIN: u32 = 21;

    /// Our own effective capabilities, from the kernel (never from a --proc-root).
    fn current() -> Privilege {
        let status = read_bounded(
            Path::new("/proc/self/status"),
            fsread::STATUS,
            Oversize::Truncate,
        )
        .unwrap_or_default();
        Privilege::from_status(&String::from_utf8_lossy(&status))
    }

    fn from_status(status: &str) -> Privilege {
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        let has = |cap: u32| eff & (1 << cap) != 0;
        Privilege {
            ptrace_and_read: has(Self::CAP_SYS_PTRACE) && has(Self::CAP_DAC_READ_SEARCH),
            admin: has(Self::CAP_SYS_ADMIN),
        }
    }

    fn fd_fix(self) -> String {
        if self.ptrace_and_read {
            return "sockleak already has CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, so the kernel refused for another reason: a security module (AppArmor, SELinux, Yama) or a non-dumpable process holding capabilities sockleak lacks".to_string();
        }
        // The path of this very binary: `$(command -v sockleak)` is empty when it
        // was started as ./target/release/sockleak.
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "$(command -v sockleak)".to_string());
        format!(
            "run with sudo, or give the binary the two capabilities it needs: setcap cap_sys_ptrace,cap_dac_read_search+ep {exe}"
        )
    }

    /// For an unreadable `/proc/<pid>/ns/net` link (a ptrace access check).
    fn ns_link_fix(self) -> &'static str {
        if self.ptrace_and_read {
            "sockleak already has CAP_SYS_PTRACE, so the kernel refused for another reason: a security module (AppArmor, SELinux, Yama) or a non-dumpable process holding capabilities sockleak lacks"
        } else {
            "run as root (or give the binary cap_sys_ptrace) to see its sockets"
        }
    }

    /// For a namespace that could be neither entered nor read through /proc.
    fn ns_enter_fix(self) -> &'static str {
        if self.ptrace_and_read && self.admin {
            "sockleak already has CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, so the kernel refused for another reason: a security module (AppArmor, SELinux, Yama) or a non-dumpable process holding capabilities sockleak lacks"
        } else {
            "run as root to see its sockets (entering a namespace needs CAP_SYS_ADMIN)"
        }
    }
}

/// Whether this process was exec'd with more privilege than its user has (file
/// capabilities, setuid or setgid): the kernel sets `AT_SECURE` for exactly that.
pub fn privileged_exec() -> bool {
    // SAFETY: getauxval has no preconditions; it returns 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The real uid: first field of the `Uid:` line of `/proc/<pid>/status`.
fn status_uid(status: &[u8]) -> Option<u32> {
    status_uids(status).first().copied()
}

/// Every field of the `Uid:` line: real, effective, saved and filesystem uid.
fn status_uids(status: &[u8]) -> Vec<u32> {
    let Ok(text) = std::str::from_utf8(status) else {
        return Vec::new();
    };
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|u| u.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the proc file system at `root` hides other users' processes
/// (`hidepid=1|2|noaccess|invisible`, from its super options in mountinfo).
fn proc_hides_pids(root: &Path) -> bool {
    let path = root.join("self/mountinfo");
    let Ok(info) = fsread::read_bounded(&path, fsread::MOUNTINFO, Oversize::Refuse) else {
        return false;
    };
    let info = String::from_utf8_lossy(&info);
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    info.lines().any(|l| {
        let mut halves = l.splitn(2, " - ");
        let (Some(head), Some(tail)) = (halves.next(), halves.next()) else {
            return false;
        };
        let mount_point = head.split(' ').nth(4).unwrap_or("");
        let mut t = tail.split(' ');
        t.next() == Some("proc")
            && Path::new(mount_point) == root
            && t.nth(1).is_some_and(|opts| {
                opts.split(',').any(|o| {
                    matches!(
                        o,
                        "hidepid=1" | "hidepid=2" | "hidepid=noaccess" | "hidepid=invisible"
                    )
                })
            })
    })
}

fn cmdline_string(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    String::from_utf8_lossy(trimmed).replace('\0', " ")
}

/// Inode of a namespace link such as `/proc/self/ns/net`.
pub fn read_ns(link: &Path) -> Option<NetnsId> {
    fdscan::ns_inode(std::fs::read_link(link).ok()?.as_os_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_uid_reads_real_uid() {
        let s = b"Name:\tcurl\nUmask:\t0022\nState:\tS\nUid:\t1000\t1001\t1000\t1000\nGid:\t0\n";
        assert_eq!(status_uid(s), Some(1000));
        assert_eq!(status_uids(s), vec![1000, 1001, 1000, 1000]);
        assert_eq!(status_uid(b"Name: x\n"), None);
    }

    #[test]
    fn hidepid_is_read_from_mountinfo() {
        let dir = std::env::temp_dir().join(format!("sockleak-hidepid-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("self")).unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        let line = |opts: &str| {
            format!(
                "22 1 0:21 / {} rw,nosuid,nodev,noexec,relatime shared:12 - proc proc {opts}\n",
                root.display()
            )
        };
        for (opts, hides) in [
            ("rw,hidepid=invisible", true),
            ("rw,hidepid=2", true),
            ("rw", false),
            ("rw,hidepid=0", false),
        ] {
            std::fs::write(dir.join("self/mountinfo"), line(opts)).unwrap();
            assert_eq!(proc_hides_pids(&dir), hides, "{opts}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn advice_fits_the_privilege_held() {
        let root = Privilege::from_status("Name:\tx\nCapEff:\t000001ffffffffff\n");
        assert_eq!(
            root,
            Privilege {
                ptrace_and_read: true,
                admin: true
            }
        );
        assert!(!root.fd_fix().contains("sudo"));
        assert!(!root.ns_link_fix().contains("run as root"));
        assert!(!root.ns_enter_fix().contains("run as root"));
        // The two setcap capabilities alone (bits 2 and 19): fds and links yes,
        // setns no.
        let setcap = Privilege::from_status("CapEff:\t0000000000080004\n");
        assert!(setcap.ptrace_and_read && !setcap.admin);
        assert!(!setcap.ns_link_fix().contains("run as root"));
        assert!(setcap.ns_enter_fix().contains("CAP_SYS_ADMIN"));
        let nobody = Privilege::from_status("CapEff:\t0000000000000000\n");
        assert!(
            nobody
                .fd_fix()
                .contains("setcap cap_sys_ptrace,cap_dac_read_search+ep")
        );
        assert_eq!(Privilege::from_status("garbage"), nobody);
    }

    #[test]
    fn cmdline_joins_args() {
        assert_eq!(cmdline_string(b"psql\0-h\0db\0"), "psql -h db");
        assert_eq!(cmdline_string(b""), "");
    }
}
