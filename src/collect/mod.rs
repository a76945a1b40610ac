//! Collection: read the kernel's TCP table and join each socket to the processes
//! holding it. Everything here reads through a `/proc` root so that tests can point
//! it at a fixture tree (`--proc-root`).
//!
//! Order matters for honesty under churn: the socket table is read first and the fd
//! tables after, so a socket opened mid-scan is simply not in this snapshot, while
//! one closed mid-scan is counted and labelled unattributed.

pub mod container;
pub mod fdcache;
pub mod fdscan;
pub mod fsread;
pub mod guard;
mod lines;
pub mod names;
pub mod netlink;
pub mod netns;
mod nlattr;
pub mod peek;
mod privilege;
pub mod proc_net;
pub mod recheck;
pub mod trace;
pub mod unix;
pub mod users;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::model::scan::{ScanInfo, ScanTotals, millis};
use crate::model::unix::Proto;
use crate::model::warning::{
    LINES_SHOWN, MalformedLine, NamedPid, PIDS_SHOWN, Privilege, USERS_SHOWN, Warning,
};
use crate::model::{FdUsage, LocalPorts, NetnsId, Process, Socket, Source};
use fdscan::FdScan;
use fsread::Oversize;
pub use fsread::{ReadError, raise_fd_limit, read_bounded};
pub use privilege::privileged_exec;
use privilege::current_privilege;
use users::Users;

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
    /// Read only the fd tables of these processes (`--pid`, `--process`,
    /// `--user`): a focused query costs what it reads.
    pub focus: Option<Focus>,
    /// Sample incrementally (`--watch`, `serve`): re-read only the fd tables that
    /// can have changed since the last collection ([`fdcache`]).
    pub incremental: bool,
    /// Read the unix socket table too (`--proto unix|all`).
    pub unix: bool,
}

/// The processes a focused query reads the fd tables of: every list that is not
/// empty must admit a process (the owner filters' own rule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub uids: Vec<u32>,
}

/// What [`Focus::admits`] read of a process, passed on so that its owner's
/// `comm` and `status` are not read twice ([`Collector::read_process`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub comm: Option<String>,
    pub uid: Option<u32>,
    /// The full names (`argv[0]`, exe) read when `comm` alone did not match
    /// `--process` ([`names::full_names`]).
    pub names: Vec<String>,
}

impl Focus {
    /// Whether `pid` may hold a socket the query shows, from its `comm` and
    /// `status` (two small reads, far cheaper than its fd table), with what was
    /// read. Unreadable means no: such a process would not pass the owner filter
    /// either.
    fn admits(&self, root: &Path, pid: u32) -> Option<Known> {
        if !self.pids.is_empty() && !self.pids.contains(&pid) {
            return None;
        }
        let dir = root.join(pid.to_string());
        let mut known = Known::default();
        if !self.comms.is_empty() {
            let comm =
                fsread::read_bounded(&dir.join("comm"), fsread::COMM, Oversize::Refuse).ok()?;
            let comm = String::from_utf8_lossy(comm.trim_ascii_end()).into_owned();
            if !self.comms.contains(&comm) {
                // The kernel cuts comm to 15 characters, and a process may be
                // known by its program's name: two more reads, only here.
                let full = names::full_names(&dir);
                if !self.comms.iter().any(|c| names::matches(c, &comm, &full)) {
                    return None;
                }
                known.names = full;
            }
            known.comm = Some(comm);
        }
        if !self.uids.is_empty() {
            let status =
                fsread::read_bounded(&dir.join("status"), fsread::STATUS, Oversize::Truncate);
            let uid = status.ok().and_then(|s| status_uid(&s))?;
            if !self.uids.contains(&uid) {
                return None;
            }
            known.uid = Some(uid);
        }
        Some(known)
    }
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
            focus: None,
            incremental: false,
            unix: false,
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
    /// Sockets with an inode that no readable process holds; `None` for a focused
    /// query, which reads only some fd tables and cannot know.
    pub unattributed: Option<u64>,
    /// What could not be seen, and why; shown to the user.
    pub warnings: Vec<Warning>,
    pub elapsed: Duration,
    /// Each namespace's ephemeral port range (absent: Linux's default), for the
    /// direction of sockets no listener explains, and its reserved ports, for the
    /// ports a destination can use.
    pub port_ranges: HashMap<NetnsId, LocalPorts>,
    /// User names of the uids of unattributed sockets (their groups carry them).
    pub uid_names: HashMap<u32, String>,
    /// How the fd tables were read (all, or incrementally).
    pub scan: fdcache::ScanStats,
    /// Where each socket's `(inode, pid)` pairs start in `fds` ([`FdScan::starts`]);
    /// empty for a collection built in memory (then `fds` is searched).
    pub starts: Vec<u32>,
    /// What the collection cost; `None` for one built in memory.
    pub cost: Option<Cost>,
    /// The unix sockets, when asked for (`Options::unix`).
    pub unix: Option<unix::UnixCollection>,
    /// This host's name (read with the tables, so that the report layer does no
    /// I/O).
    pub host: String,
}

/// What a collection cost: its report's `scan` ([`Collection::scan_info`]).
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Reading every namespace's socket table.
    pub table: Duration,
    /// The fd scan and reading the owners' process files.
    pub fds: Duration,
    /// The process's CPU clock when the collection started.
    pub cpu_start: Duration,
    /// The collector's running counts, this collection included.
    pub totals: ScanTotals,
}

impl Collection {
    /// How this collection was taken, with the CPU time spent since it started
    /// (so a report made from it right away counts its aggregation too).
    pub fn scan_info(&self) -> Option<ScanInfo> {
        let cost = self.cost?;
        let kind = self.scan.kind();
        Some(ScanInfo {
            kind,
            full_reason: self.scan.reason(),
            trigger: self.scan.trigger,
            fd_tables_read: self.fds.tables_read,
            fds_read: self.fds.fds_read,
            table_ms: millis(cost.table),
            fds_ms: millis(cost.fds),
            cpu_ms: millis(process_cpu().saturating_sub(cost.cpu_start)),
            totals: cost.totals,
        })
    }

    /// Who holds socket `i` of the table, as `(inode, pid)` pairs.
    pub fn held(&self, i: usize) -> &[(u64, u32)] {
        let inode = self.sockets[i].inode;
        match self.starts.get(i) {
            Some(&start) if self.starts.len() == self.sockets.len() => {
                self.fds.held_from(start, inode)
            }
            _ => self.fds.held(inode),
        }
    }
}

/// The tables of every namespace read.
#[derive(Default)]
struct Tables {
    sockets: Vec<Socket>,
    /// Idle ages the guarded tcp_info reads could not get, every namespace's.
    info_gaps: netlink::InfoGaps,
    namespaces: Vec<NetnsId>,
    source: Source,
    port_ranges: HashMap<NetnsId, LocalPorts>,
}

impl Tables {
    /// A namespace's ephemeral ports; a reserved-ports file that could not be
    /// read whole is warned about (its reserved ports may count as usable).
    fn add_ports(&mut self, ns: NetnsId, read: netns::PortsRead, warnings: &mut Vec<Warning>) {
        if let Some(problem) = read.problem {
            warnings.push(Warning::ReservedPortsIgnored { netns: ns, problem });
        }
        self.port_ranges.insert(ns, read.ports);
    }
}

/// What the unattributed-socket warnings need to know of the processes whose fd
/// tables could not be read, read once per collection for every table.
struct Blocked {
    /// Each such process (kernel threads left out) and every uid it runs as
    /// (real, effective, saved, filesystem): a socket carries the one it was
    /// created with.
    owners: Vec<(u32, Vec<u32>)>,
    uids: BTreeSet<u32>,
    /// /proc hides other users' processes (`hidepid`).
    hidepid: bool,
}

impl Blocked {
    fn read(root: &Path, fds: &FdScan, kthreads: &mut KernelThreads) -> Blocked {
        let owners: Vec<(u32, Vec<u32>)> = fds
            .unreadable
            .iter()
            .map(|(pid, _)| *pid)
            .filter(|&pid| !kthreads.is(pid))
            .map(|pid| {
                let path = root.join(format!("{pid}/status"));
                let uids = fsread::read_bounded(&path, fsread::STATUS, Oversize::Truncate)
                    .map(|b| status_uids(&b))
                    .unwrap_or_default();
                (pid, uids)
            })
            .collect();
        let uids = owners.iter().flat_map(|(_, u)| u.iter().copied()).collect();
        Blocked {
            owners,
            uids,
            hidepid: proc_hides_pids(root),
        }
    }
}

/// The warning for sockets whose lock kept the idle-age read waiting, naming
/// their holders (the fd scan knows them).
fn warn_locked(
    gaps: &netlink::InfoGaps,
    fds: &FdScan,
    processes: &HashMap<u32, Process>,
    warnings: &mut Vec<Warning>,
) {
    if gaps.is_empty() {
        return;
    }
    let mut pids: Vec<u32> = gaps
        .locked
        .iter()
        .flat_map(|&(inode, _)| fds.owners(inode))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let holders = pids
        .iter()
        .take(PIDS_SHOWN)
        .map(|&pid| NamedPid {
            pid,
            comm: processes
                .get(&pid)
                .map_or_else(|| "?".into(), |p| p.comm.clone()),
        })
        .collect();
    warnings.push(Warning::SocketsLocked {
        locked: gaps.locked.len(),
        holders,
        ages_missing: gaps.ages_missing,
        cause: gaps.cause.clone(),
    });
}

/// Kernel threads (asked once per pid and collection) hold no sockets and live in
/// the initial namespace: their unreadable links hide nothing.
struct KernelThreads<'a> {
    root: &'a Path,
    known: HashMap<u32, bool>,
}

impl<'a> KernelThreads<'a> {
    fn new(root: &'a Path) -> Self {
        KernelThreads {
            root,
            known: HashMap::new(),
        }
    }

    fn is(&mut self, pid: u32) -> bool {
        let root = self.root;
        *self
            .known
            .entry(pid)
            .or_insert_with(|| is_kernel_thread(root, pid))
    }
}

/// Reusable collector: keeps caches (user names) across `--watch` samples.
#[derive(Debug)]
pub struct Collector {
    opts: Options,
    users: Users,
    /// Our own capabilities, for advice that fits (read once).
    privilege: Privilege,
    /// The last sample's fd tables, when sampling incrementally.
    fd_cache: Option<fdcache::FdCache>,
    /// How every collection so far was taken.
    totals: ScanTotals,
}

impl Collector {
    /// The `/proc` tree every read goes through (`--proc-root`).
    pub fn proc_root(&self) -> &Path {
        &self.opts.proc_root
    }

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
        // A --netns naming no pid and no namespace is a usage error now, at start
        // (serve would otherwise answer every scrape with it).
        if let netns::Selection::Id(_) = opts.netns {
            let host = read_ns(&root.join("self/ns/net")).unwrap_or(0);
            let pids = fdscan::list_pids(root)
                .with_context(|| format!("cannot list processes in {}", root.display()))?;
            netns::discover(root, &pids, host, opts.netns, &mut Vec::new())
                .map_err(crate::exit::UsageError)?;
        }
        // A focused query already reads only a few tables.
        let fd_cache = (opts.incremental && opts.focus.is_none())
            .then(|| fdcache::FdCache::for_root(root))
            .flatten();
        Ok(Collector {
            opts,
            users: Users::default(),
            privilege: current_privilege(),
            fd_cache,
            totals: ScanTotals::default(),
        })
    }

    pub fn collect(&mut self) -> Result<Collection> {
        let start = Instant::now();
        let cpu_start = process_cpu();
        let root = self.opts.proc_root.clone();
        let mut warnings = Vec::new();
        let netns = read_ns(&root.join("self/ns/net")).unwrap_or(0);
        let pids = fdscan::list_pids(&root)
            .with_context(|| format!("cannot list processes in {}", shown(&root)))?;
        let mut kthreads = KernelThreads::new(&root);
        let spaces = self.namespaces(&root, &pids, netns, &mut kthreads, &mut warnings)?;
        // Every table first, then the fd scan (see the module comment).
        let mut tables = self.read_tables(&root, netns, &spaces, &mut warnings)?;
        let sockets = std::mem::take(&mut tables.sockets);
        let mut unix = match self.opts.unix {
            true => Some(self.read_unix(&root, netns, &spaces, &mut warnings)?),
            false => None,
        };
        let table_time = start.elapsed();

        // Unix inodes are wanted too: their holders come from the same one scan.
        let unix_inodes = unix.iter().flat_map(|u| u.sockets.iter().map(|s| s.inode));
        let wanted: fdscan::InodeSet = sockets
            .iter()
            .map(|s| s.inode)
            .chain(unix_inodes)
            .filter(|&i| i != 0)
            .collect();
        let known: HashMap<u32, Known> = match &self.opts.focus {
            Some(f) => pids
                .iter()
                .filter_map(|&p| Some((p, f.admits(&root, p)?)))
                .collect(),
            None => HashMap::new(),
        };
        let scanned: Vec<u32> = match &self.opts.focus {
            Some(_) => {
                let mut admitted: Vec<u32> = known.keys().copied().collect();
                admitted.sort_unstable();
                admitted
            }
            None => pids,
        };
        let (mut fds, scan) = match &mut self.fd_cache {
            Some(cache) => cache.scan(&root, &scanned, &sockets, &wanted, self.opts.threads),
            None => (
                fdscan::scan(&root, &scanned, &wanted, self.opts.threads),
                fdcache::ScanStats::default(),
            ),
        };
        drop(wanted);
        let processes = self.owners(&root, &spaces, &mut fds, netns, &known, &mut warnings);
        warn_locked(&tables.info_gaps, &fds, &processes, &mut warnings);
        let fds_time = start.elapsed().saturating_sub(table_time);
        self.totals.add(scan.kind(), fds.tables_read);

        let unowned = sockets.iter().filter(|s| s.inode == 0).count() as u64;
        let starts = fds.starts(sockets.iter().map(|s| s.inode));
        let (unattributed, uid_names) = self.unattributed(
            &root,
            (&sockets, &starts, unix.as_mut()),
            &mut kthreads,
            &mut warnings,
            &fds,
        );

        Ok(Collection {
            source: tables.source,
            netns,
            namespaces: tables.namespaces,
            sockets,
            fds,
            processes,
            unowned,
            unattributed,
            warnings,
            elapsed: start.elapsed(),
            port_ranges: tables.port_ranges,
            uid_names,
            scan,
            starts,
            cost: Some(Cost {
                table: table_time,
                fds: fds_time,
                cpu_start,
                totals: self.totals,
            }),
            unix,
            host: fsread::hostname(),
        })
    }

    /// The host namespace's unix table: netlink (with peers), or /proc/net/unix
    /// (without; warned). Other namespaces' unix sockets are not read (warned).
    fn read_unix(
        &self,
        root: &Path,
        netns: NetnsId,
        spaces: &[netns::Namespace],
        warnings: &mut Vec<Warning>,
    ) -> Result<unix::UnixCollection> {
        let others = spaces.iter().filter(|n| !n.is_host).count();
        if others > 0 {
            warnings.push(Warning::UnixOtherNetns { namespaces: others });
        }
        if !spaces.iter().any(|n| n.is_host) {
            return Ok(unix::UnixCollection::default());
        }
        let proc = |why: Option<String>, warnings: &mut Vec<Warning>| {
            let t = unix::read_proc(&root.join("net"), netns)?;
            warn_malformed(&t.malformed, warnings);
            warnings.push(Warning::UnixWithoutPeers {
                why,
                root: shown(root),
            });
            anyhow::Ok(unix::UnixCollection {
                sockets: t.sockets,
                source: Source::Proc,
                ..Default::default()
            })
        };
        let netlink = |sockets| unix::UnixCollection {
            sockets,
            source: Source::Netlink,
            ..Default::default()
        };
        match self.opts.source {
            SourceChoice::Proc => proc(None, warnings),
            SourceChoice::Netlink => Ok(netlink(
                unix::dump(netns)
                    .context("netlink sock_diag dump of unix sockets failed (try --source proc)")?,
            )),
            SourceChoice::Auto => {
                match unix::dump(netns) {
                    Ok(s) => Ok(netlink(s)),
                    Err(e) if crate::exit::is_out_of_fds(&e) => Err(anyhow::Error::new(e)
                        .context("netlink sock_diag dump of unix sockets failed")),
                    Err(e) => proc(Some(e.to_string()), warnings),
                }
            }
        }
    }

    /// Count the sockets no scanned process holds and say why they may be so; the
    /// users of their uids, for their groups. Focused, neither can be known. The
    /// unix table (when read) is joined to the scan and warned about alike.
    fn unattributed(
        &mut self,
        root: &Path,
        (sockets, starts, unix): (&[Socket], &[u32], Option<&mut unix::UnixCollection>),
        kthreads: &mut KernelThreads,
        warnings: &mut Vec<Warning>,
        fds: &FdScan,
    ) -> (Option<u64>, HashMap<u32, String>) {
        let mut blocked = None;
        // The owner uids of the unattributed sockets: counted here, told apart by
        // the warnings, and named in their groups.
        let unattributed_uids: Vec<u32> = sockets
            .iter()
            .zip(starts)
            .filter(|(s, start)| s.inode != 0 && **start == fdscan::NO_PAIRS)
            .map(|(s, _)| s.uid)
            .collect();
        let unattributed = unattributed_uids.len() as u64;
        let focused = self.opts.focus.is_some();
        if !fds.exhausted.is_empty() {
            // Which sockets the unopened tables hold is unknown: the split below
            // (unreadable owners, churn) would be a guess dressed as a reason.
            let unknown = if focused { 0 } else { unattributed };
            warnings.push(exhaustion_warning(fds, unknown));
        } else if focused && !fds.unreadable.is_empty() {
            // Their sockets are simply not shown: say whose, and the fix.
            warnings.push(Warning::FocusUnreadable {
                processes: fds.unreadable.len(),
                pids: fds
                    .unreadable
                    .iter()
                    .take(PIDS_SHOWN)
                    .map(|(p, _)| *p)
                    .collect(),
                privilege: self.privilege.clone(),
            });
        } else if unattributed > 0 && !focused {
            let blocked = blocked.get_or_insert_with(|| Blocked::read(root, fds, kthreads));
            let uids: Vec<Option<u32>> = unattributed_uids.iter().copied().map(Some).collect();
            self.warn_unattributed(Proto::Tcp, &uids, blocked, warnings);
        }
        if let Some(u) = unix {
            u.join(fds, focused);
            self.warn_unix_unattributed(root, u, (kthreads, &mut blocked), fds, warnings);
        }
        // Focused, the sockets no scanned process holds are other processes'.
        let uid_names = if focused {
            HashMap::new()
        } else {
            unattributed_uids
                .iter()
                .map(|&uid| (uid, self.users.name(uid).to_string()))
                .collect()
        };
        ((!focused).then_some(unattributed), uid_names)
    }

    /// The unix table's unattributed sockets, told apart as TCP's are (their
    /// uids from `UNIX_DIAG_UID`). Nothing when focused (unknown), or when
    /// sockleak ran out of fds (that warning covers every table).
    fn warn_unix_unattributed(
        &mut self,
        root: &Path,
        u: &unix::UnixCollection,
        (kthreads, blocked): (&mut KernelThreads, &mut Option<Blocked>),
        fds: &FdScan,
        warnings: &mut Vec<Warning>,
    ) {
        if u.unattributed.unwrap_or(0) == 0 || !fds.exhausted.is_empty() {
            return;
        }
        let uids: Vec<Option<u32>> = u
            .sockets
            .iter()
            .zip(&u.starts)
            .filter(|(s, start)| s.inode != 0 && **start == fdscan::NO_PAIRS)
            .map(|(s, _)| s.uid)
            .collect();
        let blocked = blocked.get_or_insert_with(|| Blocked::read(root, fds, kthreads));
        self.warn_unattributed(Proto::Unix, &uids, blocked, warnings);
    }

    /// The namespaces whose tables to read, warning about processes whose
    /// namespace link cannot be read.
    fn namespaces(
        &self,
        root: &Path,
        pids: &[u32],
        netns: NetnsId,
        kthreads: &mut KernelThreads,
        warnings: &mut Vec<Warning>,
    ) -> Result<Vec<netns::Namespace>> {
        let mut ns_unreadable = Vec::new();
        let spaces = netns::discover(root, pids, netns, self.opts.netns, &mut ns_unreadable)
            .map_err(crate::exit::UsageError)?;
        if self.opts.netns == netns::Selection::All {
            ns_unreadable.retain(|&pid| !kthreads.is(pid));
        }
        if !ns_unreadable.is_empty() && self.opts.netns == netns::Selection::All {
            // Their namespaces are still read when another, readable process is in
            // them; one only they are in cannot even be named.
            warnings.push(Warning::NsLinksUnreadable {
                count: ns_unreadable.len(),
                pids: ns_unreadable.iter().take(PIDS_SHOWN).copied().collect(),
                privilege: self.privilege.clone(),
            });
        }
        Ok(spaces)
    }

    /// Every namespace's table, the host's first.
    fn read_tables(
        &self,
        root: &Path,
        netns: NetnsId,
        spaces: &[netns::Namespace],
        warnings: &mut Vec<Warning>,
    ) -> Result<Tables> {
        let mut t = Tables::default();
        // The host table's source when it is read; else netlink only if every
        // other namespace was read through it (fallbacks are warned about).
        let mut host_source = None;
        let mut others_via_netlink = None;
        for ns in spaces {
            if ns.is_host {
                let (src, s, gaps) = self.read_table(root, netns, self.opts.idle, warnings)?;
                t.info_gaps.add(gaps);
                host_source = Some(src);
                // Move, not copy: at 100k sockets a copy is 10 MB of peak memory.
                if t.sockets.is_empty() {
                    t.sockets = s;
                } else {
                    t.sockets.extend(s);
                }
                t.namespaces.push(ns.id);
                if let Some(read) = netns::read_local_ports(root) {
                    t.add_ports(ns.id, read, warnings);
                }
                continue;
            }
            let netlink_ok = self.opts.source != SourceChoice::Proc;
            match netns::read_other(root, ns, netlink_ok, self.opts.idle) {
                Ok(other) => {
                    // Its IPv6 table's trouble, named by namespace (the host's
                    // own is not): these were dropped before.
                    warnings.extend(other.warnings.iter().map(|w| in_netns(w, ns.id)));
                    others_via_netlink =
                        Some(others_via_netlink.unwrap_or(true) && other.source == Source::Netlink);
                    if let Some(why) = other.fell_back {
                        warnings.push(Warning::NetnsFellBack {
                            netns: ns.id,
                            member: named(root, ns.member.unwrap_or(0)),
                            why,
                            root: root.display().to_string(),
                        });
                    }
                    warn_malformed(&other.malformed, warnings);
                    t.info_gaps.add(other.info_gaps);
                    t.sockets.extend(other.sockets);
                    t.namespaces.push(ns.id);
                    if let Some(read) = other.ports {
                        t.add_ports(ns.id, read, warnings);
                    }
                }
                Err(why) => warnings.push(Warning::NetnsSkipped {
                    netns: ns.id,
                    member: ns.member.map(|p| named(root, p)),
                    why,
                    privilege: self.privilege.clone(),
                }),
            }
        }
        t.source = host_source.unwrap_or(if others_via_netlink == Some(true) {
            Source::Netlink
        } else {
            Source::Proc
        });
        Ok(t)
    }

    /// Every process holding a socket of the table or a reset-but-held one (the
    /// scan's candidates confirmed by [`Collector::confirm_closed`]), read.
    fn owners(
        &mut self,
        root: &Path,
        spaces: &[netns::Namespace],
        fds: &mut FdScan,
        host: NetnsId,
        known: &HashMap<u32, Known>,
        warnings: &mut Vec<Warning>,
    ) -> HashMap<u32, Process> {
        let mut processes = HashMap::new();
        let mut skipped = Skipped::default();
        // The holders of reset-but-held candidates too: their namespaces decide
        // which candidates stand (`confirm_closed`).
        let mut pids = fds.owner_pids();
        pids.extend(fds.closed.iter().map(|(_, p)| *p));
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            let open = fds.open_fds(pid);
            let p = self.read_process(root, pid, open, known.get(&pid), &mut skipped);
            processes.insert(pid, p);
        }
        if !fds.closed.is_empty() {
            self.confirm_closed(root, spaces, fds, &mut processes, host);
        }
        skipped.warn(root, warnings);
        warn_unexamined(fds, warnings);
        processes
    }

    /// Keep only the reset-but-held candidates of the fd scan that are really in
    /// no table: held by a process in a namespace whose table was read (a socket
    /// of an unread namespace is no more closed than any other), and still in no
    /// table on a second read (a connection opened between the table read and the
    /// fd scan is simply not in this snapshot). Holders of none that stand are
    /// dropped from `processes`.
    fn confirm_closed(
        &mut self,
        root: &Path,
        spaces: &[netns::Namespace],
        fds: &mut FdScan,
        processes: &mut HashMap<u32, Process>,
        host: NetnsId,
    ) {
        let ns_of = |pid: u32| match processes.get(&pid).map_or(0, |p| p.netns) {
            0 => host,
            ns => ns,
        };
        let mut involved: Vec<NetnsId> = fds.closed.iter().map(|(_, p)| ns_of(*p)).collect();
        involved.sort_unstable();
        involved.dedup();
        // The second read: inode sets only, no idle ages (cheaper), and a table
        // that cannot be read again keeps nothing (no guess).
        let mut seen = fdscan::InodeSet::default();
        let mut readable = Vec::new();
        for ns in spaces.iter().filter(|n| involved.contains(&n.id)) {
            let table = if ns.is_host {
                let mut ignored = Vec::new();
                self.read_table(root, host, false, &mut ignored)
                    .map(|(_, s, _)| s)
                    .ok()
            } else {
                let netlink_ok = self.opts.source != SourceChoice::Proc;
                netns::read_other(root, ns, netlink_ok, false)
                    .map(|t| t.sockets)
                    .ok()
            };
            if let Some(t) = table {
                seen.extend(t.iter().map(|s| s.inode));
                readable.push(ns.id);
            }
        }
        fds.retain_closed(|(inode, pid)| readable.contains(&ns_of(*pid)) && !seen.contains(inode));
        // Processes that only held candidates dropped here are no owners.
        let mut owners: BTreeSet<u32> = fds.owner_pids().into_iter().collect();
        owners.extend(fds.closed.iter().map(|(_, p)| *p));
        processes.retain(|pid, _| owners.contains(pid));
    }

    /// The host namespace's table; with `idle`, netlink's idle ages (and what
    /// could not be aged).
    fn read_table(
        &self,
        root: &Path,
        netns: NetnsId,
        idle: bool,
        warnings: &mut Vec<Warning>,
    ) -> Result<(Source, Vec<Socket>, netlink::InfoGaps)> {
        let none = netlink::InfoGaps::default;
        match self.opts.source {
            SourceChoice::Netlink => {
                let d = netlink::dump(netns, idle)
                    .context("netlink sock_diag dump failed (try --source proc)")?;
                warnings.extend(d.ipv6_refused.map(|why| Warning::Ipv6NotCounted { why }));
                Ok((Source::Netlink, d.sockets, d.info_gaps))
            }
            // Out of our own file descriptors, /proc/net/tcp could not be opened
            // either, and "netlink unavailable" would be a lie: fail, saying so.
            SourceChoice::Auto => match netlink::dump(netns, idle) {
                Err(e) if crate::exit::is_out_of_fds(&e) => {
                    Err(anyhow::Error::new(e).context(format!(
                        "sockleak is out of file descriptors (limit {}): cannot open a netlink socket; raise the limit (ulimit -n, LimitNOFILE=)",
                        fsread::fd_limit()
                    )))
                }
                Ok(d) => {
                    warnings.extend(d.ipv6_refused.map(|why| Warning::Ipv6NotCounted { why }));
                    Ok((Source::Netlink, d.sockets, d.info_gaps))
                }
                // Asked to stop while a guarded read waited: no fallback.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    Err(anyhow::Error::new(e).context("interrupted"))
                }
                Err(e) => {
                    warnings.push(Warning::NetlinkUnavailable {
                        error: e.to_string(),
                        root: shown(root),
                    });
                    Ok((Source::Proc, read_proc(root, netns, warnings)?, none()))
                }
            },
            SourceChoice::Proc => Ok((Source::Proc, read_proc(root, netns, warnings)?, none())),
        }
    }

    /// Warn about sockets of `proto` that have an inode but no readable owner,
    /// split by what is known of each: a socket whose owner uid also runs
    /// processes whose fd tables could not be read (`blocked`) may well be theirs;
    /// any other was closed, or its process exited, between the two reads (or the
    /// kernel holds it). Blaming every one on the unreadable processes would be a
    /// lie under churn. A socket of unknown uid (`/proc/net/unix`) may be theirs
    /// whenever any fd table was unreadable.
    fn warn_unattributed(
        &mut self,
        proto: Proto,
        unattributed_uids: &[Option<u32>],
        blocked: &Blocked,
        warnings: &mut Vec<Warning>,
    ) {
        let (mut hidden, mut gone) = (0u64, 0u64);
        let (mut hidden_uids, mut gone_uids) = (BTreeSet::new(), BTreeSet::new());
        let mut unknown_hidden = false;
        for &uid in unattributed_uids {
            match uid {
                Some(uid) if blocked.uids.contains(&uid) => {
                    hidden += 1;
                    hidden_uids.insert(uid);
                }
                None if !blocked.owners.is_empty() => {
                    hidden += 1;
                    unknown_hidden = true;
                }
                Some(uid) => {
                    gone += 1;
                    gone_uids.insert(uid);
                }
                None => gone += 1,
            }
        }
        if hidden > 0 {
            let pids: Vec<u32> = blocked
                .owners
                .iter()
                .filter(|(_, uids)| unknown_hidden || uids.iter().any(|u| hidden_uids.contains(u)))
                .map(|(pid, _)| *pid)
                .collect();
            let owners = hidden_uids
                .iter()
                .take(USERS_SHOWN)
                .map(|&uid| (uid, self.users.name(uid).to_string()))
                .collect();
            warnings.push(Warning::UnattributedHeld {
                proto,
                sockets: hidden,
                processes: pids.len(),
                pids: pids.into_iter().take(PIDS_SHOWN).collect(),
                owners,
                privilege: self.privilege.clone(),
            });
        }
        if gone > 0 {
            warnings.push(Warning::UnattributedGone {
                proto,
                sockets: gone,
                owners: gone_uids
                    .iter()
                    .take(USERS_SHOWN)
                    .map(|&uid| (uid, self.users.name(uid).to_string()))
                    .collect(),
                hidepid: !self.privilege.ptrace_and_read && blocked.hidepid,
            });
        }
    }

    fn read_process(
        &mut self,
        root: &Path,
        pid: u32,
        open_fds: Option<u64>,
        known: Option<&Known>,
        skipped: &mut Skipped,
    ) -> Process {
        let dir = root.join(pid.to_string());
        let mut read = |name: &str, limit: u64, oversize: Oversize| {
            let path = dir.join(name);
            fsread::read_prefix(&path, limit, oversize)
                .map_err(|e| skipped.note(&path, &e))
                .ok()
        };
        // What a focused query's `Focus::admits` already read is not read again.
        let comm = match known.and_then(|k| k.comm.clone()) {
            Some(comm) => comm,
            None => read("comm", fsread::COMM, Oversize::Refuse)
                .map(|(b, _)| String::from_utf8_lossy(b.trim_ascii_end()).into_owned())
                .unwrap_or_else(|| "?".to_string()),
        };
        let uid = match known.and_then(|k| k.uid) {
            Some(uid) => Some(uid),
            None => {
                read("status", fsread::STATUS, Oversize::Truncate).and_then(|(b, _)| status_uid(&b))
            }
        };
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
        let fds = match (open_fds, read("limits", fsread::STATUS, Oversize::Refuse)) {
            (Some(open), Some((limits, _))) => {
                nofile_soft_limit(&limits).map(|limit| FdUsage { open, limit })
            }
            _ => None,
        };
        Process {
            pid,
            comm,
            full_names: known.map(|k| k.names.clone()).unwrap_or_default(),
            uid,
            user,
            cmdline,
            netns,
            container,
            fds,
        }
    }
}

fn read_proc(root: &Path, netns: NetnsId, warnings: &mut Vec<Warning>) -> Result<Vec<Socket>> {
    let t = proc_net::read_tables(&root.join("net"), netns).context("cannot read the TCP table")?;
    warn_malformed(&t.malformed, warnings);
    warnings.extend(
        t.warnings
            .into_iter()
            .map(|why| Warning::Ipv6NotCounted { why }),
    );
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

    fn warn(self, root: &Path, warnings: &mut Vec<Warning>) {
        if self.count == 0 {
            return;
        }
        warnings.push(Warning::FilesSkipped {
            count: self.count,
            first: self.first,
            root: shown(root),
        });
    }
}

/// sockleak's own fd limit stopped the fd scan: say so, and how to raise it. The
/// counts stay exact (they come from the socket table); only who holds what is
/// incomplete, and every unattributed socket may belong to a table not opened.
fn exhaustion_warning(fds: &FdScan, unattributed: u64) -> Warning {
    Warning::OwnFdsExhausted {
        limit: fsread::fd_limit(),
        processes: fds.exhausted.len(),
        pids: fds.exhausted.iter().take(PIDS_SHOWN).copied().collect(),
        unattributed,
        unreadable: fds.unreadable.len(),
    }
}

/// A path for messages, control characters escaped (a --proc-root is the
/// caller's, and messages are printed on terminals).
pub fn shown(path: &Path) -> String {
    crate::model::printable(&path.display().to_string()).into_owned()
}

/// A process for warnings: its pid and escaped name (empty when it is gone).
fn named(root: &Path, pid: u32) -> NamedPid {
    let path = root.join(format!("{pid}/comm"));
    let comm = fsread::read_bounded(&path, fsread::COMM, Oversize::Refuse)
        .map(|c| {
            let name = String::from_utf8_lossy(c.strip_suffix(b"\n").unwrap_or(&c)).into_owned();
            crate::model::printable(&name).into_owned()
        })
        .unwrap_or_default();
    NamedPid { pid, comm }
}

/// The soft limit of `Max open files` in a `/proc/<pid>/limits`; `None` when the
/// line is missing, malformed, or says `unlimited`.
fn nofile_soft_limit(limits: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(limits).ok()?;
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Processes holding more unmatched socket fds than the protocol question is
/// asked for: their reset-but-held sockets may be undercounted.
fn warn_unexamined(fds: &FdScan, warnings: &mut Vec<Warning>) {
    if fds.unexamined.is_empty() {
        return;
    }
    warnings.push(Warning::ClosedUnexamined {
        sockets: fds.unexamined.iter().map(|(_, n)| n).sum(),
        pids: fds
            .unexamined
            .iter()
            .take(PIDS_SHOWN)
            .map(|(p, _)| *p)
            .collect(),
        asked: fdscan::MAX_PROTOCOL_QUESTIONS,
    });
}

/// A warning about another namespace's table, saying which namespace.
fn in_netns(w: &Warning, netns: NetnsId) -> Warning {
    match w {
        Warning::Ipv6NotCounted { why } => Warning::Ipv6NotCounted {
            why: format!("network namespace {netns}: {why}"),
        },
        other => other.clone(),
    }
}

fn warn_malformed(malformed: &proc_net::MalformedLog, warnings: &mut Vec<Warning>) {
    if malformed.is_empty() {
        return;
    }
    // File names are escaped by the reader, reasons quote their fields escaped.
    warnings.push(Warning::MalformedLines {
        count: malformed.len(),
        shown: malformed
            .kept()
            .iter()
            .take(LINES_SHOWN)
            .map(|m| MalformedLine {
                file: m.file.clone(),
                line: m.line,
                reason: m.reason.clone(),
            })
            .collect(),
    });
}

/// Whether `pid` is a kernel thread (`PF_KTHREAD` in the flags of
/// `/proc/<pid>/stat`, as `ps` tells them apart). Unknown counts as no.
fn is_kernel_thread(root: &Path, pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    stat_field(root, pid, 9).is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Numeric field `n` (1-based, as in proc(5): 9 is the flags, 22 the start time) of
/// `/proc/<pid>/stat`.
pub(crate) fn stat_field(root: &Path, pid: u32, n: usize) -> Option<u64> {
    let path = root.join(format!("{pid}/stat"));
    let stat = fsread::read_bounded(&path, fsread::STAT, Oversize::Refuse).ok()?;
    // The comm (field 2) in parentheses may hold spaces and ')': count fields after
    // the last ')', which start at field 3.
    let close = stat.iter().rposition(|&b| b == b')')?;
    std::str::from_utf8(&stat[close + 1..])
        .ok()?
        .split_whitespace()
        .nth(n.checked_sub(3)?)?
        .parse()
        .ok()
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

/// CPU time of this process so far, every thread (the fd scan's included).
pub fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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
    fn stat_fields_count_after_a_comm_with_parentheses() {
        let dir = std::env::temp_dir().join(format!("sockleak-stat-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("7")).unwrap();
        // comm "a) b (c": fields 3.. start after the last ')'; flags (9) say kthread.
        let stat = "7 (a) b (c) S 2 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0";
        std::fs::write(dir.join("7/stat"), stat).unwrap();
        assert_eq!(stat_field(&dir, 7, 3), None, "S is no number");
        assert_eq!(stat_field(&dir, 7, 4), Some(2));
        assert_eq!(stat_field(&dir, 7, 9), Some(2129984));
        assert_eq!(stat_field(&dir, 7, 22), Some(42));
        assert_eq!(stat_field(&dir, 7, 2), None);
        assert!(is_kernel_thread(&dir, 7));
        assert_eq!(stat_field(&dir, 8, 22), None, "no such process");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_a_focused_query_read_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("7")).unwrap();
        std::fs::write(dir.path().join("7/comm"), "on-disk\n").unwrap();
        std::fs::write(
            dir.path().join("7/status"),
            "Name:\tx\nUid:\t1000\t0\t0\t0\n",
        )
        .unwrap();
        let focus = Focus {
            comms: vec!["on-disk".into()],
            uids: vec![1000],
            ..Focus::default()
        };
        let known = focus.admits(dir.path(), 7).expect("admitted");
        assert_eq!(known.comm.as_deref(), Some("on-disk"));
        assert_eq!(known.uid, Some(1000));
        assert_eq!(
            Focus {
                uids: vec![0],
                ..Focus::default()
            }
            .admits(dir.path(), 7),
            None
        );
        // The files change (or would be read again): the owner keeps what was read.
        std::fs::write(dir.path().join("7/comm"), "changed\n").unwrap();
        std::fs::remove_file(dir.path().join("7/status")).unwrap();
        let opts = Options {
            proc_root: dir.path().to_path_buf(),
            ..Options::default()
        };
        let mut c = Collector {
            opts,
            users: Users::default(),
            privilege: current_privilege(),
            fd_cache: None,
            totals: ScanTotals::default(),
        };
        let mut skipped = Skipped::default();
        let p = c.read_process(dir.path(), 7, None, Some(&known), &mut skipped);
        assert_eq!((p.comm.as_str(), p.uid), ("on-disk", Some(1000)));
        let p = c.read_process(dir.path(), 7, None, None, &mut skipped);
        assert_eq!(
            (p.comm.as_str(), p.uid),
            ("changed", None),
            "without Known: read"
        );
    }

    #[test]
    fn nofile_limit_is_the_soft_one() {
        let l = b"Limit                     Soft Limit           Hard Limit           Units\nMax processes             63504                63504                processes\nMax open files            1024                 524288               files\n";
        assert_eq!(nofile_soft_limit(l), Some(1024));
        assert_eq!(
            nofile_soft_limit(
                b"Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        assert_eq!(nofile_soft_limit(b"Max processes 5 5 processes\n"), None);
        assert_eq!(nofile_soft_limit(b"\xff"), None);
    }

    #[test]
    fn cmdline_joins_args() {
        assert_eq!(cmdline_string(b"psql\0-h\0db\0"), "psql -h db");
        assert_eq!(cmdline_string(b""), "");
    }
}
