//! The `Collector`: made once from the options (checking the proc root), kept
//! across `--watch` samples (user names, the incremental fd cache, the running
//! counts), and walking one sample through the rooms of `collect` in order.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::attribution::warn_locked;
use super::collection::{Collection, Cost, process_cpu};
use super::fdscan::{self, FdScan};
use super::fsread::{self, shown};
use super::netns::{self, read_ns};
use super::options::{Known, Options};
use super::privilege::current_privilege;
use super::process::KernelThreads;
use super::users::Users;
use super::{fdcache, unix};
use crate::model::Socket;
use crate::model::scan::ScanTotals;
use crate::model::warning::Privilege;

/// Reusable collector: keeps caches (user names) across `--watch` samples.
#[derive(Debug)]
pub struct Collector {
    pub(super) opts: Options,
    pub(super) users: Users,
    /// Our own capabilities, for advice that fits (read once).
    pub(super) privilege: Privilege,
    /// The last sample's fd tables, when sampling incrementally.
    pub(super) fd_cache: Option<fdcache::FdCache>,
    /// How every collection so far was taken.
    pub(super) totals: ScanTotals,
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

    /// One sample: every table first, then the fd tables (see the module doc of
    /// `collect`), then the owners, then what could not be attributed.
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
        // Every table first, then the fd scan (see the module doc of `collect`).
        let mut tables = self.read_tables(&root, netns, &spaces, &mut warnings)?;
        let sockets = std::mem::take(&mut tables.sockets);
        let mut unix = match self.opts.unix {
            true => Some(self.read_unix(&root, netns, &spaces, &mut warnings)?),
            false => None,
        };
        let table_time = start.elapsed();

        let (mut fds, scan, known) = self.scan_fds(&root, pids, (&sockets, &spaces), unix.as_ref());
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

    /// The fd scan: every process's fd table (or, focused, only those
    /// `Focus::admits`, with what it read of each), all at once or incrementally,
    /// keeping the pairs of the tables' inodes (TCP and unix: one scan for both).
    fn scan_fds(
        &mut self,
        root: &Path,
        pids: Vec<u32>,
        (sockets, spaces): (&[Socket], &[netns::Namespace]),
        unix: Option<&unix::UnixCollection>,
    ) -> (FdScan, fdcache::ScanStats, HashMap<u32, Known>) {
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
                .filter_map(|&p| Some((p, f.admits(root, p)?)))
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
        let (fds, scan) = match &mut self.fd_cache {
            Some(cache) => cache.scan(
                root,
                &scanned,
                (sockets, spaces),
                &wanted,
                self.opts.threads,
            ),
            None => (
                fdscan::scan(root, &scanned, &wanted, self.opts.threads),
                fdcache::ScanStats::default(),
            ),
        };
        (fds, scan, known)
    }
}
