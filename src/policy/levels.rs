//! Threshold levels of `--threshold`, `--critical` and `-o nagios`: which groups
//! breach, and the exit code that says so. Pure: no I/O.

use std::str::FromStr;

use super::pool::PoolSizes;
use crate::model::check::{CheckVerdict, Reached, Severity};
use crate::model::report::{Group, Report};
use crate::model::verdict::Level;
use crate::model::{Percent, TcpState};

/// A threshold: an absolute count, a share of the group's pool, or a verdict
/// (`leak`, `suspect`: no pool size needed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Count(u64),
    Percent(Percent),
    Verdict(Level),
}

impl Threshold {
    /// The count this threshold stands for, given the pool size (at least 1: a
    /// level of 0 would breach on every group).
    pub fn resolve(self, pool_size: Option<u64>) -> Option<u64> {
        match self {
            Threshold::Count(n) => Some(n.max(1)),
            Threshold::Percent(p) => pool_size.map(|s| p.of_ceil(s).max(1)),
            Threshold::Verdict(_) => None,
        }
    }
}

/// How `--threshold` and `--critical` are written: `leak` or `suspect`, a count
/// such as `100`, or a share of the pool such as `75%`.
impl FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Threshold, String> {
        if s.ends_with('%') {
            return s.parse::<Percent>().map(Threshold::Percent);
        }
        if let Ok(level @ (Level::Leak | Level::Suspect)) = s.parse::<Level>() {
            return Ok(Threshold::Verdict(level));
        }
        s.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Threshold::Count)
            .ok_or_else(|| format!("'{s}' is not a threshold (expected leak or suspect, a count such as 100, or a share of --pool-size such as 75%)"))
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

impl Levels {
    /// The worst level `g` reaches, with what that level stands for in it. A
    /// verdict threshold reads the verdict attached by `policy::verdict::attach`.
    pub fn severity(&self, g: &Group) -> Option<(Severity, Reached)> {
        let count = g.states.get(self.metric);
        let pool = self.pools.for_group(g);
        let judged = g.verdict.as_ref().map_or(Level::Ok, |v| v.level);
        let reached = |t: Option<Threshold>| match t? {
            Threshold::Verdict(level) => {
                (level > Level::Ok && judged >= level).then_some(Reached::Verdict(judged))
            }
            t => t
                .resolve(pool)
                .filter(|level| count >= *level)
                .map(Reached::Count),
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

/// Judge every group of `r` against the levels.
pub fn judge<'a>(r: &'a Report, l: &Levels) -> CheckVerdict<'a> {
    CheckVerdict {
        metric: l.metric,
        default_counts: l.default_counts(),
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

    fn pct(p: f64) -> Threshold {
        Threshold::Percent(Percent::new(p).unwrap())
    }

    #[test]
    fn thresholds_parse() {
        let t = |s: &str| s.parse::<Threshold>();
        assert_eq!(t("75%"), Ok(Threshold::Percent(Percent::WARN_DEFAULT)));
        assert_eq!(t("10"), Ok(Threshold::Count(10)));
        assert_eq!(t("leak"), Ok(Threshold::Verdict(Level::Leak)));
        assert!(t("ok").is_err());
        assert!(t("120%").is_err());
        assert!(t("0").is_err());
    }

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
        assert_eq!(
            l.severity(&group(15)),
            Some((Severity::Warning, Reached::Count(15)))
        );
        assert_eq!(
            l.severity(&group(20)),
            Some((Severity::Critical, Reached::Count(20)))
        );
        let only_crit = Levels {
            warn: None,
            ..l.clone()
        };
        assert_eq!(only_crit.severity(&group(19)), None);
        assert_eq!(
            only_crit.severity(&group(25)),
            Some((Severity::Critical, Reached::Count(20)))
        );
        // A percentage is of each group's own pool; a group in none never breaches it.
        let pct = Levels {
            warn: Some(pct(50.0)),
            crit: None,
            pools: PoolSizes::new(vec!["10".parse().unwrap()]),
            ..l
        };
        assert_eq!(
            pct.severity(&group(5)),
            Some((Severity::Warning, Reached::Count(5)))
        );
        assert_eq!(pct.severity(&group(4)), None);
        let no_pool = Levels {
            pools: PoolSizes::default(),
            ..pct
        };
        assert_eq!(no_pool.severity(&group(500)), None);
        // A verdict threshold needs no pool: the attached verdict decides.
        use crate::model::verdict::{Reason, Verdict};
        let leak = Levels {
            warn: Some(Threshold::Verdict(Level::Suspect)),
            crit: Some(Threshold::Verdict(Level::Leak)),
            ..no_pool
        };
        let mut g = group(1);
        assert_eq!(leak.severity(&g), None, "not judged: ok");
        g.verdict = Some(Verdict::of(vec![Reason::CloseWaitAgeUnknown {
            sockets: 1,
        }]));
        assert_eq!(
            leak.severity(&g),
            Some((Severity::Warning, Reached::Verdict(Level::Suspect)))
        );
        g.verdict = Some(Verdict::of(vec![Reason::IdleCloseWait {
            sockets: 1,
            oldest: std::time::Duration::from_secs(400),
            after: std::time::Duration::from_secs(300),
        }]));
        assert_eq!(
            leak.severity(&g),
            Some((Severity::Critical, Reached::Verdict(Level::Leak)))
        );
    }

    #[test]
    fn thresholds_resolve() {
        assert_eq!(pct(75.0).resolve(Some(1024)), Some(768));
        assert_eq!(pct(75.0).resolve(Some(20)), Some(15));
        assert_eq!(pct(75.0).resolve(None), None);
        assert_eq!(pct(1.0).resolve(Some(10)), Some(1));
    }
}
