//! `--watch`: sample repeatedly, let the tracker follow each group across samples
//! and raise flags as counts grow toward a pool size, show each sample (a frame on
//! a terminal, appended tables when piped, or NDJSON), append samples to
//! `--record`, and run `--on-flag` when a flag rises.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::{Watch, WatchFormat};
use crate::exit;
use crate::model::Source;
use crate::model::report::{Group, Report};
use crate::model::warning::Warning;
use crate::model::watch::{Alert, AlertKind, Flag, Trigger};
use crate::policy::rank::{self, FdLimits, PortLimits};
use crate::policy::tracker::{Rise, Tracker};
use crate::policy::verdict::{self, VerdictPolicy};
use crate::render::{WarningStyle, frame, json};
use crate::sample::Sampler;

pub fn run(mut w: Watch) -> Result<i32> {
    if let Some((path, f)) = w.record.as_mut() {
        heal(f).with_context(|| format!("--record {}: cannot append to it", path.display()))?;
    }
    let mut signals = Signals::new()?;
    let mut tracker = Tracker::new(w.policy.clone());
    let mut limits = Limits {
        verdicts: w.verdicts.clone(),
        ..Limits::default()
    };
    let mut screen = Screen::new(w.format, w.warnings);
    let mut hooks = Hooks::default();
    let start = Instant::now();
    let mut next = start;
    let mut n = 0u64;
    loop {
        n += 1;
        let judged = sample(&mut w.sampler, &mut tracker, &mut limits, start);
        // A stop signal that arrived while a guarded read waited ends the watch
        // as one between samples does: quietly, with what was written kept.
        if judged.is_err() && signals.pending() {
            break;
        }
        let judged = judged?;
        write_sample(&mut w, &mut screen, n, &judged.report)?;
        alert(&judged, &w, &mut screen, &mut hooks);
        hooks.reap();
        if w.count.is_some_and(|c| n >= c) || signals.pending() {
            break;
        }
        // Collection took longer than the interval: don't try to catch up.
        next = (next + w.interval).max(Instant::now());
        if signals.sleep_until(next) {
            break;
        }
    }
    Ok(exit::OK)
}

/// Append sample `n` to `--record` and show it (a frame, a table or its NDJSON
/// line).
fn write_sample(w: &mut Watch, screen: &mut Screen, n: u64, report: &Report) -> Result<()> {
    // The NDJSON line only when something writes it: serialising every group of
    // every sample for nothing would be the most expensive part of a table view.
    let line = if w.record.is_some() || w.format == WatchFormat::Json {
        json::sample_line(n, w.policy.pools.default_size(), report)?
    } else {
        Vec::new()
    };
    if let Some((_, f)) = w.record.as_mut() {
        // One write of a whole line; O_APPEND keeps concurrent appends whole.
        f.write_all(&line)
            .with_context(|| format!("--record: cannot append sample {n}"))?;
    }
    screen.show(report, w, n, &line)
}

/// Alert on what rose in a sample, and run `--on-flag` for each: pool flags, then
/// fd limits, then ports.
fn alert(judged: &Judged, w: &Watch, screen: &mut Screen, hooks: &mut Hooks) {
    let report = &judged.report;
    let mut hook = |g: &Group, flag: Trigger, from: Trigger| {
        if let Some(cmd) = &w.on_flag {
            hooks.run(cmd, report, g, w, flag, from);
        }
    };
    for r in &judged.rises {
        let g = &report.groups[r.group];
        let line = frame::alert_line(report, g, r.from, w.policy.metric);
        screen.alert(AlertKind::Pool, line);
        if let Some(stats) = &g.watch {
            hook(g, Trigger::Pool(stats.flag), Trigger::Pool(r.from));
        }
    }
    // A process at its fd limit fails whatever its pools: alerted on its own.
    for &i in &judged.near_limit {
        let g = &report.groups[i];
        screen.alert(AlertKind::FdLimit, frame::fd_alert_line(report, g));
        // The previous flag of an fd limit is the group's pool flag.
        let pool_flag = g.watch.as_ref().map_or(Flag::Ok, |s| s.flag);
        hook(g, Trigger::FdLimit, Trigger::Pool(pool_flag));
    }
    // A destination running out of ephemeral ports fails connect() whatever
    // the pools: alerted once at warn and once at full.
    for r in &judged.ports {
        let g = &report.groups[r.group];
        let line = frame::ports_alert_line(report, g, r.from);
        screen.alert(AlertKind::Ports, line);
        if let Some(p) = g.ports {
            hook(g, Trigger::Ports(p.flag()), Trigger::Ports(r.from));
        }
    }
}

/// Start the record on a new line when it ends in a torn one (a full disk, a kill
/// -9 mid-write): the torn line stays one bad line, and the next sample is whole.
fn heal(f: &mut std::fs::File) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let mut last = [0u8; 1];
    if len > 0 && f.read_at(&mut last, len - 1)? == 1 && last[0] != b'\n' {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// What `--watch` alerts on beyond the pool flags, followed across samples,
/// and what each group's verdict is judged against.
#[derive(Default)]
struct Limits {
    fds: FdLimits,
    ports: PortLimits,
    verdicts: VerdictPolicy,
}

/// One sample, judged: the report ranked flagged first, the pool flags that rose,
/// the groups whose process reached its fd limit, and the destinations whose port
/// use rose.
struct Judged {
    report: Report,
    rises: Vec<Rise>,
    near_limit: Vec<usize>,
    ports: Vec<Rise>,
}

/// One sample: collected, aged (the /proc source has no idle ages of its own),
/// aggregated, tracked, ranked flagged first, and judged for fd and port limits.
fn sample(
    sampler: &mut Sampler,
    tracker: &mut Tracker,
    limits: &mut Limits,
    start: Instant,
) -> Result<Judged> {
    let mut now = Duration::ZERO;
    let mut report = sampler.take_with(|c| {
        now = start.elapsed();
        if c.source == Source::Proc {
            tracker.age_sockets(&mut c.sockets, now);
        }
    })?;
    let mut rises = tracker.update(&mut report, now);
    verdict::attach(&mut report, &limits.verdicts);
    rank::flagged_first(&mut report, &mut rises);
    let near_limit = limits.fds.update(&report);
    let ports = limits.ports.update(&report);
    Ok(Judged {
        report,
        rises,
        near_limit,
        ports,
    })
}

/// Where samples, warnings and alerts go, and what was already said there.
struct Screen {
    /// A table redrawn in place on a terminal.
    tty: bool,
    color: bool,
    /// On a terminal the redraw clears what stderr showed: the latest alerts are
    /// drawn under the table too (as many as fit, pool alerts first)...
    recent_alerts: VecDeque<Alert>,
    /// ...and not on stderr as well when that is the same terminal: the line would
    /// scroll the frame. Redirected (a log), stderr gets every alert.
    alerts_to_stderr: bool,
    /// Piped: the warnings last printed, counts aside.
    last_warnings: Vec<Warning>,
    style: WarningStyle,
}

impl Screen {
    /// Alerts kept for the frame, which shows what fits of them: enough that
    /// a burst of fd-limit alerts does not push the pool alerts out.
    const ALERTS_KEPT: usize = 20;

    fn new(format: WatchFormat, style: WarningStyle) -> Screen {
        let tty = io::stdout().is_terminal() && matches!(format, WatchFormat::Table { .. });
        Screen {
            tty,
            color: crate::output::use_color() && tty,
            recent_alerts: VecDeque::new(),
            alerts_to_stderr: !(tty && io::stderr().is_terminal()),
            last_warnings: Vec::new(),
            style,
        }
    }

    fn show(&mut self, report: &Report, w: &Watch, n: u64, line: &[u8]) -> Result<()> {
        let mut out = io::stdout().lock();
        let WatchFormat::Table { top, header } = w.format else {
            out.write_all(line)?;
            out.flush()?;
            return Ok(());
        };
        let opts = frame::FrameOptions {
            sample: n,
            interval: w.interval,
            pools: &w.policy.pools.to_string(),
            metric: w.policy.metric,
            top,
            header,
            color: self.color,
            tty: self.tty,
            size: if self.tty {
                crate::output::terminal_size()
            } else {
                None
            },
            recent_alerts: self.recent_alerts.make_contiguous(),
            warnings: self.style,
        };
        out.write_all(&frame::frame(report, &opts)?)?;
        out.flush()?;
        if !self.tty {
            self.warn_when_changed(&report.warnings);
        }
        Ok(())
    }

    /// Piped: warnings go to stderr like a snapshot's, once until they change
    /// (counts aside: "5 sockets" and "6 sockets" unattributed are one warning),
    /// not once per sample.
    fn warn_when_changed(&mut self, warnings: &[Warning]) {
        let gist: Vec<Warning> = warnings.iter().map(Warning::without_counts).collect();
        if gist != self.last_warnings {
            crate::output::to_stderr(&self.style.lines(warnings));
            self.last_warnings = gist;
        }
    }

    fn alert(&mut self, kind: AlertKind, line: String) {
        if self.alerts_to_stderr {
            let _ = writeln!(io::stderr(), "{line}");
        }
        if self.tty {
            if self.recent_alerts.len() == Self::ALERTS_KEPT {
                self.recent_alerts.pop_front();
            }
            self.recent_alerts.push_back(Alert { kind, line });
        }
    }
}

/// `--on-flag` commands still running, reaped between samples.
#[derive(Default)]
struct Hooks(Vec<Child>);

impl Hooks {
    /// Run the user's command for `flag`, risen from `from`. The command line is
    /// the user's own; the data go only into the environment, never into the
    /// string the shell parses.
    fn run(
        &mut self,
        cmd: &str,
        report: &Report,
        g: &Group,
        w: &Watch,
        flag: Trigger,
        from: Trigger,
    ) {
        let Some(stats) = g.watch.as_ref() else {
            return;
        };
        let opt = |v: Option<String>| v.unwrap_or_default();
        let spawned = Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .env("SOCKLEAK_TIME", &report.time)
            .env("SOCKLEAK_FLAG", flag.to_string())
            .env("SOCKLEAK_PREVIOUS_FLAG", from.to_string())
            .env("SOCKLEAK_FDS_OPEN", opt(g.fds.map(|f| f.open.to_string())))
            .env(
                "SOCKLEAK_FDS_LIMIT",
                opt(g.fds.map(|f| f.limit.to_string())),
            )
            .env(
                "SOCKLEAK_PORTS_USED",
                opt(g.ports.map(|p| p.used.to_string())),
            )
            .env(
                "SOCKLEAK_PORTS_RANGE",
                opt(g.ports.map(|p| p.range.to_string())),
            )
            .env("SOCKLEAK_PID", opt(g.pid.map(|p| p.to_string())))
            .env("SOCKLEAK_PROCESS", g.process_label())
            .env("SOCKLEAK_ENDPOINT", g.endpoint_label())
            .env("SOCKLEAK_METRIC", w.policy.metric.snake())
            .env("SOCKLEAK_COUNT", g.states.get(w.policy.metric).to_string())
            .env(
                "SOCKLEAK_POOL_SIZE",
                opt(stats.pool_size.map(|v| v.to_string())),
            )
            .env(
                "SOCKLEAK_POOL_PCT",
                opt(stats.pool_pct.map(|v| format!("{v:.1}"))),
            )
            .env(
                "SOCKLEAK_ETA_S",
                opt(stats.eta.map(|v| format!("{:.0}", v.as_secs_f64()))),
            )
            .stdin(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => self.0.push(child),
            Err(e) => {
                let _ = writeln!(io::stderr(), "sockleak: --on-flag: cannot run it: {e}");
            }
        }
    }

    /// Forget finished commands, reporting those that failed.
    fn reap(&mut self) {
        self.0.retain_mut(|h| match h.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    let _ = writeln!(io::stderr(), "sockleak: --on-flag command failed: {status}");
                }
                false
            }
            _ => true,
        });
    }
}

/// SIGINT, SIGTERM and SIGHUP (a dropped SSH session) arrive on a socket pair, so the sleep between samples can wait
/// on it and wake at once.
struct Signals {
    rx: UnixStream,
    got: bool,
}

impl Signals {
    fn new() -> Result<Signals> {
        let (rx, tx) = UnixStream::pair().context("cannot create the signal pipe")?;
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)
                .context("cannot install signal handlers")?;
            // The same signal cuts short a collection waiting on a guarded read.
            signal_hook::flag::register(sig, crate::collect::guard::stop_flag())
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
