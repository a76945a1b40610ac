//! `--watch` on screen: one frame per sample (a title, the table with its watch
//! columns, and on a terminal the warnings and latest alerts, fitted to its size so
//! that it never scrolls), and the one-line alert of a flag that rose.

use std::io::{self, Write};
use std::time::Duration;

use super::describe::{describe, exchange_note, unread_note};
use super::table::{self, TableOptions};
use super::{WarningStyle, fit_text, human_age, wrap};
use crate::model::TcpState;
use crate::model::report::{Group, Report};
use crate::model::watch::{Alert, Flag, alerts_shown};

/// How one frame is drawn.
#[derive(Debug, Clone)]
pub struct FrameOptions<'a> {
    pub sample: u64,
    /// `--watch`'s interval, shown in the title in seconds (`every 2s`, `every
    /// 0.5s`).
    pub interval: Duration,
    /// The pools in the title (`pool 20`, `pools :5432=10, default 20`); empty
    /// without `--pool-size`.
    pub pools: &'a str,
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
    /// The latest alerts, oldest first (shown on a terminal only).
    pub recent_alerts: &'a [Alert],
    /// How warnings are said in the frame (`-q`, short, `-v`).
    pub warnings: WarningStyle,
}

/// One frame, ready to write to stdout.
pub fn frame(report: &Report, o: &FrameOptions) -> io::Result<Vec<u8>> {
    let cols = o.size.map_or(usize::MAX, |(cols, _)| cols);
    // On a terminal, warnings and alerts are part of the frame, under the table,
    // which keeps at least half of it.
    let below = if o.tty {
        below_table(report, o, cols)
    } else {
        Vec::new()
    };
    let (top, more_hint) = rows_that_fit(report, o, below.len());
    let mut buf = Vec::new();
    writeln!(
        buf,
        "--- {} sample {} (every {}s{}; Ctrl-C to stop)",
        report.time,
        o.sample,
        o.interval.as_secs_f64(),
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
    for line in &below {
        writeln!(buf, "{line}")?;
    }
    Ok(match o.size {
        // Home and clear, then lines cut to the width (marked): no wrapping.
        Some((cols, _)) => {
            let mut screen = b"\x1b[H\x1b[2J".to_vec();
            for line in String::from_utf8_lossy(&buf).lines() {
                screen.extend_from_slice(fit_text(line, cols).as_bytes());
                screen.extend_from_slice(b"\r\n");
            }
            screen
        }
        None if o.tty => [&b"\x1b[H\x1b[2J"[..], &buf].concat(),
        None => buf,
    })
}

/// Lines under the table on a terminal: the warnings (one short line each, or
/// wrapped in full with `-v`), then the recent alerts (pool alerts first), both
/// capped so that the table keeps at least half of a terminal of known height,
/// and summarised (`+3 more alerts`).
fn below_table(report: &Report, o: &FrameOptions, cols: usize) -> Vec<String> {
    let warnings: Vec<String> = match o.warnings {
        WarningStyle::Full => o
            .warnings
            .lines(&report.warnings)
            .iter()
            .flat_map(|w| wrap(w, cols))
            .collect(),
        style => style.lines(&report.warnings),
    };
    let alerts = o.recent_alerts;
    let Some((_, rows)) = o.size else {
        // A terminal of unknown size: five alerts, as many as ever.
        let mut out = warnings;
        if !alerts.is_empty() {
            out.push("recent alerts:".to_string());
            let shown = alerts_shown(alerts, 5);
            out.extend(shown.into_iter().map(|i| compact_alert(&alerts[i].line)));
        }
        return out;
    };
    // The title, then the table's half: header, rows, "more", footer.
    let room = rows.saturating_sub(1 + rows.div_ceil(2));
    let alert_lines = if alerts.is_empty() {
        0
    } else {
        alerts.len() + 1
    };
    let warn_room = match alert_lines {
        0 => room,
        _ => warnings.len().min((room / 2).max(1)).min(room),
    };
    let mut out = capped(warnings, warn_room, "warnings");
    let alert_room = room.saturating_sub(out.len());
    if alert_lines > 0 && alert_room > 0 {
        let shown = alerts_shown(alerts, alert_room - 1);
        let hidden = alerts.len() - shown.len();
        out.push(match hidden {
            0 => "recent alerts:".to_string(),
            n => format!(
                "recent alerts (+{n} more alert{}):",
                if n == 1 { "" } else { "s" }
            ),
        });
        out.extend(shown.into_iter().map(|i| compact_alert(&alerts[i].line)));
    }
    out
}

/// An alert line as the frame shows it: `12:00:00 ok -> growing: ...`, without
/// the date and `sockleak:` that stderr's line (for logs) starts with, so that
/// 80 columns keep the endpoint.
fn compact_alert(line: &str) -> String {
    match line.split_once(" sockleak: ") {
        Some((time, rest)) => {
            let clock = time.split_once('T').map_or(time, |(_, t)| t);
            format!("{} {rest}", clock.get(..8).unwrap_or(clock))
        }
        None => line.to_string(),
    }
}

/// At most `room` of `lines`, the last one shown saying how many more there are.
fn capped(mut lines: Vec<String>, room: usize, what: &str) -> Vec<String> {
    if lines.len() <= room {
        return lines;
    }
    let keep = room.saturating_sub(1);
    let more = lines.len() - keep;
    lines.truncate(keep);
    if room > 0 {
        lines.push(format!("+{more} more {what} (--json lists them)"));
    }
    lines
}

/// The table rows to show, and the hint for the rest: on a terminal of known
/// height, the groups whose rows and notes (`why:`, `unread:`) fit beside the
/// title, header, "more groups", footer and the `below` lines (never scroll).
fn rows_that_fit(report: &Report, o: &FrameOptions, below: usize) -> (usize, &'static str) {
    let Some((_, rows)) = o.size else {
        return (o.top, TableOptions::TOP_HINT);
    };
    let wanted = match o.top {
        0 => report.groups.len(),
        n => n.min(report.groups.len()),
    };
    let mut room = rows.saturating_sub(4 + below);
    let mut fit = 0;
    for g in &report.groups[..wanted] {
        let lines = table::lines_of(g, o.header);
        if lines > room {
            break;
        }
        room -= lines;
        fit += 1;
    }
    let fit = fit.max(1);
    if fit < wanted {
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
            g.usage_breakdown(),
            w.eta.map(human_age).unwrap_or_else(|| "-".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_gives_the_interval_in_seconds_as_written() {
        let title = |interval| {
            let o = FrameOptions {
                sample: 3,
                interval,
                pools: "",
                metric: TcpState::CloseWait,
                top: 0,
                header: false,
                color: false,
                tty: false,
                size: None,
                recent_alerts: &[],
                warnings: WarningStyle::Short,
            };
            let text = String::from_utf8(frame(&Report::with_groups(vec![]), &o).unwrap());
            text.unwrap().lines().next().unwrap_or_default().to_string()
        };
        for (interval, every) in [
            (Duration::from_secs(2), "(every 2s;"),
            (Duration::from_millis(500), "(every 0.5s;"),
            (Duration::from_millis(50), "(every 0.05s;"),
            (Duration::from_secs_f64(0.1), "(every 0.1s;"),
        ] {
            let t = title(interval);
            assert!(t.contains(&format!("sample 3 {every}")), "{t}");
        }
    }
}
