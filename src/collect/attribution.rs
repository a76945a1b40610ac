//! Attribution warnings: the sockets no readable process holds, counted and told
//! apart by what is known of each (an owner uid that also runs processes whose fd
//! tables could not be read, or churn between the two reads), sockleak's own fd
//! limit when it stopped the scan, and the sockets whose lock kept the idle-age
//! read waiting.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::collector::Collector;
use super::fdscan::{self, FdScan};
use super::fsread::{self, Oversize};
use super::process::{KernelThreads, status_uids};
use super::{netlink, unix};
use crate::model::unix::Proto;
use crate::model::warning::{NamedPid, PIDS_SHOWN, USERS_SHOWN, Warning};
use crate::model::{Process, Socket};

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
pub(super) fn warn_locked(
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

impl Collector {
    /// Count the sockets no scanned process holds and say why they may be so; the
    /// users of their uids, for their groups. Focused, neither can be known. The
    /// unix table (when read) is joined to the scan and warned about alike.
    pub(super) fn unattributed(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
