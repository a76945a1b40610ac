//! What `--watch` puts first, and what it alerts on beyond the pool flags: flagged
//! groups above unflagged ones, processes reaching their fd limit, and destinations
//! running out of ephemeral ports. Pure.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::model::report::{RemoteKey, Report};
use crate::model::watch::Flag;
use crate::model::{FdUsage, NetnsId};

use super::tracker::Rise;

/// Rank the worst verdict first (leak, suspect, then ok), keeping the report's
/// order (its `--metric` ranking) among equal verdicts.
pub fn worst_first(report: &mut Report) {
    // Stable: equal verdicts keep their rank.
    report
        .groups
        .sort_by_key(|g| std::cmp::Reverse(g.verdict.as_ref().map(|v| v.level)));
}

/// Rank the worst verdict first, then flagged groups (full, warn, growing, then
/// ok), keeping the report's order (its `--metric` ranking) among equals, and
/// point `rises` at the groups' new places.
pub fn flagged_first(report: &mut Report, rises: &mut [Rise]) {
    let rank = |i: usize| {
        let g = &report.groups[i];
        (
            g.verdict.as_ref().map(|v| v.level),
            g.watch.as_ref().map_or(Flag::Ok, |w| w.flag),
        )
    };
    let mut order: Vec<usize> = (0..report.groups.len()).collect();
    // Stable: equals keep their rank.
    order.sort_by_key(|&i| std::cmp::Reverse(rank(i)));
    if order.iter().enumerate().all(|(new, old)| new == *old) {
        return;
    }
    let mut new_place = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_place[old] = new;
    }
    let mut groups: Vec<Option<_>> = std::mem::take(&mut report.groups)
        .into_iter()
        .map(Some)
        .collect();
    report.groups = order
        .iter()
        .map(|&i| groups[i].take().expect("once"))
        .collect();
    for r in rises {
        r.group = new_place[r.group];
    }
}

/// Follows which processes are at [`FdUsage::ALERT_PCT`] of their fd limit, so that
/// each alerts once when it gets there (and again only after it fell below).
#[derive(Debug, Default)]
pub struct FdLimits {
    high: HashSet<u32>,
}

impl FdLimits {
    /// The groups (one per process: its highest ranked) whose process reached the
    /// alert level in this sample.
    pub fn update(&mut self, report: &Report) -> Vec<usize> {
        let mut high = HashSet::new();
        let mut rose = Vec::new();
        for (i, g) in report.groups.iter().enumerate() {
            let (Some(pid), Some(f)) = (g.pid, g.fds) else {
                continue;
            };
            if f.pct() < FdUsage::ALERT_PCT || !high.insert(pid) {
                continue;
            }
            if !self.high.contains(&pid) {
                rose.push(i);
            }
        }
        self.high = high;
        rose
    }
}

/// Follows each destination's use of the ephemeral port range, so that it alerts
/// once when it reaches `warn` ([`crate::model::PortUse::WARN_PCT`]) and once
/// when it reaches `full` (before `connect()` fails), and again only after it fell.
#[derive(Debug, Default)]
pub struct PortLimits {
    level: HashMap<(NetnsId, SocketAddr), Flag>,
}

impl PortLimits {
    /// The destinations whose level rose in this sample, as a group of each (its
    /// highest ranked one with a process, which names the client; else its first)
    /// and the level it rose from.
    pub fn update(&mut self, report: &Report) -> Vec<Rise> {
        let mut level: HashMap<(NetnsId, SocketAddr), Flag> = HashMap::new();
        let mut named: HashMap<(NetnsId, SocketAddr), usize> = HashMap::new();
        for (i, g) in report.groups.iter().enumerate() {
            let (Some(p), Some(ns), Some(RemoteKey::Endpoint(remote))) =
                (g.ports, g.key.netns, &g.key.remote)
            else {
                continue;
            };
            if p.flag() == Flag::Ok {
                continue;
            }
            let dest = (ns, *remote);
            level.insert(dest, p.flag());
            let first = named.entry(dest).or_insert(i);
            if report.groups[*first].pid.is_none() && g.pid.is_some() {
                *first = i;
            }
        }
        let mut rises: Vec<Rise> = named
            .into_iter()
            .filter_map(|(dest, group)| {
                let from = self.level.get(&dest).copied().unwrap_or(Flag::Ok);
                (level[&dest] > from).then_some(Rise { group, from })
            })
            .collect();
        rises.sort_by_key(|r| r.group);
        self.level = level;
        rises
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::{Group, GroupKey};
    use crate::model::watch::WatchStats;

    fn group(pid: u32, flag: Flag, fds: Option<FdUsage>) -> Group {
        let mut g = Group::empty(GroupKey {
            pid: Some(pid),
            ..Default::default()
        });
        g.pids = vec![pid];
        g.fds = fds;
        g.watch = Some(WatchStats {
            delta: 0,
            rate_per_min: 0.0,
            pool_size: None,
            pool_pct: None,
            eta: None,
            flag,
            trend: vec![],
            held_closed_for: None,
        });
        g
    }

    fn report(groups: Vec<Group>) -> Report {
        Report::with_groups(groups)
    }

    #[test]
    fn flagged_groups_rank_first_and_rises_follow_them() {
        use Flag::*;
        let mut r = report(vec![
            group(1, Ok, None),
            group(2, Growing, None),
            group(3, Ok, None),
            group(4, Full, None),
            group(5, Warn, None),
        ]);
        let mut rises = vec![Rise { group: 3, from: Ok }, Rise { group: 1, from: Ok }];
        flagged_first(&mut r, &mut rises);
        let pids: Vec<u32> = r.groups.iter().map(|g| g.pid.unwrap()).collect();
        assert_eq!(
            pids,
            [4, 5, 2, 1, 3],
            "full, warn, growing, then ok in rank order"
        );
        assert_eq!(r.groups[rises[0].group].pid, Some(4));
        assert_eq!(r.groups[rises[1].group].pid, Some(2));
    }

    #[test]
    fn pool_alerts_are_shown_before_fd_limit_alerts() {
        use crate::model::watch::AlertKind::*;
        let a = |kind| Alert {
            kind,
            line: String::new(),
        };
        let alerts = [
            a(Pool),
            a(FdLimit),
            a(FdLimit),
            a(Ports),
            a(Pool),
            a(FdLimit),
        ];
        use crate::model::watch::{Alert, alerts_shown};
        assert_eq!(alerts_shown(&alerts, 3), [0, 4, 3]);
        assert_eq!(
            alerts_shown(&alerts, 4),
            [0, 4, 3, 5],
            "the newest fd alert"
        );
        assert_eq!(alerts_shown(&alerts, 9).len(), 6);
    }

    #[test]
    fn fd_limit_alerts_once_per_process_until_it_falls_back() {
        let at = |open| Some(FdUsage { open, limit: 100 });
        let mut t = FdLimits::default();
        let r = report(vec![group(7, Flag::Ok, at(95)), group(7, Flag::Ok, at(95))]);
        assert_eq!(
            t.update(&r),
            vec![0],
            "one alert for the process, its first group"
        );
        assert!(t.update(&r).is_empty(), "still high: no new alert");
        let low = report(vec![
            group(7, Flag::Ok, at(89)),
            group(8, Flag::Ok, at(100)),
        ]);
        assert_eq!(t.update(&low), vec![1]);
        assert_eq!(t.update(&r), vec![0], "7 rose again");
    }

    #[test]
    fn port_alerts_once_per_destination_at_warn_and_at_full() {
        use crate::model::PortUse;
        let dest = |pid: Option<u32>, used| {
            let mut g = Group::empty(GroupKey {
                pid,
                netns: Some(1),
                remote: Some(RemoteKey::Endpoint("10.0.0.5:80".parse().unwrap())),
                ..Default::default()
            });
            g.pid = pid;
            g.ports = Some(PortUse { used, range: 100 });
            g
        };
        let mut t = PortLimits::default();
        assert!(t.update(&report(vec![dest(None, 40)])).is_empty());
        // The unowned TIME_WAIT group ranks first; the alert names the client.
        let r = report(vec![dest(None, 55), dest(Some(7), 55)]);
        let rises = t.update(&r);
        assert_eq!(rises.len(), 1, "one alert for the destination");
        assert_eq!((rises[0].group, rises[0].from), (1, Flag::Ok));
        assert!(t.update(&r).is_empty(), "still warn: no new alert");
        let rises = t.update(&report(vec![dest(None, 91)]));
        assert_eq!((rises[0].group, rises[0].from), (0, Flag::Warn));
        assert!(t.update(&report(vec![dest(None, 10)])).is_empty());
        assert_eq!(
            t.update(&report(vec![dest(None, 95)]))[0].from,
            Flag::Ok,
            "rose again"
        );
    }
}
