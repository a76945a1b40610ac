//! `--watch`: sample repeatedly, follow each group across samples by its key, and
//! flag groups whose counts grow toward a pool size, with rate and time to
//! exhaustion; record samples as NDJSON for `sockleak plot`.
//!
//! Memory is bounded however long it runs: history is kept only for groups and
//! socket inodes present in the latest sample, and only for the `--window`.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::aggregate::{self, Group, GroupKey, Report};
use crate::cli::{Cli, Format};
use crate::collect::Source;
use crate::exit::{self, UsageError};
use crate::model::TcpState;
use crate::render::{self, json, table};

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

/// Per-group watch statistics, serialised as the group's `"watch"` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchStats {
    /// Change of the `--metric` count since the previous sample.
    pub delta: i64,
    /// Growth of the `--metric` count per minute over the window.
    pub rate_per_min: f64,
    /// Pool usage (every state but LISTEN/TIME_WAIT) as % of `--pool-size`.
    pub pool_pct: Option<f64>,
    /// Seconds until the pool is full at the current rate; null when not growing.
    pub eta_s: Option<f64>,
    pub flag: Flag,
    /// Recent `--metric` counts, oldest first, for the sparkline (not serialised).
    #[serde(skip)]
    pub trend: Vec<u64>,
}

/// Settings of the flag logic.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub metric: TcpState,
    pub window: Duration,
    pub pool_size: Option<u64>,
    /// Share of the pool (0-100] at which a group is `warn`.
    pub warn_pct: f64,
}

struct History {
    /// (seconds since start, metric count), within the window.
    samples: VecDeque<(f64, u64)>,
    flag: Flag,
}

/// Follows groups across samples. Pure (no I/O), so the flag logic is unit-tested.
pub struct Tracker {
    policy: Policy,
    groups: HashMap<GroupKey, History>,
    /// When each socket inode was first seen, for ages where netlink has none.
    first_seen: HashMap<u64, f64>,
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
    /// they were first seen in this watch, and forget inodes that are gone.
    pub fn age_sockets(&mut self, sockets: &mut [crate::model::Socket], now: f64) {
        let mut seen = HashMap::with_capacity(self.first_seen.len());
        for s in sockets.iter_mut().filter(|s| s.inode != 0) {
            let first = *self.first_seen.get(&s.inode).unwrap_or(&now);
            seen.insert(s.inode, first);
            if s.state == TcpState::CloseWait && s.idle_ms.is_none() {
                s.idle_ms = Some(((now - first) * 1000.0) as u32);
            }
        }
        self.first_seen = seen;
    }

    /// Attach watch statistics to every group of `report`, sampled at `now`
    /// (seconds since the watch began); returns the flags that rose.
    pub fn update(&mut self, report: &mut Report, now: f64) -> Vec<Rise> {
        self.samples += 1;
        let p = self.policy;
        let window = p.window.as_secs_f64();
        let mut next: HashMap<GroupKey, History> = HashMap::with_capacity(report.groups.len());
        let mut rises = Vec::new();
        for (i, g) in report.groups.iter_mut().enumerate() {
            let count = g.states.get(p.metric);
            let mut h = self.groups.remove(&g.key).unwrap_or(History {
                samples: VecDeque::new(),
                flag: Flag::Ok,
            });
            let prev = h.samples.back().map(|(_, c)| *c);
            h.samples.push_back((now, count));
            while h.samples.front().is_some_and(|(t, _)| now - t > window) {
                h.samples.pop_front();
            }
            let (t0, c0) = *h.samples.front().expect("just pushed");
            let rate_per_min = if now > t0 {
                (count as f64 - c0 as f64) / (now - t0) * 60.0
            } else {
                0.0
            };
            // A group first seen after the first sample grew from nothing.
            let delta = match prev {
                Some(prev) => count as i64 - prev as i64,
                None if self.samples > 1 => count as i64,
                None => 0,
            };
            let usage = g.pool_usage();
            let pool_pct = p.pool_size.map(|s| usage as f64 * 100.0 / s as f64);
            let eta_s = match p.pool_size {
                Some(s) if usage >= s => Some(0.0),
                Some(s) if rate_per_min > 0.0 => Some((s - usage) as f64 / (rate_per_min / 60.0)),
                _ => None,
            };
            // Rising across samples of this group; a group seen for the first time is
            // not "growing" yet (under churn every new connection would alert).
            let growing = h.samples.len() >= 2 && count > c0;
            let flag = match (p.pool_size, pool_pct) {
                (Some(s), _) if usage >= s => Flag::Full,
                (Some(_), Some(pct)) if pct >= p.warn_pct => Flag::Warn,
                _ if growing => Flag::Growing,
                _ => Flag::Ok,
            };
            if flag > h.flag {
                rises.push(Rise {
                    group: i,
                    from: h.flag,
                });
            }
            h.flag = flag;
            let skip = h.samples.len().saturating_sub(TREND_LEN);
            // Milli-precision is all a sampled rate means; 16.732599009999998 in
            // the NDJSON would only pretend more.
            let milli = |v: f64| (v * 1000.0).round() / 1000.0;
            g.watch = Some(WatchStats {
                delta,
                rate_per_min: milli(rate_per_min),
                pool_pct: pool_pct.map(milli),
                eta_s: eta_s.map(milli),
                flag,
                trend: h.samples.iter().skip(skip).map(|(_, c)| *c).collect(),
            });
            next.insert(g.key.clone(), h);
        }
        // Groups that vanished are dropped here: history only for what exists.
        self.groups = next;
        rises
    }

    pub fn tracked_groups(&self) -> usize {
        self.groups.len()
    }
}

/// One NDJSON line: the v1 document plus the sample number.
#[derive(Serialize)]
struct SampleDoc<'a> {
    sample: u64,
    /// Seconds since the epoch with milliseconds: `time` has whole seconds only, and
    /// sub-second samples would plot as steps.
    unix_time: f64,
    /// `--pool-size`, so that `sockleak plot` can draw it without being told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pool_size: Option<u64>,
    #[serde(flatten)]
    report: &'a Report,
}

/// Open `--record` for appending before any sampling, so a bad path fails at once.
fn open_record(path: &Path) -> Result<File> {
    // Root may append to a file whose mode says read-only; honour the mode anyway:
    // someone made that file read-only on purpose.
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o222 == 0 {
            return Err(UsageError(format!(
                "--record {}: the file is read-only (mode {:o}); choose another file or make it writable",
                path.display(),
                meta.permissions().mode() & 0o777
            ))
            .into());
        }
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| {
            UsageError(format!(
                "--record {}: cannot open it for appending: {e} (does the directory exist and is it writable?)",
                path.display()
            ))
            .into()
        })
}

/// SIGINT/SIGTERM arrive on a socket pair, so the sleep between samples can wait
/// on it and wake at once.
struct Signals {
    rx: UnixStream,
    got: bool,
}

impl Signals {
    fn new() -> Result<Signals> {
        let (rx, tx) = UnixStream::pair().context("cannot create the signal pipe")?;
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)
                .context("cannot install signal handlers")?;
        }
        Ok(Signals { rx, got: false })
    }

    /// Sleep until `deadline` or a signal; true if a signal arrived.
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        while !self.got {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let _ = self.rx.set_read_timeout(Some(deadline - now));
            let mut b = [0u8; 16];
            match self.rx.read(&mut b) {
                Ok(n) if n > 0 => self.got = true,
                _ => {}
            }
        }
        self.got
    }

    /// Non-blocking check (a signal during collection).
    fn pending(&mut self) -> bool {
        if !self.got {
            let _ = self.rx.set_nonblocking(true);
            let mut b = [0u8; 16];
            if matches!(self.rx.read(&mut b), Ok(n) if n > 0) {
                self.got = true;
            }
            let _ = self.rx.set_nonblocking(false);
        }
        self.got
    }
}

pub fn run(cli: &Cli, interval: f64) -> Result<i32> {
    let by = cli.view.group_by();
    let format = cli.output.format();
    if matches!(format, Format::Prometheus | Format::Nagios) {
        return Err(UsageError(
            "--watch shows a table or NDJSON (--json); for Prometheus use `sockleak serve`".into(),
        )
        .into());
    }
    // Growth is only seen with two samples in the window.
    let window = match cli.watch.window {
        Some(w) if w < 2.0 * interval => {
            return Err(UsageError(format!(
                "--window {w}: growth needs at least two samples in the window; give --window {} or more (two --watch intervals)",
                2.0 * interval
            ))
            .into());
        }
        Some(w) => w,
        None => f64::max(60.0, 2.0 * interval),
    };
    let (mut collector, filters) = crate::snapshot::prepare(&cli.collect, &cli.view)?;
    let mut record = cli.watch.record.as_deref().map(open_record).transpose()?;
    let mut signals = Signals::new()?;
    let policy = Policy {
        metric: cli.watch.metric,
        window: Duration::from_secs_f64(window),
        pool_size: cli.watch.pool_size,
        warn_pct: cli.watch.warn_at,
    };
    let mut tracker = Tracker::new(policy);
    let tty = io::stdout().is_terminal() && format == Format::Table;
    let color = render::use_color() && tty;
    let mut hooks: Vec<Child> = Vec::new();
    // On a terminal the redraw clears what stderr showed: the latest alerts are
    // drawn under the table too.
    let mut recent_alerts: VecDeque<String> = VecDeque::new();
    // ...and not on stderr as well when that is the same terminal: the line would
    // scroll the frame. Redirected (a log), stderr gets every alert.
    let alerts_to_stderr = !(tty && io::stderr().is_terminal());
    let mut last_warnings: Vec<String> = Vec::new();
    let start = Instant::now();
    let step = Duration::from_secs_f64(interval);
    let mut next = start;
    let mut n = 0u64;

    loop {
        n += 1;
        let mut c = collector.collect()?;
        let now = start.elapsed().as_secs_f64();
        if c.source == Source::Proc {
            tracker.age_sockets(&mut c.sockets, now);
        }
        let mut report = aggregate::aggregate(&c, &by, &filters);
        drop(c);
        let rises = tracker.update(&mut report, now);

        // The NDJSON line only when something writes it: serialising every group of
        // every sample for nothing would be the most expensive part of a table view.
        let line = if record.is_some() || format == Format::Json {
            let mut v = Vec::new();
            json::write_line(
                &mut v,
                &SampleDoc {
                    sample: n,
                    unix_time: report
                        .taken_at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0),
                    pool_size: policy.pool_size,
                    report: &report,
                },
            )?;
            v
        } else {
            Vec::new()
        };
        if let Some(f) = record.as_mut() {
            // One write of a whole line; O_APPEND keeps concurrent appends whole.
            f.write_all(&line)
                .with_context(|| format!("--record: cannot append sample {n}"))?;
        }
        let mut out = io::stdout().lock();
        match format {
            Format::Json => out.write_all(&line)?,
            _ => {
                let mut buf = Vec::new();
                let mut top = cli.output.top.unwrap_or(20);
                let mut more_hint = table::TableOptions::TOP_HINT;
                let size = if tty { render::terminal_size() } else { None };
                // On a terminal, warnings are part of the frame: wrapped to its
                // width (their advice is at the end) and counted in its rows.
                let cols = size.map_or(usize::MAX, |(cols, _)| cols);
                let warning_lines: Vec<String> = if tty {
                    report
                        .warnings
                        .iter()
                        .flat_map(|w| render::wrap(&format!("warning: {w}"), cols))
                        .collect()
                } else {
                    Vec::new()
                };
                if let Some((_, rows)) = size {
                    // Redraw in place, never scroll: the rows that fit beside the
                    // title, header, "more groups", footer, warnings and alerts.
                    let around = 4
                        + warning_lines.len()
                        + recent_alerts.len()
                        + usize::from(!recent_alerts.is_empty());
                    let fit = rows.saturating_sub(around + 1).max(1);
                    if top == 0 || fit < top {
                        top = fit;
                        more_hint = table::TableOptions::TERMINAL_HINT;
                    }
                }
                writeln!(
                    buf,
                    "--- {} sample {n} (every {interval}s{}; Ctrl-C to stop)",
                    report.time,
                    policy
                        .pool_size
                        .map(|p| format!(", pool {p}"))
                        .unwrap_or_default()
                )?;
                table::write(
                    &mut buf,
                    &report,
                    table::TableOptions {
                        top,
                        header: !cli.output.no_header,
                        color,
                        more_hint,
                    },
                )?;
                if tty {
                    for line in &warning_lines {
                        writeln!(buf, "{line}")?;
                    }
                    if !recent_alerts.is_empty() {
                        writeln!(buf, "recent alerts:")?;
                        for a in &recent_alerts {
                            writeln!(buf, "{a}")?;
                        }
                    }
                } else {
                    // Piped: warnings go to stderr like a snapshot's, once until
                    // they change (counts aside: "5 sockets" and "6 sockets"
                    // unattributed are one warning), not once per sample.
                    let gist: Vec<String> =
                        report.warnings.iter().map(|w| without_digits(w)).collect();
                    if gist != last_warnings {
                        let mut err = io::stderr().lock();
                        for w in &report.warnings {
                            let _ = writeln!(err, "warning: {w}");
                        }
                        last_warnings = gist;
                    }
                }
                match size {
                    Some((cols, _)) => {
                        // Home and clear, then lines cut to the width: no wrapping.
                        let mut screen = b"\x1b[H\x1b[2J".to_vec();
                        for line in String::from_utf8_lossy(&buf).lines() {
                            screen.extend_from_slice(render::fit_line(line, cols).as_bytes());
                            screen.extend_from_slice(b"\r\n");
                        }
                        out.write_all(&screen)?;
                    }
                    None if tty => {
                        out.write_all(b"\x1b[H\x1b[2J")?;
                        out.write_all(&buf)?;
                    }
                    None => out.write_all(&buf)?,
                }
            }
        }
        out.flush()?;
        drop(out);

        for r in &rises {
            let line = alert(
                &report,
                &report.groups[r.group],
                r.from,
                policy,
                cli,
                &mut hooks,
                alerts_to_stderr,
            );
            if tty {
                if recent_alerts.len() == 5 {
                    recent_alerts.pop_front();
                }
                recent_alerts.push_back(line);
            }
        }
        hooks.retain_mut(|h| match h.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    let _ = writeln!(io::stderr(), "sockleak: --on-flag command failed: {status}");
                }
                false
            }
            _ => true,
        });

        if cli.watch.count.is_some_and(|c| n >= c) || signals.pending() {
            break;
        }
        next += step;
        if next < Instant::now() {
            // Collection took longer than the interval: don't try to catch up.
            next = Instant::now();
        }
        if signals.sleep_until(next) {
            break;
        }
    }
    Ok(exit::OK)
}

/// A warning with its numbers taken out, to tell a new warning from a recount.
fn without_digits(w: &str) -> String {
    w.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// The one-line stderr alert, and `--on-flag`. Returns the alert line.
fn alert(
    report: &Report,
    g: &Group,
    from: Flag,
    p: Policy,
    cli: &Cli,
    hooks: &mut Vec<Child>,
    to_stderr: bool,
) -> String {
    let w = g.watch.as_ref().expect("tracked group");
    let count = g.states.get(p.metric);
    let pct = w
        .pool_pct
        .map(|v| format!("{v:.0}%"))
        .unwrap_or_else(|| "-".into());
    let eta = w.eta_s.map(render::human_age).unwrap_or_else(|| "-".into());
    let line = format!(
        "{} sockleak: {} -> {}: {}: {count} {}, pool {pct}, eta {eta}",
        report.time,
        from.as_str(),
        w.flag.as_str(),
        crate::check::describe(g, report),
        p.metric.snake(),
    );
    if to_stderr {
        let _ = writeln!(io::stderr(), "{line}");
    }
    let Some(cmd) = &cli.watch.on_flag else {
        return line;
    };
    // The command line is the user's own; the data go only into the environment,
    // never into the string the shell parses.
    let spawned = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("SOCKLEAK_TIME", &report.time)
        .env("SOCKLEAK_FLAG", w.flag.as_str())
        .env("SOCKLEAK_PREVIOUS_FLAG", from.as_str())
        .env(
            "SOCKLEAK_PID",
            g.pid.map(|p| p.to_string()).unwrap_or_default(),
        )
        .env("SOCKLEAK_PROCESS", g.process_label())
        .env("SOCKLEAK_ENDPOINT", g.endpoint_label())
        .env("SOCKLEAK_METRIC", p.metric.snake())
        .env("SOCKLEAK_COUNT", count.to_string())
        .env(
            "SOCKLEAK_POOL_PCT",
            w.pool_pct.map(|v| format!("{v:.1}")).unwrap_or_default(),
        )
        .env(
            "SOCKLEAK_ETA_S",
            w.eta_s.map(|v| format!("{v:.0}")).unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => hooks.push(child),
        Err(e) => {
            let _ = writeln!(io::stderr(), "sockleak: --on-flag: cannot run it: {e}");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Group, Report, Totals};
    use crate::model::StateCounts;

    fn report(counts: &[(u32, u64)]) -> Report {
        let groups = counts
            .iter()
            .map(|(pid, n)| {
                let mut states = StateCounts::default();
                for _ in 0..*n {
                    states.add(TcpState::CloseWait);
                }
                Group {
                    key: GroupKey {
                        pid: Some(*pid),
                        ..Default::default()
                    },
                    pid: Some(*pid),
                    pids: vec![*pid],
                    process: Some("x".into()),
                    user: None,
                    direction: None,
                    local: None,
                    remote: None,
                    total: *n,
                    states,
                    recv_q: 0,
                    send_q: 0,
                    oldest_close_wait_idle_s: None,
                    attribution: None,
                    local_port: None,
                    remote_port: None,
                    state: None,
                    netns: None,
                    container: None,
                    cmdline: None,
                    watch: None,
                }
            })
            .collect();
        Report {
            version: 1,
            time: String::new(),
            host: String::new(),
            source: Source::Proc,
            group_by: vec![],
            totals: Totals {
                sockets: 0,
                states: StateCounts::default(),
                unowned: 0,
                unattributed: 0,
                matched: 0,
                netns: Default::default(),
            },
            groups,
            warnings: vec![],
            elapsed: Duration::ZERO,
            host_netns: 0,
            taken_at: std::time::SystemTime::now(),
        }
    }

    fn policy() -> Policy {
        Policy {
            metric: TcpState::CloseWait,
            window: Duration::from_secs(60),
            pool_size: Some(20),
            warn_pct: 75.0,
        }
    }

    #[test]
    fn flags_rise_through_growing_warn_full() {
        let mut t = Tracker::new(policy());
        let mut flags = Vec::new();
        for (i, n) in [0u64, 2, 4, 8, 15, 18, 20, 20].iter().enumerate() {
            let mut r = report(&[(1, *n)]);
            let rises = t.update(&mut r, i as f64);
            let w = r.groups[0].watch.clone().unwrap();
            flags.push((w.flag, rises.len()));
            if i == 3 {
                assert_eq!(w.delta, 4);
                assert!((w.rate_per_min - 160.0).abs() < 1e-9, "{}", w.rate_per_min);
                assert_eq!(w.pool_pct, Some(40.0));
                assert!((w.eta_s.unwrap() - 4.5).abs() < 1e-9);
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
            pool_size: None,
            window: Duration::from_secs(2),
            ..policy()
        });
        let mut r = report(&[(1, 5)]);
        t.update(&mut r, 0.0);
        let mut r = report(&[(1, 500)]);
        t.update(&mut r, 1.0);
        assert_eq!(r.groups[0].watch.as_ref().unwrap().flag, Flag::Growing);
        assert_eq!(r.groups[0].watch.as_ref().unwrap().eta_s, None);
        // Flat for longer than the window: back to ok.
        for s in 2..6 {
            let mut r2 = report(&[(1, 500)]);
            t.update(&mut r2, s as f64);
            r = r2;
        }
        assert_eq!(r.groups[0].watch.as_ref().unwrap().flag, Flag::Ok);
        assert_eq!(r.groups[0].watch.as_ref().unwrap().rate_per_min, 0.0);
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
            t.update(&mut r, f64::from(s));
            let w = r.groups[1].watch.as_ref().unwrap();
            assert!(w.trend.len() <= 11);
        }
        assert_eq!(t.tracked_groups(), 2);
    }
}
