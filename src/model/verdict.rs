//! A group's verdict: `leak`, `suspect` or `ok`, and the typed reasons behind it,
//! as plain data (judged by [`crate::policy::verdict`]). In JSON a reason is its
//! short text, as a warning is.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::{Percent, TcpState, human_age};

/// How bad a group is. Ordered: `Leak` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Ok,
    Suspect,
    Leak,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Suspect => "suspect",
            Level::Leak => "leak",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "leak" => Ok(Level::Leak),
            "suspect" => Ok(Level::Suspect),
            "ok" => Ok(Level::Ok),
            _ => Err(format!("'{s}' is not a verdict (expected leak or suspect)")),
        }
    }
}

/// Why a group is not `ok`.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// CLOSE_WAIT sockets idle at least `--leak-after`: the peer closed long ago
    /// and the process never did (the state has no timeout). A leak.
    IdleCloseWait {
        sockets: u64,
        oldest: Duration,
        after: Duration,
    },
    /// CLOSE_WAIT sockets without an idle age (the /proc source in a snapshot):
    /// how long they were held is unknown.
    CloseWaitAgeUnknown { sockets: u64 },
    /// Reset-but-held sockets (state CLOSE, in no table): the peer reset them,
    /// the process still holds the fd. No source gives them an age.
    HeldClosed { sockets: u64 },
    /// Reset-but-held sockets in every `--watch` sample for at least
    /// `--leak-after`: the process keeps dead connections. A leak.
    HeldClosedFor { sockets: u64, held: Duration },
    /// ESTABLISHED sockets of an outbound group idle at least `--leak-after` and
    /// at least [`crate::policy::verdict::FAR_PAST`] times the median idle age of
    /// the group's ESTABLISHED sockets: checkouts that never came back.
    IdleCheckouts {
        sockets: u64,
        oldest: Duration,
        median: Duration,
    },
    /// The `--metric` count grew across `--watch` samples.
    Growing { state: TcpState, rate_per_min: f64 },
    /// The group's pool is at least `--warn-at` full.
    PoolFill { used: u64, size: u64 },
    /// The group's process has most of its fd limit open.
    FdLimit { open: u64, limit: u64 },
}

impl Reason {
    /// The level this reason alone gives a group.
    pub fn level(&self) -> Level {
        match self {
            Reason::IdleCloseWait { .. } | Reason::HeldClosedFor { .. } => Level::Leak,
            _ => Level::Suspect,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::IdleCloseWait {
                sockets,
                oldest,
                after,
            } => write!(
                f,
                "{sockets} close_wait idle over {} (oldest {})",
                round_age(*after),
                human_age(*oldest)
            ),
            Reason::CloseWaitAgeUnknown { sockets } => write!(
                f,
                "{sockets} close_wait of unknown age (no idle ages from /proc)"
            ),
            Reason::HeldClosed { sockets } => {
                write!(f, "{sockets} reset by the peer but still held")
            }
            Reason::HeldClosedFor { sockets, held } => write!(
                f,
                "{sockets} reset by the peer but still held, some in every sample for {}",
                human_age(*held)
            ),
            Reason::IdleCheckouts {
                sockets,
                oldest,
                median,
            } => write!(
                f,
                "{sockets} established idle far past the others (oldest {}, median {})",
                human_age(*oldest),
                human_age(*median)
            ),
            Reason::Growing {
                state,
                rate_per_min,
            } => write!(f, "{} growing {rate_per_min:+.1}/min", state.snake()),
            Reason::PoolFill { used, size } => {
                let pct = Percent::of(*used, (*size).max(1));
                write!(f, "pool {pct:.0}% full ({used} of {size})")
            }
            Reason::FdLimit { open, limit } => write!(f, "{open} of {limit} fds open"),
        }
    }
}

/// `--leak-after` as the user most likely wrote it: `5m`, `90s`, `2h`.
fn round_age(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0 => "0s".to_string(),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ if s < 60 => format!("{s}s"),
        _ => human_age(d),
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A group's verdict: its level (the worst of its reasons, `ok` without any) and
/// every reason, worst first.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Verdict {
    pub level: Level,
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// The verdict of these reasons, ordered worst first (stable).
    pub fn of(mut reasons: Vec<Reason>) -> Verdict {
        reasons.sort_by_key(|r| std::cmp::Reverse(r.level()));
        Verdict {
            level: reasons.iter().map(Reason::level).max().unwrap_or_default(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_the_worst_reason() {
        let v = Verdict::of(vec![
            Reason::FdLimit {
                open: 95,
                limit: 100,
            },
            Reason::IdleCloseWait {
                sockets: 25,
                oldest: Duration::from_secs(845),
                after: Duration::from_secs(300),
            },
        ]);
        assert_eq!(v.level, Level::Leak);
        assert_eq!(
            v.reasons[0].to_string(),
            "25 close_wait idle over 5m (oldest 14m05s)"
        );
        assert_eq!(Verdict::of(vec![]).level, Level::Ok);
        assert!(Level::Leak > Level::Suspect && Level::Suspect > Level::Ok);
        assert_eq!("LEAK".parse::<Level>(), Ok(Level::Leak));
        assert!("bad".parse::<Level>().is_err());
    }
}
