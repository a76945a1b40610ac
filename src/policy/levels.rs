//! Threshold levels of `--threshold`, `--critical` and `-o nagios`: which groups
//! breach, and the exit code that says so. Pure: no I/O.

use crate::exit;
use crate::model::TcpState;
use crate::model::report::{Group, Report};

/// Resolved levels: absolute counts of `metric` per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub metric: TcpState,
    pub warn: Option<u64>,
    pub crit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Levels {
    pub fn severity(&self, count: u64) -> Option<Severity> {
        if self.crit.is_some_and(|c| count >= c) {
            Some(Severity::Critical)
        } else if self.warn.is_some_and(|w| count >= w) {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

/// The groups at or over a level, worst first (the report's order).
#[derive(Debug)]
pub struct Verdict<'a> {
    pub breaches: Vec<(&'a Group, Severity)>,
}

impl Verdict<'_> {
    /// The worst severity, if any group breaches.
    pub fn worst(&self) -> Option<Severity> {
        self.breaches.iter().map(|(_, s)| *s).max()
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
            .filter_map(|g| l.severity(g.states.get(l.metric)).map(|s| (g, s)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_levels() {
        let l = Levels {
            metric: TcpState::CloseWait,
            warn: Some(15),
            crit: Some(20),
        };
        assert_eq!(l.severity(14), None);
        assert_eq!(l.severity(15), Some(Severity::Warning));
        assert_eq!(l.severity(20), Some(Severity::Critical));
        let only_crit = Levels { warn: None, ..l };
        assert_eq!(only_crit.severity(19), None);
        assert_eq!(only_crit.severity(25), Some(Severity::Critical));
    }
}
