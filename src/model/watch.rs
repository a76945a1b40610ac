//! What `--watch` adds to each group: its growth, pool usage and flag, as plain data
//! (computed by [`crate::policy::tracker`]).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::Percent;

/// How close a group is to exhausting its pool. Ordered: a flag "rises" when it
/// moves to a later variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    Ok,
    Growing,
    Warn,
    Full,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Ok => "ok",
            Flag::Growing => "growing",
            Flag::Warn => "warn",
            Flag::Full => "full",
        }
    }
}

/// What an `--on-flag` command is run for: the value of `SOCKLEAK_FLAG` (and of
/// `SOCKLEAK_PREVIOUS_FLAG`, the level it rose from) is its `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A group's pool flag: `ok`, `growing`, `warn`, `full`.
    Pool(Flag),
    /// A destination's use of the ephemeral port range ([`crate::model::PortUse::flag`]):
    /// `ports-warn`, `ports-full`, and `ok` below them.
    Ports(Flag),
    /// A process near its fd limit: `fd-limit`.
    FdLimit,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Pool(flag) => flag.as_str(),
            Trigger::Ports(Flag::Full) => "ports-full",
            Trigger::Ports(Flag::Warn) => "ports-warn",
            Trigger::Ports(Flag::Ok | Flag::Growing) => "ok",
            Trigger::FdLimit => "fd-limit",
        })
    }
}

/// Per-group watch statistics, serialised as the group's `"watch"` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchStats {
    /// Change of the `--metric` count since the previous sample.
    pub delta: i64,
    /// Growth of the `--metric` count per minute over the window.
    pub rate_per_min: f64,
    /// The pool this group is judged against (`--pool-size`, or the most specific
    /// `--pool-size ENDPOINT=N`); null when it is in none.
    pub pool_size: Option<u64>,
    /// Sockets in pool slots (ESTABLISHED, CLOSE_WAIT, SYN_SENT, CLOSE) as a
    /// share of `pool_size`.
    pub pool_pct: Option<Percent>,
    /// Time until the pool is full at the current rate (JSON: `eta_s`, seconds
    /// to the millisecond); null when not growing.
    #[serde(
        rename = "eta_s",
        serialize_with = "super::time::opt_secs_to_the_milli"
    )]
    pub eta: Option<Duration>,
    pub flag: Flag,
    /// Recent `--metric` counts, oldest first, for the sparkline (not serialised).
    #[serde(skip)]
    pub trend: Vec<u64>,
    /// How long the group has held reset-but-held (CLOSE) sockets in every
    /// sample (none has an age of its own); `None` when it holds none now. Not
    /// serialised: the verdict's reason says it.
    #[serde(skip)]
    pub held_closed_for: Option<Duration>,
}

/// What a `--watch` alert is about, in the order a small frame keeps them: a
/// pool flag that rose before a destination's ports, before an fd limit (a
/// process near its fd limit may have nothing to do with the pools watched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    Pool,
    Ports,
    FdLimit,
}

/// One alert line, kept for the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub line: String,
}

/// Which of `alerts` (oldest first) a frame with room for `room` of them shows,
/// in the order it shows them: pool alerts before port alerts before fd-limit
/// alerts, the newest of a kind kept when some must go, oldest first within a
/// kind.
pub fn alerts_shown(alerts: &[Alert], room: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_by_key(|&i| (alerts[i].kind, std::cmp::Reverse(i)));
    order.truncate(room);
    order.sort_by_key(|&i| (alerts[i].kind, i));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_json_writes_seconds_and_percentages_as_numbers() {
        let stats = WatchStats {
            delta: 2,
            rate_per_min: 16.733,
            pool_size: Some(20),
            pool_pct: Percent::new(40.0),
            eta: Duration::try_from_secs_f64(12.345).ok(),
            flag: Flag::Warn,
            trend: vec![1, 2],
            held_closed_for: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"delta":2,"rate_per_min":16.733,"pool_size":20,"pool_pct":40.0,"eta_s":12.345,"flag":"warn"}"#
        );
        let none = WatchStats {
            pool_pct: None,
            eta: None,
            ..stats
        };
        let json = serde_json::to_string(&none).unwrap();
        assert!(json.contains(r#""pool_pct":null,"eta_s":null"#), "{json}");
    }

    #[test]
    fn triggers_read_as_the_hook_receives_them() {
        let shown = [
            (Trigger::Pool(Flag::Ok), "ok"),
            (Trigger::Pool(Flag::Growing), "growing"),
            (Trigger::Pool(Flag::Warn), "warn"),
            (Trigger::Pool(Flag::Full), "full"),
            (Trigger::Ports(Flag::Ok), "ok"),
            (Trigger::Ports(Flag::Warn), "ports-warn"),
            (Trigger::Ports(Flag::Full), "ports-full"),
            (Trigger::FdLimit, "fd-limit"),
        ];
        for (t, text) in shown {
            assert_eq!(t.to_string(), text);
        }
    }
}
