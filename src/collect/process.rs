//! Reading each process that holds a socket: its `comm`, `status` (uid),
//! `cmdline`, `cgroup` (container), namespace and fd limit, through the proc
//! root; the per-pid file parsers; and which pids are kernel threads.

use std::collections::HashMap;
use std::path::Path;

use super::collector::Collector;
use super::container;
use super::fsread::{self, Oversize, ReadError, shown};
use super::netns::read_ns;
use super::options::Known;
use crate::model::warning::{NamedPid, Warning};
use crate::model::{FdUsage, Process};

/// Kernel threads (asked once per pid and collection) hold no sockets and live in
/// the initial namespace: their unreadable links hide nothing.
pub(super) struct KernelThreads<'a> {
    root: &'a Path,
    known: HashMap<u32, bool>,
}

impl<'a> KernelThreads<'a> {
    pub(super) fn new(root: &'a Path) -> Self {
        KernelThreads {
            root,
            known: HashMap::new(),
        }
    }

    pub(super) fn is(&mut self, pid: u32) -> bool {
        let root = self.root;
        *self
            .known
            .entry(pid)
            .or_insert_with(|| is_kernel_thread(root, pid))
    }
}

impl Collector {
    /// One holder's process, read: an unreadable file leaves its field unknown
    /// (`?`, `None`) and, when that is news, is noted in `skipped`.
    pub(super) fn read_process(
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

/// Files of socket owners (comm, status, cgroup, cmdline) that were odd (a FIFO, a
/// device, oversize) or unreadable for another than the ordinary reasons: the
/// first few named, the rest counted, one warning.
#[derive(Debug, Default)]
pub(super) struct Skipped {
    first: Vec<String>,
    count: usize,
}

impl Skipped {
    const SHOWN: usize = 5;

    /// Record a failed read; gone or permission-denied files are not news.
    pub(super) fn note(&mut self, path: &Path, e: &ReadError) {
        if e.is_ordinary() {
            return;
        }
        self.count += 1;
        if self.first.len() < Self::SHOWN {
            let path = shown(path);
            self.first.push(format!("{path}: {e}"));
        }
    }

    pub(super) fn warn(self, root: &Path, warnings: &mut Vec<Warning>) {
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

/// A process for warnings: its pid and escaped name (empty when it is gone).
pub(super) fn named(root: &Path, pid: u32) -> NamedPid {
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

/// Whether `pid` is a kernel thread (`PF_KTHREAD` in the flags of
/// `/proc/<pid>/stat`, as `ps` tells them apart). Unknown counts as no.
pub(super) fn is_kernel_thread(root: &Path, pid: u32) -> bool {
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
pub(super) fn status_uid(status: &[u8]) -> Option<u32> {
    status_uids(status).first().copied()
}

/// Every field of the `Uid:` line: real, effective, saved and filesystem uid.
pub(super) fn status_uids(status: &[u8]) -> Vec<u32> {
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

fn cmdline_string(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    String::from_utf8_lossy(trimmed).replace('\0', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::options::{Focus, Options};
    use crate::collect::privilege::current_privilege;
    use crate::collect::users::Users;
    use crate::model::scan::ScanTotals;

    #[test]
    fn status_uid_reads_real_uid() {
        let s = b"Name:\tcurl\nUmask:\t0022\nState:\tS\nUid:\t1000\t1001\t1000\t1000\nGid:\t0\n";
        assert_eq!(status_uid(s), Some(1000));
        assert_eq!(status_uids(s), vec![1000, 1001, 1000, 1000]);
        assert_eq!(status_uid(b"Name: x\n"), None);
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
