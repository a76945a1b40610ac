//! A collection: what one sample read (every table's sockets, the fd scan that
//! joins them to their holders, the processes, what could not be seen), and what
//! it cost.

use std::collections::HashMap;
use std::time::Duration;

use super::fdscan::FdScan;
use super::{fdcache, unix};
use crate::model::scan::{ScanInfo, ScanTotals, millis};
use crate::model::warning::Warning;
use crate::model::{LocalPorts, NetnsId, Process, Socket, Source};

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
