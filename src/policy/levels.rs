//! Threshold levels of `--threshold`, `--critical` and `-o nagios`: which groups
//! breach, and the exit code that says so. Pure: no I/O.

use super::pool::PoolSizes;
use crate::exit;
use crate::model::TcpState;
use crate::model::report::{Group, Report};

/// A threshold: an absolute count or a share of the group's pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Count(u64),
    Percent(f64),
}

impl Threshold {
    /// The count this threshold stands for, given the pool size (at least 1: a
    /// level of 0 would breach on every group).
    pub fn resolve(self, pool_size: Option<u64>) -> Option<u64> {
        match self {
            Threshold::Count(n) => Some(n.max(1)),
            Threshold::Percent(p) => {
                pool_size.map(|s| (((s as f64) * p / 100.0).ceil() as u64).max(1))
            }
        }
    }
}

/// The levels of a check: `--threshold` and `--critical` on the `metric` count of
/// each group, a percentage being of that group's own pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Levels {
    pub metric: TcpState,
    pub warn: Option<Threshold>,
    pub crit: Option<Threshold>,
    pub pools: PoolSizes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Levels {
    /// The worst level `g` reaches, with the count that level stands for in it.
    pub fn severity(&self, g: &Group) -> Option<(Severity, u64)> {
        let count = g.states.get(self.metric);
        let pool = self.pools.for_group(g);
        let reached = |t: Option<Threshold>| {
            t.and_then(|t| t.resolve(pool))
                .filter(|level| count >= *level)
        };
        if let Some(level) = reached(self.crit) {
            Some((Severity::Critical, level))
        } else {
            reached(self.warn).map(|level| (Severity::Warning, level))
        }
    }

    /// The levels as counts of the default pool (for Nagios perfdata, which has
    /// one warn and one crit value); a percentage without a default pool is none.
    pub fn default_counts(&self) -> (Option<u64>, Option<u64>) {
        let pool = self.pools.default_size();
        (
            self.warn.and_then(|t| t.resolve(pool)),
            self.crit.and_then(|t| t.resolve(pool)),
        )
    }
}

/// The groups at or over a level, worst first (the report's order).
#[derive(Debug)]
pub struct Verdict<'a> {
    /// Each breaching group, how bad, and the count its level stands for.
    pub breaches: Vec<(&'a Group, Severity, u64)>,
}

impl Verdict<'_> {
    /// The worst severity, if any group breaches.
    pub fn worst(&self) -> Option<Severity> {
        self.breaches.iter().map(|(_, s, _)| *s).max()
    }

    /// The exit code that says it: 0, 1 (warning) or 2 (critical).
    pub fn exit_code(&self) -> i32 {
        match self.worst() {
            None => exit::OK,
            Some(Severity::Warning) => exit::BREACH,
            Some(Severity::Critical) => exit::CRITICAL,
        }
    }
}

/// Judge every group of `r` against the levels.
pub fn judge<'a>(r: &'a Report, l: &Levels) -> Verdict<'a> {
    Verdict {
        breaches: r
            .groups
            .iter()
            .filter_map(|g| l.severity(g).map(|(s, level)| (g, s, level)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_levels() {
        use crate::model::report::GroupKey;
        let l = Levels {
            metric: TcpState::CloseWait,
            warn: Some(Threshold::Count(15)),
            crit: Some(Threshold::Count(20)),
            pools: PoolSizes::default(),
        };
        let group = |n: u64| {
            let mut g = Group::empty(GroupKey::default());
            for _ in 0..n {
                g.states.add(TcpState::CloseWait);
            }
            g
        };
        assert_eq!(l.severity(&group(14)), None);
        assert_eq!(l.severity(&group(15)), Some((Severity::Warning, 15)));
        assert_eq!(l.severity(&group(20)), Some((Severity::Critical, 20)));
        let only_crit = Levels {
            warn: None,
            ..l.clone()
        };
        assert_eq!(only_crit.severity(&group(19)), None);
        assert_eq!(
            only_crit.severity(&group(25)),
            Some((Severity::Critical, 20))
        );
        // A percentage is of each group's own pool; a group in none never breaches it.
        let pct = Levels {
            warn: Some(Threshold::Percent(50.0)),
            crit: None,
            pools: PoolSizes::new(vec!["10".parse().unwrap()]),
            ..l
        };
        assert_eq!(pct.severity(&group(5)), Some((Severity::Warning, 5)));
        assert_eq!(pct.severity(&group(4)), None);
        let no_pool = Levels {
            pools: PoolSizes::default(),
            ..pct
        };
        assert_eq!(no_pool.severity(&group(500)), None);
    }

    #[test]
    fn thresholds_resolve() {
        assert_eq!(Threshold::Percent(75.0).resolve(Some(1024)), Some(768));
        assert_eq!(Threshold::Percent(75.0).resolve(Some(20)), Some(15));
        assert_eq!(Threshold::Percent(75.0).resolve(None), None);
        assert_eq!(Threshold::Percent(1.0).resolve(Some(10)), Some(1));
    }
}
