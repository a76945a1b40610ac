//! Configuration: the single step that turns parsed flags ([`cli`]) into a validated
//! [`Config`]. Every cross-flag rule lives here, and everything a command needs is
//! resolved here once: the collector (which checks `--proc-root` and `--netns`),
//! the filters, the levels, the renderer, an opened `--record` file, a bound
//! `serve` listener. Commands below never see a clap type.

pub mod cli;
pub mod generate;
mod peek;
mod trace;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::collect::{self, Collector, SourceChoice};
use crate::exit::UsageError;
use crate::filter::Filters;
use crate::model::report::{DEFAULT_GROUP_BY, GroupField};
use crate::model::unix::Protos;
use crate::model::{Percent, TcpState};
use crate::policy::levels::{Levels, Threshold};
use crate::policy::pool::{PoolRule, PoolSizes};
use crate::policy::tracker::Policy;
use crate::policy::verdict::VerdictPolicy;
use crate::render::prometheus::PromOptions;
use crate::render::table::TableOptions;
use crate::render::{Renderer, WarningStyle};
use crate::sample::Sampler;
use cli::{Cli, CollectArgs, Format, NetnsArg, ProtoArg, SourceArg, ViewArgs};

/// What to run, fully validated.
#[derive(Debug)]
pub enum Config {
    Snapshot(Snapshot),
    Check(Check),
    Watch(Watch),
    Serve(Serve),
    Plot(Plot),
    PoolLog(PoolLog),
    /// `sockleak trace start|status|stop`.
    Trace(cli::TraceAction),
    /// A shell completion script for the clap definition.
    Completions(clap_complete::Shell),
    /// The man page of the clap definition.
    Man,
}

/// `sockleak pool-log`.
#[derive(Debug)]
pub struct PoolLog {
    /// Oldest first; `-` is stdin.
    pub files: Vec<PathBuf>,
    pub json: bool,
    /// Unreleased leases listed per route in the table.
    pub show: usize,
}

/// One snapshot in one format.
#[derive(Debug)]
pub struct Snapshot {
    pub sampler: Sampler,
    /// What each group's verdict is judged against.
    pub verdicts: VerdictPolicy,
    pub renderer: Renderer,
    pub warnings: WarningStyle,
    pub output_file: Option<PathBuf>,
}

/// How a check answers.
#[derive(Debug)]
pub enum CheckOutput {
    /// One line per breaching group, nothing when healthy (cron).
    Lines,
    /// The Monitoring Plugins status line.
    Nagios,
    /// The whole report in a machine format; the exit code carries the verdict.
    Report(Renderer),
}

/// `--threshold`, `--critical`, `-o nagios`.
#[derive(Debug)]
pub struct Check {
    pub sampler: Sampler,
    pub verdicts: VerdictPolicy,
    pub warnings: WarningStyle,
    pub levels: Levels,
    pub output: CheckOutput,
    pub output_file: Option<PathBuf>,
}

/// How `--watch` shows each sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFormat {
    /// A table frame: redrawn in place on a terminal, appended when piped.
    Table { top: usize, header: bool },
    /// One NDJSON line per sample.
    Json,
}

/// `--watch`.
#[derive(Debug)]
pub struct Watch {
    pub sampler: Sampler,
    pub interval: Duration,
    pub count: Option<u64>,
    pub policy: Policy,
    pub verdicts: VerdictPolicy,
    pub warnings: WarningStyle,
    pub format: WatchFormat,
    pub record: Option<(PathBuf, File)>,
    pub on_flag: Option<String>,
}

/// `sockleak serve`.
#[derive(Debug)]
pub struct Serve {
    pub sampler: Sampler,
    /// Bound here, so that a taken port fails before anything else starts.
    pub listener: TcpListener,
    pub min_interval: Duration,
    pub prom: PromOptions,
    /// Each group's pool, attached before a scrape is rendered.
    pub pools: PoolSizes,
}

/// `sockleak plot`.
#[derive(Debug)]
pub struct Plot {
    pub input: PathBuf,
    pub record: File,
    pub output: PathBuf,
    pub svg: bool,
    pub top: usize,
    pub metric: TcpState,
    /// `--pool-size`: N, or ENDPOINT=N rules judged per plotted group.
    pub pools: PoolSizes,
    pub warn_at: Percent,
}

impl Config {
    /// Validate the command line, in the order the checks have always run (their
    /// messages are part of the interface).
    pub fn from_cli(cli: Cli) -> Result<Config> {
        match cli.command {
            Some(cli::Command::Serve(args)) => serve(args),
            Some(cli::Command::Plot(args)) => plot(args),
            Some(cli::Command::Completions { shell }) => Ok(Config::Completions(shell)),
            Some(cli::Command::Man) => Ok(Config::Man),
            Some(cli::Command::Trace(action)) => Ok(Config::Trace(action)),
            Some(cli::Command::PoolLog(args)) => Ok(Config::PoolLog(PoolLog {
                files: args.files,
                json: args.json,
                show: args.show,
            })),
            None if no_effect(&cli).is_err() => Err(no_effect(&cli).unwrap_err().into()),
            None => match cli.watch.watch {
                Some(interval) => watch(&cli, interval),
                None if is_check(&cli) => check(&cli),
                None => snapshot(&cli),
            },
        }
    }
}

fn is_check(cli: &Cli) -> bool {
    cli.check.threshold.is_some()
        || cli.check.critical.is_some()
        || cli.output.format() == Format::Nagios
}

/// The collector, `--by` keys, filters and ranking (`--metric`) of a view;
/// `incremental` for the commands that sample again and again (watch, serve).
fn sampler(
    collect: &CollectArgs,
    view: &ViewArgs,
    rank: TcpState,
    incremental: bool,
) -> Result<Sampler> {
    let filters = filters(view).map_err(UsageError)?;
    let mut options = options(collect).map_err(UsageError)?;
    options.incremental = incremental;
    options.unix = filters.protos.unix;
    idle_source(view, &options).map_err(UsageError)?;
    missing_pids(&filters.pids, &options.proc_root).map_err(UsageError)?;
    if let Err(e) = unknown_names(&filters.processes, &options.proc_root) {
        // A process may start after a watch or an exporter does: said once.
        if !incremental {
            return Err(UsageError(e).into());
        }
        eprintln!("warning: {e}");
    }
    // An owner filter reads only the matching processes' fd tables.
    if filters.has_owner_filter() {
        options.focus = Some(collect::Focus {
            pids: filters.pids.clone(),
            comms: filters.processes.clone(),
            uids: filters.uids.clone(),
        });
    }
    let collector = Collector::new(options)?;
    Ok(Sampler {
        collector,
        by: group_by(view),
        filters,
        rank,
        peek: None,
        trace: None,
    })
}

/// `--pid` of processes that do not exist: refused, naming them (`lsof -p`
/// fails too); a pid cannot come back.
fn missing_pids(pids: &[u32], root: &Path) -> Result<(), String> {
    let missing: Vec<String> = pids
        .iter()
        .filter(|p| !root.join(p.to_string()).is_dir())
        .map(u32::to_string)
        .collect();
    match missing.len() {
        0 => Ok(()),
        1 => Err(format!(
            "--pid {}: no such process ({}/{} does not exist)",
            missing[0],
            root.display(),
            missing[0]
        )),
        _ => Err(format!("--pid {}: no such processes", missing.join(","))),
    }
}

/// `--process` names that no process goes by (comm, argv[0], executable), with
/// the near names that exist (`python` -> `python3`).
fn unknown_names(wanted: &[String], root: &Path) -> Result<(), String> {
    if wanted.is_empty() {
        return Ok(());
    }
    let all = collect::names::every_process(root);
    let named = |w: &String| {
        all.iter()
            .any(|(_, comm, full)| collect::names::matches(w, comm, full))
    };
    if wanted.iter().any(named) {
        return Ok(());
    }
    let mut names: Vec<&str> = all
        .iter()
        .flat_map(|(_, comm, full)| {
            std::iter::once(comm.as_str()).chain(full.iter().map(String::as_str))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let near: Vec<String> = wanted
        .iter()
        .flat_map(|w| crate::filter::near_names(w, &names))
        .map(|n| crate::model::printable(&n).into_owned())
        .collect();
    let hint = match near.is_empty() {
        true => "give a name as `ps -o comm=` or `ls -l /proc/PID/exe` shows it".to_string(),
        false => format!("did you mean {}?", near.join(", ")),
    };
    Err(format!(
        "--process {}: no process has that name (comm, argv[0] or executable); {hint}",
        wanted.join(", --process ")
    ))
}

/// Flags that would change nothing in the chosen mode are refused rather than
/// silently ignored.
fn no_effect(cli: &Cli) -> Result<(), UsageError> {
    let format = cli.output.format();
    if cli.output.no_header && format != Format::Table {
        let f = match format {
            Format::Json => "--json",
            Format::Prometheus => "-o prometheus",
            _ => "-o nagios",
        };
        return Err(UsageError(format!(
            "--no-header leaves out the table's header and footer, and {f} has none; drop --no-header"
        )));
    }
    if let (Some(metric), Some(states)) = (cli.watch.metric_arg, &cli.view.state)
        && !states.0.contains(&metric)
    {
        let m = metric.snake().replace('_', "-");
        return Err(UsageError(format!(
            "--metric {m} counts {} sockets, and --state shows none of them, so every count would be 0; add {m} to --state, or drop --metric",
            metric.upper()
        )));
    }
    Ok(())
}

/// `--idle-over` needs netlink's idle ages: refused with the /proc source (a
/// runtime fallback to /proc is refused by [`Sampler::require_idle`]).
fn idle_source(view: &ViewArgs, o: &collect::Options) -> Result<(), String> {
    match view.idle_over {
        Some(_) if o.source == SourceChoice::Proc => Err(format!(
            "--idle-over needs idle ages, which only netlink sock_diag gives; {} reads /proc/net/tcp, which has none (drop --idle-over, or use --source netlink{})",
            if o.proc_root != Path::new("/proc") {
                "--proc-root"
            } else {
                "--source proc"
            },
            if o.proc_root != Path::new("/proc") {
                " without --proc-root"
            } else {
                ""
            }
        )),
        _ => Ok(()),
    }
}

fn snapshot(cli: &Cli) -> Result<Config> {
    let pools = pools(&cli.watch.pool_size)?;
    let mut sampler = sampler(&cli.collect, &cli.view, cli.watch.metric(), false)?;
    sampler.peek = peek::options(&cli.peek, &cli.collect)?;
    sampler.trace = trace::join(&cli.trace, &cli.collect, false)?;
    Ok(Config::Snapshot(Snapshot {
        sampler,
        verdicts: verdicts(cli, pools.clone()),
        warnings: warning_style(cli),
        renderer: renderer(cli),
        output_file: cli.output.output_file.clone(),
    }))
}

/// The renderer of a snapshot's format.
fn renderer(cli: &Cli) -> Renderer {
    match cli.output.format() {
        // JSON is cut only when --top is given explicitly.
        Format::Json => Renderer::Json {
            top: cli.output.top.filter(|t| *t > 0),
        },
        Format::Prometheus => Renderer::Prometheus(PromOptions {
            max_series: cli.output.max_series,
        }),
        Format::Table | Format::Nagios => Renderer::Table(TableOptions {
            top: cli.output.top.unwrap_or(20),
            header: !cli.output.no_header,
            color: crate::output::use_color() && cli.output.output_file.is_none(),
            more_hint: TableOptions::TOP_HINT,
            fit: table_width(cli).map(|w| (w, cli.watch.metric())),
        }),
    }
}

/// The width a snapshot's table is fitted to: `COLUMNS` when set to a number,
/// else the terminal's on stdout. A pipe or `--output-file` without `COLUMNS` is
/// never cut (awk and files get every column).
fn table_width(cli: &Cli) -> Option<usize> {
    if cli.output.output_file.is_some() {
        return None;
    }
    let columns = std::env::var("COLUMNS").ok();
    match columns.and_then(|c| c.trim().parse::<usize>().ok()) {
        Some(w) if w > 0 => Some(w),
        _ => crate::output::terminal_size().map(|(cols, _)| cols),
    }
}

fn check(cli: &Cli) -> Result<Config> {
    let levels = levels(cli)?;
    let mut sampler = sampler(&cli.collect, &cli.view, cli.watch.metric(), false)?;
    sampler.peek = peek::options(&cli.peek, &cli.collect)?;
    sampler.trace = trace::join(&cli.trace, &cli.collect, false)?;
    let output = match cli.output.format() {
        Format::Nagios => CheckOutput::Nagios,
        Format::Table => CheckOutput::Lines,
        Format::Json | Format::Prometheus => CheckOutput::Report(renderer(cli)),
    };
    Ok(Config::Check(Check {
        sampler,
        verdicts: verdicts(cli, levels.pools.clone()),
        warnings: warning_style(cli),
        levels,
        output,
        output_file: cli.output.output_file.clone(),
    }))
}

/// `-q`, `-v`, or one short line per warning.
fn warning_style(cli: &Cli) -> WarningStyle {
    match (cli.output.quiet, cli.output.explain) {
        (true, _) => WarningStyle::Quiet,
        (_, true) => WarningStyle::Full,
        _ => WarningStyle::Short,
    }
}

/// What verdicts are judged against: `--leak-after`, `--metric`, the pools.
fn verdicts(cli: &Cli, pools: PoolSizes) -> VerdictPolicy {
    VerdictPolicy {
        leak_after: cli.check.leak_after,
        metric: cli.watch.metric(),
        pools,
        warn_at: cli.watch.warn_at,
    }
}

/// Every `--pool-size`, checked: one bare default at most, each endpoint once.
fn pools(rules: &[PoolRule]) -> Result<PoolSizes, UsageError> {
    for (i, a) in rules.iter().enumerate() {
        if let Some(b) = rules[..i].iter().find(|b| b.endpoint == a.endpoint) {
            let what = match &a.endpoint {
                None => "without an endpoint".to_string(),
                Some(_) => format!("for {}", a.text),
            };
            return Err(UsageError(format!(
                "--pool-size given twice {what} ({} and {}): give each endpoint one size, and N alone once for the rest",
                b.size, a.size
            )));
        }
    }
    Ok(PoolSizes::new(rules.to_vec()))
}

/// `--threshold`/`--critical` (counts, or shares of each group's pool).
fn levels(cli: &Cli) -> Result<Levels, UsageError> {
    let pools = pools(&cli.watch.pool_size)?;
    for (flag, t) in [
        ("--threshold", cli.check.threshold),
        ("--critical", cli.check.critical),
    ] {
        if matches!(t, Some(Threshold::Percent(_))) && pools.is_empty() {
            return Err(UsageError(format!(
                "{flag} as a percentage needs --pool-size (e.g. {flag} 75% --pool-size 1024), or give a count such as {flag} 100"
            )));
        }
    }
    let levels = Levels {
        metric: cli.watch.metric(),
        warn: cli.check.threshold,
        crit: cli.check.critical,
        pools,
    };
    // Comparable when both are counts, or both shares of the same (default) pool.
    let default = levels.pools.default_size();
    let below = match (levels.warn, levels.crit) {
        (Some(w), Some(c)) => match (w.resolve(default), c.resolve(default), w, c) {
            (Some(rw), Some(rc), _, _) => (rc < rw).then(|| (rc.to_string(), rw.to_string())),
            (_, _, Threshold::Percent(pw), Threshold::Percent(pc)) => {
                (pc < pw).then(|| (format!("{pc}%"), format!("{pw}%")))
            }
            (_, _, Threshold::Verdict(lw), Threshold::Verdict(lc)) => {
                (lc < lw).then(|| (lc.to_string(), lw.to_string()))
            }
            _ => None,
        },
        _ => None,
    };
    if let Some((c, w)) = below {
        return Err(UsageError(format!(
            "--critical ({c}) is below --threshold ({w}); the critical level must be at least the warning level"
        )));
    }
    Ok(levels)
}

fn watch(cli: &Cli, interval: Duration) -> Result<Config> {
    let format = match cli.output.format() {
        Format::Prometheus | Format::Nagios => {
            return Err(UsageError(
                "--watch shows a table or NDJSON (--json); for Prometheus use `sockleak serve`"
                    .into(),
            )
            .into());
        }
        Format::Json => WatchFormat::Json,
        Format::Table => WatchFormat::Table {
            top: cli.output.top.unwrap_or(20),
            header: !cli.output.no_header,
        },
    };
    if let Some(f) = &cli.output.output_file {
        return Err(UsageError(format!(
            "--output-file {}: --watch samples until it is stopped, and one file cannot hold that; use --record {} to append every sample (NDJSON), or redirect stdout",
            f.display(),
            f.display()
        ))
        .into());
    }
    // Growth is only seen with two samples in the window.
    let window = match cli.watch.window {
        Some(w) if w < 2 * interval => {
            return Err(UsageError(format!(
                "--window {}: growth needs at least two samples in the window; give --window {} or more (two --watch intervals)",
                w.as_secs_f64(),
                (2 * interval).as_secs_f64()
            ))
            .into());
        }
        Some(w) => w,
        None => Duration::from_secs(60).max(2 * interval),
    };
    let pools = pools(&cli.watch.pool_size)?;
    let mut sampler = sampler(&cli.collect, &cli.view, cli.watch.metric(), true)?;
    sampler.peek = peek::options(&cli.peek, &cli.collect)?;
    sampler.trace = trace::join(&cli.trace, &cli.collect, true)?;
    let record = match &cli.watch.record {
        Some(p) => Some((
            p.clone(),
            open_record(p, crate::output::Readers::for_peek(sampler.peek.is_some()))?,
        )),
        None => None,
    };
    Ok(Config::Watch(Watch {
        sampler,
        interval,
        count: cli.watch.count,
        policy: Policy {
            metric: cli.watch.metric(),
            window,
            pools: pools.clone(),
            warn_at: cli.watch.warn_at,
        },
        verdicts: verdicts(cli, pools),
        warnings: warning_style(cli),
        format,
        record,
        on_flag: cli.watch.on_flag.clone(),
    }))
}

/// Open `--record` for appending before any sampling, so a bad path fails at once.
/// What was opened is judged by `fstat` of the opened fd, never by a look at the
/// path beforehand (a FIFO swapped in between would be opened): anything but a
/// writable regular file is closed untouched and refused (exit 3). A new file
/// gets the umask's mode, or 0600 for `readers` [`Readers::Owner`] (`--peek`
/// content); an existing one keeps its own.
///
/// [`Readers::Owner`]: crate::output::Readers::Owner
fn open_record(path: &Path, readers: crate::output::Readers) -> Result<File> {
    // The early look gives the clearer message for what is there already (a
    // planted link, a device); the fstat below is what decides.
    crate::output::check_record_target(path)?;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(match readers {
            crate::output::Readers::Umask => 0o666,
            crate::output::Readers::Owner => 0o600,
        })
        // Never block on open (a FIFO without a reader) nor follow a link,
        // whatever appears at the path after the look above.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            UsageError(format!(
                "--record {}: cannot open it for appending: {e} (does the directory exist and is it writable?)",
                path.display()
            ))
        })?;
    let meta = file.metadata().map_err(|e| {
        UsageError(format!(
            "--record {}: cannot inspect what was opened: {e}",
            path.display()
        ))
    })?;
    if let Some(kind) = crate::output::odd_kind(meta.file_type()) {
        // Dropped unwritten: nothing reached it.
        return Err(UsageError(format!(
            "--record {}: is {kind} (found after opening it: it was put there meanwhile); sockleak records only into a regular file; remove it or name another path",
            crate::model::printable(&path.display().to_string())
        ))
        .into());
    }
    // Root may append to a file whose mode says read-only; honour the mode anyway:
    // someone made that file read-only on purpose.
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o222 == 0 {
        return Err(UsageError(format!(
            "--record {}: the file is read-only (mode {:o}); choose another file or make it writable",
            path.display(),
            meta.permissions().mode() & 0o777
        ))
        .into());
    }
    Ok(file)
}

fn serve(args: Box<cli::ServeArgs>) -> Result<Config> {
    let pools = pools(&args.pool_size)?;
    let mut sampler = sampler(&args.collect, &args.view, TcpState::CloseWait, true)?;
    // Only with `serve --peek` given explicitly: the flag is the exporter's own.
    sampler.peek = peek::options(&args.peek, &args.collect)?;
    sampler.trace = trace::join(&args.trace, &args.collect, true)?;
    let listener = TcpListener::bind(args.listen.0).map_err(|e| {
        UsageError(format!(
            "--listen {}: cannot listen there: {e}",
            args.listen
        ))
    })?;
    Ok(Config::Serve(Serve {
        sampler,
        listener,
        min_interval: args.min_interval,
        prom: PromOptions {
            max_series: args.max_series,
        },
        pools,
    }))
}

fn plot(args: cli::PlotArgs) -> Result<Config> {
    let ext = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        // A directory is the likelier slip than a wrong extension: say so.
        _ if args.output.is_dir() => {
            return Err(UsageError(format!(
                "-o {}: is a directory; give the image's file name (ending in .svg or .png)",
                args.output.display()
            ))
            .into());
        }
        _ => {
            return Err(UsageError(format!(
                "-o {}: the extension chooses the format: use .svg or .png",
                args.output.display()
            ))
            .into());
        }
    };
    // The output's directory first: a raw backend error after reading the whole
    // record would name neither the problem nor the fix.
    let dir = match args.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "-o {}: the directory {} does not exist (create it, or write elsewhere)",
            args.output.display(),
            dir.display()
        ))
        .into());
    }
    let record = File::open(&args.input)
        .map_err(|e| UsageError(format!("{}: cannot read it: {e}", args.input.display())))?;
    Ok(Config::Plot(Plot {
        input: args.input,
        record,
        output: args.output,
        svg,
        top: usize::try_from(args.top).unwrap_or(usize::MAX),
        metric: args.metric,
        pools: pools(&args.pool_size)?,
        warn_at: args.warn_at,
    }))
}

/// Collection options; `--proc-root` implies the /proc source.
fn options(args: &CollectArgs) -> Result<collect::Options, String> {
    let mut o = collect::Options {
        cmdline: args.cmdline,
        ..Default::default()
    };
    o.source = match args.source {
        SourceArg::Auto => SourceChoice::Auto,
        SourceArg::Netlink => SourceChoice::Netlink,
        SourceArg::Proc => SourceChoice::Proc,
    };
    o.netns = match args.netns {
        None | Some(NetnsArg::All) => collect::netns::Selection::All,
        Some(NetnsArg::Host) => collect::netns::Selection::Host,
        Some(NetnsArg::Id(n)) => collect::netns::Selection::Id(n),
    };
    if let Some(root) = &args.proc_root {
        if args.source == SourceArg::Netlink {
            return Err(format!(
                "--source netlink cannot read the --proc-root tree {} (netlink asks the running kernel); use --source proc, or drop --proc-root",
                root.display()
            ));
        }
        // With file capabilities, a user-made tree of symlinks (net/tcp, comm ->
        // any file) would let anyone who can run the binary read files through it.
        if collect::privileged_exec() {
            return Err(format!(
                "--proc-root {} is refused: this binary runs with file capabilities (setcap), and a fixture tree could make it read files its user cannot; run it without capabilities or as root",
                root.display()
            ));
        }
        o.source = SourceChoice::Proc;
        o.proc_root = root.clone();
    }
    Ok(o)
}

/// The `--by` keys, each once, in the order given.
fn group_by(view: &ViewArgs) -> Vec<GroupField> {
    if view.by.is_empty() {
        return DEFAULT_GROUP_BY.to_vec();
    }
    let mut out = Vec::new();
    for f in &view.by {
        if !out.contains(f) {
            out.push(*f);
        }
    }
    out
}

/// Typed filters; fails on a `--user` that names no user.
fn filters(view: &ViewArgs) -> Result<Filters, String> {
    let mut uids = Vec::new();
    for u in &view.user {
        uids.push(collect::users::resolve_uid(u).ok_or_else(|| {
            format!("--user '{u}': no such user (give a user name or a numeric uid)")
        })?);
    }
    let protos = match view.proto {
        ProtoArg::Tcp => Protos::default(),
        ProtoArg::Unix => Protos {
            tcp: false,
            unix: true,
        },
        ProtoArg::All => Protos {
            tcp: true,
            unix: true,
        },
    };
    // A unix socket has no address, port or idle age: alone, such a filter would
    // show nothing (with --proto all it narrows the TCP groups and hides unix ones).
    let tcp_only = [
        (!view.remote.is_empty(), "--remote"),
        (!view.local_port.is_empty(), "--local-port"),
        (view.idle_over.is_some(), "--idle-over"),
    ];
    if let Some((_, flag)) = tcp_only.iter().find(|(given, _)| *given && !protos.tcp) {
        return Err(format!(
            "{flag} filters TCP sockets, and --proto unix shows none (unix sockets have no address, port or idle age); drop {flag}, or use --proto all"
        ));
    }
    Ok(Filters {
        protos,
        states: view.state.as_ref().map(|s| s.0.clone()),
        show_listen: view.all,
        pids: view.pid.clone(),
        processes: view.process.clone(),
        uids,
        remotes: view.remote.clone(),
        local_ports: view.local_port.clone(),
        idle_over_ms: view
            .idle_over
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    })
}
