//! What a collection reads (`Options`, made once by `config` from the flags), and
//! a focused query's `Focus`: the processes whose fd tables are worth reading.

use std::path::{Path, PathBuf};

use super::fsread::{self, Oversize};
use super::process::status_uid;
use super::source::SourceChoice;
use super::{names, netns};

/// How to collect: the sources, the proc root, what to read of each owner.
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
    /// can have changed since the last collection ([`super::fdcache`]).
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

/// What `Focus::admits` read of a process, passed on so that its owner's
/// `comm` and `status` are not read twice (`Collector::read_process`).
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
    pub(super) fn admits(&self, root: &Path, pid: u32) -> Option<Known> {
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
