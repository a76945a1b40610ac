//! Each group's verdict without any configuration: `leak` when CLOSE_WAIT
//! sockets sit idle past `--leak-after` (the state has no timeout: only the
//! process can end it), `suspect` for what may be one (CLOSE_WAIT of unknown age,
//! reset-but-held sockets, checkouts idle far past their peers, growth, a filling
//! pool, an fd limit near), `ok` otherwise. Pure.

use std::time::Duration;

use super::pool::PoolSizes;
use crate::model::report::{Group, Report};
use crate::model::unix::Proto;
use crate::model::verdict::{Reason, Verdict};
use crate::model::watch::Flag;
use crate::model::{Direction, FdUsage, Percent, TcpState};

/// The default `--leak-after`: longer than the keep-alive timeouts after which
/// servers close idle pooled connections (nginx 75 s, load balancers 60 s), so a
/// pool that has not yet noticed is not called a leak, and short enough that a
/// cron job every 5 minutes names a leak within two runs.
pub const DEFAULT_LEAK_AFTER: Duration = Duration::from_secs(300);

/// An ESTABLISHED socket is idle "far past its peers" at this many times the
/// median idle age of its group's ESTABLISHED sockets (and `--leak-after` at
/// least): a pool's busy connections move data every few seconds, a forgotten
/// checkout never.
pub const FAR_PAST: u64 = 10;

/// What the verdicts are judged against.
#[derive(Debug, Clone)]
pub struct VerdictPolicy {
    pub leak_after: Duration,
    /// `--metric`: the state whose growth `--watch` follows.
    pub metric: TcpState,
    /// `--pool-size`: a group at `warn_at` of its pool is suspect.
    pub pools: PoolSizes,
    pub warn_at: Percent,
}

impl Default for VerdictPolicy {
    fn default() -> VerdictPolicy {
        VerdictPolicy {
            leak_after: DEFAULT_LEAK_AFTER,
            metric: TcpState::CloseWait,
            pools: PoolSizes::default(),
            warn_at: Percent::WARN_DEFAULT,
        }
    }
}

/// Judge every group of `report` (in place; the order is left alone, see
/// [`crate::policy::rank::worst_first`]), and attach its pool.
pub fn attach(report: &mut Report, p: &VerdictPolicy) {
    super::pool::attach(report, &p.pools);
    for g in &mut report.groups {
        g.verdict = Some(judge(g, p));
    }
}

/// One group's verdict.
pub fn judge(g: &Group, p: &VerdictPolicy) -> Verdict {
    let mut reasons = Vec::new();
    if g.proto == Proto::Tcp {
        reasons.extend(close_wait(g, p));
        reasons.extend(held_closed(g, p));
        reasons.extend(idle_checkouts(g, p));
    }
    if let Some(w) = g.watch.as_ref().filter(|w| w.flag == Flag::Growing) {
        reasons.push(Reason::Growing {
            state: p.metric,
            rate_per_min: w.rate_per_min,
        });
    }
    if let Some(size) = p.pools.for_group(g) {
        let used = g.pool_usage();
        if p.warn_at.reached_by(used, size) {
            reasons.push(Reason::PoolFill { used, size });
        }
    }
    if let Some(f) = g.fds.filter(|f| f.pct() >= FdUsage::ALERT_PCT) {
        reasons.push(Reason::FdLimit {
            open: f.open,
            limit: f.limit,
        });
    }
    Verdict::of(reasons)
}

/// CLOSE_WAIT sockets idle past `--leak-after` (a leak), and those without an
/// idle age (suspect: the /proc source has none; `--watch` ages them from the
/// sample it first saw them in, a lower bound).
fn close_wait(g: &Group, p: &VerdictPolicy) -> Vec<Reason> {
    let mut out = Vec::new();
    let ages = &g.idle.close_wait;
    let after = millis(p.leak_after);
    let idle = ages.iter().filter(|a| u64::from(**a) >= after).count() as u64;
    if let (true, Some(oldest)) = (idle > 0, ages.last()) {
        out.push(Reason::IdleCloseWait {
            sockets: idle,
            oldest: Duration::from_millis(u64::from(*oldest)),
            after: p.leak_after,
        });
    }
    let unknown = g.close_wait().saturating_sub(ages.len() as u64);
    if unknown > 0 {
        out.push(Reason::CloseWaitAgeUnknown { sockets: unknown });
    }
    out
}

/// Reset-but-held sockets: suspect (no source gives them an age), a leak once
/// `--watch` has found some in every sample for `--leak-after`.
fn held_closed(g: &Group, p: &VerdictPolicy) -> Option<Reason> {
    let sockets = g.states.get(TcpState::Close);
    if sockets == 0 {
        return None;
    }
    let held = g.watch.as_ref().and_then(|w| w.held_closed_for);
    Some(match held {
        Some(held) if held >= p.leak_after => Reason::HeldClosedFor { sockets, held },
        _ => Reason::HeldClosed { sockets },
    })
}

/// ESTABLISHED sockets of a client's group idle at least `--leak-after` and
/// [`FAR_PAST`] times the group's median (the lower one of an even count): with
/// a single socket, or all of them idle alike, there are no peers to be far
/// past. Inbound groups are a server's: its clients' idleness is theirs.
fn idle_checkouts(g: &Group, p: &VerdictPolicy) -> Option<Reason> {
    if matches!(g.direction, Some(Direction::Inbound | Direction::Listen)) {
        return None;
    }
    let ages = &g.idle.established;
    let median = u64::from(*ages.get(ages.len().checked_sub(1)? / 2)?);
    let bar = millis(p.leak_after).max(median.saturating_mul(FAR_PAST));
    let far = ages.iter().filter(|a| u64::from(**a) >= bar).count() as u64;
    (far > 0).then(|| Reason::IdleCheckouts {
        sockets: far,
        oldest: Duration::from_millis(ages.last().map_or(0, |a| u64::from(*a))),
        median: Duration::from_millis(median),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::GroupKey;
    use crate::model::verdict::Level;

    fn group(cw: &[u32], est: &[u32], dir: Direction) -> Group {
        let mut g = Group::empty(GroupKey {
            pid: Some(7),
            direction: Some(dir),
            ..Default::default()
        });
        g.direction = Some(dir);
        for _ in cw {
            g.states.add(TcpState::CloseWait);
        }
        for _ in est {
            g.states.add(TcpState::Established);
        }
        g.idle.close_wait = cw.to_vec();
        g.idle.established = est.to_vec();
        g.idle.sort();
        g
    }

    #[test]
    fn close_wait_idle_past_leak_after_is_a_leak_whatever_its_count() {
        let p = VerdictPolicy::default();
        let v = judge(&group(&[1_000, 400_000], &[], Direction::Outbound), &p);
        assert_eq!(v.level, Level::Leak);
        assert_eq!(
            v.reasons,
            [Reason::IdleCloseWait {
                sockets: 1,
                oldest: Duration::from_secs(400),
                after: Duration::from_secs(300),
            }]
        );
        let fresh = judge(&group(&[1_000, 2_000], &[], Direction::Outbound), &p);
        assert_eq!(fresh.level, Level::Ok);
        // Without ages (the /proc source): suspect, never ok, never leak.
        let mut g = group(&[], &[], Direction::Outbound);
        g.states.add(TcpState::CloseWait);
        let v = judge(&g, &p);
        assert_eq!(v.level, Level::Suspect);
        assert_eq!(v.reasons, [Reason::CloseWaitAgeUnknown { sockets: 1 }]);
    }

    #[test]
    fn checkouts_far_past_their_peers_are_suspect() {
        let p = VerdictPolicy::default();
        // Busy peers (median 2 s); one idle 10 minutes.
        let busy = [1_000, 2_000, 2_000, 3_000, 600_000];
        let v = judge(&group(&[], &busy, Direction::Outbound), &p);
        assert_eq!(v.level, Level::Suspect);
        assert!(matches!(
            v.reasons[..],
            [Reason::IdleCheckouts { sockets: 1, .. }]
        ));
        // All idle alike (a quiet pool), one alone, or a server's clients: ok.
        let quiet = [400_000, 500_000, 600_000];
        assert_eq!(
            judge(&group(&[], &quiet, Direction::Outbound), &p).level,
            Level::Ok
        );
        assert_eq!(
            judge(&group(&[], &[900_000], Direction::Outbound), &p).level,
            Level::Ok
        );
        assert_eq!(
            judge(&group(&[], &busy, Direction::Inbound), &p).level,
            Level::Ok
        );
        // Idle far past, but not yet --leak-after.
        let short = [100, 100, 200_000];
        assert_eq!(
            judge(&group(&[], &short, Direction::Outbound), &p).level,
            Level::Ok
        );
    }

    #[test]
    fn reset_but_held_is_suspect_until_watched_for_leak_after() {
        use crate::model::watch::WatchStats;
        let p = VerdictPolicy::default();
        let mut g = group(&[], &[], Direction::Outbound);
        g.states.add(TcpState::Close);
        assert_eq!(judge(&g, &p).reasons, [Reason::HeldClosed { sockets: 1 }]);
        let watched = |s: u64| WatchStats {
            delta: 0,
            rate_per_min: 0.0,
            pool_size: None,
            pool_pct: None,
            eta: None,
            flag: Flag::Ok,
            trend: vec![],
            held_closed_for: Some(Duration::from_secs(s)),
        };
        g.watch = Some(watched(299));
        assert_eq!(judge(&g, &p).level, Level::Suspect);
        g.watch = Some(watched(300));
        let v = judge(&g, &p);
        assert_eq!(v.level, Level::Leak);
        assert_eq!(
            v.reasons[0].to_string(),
            "1 reset by the peer but still held, some in every sample for 5m00s"
        );
    }

    #[test]
    fn pool_fill_and_fd_limit_add_suspicion() {
        let p = VerdictPolicy {
            pools: PoolSizes::new(vec!["4".parse().unwrap()]),
            ..VerdictPolicy::default()
        };
        let mut g = group(&[], &[1, 1, 1], Direction::Outbound);
        assert_eq!(
            judge(&g, &p).reasons,
            [Reason::PoolFill { used: 3, size: 4 }]
        );
        g.fds = Some(FdUsage {
            open: 95,
            limit: 100,
        });
        assert_eq!(judge(&g, &VerdictPolicy::default()).level, Level::Suspect);
    }
}
