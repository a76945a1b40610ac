//! The socket tables of a collection, read before any fd table (see the module
//! doc of `collect`): which namespaces to read, every namespace's TCP table (the
//! host's through [`Collector::read_table`], the others' through
//! [`netns::read_other`]), the host's unix table, each with netlink first and
//! `/proc` when [`netlink_or_proc`] allows, and the warnings their reads leave.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

use super::collector::Collector;
use super::fsread::shown;
use super::lines::MalformedLog;
use super::process::{KernelThreads, named};
use super::source::{Table, Via, netlink_or_proc};
use super::{netlink, netns, proc_net, unix};
use crate::model::warning::{LINES_SHOWN, MalformedLine, PIDS_SHOWN, Warning};
use crate::model::{LocalPorts, NetnsId, Socket, Source};

/// The tables of every namespace read.
#[derive(Default)]
pub(super) struct Tables {
    pub(super) sockets: Vec<Socket>,
    /// Idle ages the guarded tcp_info reads could not get, every namespace's.
    pub(super) info_gaps: netlink::InfoGaps,
    pub(super) namespaces: Vec<NetnsId>,
    pub(super) source: Source,
    pub(super) port_ranges: HashMap<NetnsId, LocalPorts>,
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

impl Collector {
    /// The namespaces whose tables to read, warning about processes whose
    /// namespace link cannot be read.
    pub(super) fn namespaces(
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
    pub(super) fn read_tables(
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
            if !ns.is_host {
                let via_netlink = self.read_other(root, ns, &mut t, warnings);
                others_via_netlink = via_netlink
                    .map(|v| others_via_netlink.unwrap_or(true) && v)
                    .or(others_via_netlink);
                continue;
            }
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
        }
        t.source = host_source.unwrap_or(if others_via_netlink == Some(true) {
            Source::Netlink
        } else {
            Source::Proc
        });
        Ok(t)
    }

    /// Another namespace's table added to `t`, or its skip warned about;
    /// whether it was read through netlink (`None`: not read).
    fn read_other(
        &self,
        root: &Path,
        ns: &netns::Namespace,
        t: &mut Tables,
        warnings: &mut Vec<Warning>,
    ) -> Option<bool> {
        let other = match netns::read_other(root, ns, self.opts.source, self.opts.idle) {
            Ok(other) => other,
            Err(why) => {
                warnings.push(Warning::NetnsSkipped {
                    netns: ns.id,
                    member: ns.member.map(|p| named(root, p)),
                    why,
                    privilege: self.privilege.clone(),
                });
                return None;
            }
        };
        // Its IPv6 table's trouble, named by namespace (the host's own is not):
        // these were dropped before.
        warnings.extend(other.warnings.iter().map(|w| in_netns(w, ns.id)));
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
        Some(other.source == Source::Netlink)
    }

    /// The host namespace's table; with `idle`, netlink's idle ages (and what
    /// could not be aged).
    pub(super) fn read_table(
        &self,
        root: &Path,
        netns: NetnsId,
        idle: bool,
        warnings: &mut Vec<Warning>,
    ) -> Result<(Source, Vec<Socket>, netlink::InfoGaps)> {
        let via = netlink_or_proc(self.opts.source, || netlink::dump(netns, idle))
            .map_err(|e| e.into_error(Table::Tcp))?;
        match via {
            Via::Netlink(d) => {
                warnings.extend(d.ipv6_refused.map(|why| Warning::Ipv6NotCounted { why }));
                Ok((Source::Netlink, d.sockets, d.info_gaps))
            }
            Via::Proc(failed) => {
                if let Some(e) = failed {
                    warnings.push(Warning::NetlinkUnavailable {
                        error: e.to_string(),
                        root: shown(root),
                    });
                }
                let sockets = read_proc(root, netns, warnings)?;
                Ok((Source::Proc, sockets, netlink::InfoGaps::default()))
            }
        }
    }

    /// The host namespace's unix table: netlink (with peers), or /proc/net/unix
    /// (without; warned). Other namespaces' unix sockets are not read (warned).
    pub(super) fn read_unix(
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
        let via = netlink_or_proc(self.opts.source, || unix::dump(netns))
            .map_err(|e| e.into_error(Table::Unix))?;
        let (sockets, source) = match via {
            Via::Netlink(sockets) => (sockets, Source::Netlink),
            Via::Proc(failed) => {
                let t = unix::read_proc(&root.join("net"), netns)?;
                warn_malformed(&t.malformed, warnings);
                warnings.push(Warning::UnixWithoutPeers {
                    why: failed.map(|e| e.to_string()),
                    root: shown(root),
                });
                (t.sockets, Source::Proc)
            }
        };
        Ok(unix::UnixCollection {
            sockets,
            source,
            ..Default::default()
        })
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

/// A warning about another namespace's table, saying which namespace.
fn in_netns(w: &Warning, netns: NetnsId) -> Warning {
    match w {
        Warning::Ipv6NotCounted { why } => Warning::Ipv6NotCounted {
            why: format!("network namespace {netns}: {why}"),
        },
        other => other.clone(),
    }
}

fn warn_malformed(malformed: &MalformedLog, warnings: &mut Vec<Warning>) {
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
