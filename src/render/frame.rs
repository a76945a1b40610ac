//! `--watch` on screen: one frame per sample (a title, the table with its watch
//! columns, and on a terminal the warnings and latest alerts, fitted to its size so
//! that it never scrolls), and the one-line alert of a flag that rose.

use std::io::{self, Write};

use super::describe::{describe, exchange_note, unread_note};
use super::table::{self, TableOptions};
use super::{fit_line, human_age, wrap};
use crate::model::TcpState;
use crate::model::report::{Group, Report};
use crate::model::watch::Flag;
use crate::policy::pool::{PoolSizes, usage_breakdown};

/// How one frame is drawn.
#[derive(Debug, Clone)]
pub struct FrameOptions<'a> {
    pub sample: u64,
    pub interval: f64,
    pub pools: &'a PoolSizes,
    /// The watched state: its column stays when the others fold.
    pub metric: TcpState,
    /// Rows asked for (`--top`; 0 is all).
    pub top: usize,
    pub header: bool,
    pub color: bool,
    /// Whether stdout is a terminal: the frame is redrawn in place there, with the
    /// warnings and alerts inside it.
    pub tty: bool,
    /// The terminal's (columns, rows), when known: the frame is fitted to it.
    pub size: Option<(usize, usize)>,
    /// The latest alert lines, oldest first (shown on a terminal only).
    pub recent_alerts: &'a [String],
}

/// One frame, ready to write to stdout.
pub fn frame(report: &Report, o: &FrameOptions) -> io::Result<Vec<u8>> {
    let cols = o.size.map_or(usize::MAX, |(cols, _)| cols);
    // On a terminal, warnings are part of the frame: wrapped to its width (their
    // advice is at the end) and counted in its rows.
    let warning_lines: Vec<String> = if o.tty {
        report
            .warnings
            .iter()
            .flat_map(|w| wrap(&format!("warning: {w}"), cols))
            .collect()
    } else {
        Vec::new()
    };
    let (top, more_hint) = rows_that_fit(o, warning_lines.len());
    let mut buf = Vec::new();
    writeln!(
        buf,
        "--- {} sample {} (every {}s{}; Ctrl-C to stop)",
        report.time,
        o.sample,
        o.interval,
        if o.pools.is_empty() {
            String::new()
        } else {
            format!(", {}", o.pools)
        }
    )?;
    let opts = TableOptions {
        top,
        header: o.header,
        color: o.color,
        more_hint,
        fit: o.size.map(|(cols, _)| (cols, o.metric)),
    };
    table::write(&mut buf, report, opts)?;
    if o.tty {
        for line in &warning_lines {
            writeln!(buf, "{line}")?;
        }
        if !o.recent_alerts.is_empty() {
            writeln!(buf, "recent alerts:")?;
            for a in o.recent_alerts {
                writeln!(buf, "{a}")?;
            }
        }
    }
    Ok(match o.size {
        // Home and clear, then lines cut to the width: no wrapping.
        Some((cols, _)) => {
            let mut screen = b"\x1b[H\x1b[2J".to_vec();
            for line in String::from_utf8_lossy(&buf).lines() {
                screen.extend_from_slice(fit_line(line, cols).as_bytes());
                screen.extend_from_slice(b"\r\n");
            }
            screen
        }
        None if o.tty => [&b"\x1b[H\x1b[2J"[..], &buf].concat(),
        None => buf,
    })
}

/// The table rows to show, and the hint for the rest: on a terminal of known
/// height, what fits beside the title, header, "more groups", footer, warnings and
/// alerts (never scroll).
fn rows_that_fit(o: &FrameOptions, warning_lines: usize) -> (usize, &'static str) {
    let Some((_, rows)) = o.size else {
        return (o.top, TableOptions::TOP_HINT);
    };
    let around =
        4 + warning_lines + o.recent_alerts.len() + usize::from(!o.recent_alerts.is_empty());
    let fit = rows.saturating_sub(around + 1).max(1);
    if o.top == 0 || fit < o.top {
        (fit, TableOptions::TERMINAL_HINT)
    } else {
        (o.top, TableOptions::TOP_HINT)
    }
}

/// A flag that rose, for stderr and the frame, saying what it counts: `TIME
/// sockleak: growing -> full: pid 7 app outbound 10.0.0.5:5432: 10 of pool 10 (8
/// close_wait, 2 established), eta 0s`; for a group in no pool, `12 close_wait,
/// +4.0/min`.
pub fn alert_line(report: &Report, g: &Group, from: Flag, metric: TcpState) -> String {
    let Some(w) = g.watch.as_ref() else {
        return String::new();
    };
    let what = match w.pool_size {
        Some(pool) => format!(
            "{} of pool {pool} ({}), eta {}",
            g.pool_usage(),
            usage_breakdown(g),
            w.eta_s.map(human_age).unwrap_or_else(|| "-".into())
        ),
        None => format!(
            "{} {}, {:+.1}/min",
            g.states.get(metric),
            metric.snake(),
            w.rate_per_min
        ),
    };
    format!(
        "{} sockleak: {} -> {}: {}: {what}{}{}",
        report.time,
        from.as_str(),
        w.flag.as_str(),
        describe(g, report),
        unread_note(g),
        exchange_note(g),
    )
}

/// `TIME sockleak: ports ok -> warn: pid 7 app outbound 10.0.0.5:80: 14200 of
/// 28232 local ports in use or TIME_WAIT (50%); connect() fails with
/// EADDRNOTAVAIL when none is left`: a destination running out of ephemeral ports.
pub fn ports_alert_line(report: &Report, g: &Group, from: Flag) -> String {
    let Some(p) = g.ports else {
        return String::new();
    };
    format!(
        "{} sockleak: ports {} -> {}: {}: {} of {} local ports in use or TIME_WAIT ({:.0}%); connect() fails with EADDRNOTAVAIL when none is left",
        report.time,
        from.as_str(),
        p.flag().as_str(),
        describe(g, report),
        p.used,
        p.range,
        p.pct()
    )
}

/// `TIME sockleak: fd limit: pid 7 app outbound 10.0.0.5:5432: 950 of 1024 fds
/// open (93%)`: a process that reached its RLIMIT_NOFILE alert level.
pub fn fd_alert_line(report: &Report, g: &Group) -> String {
    let Some(f) = g.fds else {
        return String::new();
    };
    format!(
        "{} sockleak: fd limit: {}: {} of {} fds open ({:.0}%)",
        report.time,
        describe(g, report),
        f.open,
        f.limit,
        f.pct()
    )
}
