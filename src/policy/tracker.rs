//! The `--watch` tracker: follows each group across samples by its key, computes
//! growth, pool usage and time to exhaustion, and raises flags. Pure (no I/O), so
//! the flag logic is unit-tested on hand-built reports.
//!
//! Memory is bounded however long it runs: history is kept only for groups and
//! socket inodes present in the latest sample, and only for the `--window`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::pool::PoolSizes;
use crate::model::report::{Group, GroupKey, Report};
use crate::model::watch::{Flag, WatchStats};
use crate::model::{Percent, Socket, TcpState};

/// Settings of the flag logic.
#[derive(Debug, Clone)]
pub struct Policy {
    pub metric: TcpState,
    pub window: Duration,
    /// The pool each group is judged against.
    pub pools: PoolSizes,
    /// Share of the pool (`--warn-at`, more than 0 and at most 100 %) at
    /// which a group is `warn`.
    pub warn_at: Percent,
}

struct History {
    /// (time since the watch began, metric count), within the window.
    samples: VecDeque<(Duration, u64)>,
    flag: Flag,
    /// Since when every sample found reset-but-held sockets in the group.
    closed_since: Option<Duration>,
}

/// Follows groups across samples. Pure (no I/O), so the flag logic is unit-tested.
pub struct Tracker {
    policy: Policy,
    groups: HashMap<GroupKey, History>,
    /// When each socket inode was first seen, for ages where netlink has none.
    first_seen: HashMap<u64, Duration>,
    samples: u64,
}

/// A flag that rose in this sample (for the stderr alert and `--on-flag`).
pub struct Rise {
    pub group: usize,
    pub from: Flag,
}

const TREND_LEN: usize = 20;

impl Tracker {
    pub fn new(policy: Policy) -> Tracker {
        Tracker {
            policy,
            groups: HashMap::new(),
            first_seen: HashMap::new(),
            samples: 0,
        }
    }

    /// Give CLOSE_WAIT sockets without an idle age (the /proc source) the time since
    /// they were first seen in this watch (`now` is the time since it began), and
    /// forget inodes that are gone.
    pub fn age_sockets(&mut self, sockets: &mut [Socket], now: Duration) {
        let mut seen = HashMap::with_capacity(self.first_seen.len());
        for s in sockets.iter_mut().filter(|s| s.inode != 0) {
            let first = *self.first_seen.get(&s.inode).unwrap_or(&now);
            seen.insert(s.inode, first);
            if s.state == TcpState::CloseWait && s.idle_ms.is_none() {
                let idle = now.saturating_sub(first).as_millis();
                s.idle_ms = Some(u32::try_from(idle).unwrap_or(u32::MAX));
            }
        }
        self.first_seen = seen;
    }

    /// Attach watch statistics to every group of `report`, sampled at `now`
    /// (the time since the watch began); returns the flags that rose.
    pub fn update(&mut self, report: &mut Report, now: Duration) -> Vec<Rise> {
        self.samples += 1;
        let mut next: HashMap<GroupKey, History> = HashMap::with_capacity(report.groups.len());
        let mut rises = Vec::new();
        for (i, g) in report.groups.iter_mut().enumerate() {
            let mut h = self.groups.remove(&g.key).unwrap_or(History {
                samples: VecDeque::new(),
                flag: Flag::Ok,
                closed_since: None,
            });
            let stats = self.stats(&mut h, g, now);
            if stats.flag > h.flag {
                rises.push(Rise {
                    group: i,
                    from: h.flag,
                });
            }
            h.flag = stats.flag;
            g.watch = Some(stats);
            next.insert(g.key.clone(), h);
        }
        // Groups that vanished are dropped here: history only for what exists.
        self.groups = next;
        rises
    }

    /// Add this sample to a group's history and compute its statistics.
    fn stats(&self, h: &mut History, g: &Group, now: Duration) -> WatchStats {
        let p = &self.policy;
        let count = g.states.get(p.metric);
        let prev = h.samples.back().map(|(_, c)| *c);
        h.samples.push_back((now, count));
        while h
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) > p.window)
        {
            h.samples.pop_front();
        }
        let (t0, c0) = *h.samples.front().expect("just pushed");
        let rate_per_min = if now > t0 {
            (count as f64 - c0 as f64) / (now - t0).as_secs_f64() * 60.0
        } else {
            0.0
        };
        // A group first seen after the first sample grew from nothing.
        let delta = match prev {
            Some(prev) => count as i64 - prev as i64,
            None if self.samples > 1 => count as i64,
            None => 0,
        };
        let pool = p.pools.for_group(g);
        let usage = g.pool_usage();
        let pool_pct = pool.map(|s| Percent::of(usage, s));
        let eta_s = match pool {
            Some(s) if usage >= s => Some(0.0),
            Some(s) if rate_per_min > 0.0 => Some((s - usage) as f64 / (rate_per_min / 60.0)),
            _ => None,
        };
        // Rising across samples of this group; a group seen for the first time is
        // not "growing" yet (under churn every new connection would alert).
        let growing = h.samples.len() >= 2 && count > c0;
        let flag = match (pool, pool_pct) {
            (Some(s), _) if usage >= s => Flag::Full,
            (Some(_), Some(pct)) if pct >= p.warn_at => Flag::Warn,
            _ if growing => Flag::Growing,
            _ => Flag::Ok,
        };
        h.closed_since = match g.states.get(TcpState::Close) {
            0 => None,
            _ => Some(h.closed_since.unwrap_or(now)),
        };
        let skip = h.samples.len().saturating_sub(TREND_LEN);
        // Milli-precision is all a sampled rate means; 16.732599009999998 in the
        // NDJSON would only pretend more.
        let milli = |v: f64| (v * 1000.0).round() / 1000.0;
        WatchStats {
            delta,
            rate_per_min: milli(rate_per_min),
            pool_size: pool,
            pool_pct: pool_pct.and_then(|p| Percent::new(milli(p.get()))),
            eta: eta_s.and_then(|s| Duration::try_from_secs_f64(milli(s)).ok()),
            flag,
            trend: h.samples.iter().skip(skip).map(|(_, c)| *c).collect(),
            held_closed_for: h.closed_since.map(|t| now.saturating_sub(t)),
        }
    }

    pub fn tracked_groups(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StateCounts;
    use crate::model::report::{Group, GroupKey, Report};

    fn report(counts: &[(u32, u64)]) -> Report {
        let groups = counts
            .iter()
            .map(|(pid, n)| {
                let mut states = StateCounts::default();
                for _ in 0..*n {
                    states.add(TcpState::CloseWait);
                }
                let mut g = Group::empty(GroupKey {
                    pid: Some(*pid),
                    ..Default::default()
                });
                g.pids = vec![*pid];
                g.process = Some("x".into());
                g.total = *n;
                g.states = states;
                g
            })
            .collect();
        Report::with_groups(groups)
    }

    fn policy() -> Policy {
        Policy {
            metric: TcpState::CloseWait,
            window: Duration::from_secs(60),
            pools: PoolSizes::new(vec!["20".parse().unwrap()]),
            warn_at: Percent::WARN_DEFAULT,
        }
    }

    #[test]
    fn flags_rise_through_growing_warn_full() {
        let mut t = Tracker::new(policy());
        let mut flags = Vec::new();
        for (i, n) in [0u64, 2, 4, 8, 15, 18, 20, 20].iter().enumerate() {
            let mut r = report(&[(1, *n)]);
            let rises = t.update(&mut r, Duration::from_secs(i as u64));
            let w = r.groups[0].watch.clone().unwrap();
            flags.push((w.flag, rises.len()));
            if i == 3 {
                assert_eq!(w.delta, 4);
                assert!((w.rate_per_min - 160.0).abs() < 1e-9, "{}", w.rate_per_min);
                assert_eq!(w.pool_pct, Percent::new(40.0));
                assert_eq!(w.eta, Some(Duration::from_millis(4500)));
            }
        }
        use Flag::*;
        assert_eq!(
            flags,
            vec![
                (Ok, 0),
                (Growing, 1),
                (Growing, 0),
                (Growing, 0),
                (Warn, 1),
                (Warn, 0),
                (Full, 1),
                (Full, 0)
            ]
        );
    }

    #[test]
    fn without_pool_only_ok_and_growing() {
        let mut t = Tracker::new(Policy {
            pools: PoolSizes::default(),
            window: Duration::from_secs(2),
            ..policy()
        });
        let mut r = report(&[(1, 5)]);
        t.update(&mut r, Duration::ZERO);
        let mut r = report(&[(1, 500)]);
        t.update(&mut r, Duration::from_secs(1));
        assert_eq!(r.groups[0].watch.as_ref().unwrap().flag, Flag::Growing);
        assert_eq!(r.groups[0].watch.as_ref().unwrap().eta, None);
        // Flat for longer than the window: back to ok.
        for s in 2..6 {
            let mut r2 = report(&[(1, 500)]);
            t.update(&mut r2, Duration::from_secs(s));
            r = r2;
        }
        assert_eq!(r.groups[0].watch.as_ref().unwrap().flag, Flag::Ok);
        assert_eq!(r.groups[0].watch.as_ref().unwrap().rate_per_min, 0.0);
    }

    #[test]
    fn reset_but_held_sockets_are_followed_while_present_in_every_sample() {
        let mut t = Tracker::new(policy());
        let held = |t: &mut Tracker, closed: bool, now: u64| {
            let mut r = report(&[(1, 1)]);
            if closed {
                r.groups[0].states.add(TcpState::Close);
            }
            t.update(&mut r, Duration::from_secs(now));
            r.groups[0].watch.as_ref().unwrap().held_closed_for
        };
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(held(&mut t, true, 0), secs(0));
        assert_eq!(held(&mut t, true, 5), secs(5));
        assert_eq!(held(&mut t, false, 6), None, "none held: the clock stops");
        assert_eq!(held(&mut t, true, 7), secs(0), "and starts again");
    }

    #[test]
    fn close_wait_without_an_idle_age_is_aged_from_when_it_was_first_seen() {
        let mut t = Tracker::new(policy());
        let socket = |inode, state| Socket {
            inode,
            ..Socket::for_test(state, "127.0.0.1:40000", "127.0.0.1:5432")
        };
        let mut first = [socket(7, TcpState::CloseWait)];
        t.age_sockets(&mut first, Duration::from_millis(1500));
        assert_eq!(first[0].idle_ms, Some(0), "first seen now");
        let mut later = [
            socket(7, TcpState::CloseWait),
            socket(8, TcpState::Established),
        ];
        later[1].idle_ms = Some(3);
        t.age_sockets(&mut later, Duration::from_millis(4250));
        assert_eq!(later[0].idle_ms, Some(2750));
        assert_eq!(later[1].idle_ms, Some(3), "an age of its own is kept");
        // Gone for one sample: forgotten, its clock starts again.
        t.age_sockets(&mut [], Duration::from_secs(5));
        let mut back = [socket(7, TcpState::CloseWait)];
        t.age_sockets(&mut back, Duration::from_secs(9));
        assert_eq!(back[0].idle_ms, Some(0));
    }

    #[test]
    fn vanished_groups_and_old_samples_are_forgotten() {
        let mut t = Tracker::new(Policy {
            window: Duration::from_secs(10),
            ..policy()
        });
        for s in 0..1000u32 {
            // A new group every sample, each seen once.
            let mut r = report(&[(s, 1), (100_000, 3)]);
            t.update(&mut r, Duration::from_secs(u64::from(s)));
            let w = r.groups[1].watch.as_ref().unwrap();
            assert!(w.trend.len() <= 11);
        }
        assert_eq!(t.tracked_groups(), 2);
    }
}
