//! The owners of a collection's sockets: every process the fd scan found holding
//! a socket of the tables, or a reset-but-held one, read; and the reset-but-held
//! candidates kept only when a second read of their tables still lacks them.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::collector::Collector;
use super::fdscan::{self, FdScan};
use super::netns;
use super::options::Known;
use super::process::Skipped;
use crate::model::warning::{PIDS_SHOWN, Warning};
use crate::model::{NetnsId, Process};

impl Collector {
    /// Every process holding a socket of the table or a reset-but-held one (the
    /// scan's candidates confirmed by [`Collector::confirm_closed`]), read.
    pub(super) fn owners(
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
                netns::read_other(root, ns, self.opts.source, false)
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
