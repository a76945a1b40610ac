//! `--peek` on a report, in two pure halves around the collection side's peek:
//! [`plan`] chooses which sockets to peek (those with unread bytes, at most
//! `--peek-max` per group, each through one holder); the sampler peeks them
//! ([`crate::collect::peek::peek_all`], I/O); [`attach`] classifies what they hold and
//! puts each group's summary in [`Group::unread`], most frequent first. What could
//! not be peeked is one warning per reason; the counts are never touched.
//!
//! A socket's groups are found with the aggregation's own keys
//! (`grouping::Grouper::key`), so a peeked socket lands in exactly the groups it
//! was counted in.
//!
//! Only sockets that have received their peer's FIN are peeked ([`fin_received`]):
//! for the others a peek can consume a pending socket error (see there).

use std::collections::{BTreeMap, BTreeSet};

use crate::collect::Collection;
use crate::collect::peek::{Outcome, PeekOptions, Peeked, Request, classify};
use crate::filter::Filters;
use crate::model::peek::{PeekCount, PeekMiss, Unread, UnreadClass};
use crate::model::report::{GroupField, Report};
use crate::model::warning::{PIDS_SHOWN, Warning};
use crate::model::{Socket, TcpState};

use super::for_each_grouped;

/// Whether `s` has data bytes queued: Recv-Q counts the FIN too once the peer's
/// FIN is in (CLOSE_WAIT and after), and a LISTEN socket's Recv-Q is its accept
/// backlog, not data.
pub(super) fn has_unread(s: &Socket) -> bool {
    match s.state {
        TcpState::Listen => false,
        TcpState::CloseWait | TcpState::LastAck | TcpState::Closing => s.recv_q > 1,
        _ => s.recv_q > 0,
    }
}

/// Whether the table says `s` has received its peer's FIN: the only sockets a
/// peek cannot take anything from, errors included.
///
/// `recv(MSG_PEEK)` goes through `tcp_recvmsg_locked` (net/ipv4/tcp.c), which
/// returns queued data before any error check; only with nothing to copy (the
/// holder drained the queue after our `FIONREAD`) does it look further, in this
/// order: `sock_flag(sk, SOCK_DONE)` breaks out (returns 0), and only then
/// `sk->sk_err` is taken with `sock_error()`, an `xchg` that clears it. So the
/// holder would read EOF where it should have read its ECONNRESET. `SOCK_DONE`
/// is set by `tcp_fin()` when the peer's FIN arrives (CLOSE_WAIT, CLOSING,
/// LAST_ACK; a later RST moves the socket to CLOSE without clearing it) and is
/// cleared only by `tcp_disconnect()` (the holder's own `connect(AF_UNSPEC)`).
/// An ESTABLISHED or FIN_WAIT socket has no FIN in: an RST that arrives after
/// its holder drained it leaves an error a peek would consume. Those are not
/// peeked; the warning counts them.
pub(super) fn fin_received(s: &Socket) -> bool {
    matches!(
        s.state,
        TcpState::CloseWait | TcpState::LastAck | TcpState::Closing
    )
}

/// The sockets to peek and the groups each one's result goes to.
#[derive(Debug)]
pub struct PeekPlan {
    /// What the collection side peeks, in this order.
    pub requests: Vec<Request>,
    groups: Vec<Vec<usize>>,
    /// Sockets with unread bytes not asked for, by why, with their holders.
    skipped: BTreeMap<PeekMiss, (u64, BTreeSet<u32>)>,
    /// Per group: its sockets with unread bytes, peeked or not.
    with_unread: Vec<u64>,
}

/// Attach what the peeks of `plan` found (`found`, one outcome per request) to
/// the report's groups, and one warning per reason a socket was not peeked.
pub fn attach(r: &mut Report, plan: PeekPlan, found: Peeked, opts: &PeekOptions) {
    let Peeked {
        outcomes,
        spent,
        yama,
        ptrace_cap,
    } = found;
    let mut tallies: Vec<BTreeMap<(UnreadClass, String), u64>> =
        vec![BTreeMap::new(); r.groups.len()];
    let mut peeked = vec![0u64; r.groups.len()];
    let mut misses = plan.skipped;
    for ((req, groups), outcome) in plan.requests.iter().zip(&plan.groups).zip(outcomes) {
        if !matches!(outcome, Outcome::Missed(_)) {
            for &g in groups {
                peeked[g] += 1;
            }
        }
        match outcome {
            Outcome::Bytes(b) => {
                let found = classify::classify(&b, opts.shown);
                for &g in groups {
                    *tallies[g].entry(found.clone()).or_default() += 1;
                }
            }
            Outcome::Empty => {}
            Outcome::Missed(m) => {
                let e = misses.entry(m).or_default();
                e.0 += 1;
                e.1.insert(req.pid);
            }
        }
    }
    for (i, (g, tally)) in r.groups.iter_mut().zip(tallies).enumerate() {
        g.unread = Some(summaries(tally));
        g.peek = Some(PeekCount {
            peeked: peeked[i],
            with_unread: plan.with_unread[i],
        });
    }
    for (why, (sockets, pids)) in misses {
        r.warnings.push(Warning::PeekMissed {
            why,
            sockets,
            pids: pids.into_iter().take(PIDS_SHOWN).collect(),
            yama,
            ptrace_cap,
            budget_ms: u64::try_from(opts.budget.as_millis()).unwrap_or(u64::MAX),
            spent,
        });
    }
}

/// Most frequent first; equal counts in class and summary order (stable output).
fn summaries(tally: BTreeMap<(UnreadClass, String), u64>) -> Vec<Unread> {
    let mut v: Vec<Unread> = tally
        .into_iter()
        .map(|((class, summary), count)| Unread {
            class,
            summary,
            count,
        })
        .collect();
    v.sort_by_key(|u| std::cmp::Reverse(u.count));
    v
}

/// Which sockets to peek: every socket with unread bytes that passes the filters,
/// through the first holder the aggregation keyed it by, while one of its groups
/// has fewer than `max` peeks.
pub fn plan(
    r: &Report,
    c: &Collection,
    by: &[GroupField],
    filters: &Filters,
    max: usize,
) -> PeekPlan {
    let mut taken = vec![0usize; r.groups.len()];
    let mut plan = PeekPlan {
        requests: Vec::new(),
        groups: Vec::new(),
        skipped: BTreeMap::new(),
        with_unread: vec![0; r.groups.len()],
    };
    for_each_grouped(r, c, by, filters, has_unread, |s, mut groups, holder| {
        for &g in &groups {
            plan.with_unread[g] += 1;
        }
        groups.retain(|&g| taken[g] < max);
        if groups.is_empty() {
            return;
        }
        let Some(pid) = holder else {
            plan.skipped.entry(PeekMiss::NoHolder).or_default().0 += 1;
            return;
        };
        if !fin_received(s) {
            let e = plan.skipped.entry(PeekMiss::NoFinYet).or_default();
            e.0 += 1;
            e.1.insert(pid);
            return;
        }
        for &g in &groups {
            taken[g] += 1;
        }
        plan.requests.push(Request {
            inode: s.inode,
            pid,
        });
        plan.groups.push(groups);
    });
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(state: TcpState, recv_q: u32) -> Socket {
        Socket {
            inode: 1,
            recv_q,
            ..Socket::for_test(state, "127.0.0.1:1", "127.0.0.1:1")
        }
    }

    #[test]
    fn the_fin_and_the_backlog_are_no_data() {
        assert!(!has_unread(&sock(TcpState::CloseWait, 1)));
        assert!(has_unread(&sock(TcpState::CloseWait, 2)));
        assert!(has_unread(&sock(TcpState::Established, 1)));
        assert!(!has_unread(&sock(TcpState::Established, 0)));
        assert!(!has_unread(&sock(TcpState::Listen, 5)));
    }

    #[test]
    fn only_sockets_with_the_peers_fin_are_peeked() {
        for st in [TcpState::CloseWait, TcpState::LastAck, TcpState::Closing] {
            assert!(fin_received(&sock(st, 9)), "{st:?}");
        }
        for st in [
            TcpState::Established,
            TcpState::FinWait1,
            TcpState::FinWait2,
            TcpState::SynRecv,
            TcpState::Close,
        ] {
            assert!(!fin_received(&sock(st, 9)), "{st:?}");
        }
    }

    #[test]
    fn most_frequent_first() {
        let t: BTreeMap<(UnreadClass, String), u64> = [
            ((UnreadClass::Json, "{}".to_string()), 2),
            ((UnreadClass::Html, "<html>".to_string()), 9),
            ((UnreadClass::Html, "<p>".to_string()), 2),
        ]
        .into_iter()
        .collect();
        let s: Vec<String> = summaries(t).iter().map(|u| u.to_string()).collect();
        assert_eq!(
            s,
            ["9× html \"<html>\"", "2× html \"<p>\"", "2× json \"{}\""]
        );
    }
}
