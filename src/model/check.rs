//! A check's outcome as data (`--threshold`, `--critical`, `-o nagios`): which
//! groups breach, how badly, and the levels the perfdata shows. Computed by
//! `policy::levels::judge`, read by `render::check`, which needs nothing else of
//! the policy.

use super::TcpState;
use super::report::Group;
use super::verdict::Level;
use crate::exit;

/// What a breaching group reached: the count its level stands for, or the
/// verdict it was judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reached {
    Count(u64),
    Verdict(Level),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

/// The groups at or over a level, worst first (the report's order).
#[derive(Debug)]
pub struct CheckVerdict<'a> {
    /// The state the levels count (`--metric`).
    pub metric: TcpState,
    /// The levels as counts of the default pool (Nagios perfdata has one warn and
    /// one crit value); a percentage without a default pool is none.
    pub default_counts: (Option<u64>, Option<u64>),
    /// Each breaching group, how bad, and what it reached.
    pub breaches: Vec<(&'a Group, Severity, Reached)>,
}

impl CheckVerdict<'_> {
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
