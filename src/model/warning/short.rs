//! A warning in one short line (at most [`SHORT_MAX`] characters but for the
//! escaped names it quotes): what was not seen, and the one fix. The full
//! explanation stays the warning's `Display` (`-v`, JSON).

use std::fmt;

use super::{Privilege, Warning, pid_list, plural};
use crate::model::peek::PeekMiss;

/// The length a short warning aims at (the `warning: ` prefix included).
pub const SHORT_MAX: usize = 120;

/// [`Warning`]'s short form: `warning.short().to_string()`.
pub struct Short<'a>(pub &'a Warning);

/// "run as root", or what is left when sockleak has the capabilities already.
fn fix(p: &Privilege) -> &'static str {
    if p.ptrace_and_read {
        "refused even to root (a sandbox or security module)"
    } else {
        "run as root"
    }
}

/// `pid 7, 8, ...` of at most three pids (the short line has no room for ten).
fn pids(pids: &[u32], total: usize) -> String {
    let shown = &pids[..pids.len().min(3)];
    format!("pid {}", pid_list(shown, total.max(pids.len())))
}

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Warning::NsLinksUnreadable {
                count,
                pids: p,
                privilege,
            } => write!(
                f,
                "network namespace of {} not readable: one only they are in is not counted; {}",
                pids(p, *count),
                fix(privilege)
            ),
            Warning::NetnsFellBack { netns, .. } => write!(
                f,
                "network namespace {netns} read from /proc: no idle ages there (-v says why)"
            ),
            Warning::NetnsSkipped {
                netns, privilege, ..
            } => write!(
                f,
                "network namespace {netns} skipped, its sockets not counted; {}",
                fix_enter(privilege)
            ),
            Warning::NetlinkUnavailable { .. } => f.write_str(
                "netlink unavailable: read /proc/net/tcp, without idle ages (CLOSE_WAIT judged suspect); -v says why",
            ),
            Warning::MalformedLines { count, shown } => write!(
                f,
                "{count} malformed line{} in the {} table not counted (-v lists them)",
                plural(*count as u64, "", "s"),
                if shown
                    .first()
                    .is_some_and(|m| m.file.ends_with("/unix") || m.file == "unix")
                {
                    "unix"
                } else {
                    "TCP"
                }
            ),
            _ => self.fmt_rest(f),
        }
    }
}

impl Short<'_> {
    /// The warnings about processes, files and protocols.
    fn fmt_rest(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Warning::UnattributedHeld { .. }
            | Warning::FocusUnreadable { .. }
            | Warning::UnattributedGone { .. }
            | Warning::ClosedUnexamined { .. } => self.fmt_unseen(f),
            Warning::Ipv6NotCounted { .. } => {
                f.write_str("IPv6 sockets not counted, only IPv4 (-v says why)")
            }
            Warning::FilesSkipped { count, .. } => write!(
                f,
                "{count} file{} of socket owners not read: some names unknown (-v lists them)",
                plural(*count as u64, "", "s")
            ),
            Warning::OwnFdsExhausted {
                limit, processes, ..
            } => write!(
                f,
                "sockleak's fd limit ({limit}) stopped the scan: {processes} fd tables not read; raise ulimit -n"
            ),
            Warning::UnixWithoutPeers { .. } => f.write_str(
                "unix sockets read from /proc/net/unix: no peers, queues shown as 0 (-v says why)",
            ),
            Warning::UnixOtherNetns { namespaces } => write!(
                f,
                "unix sockets of {namespaces} other network namespace{} not counted",
                plural(*namespaces as u64, "", "s")
            ),
            Warning::PeekMissed { .. } => self.fmt_peek(f),
            Warning::SocketsLocked { .. } => self.fmt_locked(f),
            Warning::TraceUnreadable { .. } => {
                f.write_str("a flight recorder is armed but unreadable here; run as root (-v)")
            }
            Warning::ReservedPortsIgnored { netns, .. } => write!(
                f,
                "ip_local_reserved_ports of namespace {netns} not read whole: port ranges may be too large (-v)"
            ),
            // A warning without a short form yet says it in full.
            w => write!(f, "{w}"),
        }
    }
}

/// `unix ` before "socket" for the unix table's warnings; nothing for TCP's.
impl Short<'_> {
    /// The warnings about sockets whose holders were not seen.
    fn fmt_unseen(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Warning::UnattributedHeld {
                proto,
                sockets,
                pids: p,
                processes,
                privilege,
                ..
            } => write!(
                f,
                "{sockets} {}socket{} unattributed: fd tables of {} not readable{}; {}",
                unix_word(*proto),
                plural(*sockets, "", "s"),
                pids(p, *processes),
                // With the capabilities only a few protected processes refuse, and
                // a socket closed mid-scan is as likely (the long form says so).
                match privilege.ptrace_and_read {
                    true => " (or closed during the scan)",
                    false => "",
                },
                fix(privilege)
            ),
            Warning::FocusUnreadable {
                processes,
                pids: p,
                privilege,
            } => write!(
                f,
                "fd tables of matching {} not readable, their sockets not shown; {}",
                pids(p, *processes),
                fix(privilege)
            ),
            Warning::UnattributedGone {
                proto,
                sockets,
                hidepid,
                ..
            } => {
                write!(
                    f,
                    "{sockets} {}socket{} unattributed: ",
                    unix_word(*proto),
                    plural(*sockets, "", "s")
                )?;
                if *hidepid {
                    f.write_str("/proc hides other users' processes (hidepid); run as root")
                } else {
                    let them = plural(*sockets, "it", "them");
                    write!(f, "no process holds {them} (closed during the scan)")
                }
            }
            Warning::ClosedUnexamined {
                sockets, pids: p, ..
            } => write!(
                f,
                "{sockets} socket fds of {} not examined: reset-but-held ones among them not counted",
                pids(p, p.len())
            ),
            _ => Ok(()),
        }
    }
}

fn unix_word(p: crate::model::unix::Proto) -> &'static str {
    match p {
        crate::model::unix::Proto::Unix => "unix ",
        crate::model::unix::Proto::Tcp => "",
    }
}

impl Short<'_> {
    fn fmt_locked(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::SocketsLocked {
            locked,
            holders,
            ages_missing,
            ..
        } = self.0
        else {
            return Ok(());
        };
        write!(
            f,
            "idle ages of {ages_missing} socket{} not read",
            plural(*ages_missing as u64, "", "s")
        )?;
        match holders.first() {
            Some(h) if *locked > 0 => write!(
                f,
                ": pid {} {} keeps {} locked (a stuck recv(); -v)",
                h.pid,
                crate::model::escape::name(h.comm.as_bytes()),
                plural(*locked as u64, "a socket", "sockets")
            ),
            _ => f.write_str(" (-v says why)"),
        }
    }
}

fn fix_enter(p: &Privilege) -> &'static str {
    if p.ptrace_and_read && p.admin {
        "refused even to root (a sandbox or security module)"
    } else {
        "run as root"
    }
}

impl Short<'_> {
    fn fmt_peek(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Warning::PeekMissed {
            why,
            sockets,
            ptrace_cap,
            budget_ms,
            spent,
            ..
        } = self.0
        else {
            return Ok(());
        };
        let reason = match why {
            PeekMiss::NoHolder => "their fd tables are not readable; run as root".to_string(),
            PeekMiss::NotPermitted if *ptrace_cap => {
                "pidfd_getfd refused even with CAP_SYS_PTRACE (a sandbox)".to_string()
            }
            PeekMiss::NotPermitted => "pidfd_getfd needs ptrace access; run as root".to_string(),
            PeekMiss::NoSyscall => "no pidfd_getfd here (Linux < 5.6, or seccomp)".to_string(),
            PeekMiss::Changed => "their fds changed during the peek".to_string(),
            PeekMiss::PeekOffset => "their process uses SO_PEEK_OFF".to_string(),
            PeekMiss::Budget => match spent.slowest_table {
                Some((pid, links, ms)) if ms * 2 >= *budget_ms => {
                    format!("the {budget_ms} ms budget went on pid {pid}'s {links} fds ({ms} ms)")
                }
                _ => format!("the {budget_ms} ms budget ran out; lower --peek-max"),
            },
            PeekMiss::NoFinYet => {
                "no FIN received yet: a peek could take a pending error (-v)".to_string()
            }
            PeekMiss::Locked => "their holder keeps the socket locked (-v)".to_string(),
            PeekMiss::Failed(errno) => {
                format!("{}", std::io::Error::from_raw_os_error(*errno))
            }
        };
        write!(
            f,
            "--peek: {sockets} socket{} not peeked (counts exact): {reason}",
            plural(*sockets, "", "s")
        )
    }
}

/// The environment fact behind a warning, when it is one that several warnings
/// share: the same processes refusing even root (pid 1 in a sandbox), or
/// sockleak not running as root.
#[derive(PartialEq)]
enum Fact<'a> {
    RootRefused(usize, &'a [u32]),
    NotRoot,
}

/// A warning's fact and what that fact hid, for the warnings that have one.
fn fact(w: &Warning) -> Option<(Fact<'_>, String)> {
    let key = |p: &Privilege, count: usize, pids| match p.ptrace_and_read {
        true => Fact::RootRefused(count, pids),
        false => Fact::NotRoot,
    };
    match w {
        Warning::NsLinksUnreadable {
            count,
            pids,
            privilege,
        } => Some((
            key(privilege, *count, pids),
            match count {
                1 => "its network namespace unknown".to_string(),
                n => format!("netns of {n} processes unknown"),
            },
        )),
        Warning::UnattributedHeld {
            proto,
            sockets,
            pids,
            processes,
            privilege,
            ..
        } => Some((
            key(privilege, *processes, pids),
            format!(
                "{sockets} {}socket{} unattributed",
                unix_word(*proto),
                plural(*sockets, "", "s")
            ),
        )),
        Warning::FocusUnreadable {
            processes,
            pids,
            privilege,
        } => Some((
            key(privilege, *processes, pids),
            format!(
                "sockets of {processes} matching process{} not shown",
                plural(*processes as u64, "", "es")
            ),
        )),
        Warning::PeekMissed {
            why: PeekMiss::NoHolder,
            sockets,
            ..
        } => Some((
            Fact::NotRoot,
            format!("{sockets} socket{} not peeked", plural(*sockets, "", "s")),
        )),
        _ => None,
    }
}

/// Every warning in one short line, an environment fact said once: warnings
/// that all come from the same processes refusing even root (pid 1 in a
/// sandbox), or from not running as root, become one line: `pid 1 cannot be
/// inspected even by root (a sandbox): its network namespace not read, 1
/// socket unattributed`.
pub fn short_lines(warnings: &[Warning]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut merged: Vec<(Fact, Vec<String>, usize)> = Vec::new();
    for w in warnings {
        let Some((key, effect)) = fact(w) else {
            out.push(Short(w).to_string());
            continue;
        };
        match merged.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, effects, _)) => effects.push(effect),
            None => {
                merged.push((key, vec![effect], out.len()));
                out.push(Short(w).to_string());
            }
        }
    }
    for (key, effects, at) in merged.into_iter().filter(|m| m.1.len() > 1) {
        let effects = effects.join(", ");
        out[at] = match key {
            Fact::RootRefused(count, p) => format!(
                "{} cannot be inspected even by root (a sandbox): {effects}",
                pids(p, count)
            ),
            Fact::NotRoot => format!("not root: {effects}; run as root"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Privilege {
        Privilege {
            ptrace_and_read: true,
            admin: true,
            exe: "/x".into(),
        }
    }

    #[test]
    fn a_sandboxed_pid_1_is_said_once() {
        let ws = [
            Warning::NsLinksUnreadable {
                count: 1,
                pids: vec![1],
                privilege: root(),
            },
            Warning::UnattributedHeld {
                proto: crate::model::unix::Proto::Tcp,
                sockets: 1,
                pids: vec![1],
                processes: 1,
                owners: vec![(0, "root".into())],
                privilege: root(),
            },
        ];
        assert_eq!(
            short_lines(&ws),
            [
                "pid 1 cannot be inspected even by root (a sandbox): its network namespace unknown, 1 socket unattributed"
            ]
        );
        // With --proto unix too, the unix sockets are named as such.
        let mut with_unix = ws.to_vec();
        with_unix.push(Warning::UnattributedHeld {
            proto: crate::model::unix::Proto::Unix,
            sockets: 2,
            pids: vec![1],
            processes: 1,
            owners: vec![(0, "root".into())],
            privilege: root(),
        });
        assert_eq!(
            short_lines(&with_unix),
            [
                "pid 1 cannot be inspected even by root (a sandbox): its network namespace unknown, 1 socket unattributed, 2 unix sockets unattributed"
            ]
        );
        // Alone, each keeps its own short form.
        assert_eq!(
            short_lines(&ws[1..]),
            [
                "1 socket unattributed: fd tables of pid 1 not readable (or closed during the scan); refused even to root (a sandbox or security module)"
            ]
        );
    }

    #[test]
    fn every_short_form_fits_one_line() {
        let nobody = Privilege::default();
        let ws = [
            Warning::UnattributedHeld {
                proto: crate::model::unix::Proto::Tcp,
                sockets: 12_345,
                pids: (1000..1010).collect(),
                processes: 250,
                owners: vec![(1000, "app".into())],
                privilege: nobody.clone(),
            },
            Warning::NsLinksUnreadable {
                count: 99,
                pids: (1..11).collect(),
                privilege: nobody.clone(),
            },
            Warning::PeekMissed {
                why: PeekMiss::NotPermitted,
                sockets: 16,
                pids: vec![7],
                yama: Some(1),
                ptrace_cap: false,
                budget_ms: 250,
                spent: crate::model::peek::PeekSpent::default(),
            },
            Warning::OwnFdsExhausted {
                limit: 1024,
                processes: 4000,
                pids: vec![1],
                unattributed: 5,
                unreadable: 3,
            },
        ];
        for line in short_lines(&ws) {
            let line = format!("warning: {line}");
            assert!(line.chars().count() <= SHORT_MAX, "{line}");
        }
        assert_eq!(
            Short(&ws[0]).to_string(),
            "12345 sockets unattributed: fd tables of pid 1000, 1001, 1002, ... not readable; run as root"
        );
    }
}
