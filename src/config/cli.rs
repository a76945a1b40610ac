//! The command-line interface: flags, their value parsers, and the examples in
//! `--help`. Every value is parsed into a typed value here, so a bad one is rejected
//! before anything is collected or written, with a message naming the flag and what
//! it accepts. Rules across flags are [`super`]'s (the configuration step).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::generate::hinted;
use crate::filter::{self, RemoteFilter};
use crate::model::report::GroupField;
use crate::model::{Percent, TcpState};
use crate::policy::levels::Threshold;
use crate::policy::pool::PoolRule;

const EXAMPLES: &str = "\
Examples:
  sockleak                              who holds CLOSE_WAIT sockets, worst first
  sockleak --json | jq '.groups[0]'     the worst group as JSON
  sockleak --state close-wait --by command,remote-host
  sockleak --remote 10.0.0.0/8 --remote :5432 --all
  sockleak --watch 1 --pool-size 20     watch a leak fill a pool of 20
  sockleak --watch 5 --pool-size 10.0.0.5:5432=10 --pool-size :6379=8 --pool-size 20
                                        each client pool judged by its own size
  sockleak --metric established --idle-over 5m      checked-out DB/Redis connections never returned
  sockleak -p 4242                      one process: reads only its fd table
  sockleak --watch 2 --remote 10.0.0.5:80        a connection per request: PORTS and alerts
                                        at 50% and 90% of the ephemeral range
  sockleak --watch 2 --json | jq -c .scan       how each sample was taken, what it cost
  sockleak --proto unix                 unix sockets per process and server-side path, with peers
  sockleak --proto unix --watch 5 --metric established --pool-size /run/postgresql/.s.PGSQL.5432=20
  sockleak --watch 5 --record leak.ndjson && sockleak plot leak.ndjson -o leak.svg
  sockleak --threshold leak             silent unless a group is judged a leak (cron;
                                        CLOSE_WAIT idle past --leak-after, 5m)
  sockleak --threshold 75% --pool-size 1024      silent unless a pool is 75% full (cron)
  sockleak -o nagios --threshold 100 --critical 500
  sockleak -o prometheus --output-file /var/lib/node_exporter/textfile/sockleak.prom
  sockleak serve --listen 127.0.0.1:9732
  sockleak pool-log app.log             which HttpClient route's leases never come back
  sudo sockleak --peek                  name the responses leaking sockets never read:
                                        9× html \"<html><body>forbidden...\"

Verdicts: leak (CLOSE_WAIT idle past --leak-after), suspect (unknown age, idle
checkouts, growth, a filling pool, an fd limit near), ok. Warnings: one line
each; -v explains them, -q silences them.

Exit codes: 0 ok, 1 threshold breached (e.g. a group judged a leak under
--threshold leak), 2 critical threshold breached, 3 usage error or failure (a
--pid or --process that matches no process included).";

#[derive(Debug, Parser)]
#[command(
    name = "sockleak",
    version = env!("SOCKLEAK_VERSION"),
    about = "Find the process leaking TCP connections (CLOSE_WAIT and friends) before its pool runs dry",
    long_about = "Reads every TCP socket of the host (netlink sock_diag, or /proc/net/tcp{,6}), \
joins each one to the processes holding it through /proc/<pid>/fd, and counts them per \
process and endpoint: CLOSE_WAIT first, with unread bytes and idle ages.",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub collect: CollectArgs,

    #[command(flatten)]
    pub view: ViewArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub watch: WatchArgs,

    #[command(flatten)]
    pub check: CheckArgs,

    #[command(flatten)]
    pub peek: PeekArgs,

    #[command(flatten)]
    pub trace: TraceJoinArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Prometheus metrics over HTTP (GET /metrics).
    #[command(
        after_help = "Examples:\n  sockleak serve\n  sockleak serve --listen 127.0.0.1:9732 --min-interval 5"
    )]
    Serve(Box<ServeArgs>),
    /// Plot a `--record` file (or a `pool-log --json` document) as SVG or PNG.
    #[command(
        after_help = "Examples:\n  sockleak plot leak.ndjson -o leak.svg\n  sockleak plot leak.ndjson -o leak.png --top 5"
    )]
    Plot(PlotArgs),
    /// Print a shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  sockleak completions bash > /etc/bash_completion.d/sockleak\n  sockleak completions zsh > /usr/local/share/zsh/site-functions/_sockleak\n  sockleak completions fish > ~/.config/fish/completions/sockleak.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    #[command(after_help = "Examples:\n  sockleak man | man -l -")]
    Man,
    /// Read Apache HttpClient's DEBUG log: which route's leases never come back, and
    /// which request they carried.
    #[command(after_help = POOL_LOG_EXAMPLES)]
    PoolLog(PoolLogArgs),
    /// Arm, inspect or remove the flight recorder that names the last request and
    /// response of every TCP socket (BPF; root).
    #[command(subcommand, after_help = TRACE_EXAMPLES)]
    Trace(TraceAction),
}

const TRACE_EXAMPLES: &str = "\
Examples:
  sudo sockleak trace start          arm the recorder (stays armed until stopped)
  sudo sockleak                      groups gain a line: last: 10× GET /forbidden → 403 Forbidden
  sudo sockleak trace status --json
  sudo sockleak trace stop           nothing of sockleak left in the kernel

Needs root (CAP_BPF and CAP_NET_ADMIN), cgroup v2 and Linux 5.7+. Only the
protocol's verb and status are shown: never headers, bodies or parameters.";

/// `sockleak trace ...`: each action is its own run; none calls another.
#[derive(Debug, Subcommand, Clone)]
pub enum TraceAction {
    /// Load the recorder on the cgroup-v2 root and pin it under /sys/fs/bpf/sockleak
    /// so it stays armed after this command exits (idempotent).
    Start {
        /// Sockets the recorder remembers at most (least recently active evicted
        /// first); each costs 384 bytes of kernel memory (6 MiB at the default).
        #[arg(long, value_name = "N", default_value_t = crate::collect::trace::DEFAULT_ENTRIES, value_parser = parse_max_sockets)]
        max_sockets: u32,
    },
    /// Say whether a recorder is armed, since when, and how full its map is.
    Status {
        /// One JSON object instead of the line.
        #[arg(long)]
        json: bool,
    },
    /// Detach and unpin the recorder: nothing of sockleak is left in the kernel.
    Stop,
}

fn parse_max_sockets(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a count of sockets"))?;
    if !(64..=1 << 22).contains(&n) {
        return Err(format!("{n} is out of range: 64 to {} sockets", 1 << 22));
    }
    Ok(n)
}

/// Joining the flight recorder's records. A recorder pinned by `trace start` is
/// joined by every run without a flag; these arm a private one or show more.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Trace")]
pub struct TraceJoinArgs {
    /// With --watch or serve: arm a private flight recorder for this run's lifetime
    /// (gone when it exits, kill -9 included) when `sockleak trace start` armed none.
    /// Needs root, cgroup v2 and Linux 5.7+.
    #[arg(long)]
    pub trace: bool,

    /// Show HTTP query strings in recorded requests (replaced by `?…` by default:
    /// they often carry tokens).
    #[arg(long)]
    pub show_query: bool,
}

const POOL_LOG_EXAMPLES: &str = "\
Examples:
  sockleak pool-log app.log                     routes, unreleased leases, verdict
  sockleak pool-log app.log.2.gz app.log.1 app.log    rotated logs, oldest first
  kubectl logs my-pod | sockleak pool-log -     from stdin
  sockleak pool-log app.log --json | jq '.routes[0].unreleased_summary'
  sockleak pool-log app.log --json > pool.json && sockleak plot pool.json -o pool.svg

The log needs DEBUG for org.apache.http.impl.conn (4.x) or
org.apache.hc.client5.http.impl.io (5.x), and for org.apache.http.headers (or
org.apache.hc.client5.http.headers) to name the request each lease carried.

Verdicts and exit codes: 0 healthy (leases come back), 1 leak (leases outlived
by later ones and never released), 2 exhausted (a caller timed out waiting for
the pool, or waits behind a limit's worth of unreleased leases), 3 not enough
data or unreadable input.";

#[derive(Debug, Args, Clone)]
pub struct PoolLogArgs {
    /// HttpClient DEBUG logs, oldest first (`-` for stdin; gzip is read directly).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// One JSON document (version 1, kind "sockleak-pool-log") instead of the table.
    #[arg(long)]
    pub json: bool,

    /// List at most N unreleased leases per route in the table (JSON lists all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub show: usize,
}

/// Where sockets and processes are read from.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Collection")]
pub struct CollectArgs {
    /// Socket table source: netlink (sock_diag), proc (/proc/net/tcp{,6}), or auto
    /// (netlink, falling back to proc with a warning).
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    pub source: SourceArg,

    /// Read every /proc file from DIR instead (a fixture tree); implies --source proc.
    #[arg(long, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,

    /// Show process command lines. Off by default: they can hold passwords.
    #[arg(long)]
    pub cmdline: bool,

    /// Network namespaces to read: all (default), host, a namespace inode, or a pid
    /// whose namespace to read.
    #[arg(long, value_name = "all|host|INODE|PID", value_parser = hinted(NetnsArg::from_str, ["all", "host"]), hide_possible_values = true)]
    pub netns: Option<NetnsArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    Auto,
    Netlink,
    Proc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetnsArg {
    All,
    Host,
    /// A namespace inode, or a pid whose namespace is meant; resolved at collection.
    Id(u64),
}

impl FromStr for NetnsArg {
    type Err = String;
    fn from_str(s: &str) -> Result<NetnsArg, String> {
        match s {
            "all" => Ok(NetnsArg::All),
            "host" => Ok(NetnsArg::Host),
            _ => s
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(NetnsArg::Id)
                .ok_or_else(|| {
                    format!(
                        "'{s}' is not a namespace (expected all, host, a namespace inode or a pid)"
                    )
                }),
        }
    }
}

/// What to count and how to group it.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Filters and grouping")]
pub struct ViewArgs {
    /// Group by KEY[,KEY...]: process, command, user, endpoint, remote, remote-host,
    /// remote-port, local-port, state, direction, netns, container [default: process,endpoint]
    #[arg(long, value_name = "KEY,...", value_delimiter = ',', value_parser = hinted(GroupField::from_str, GroupField::ALL.map(GroupField::name)), hide_possible_values = true)]
    pub by: Vec<GroupField>,

    /// Only these states, e.g. close-wait or established,time-wait; `all` for every state.
    #[arg(long, value_name = "STATE,...", value_parser = hinted(StateList::from_str, state_names(true)), hide_possible_values = true)]
    pub state: Option<StateList>,

    /// Also show LISTEN sockets (hidden by default).
    #[arg(short, long)]
    pub all: bool,

    /// Only sockets held by these pids (a pid that does not exist is an error).
    #[arg(short = 'p', long, value_name = "PID,...", value_delimiter = ',', value_parser = parse_pid, allow_negative_numbers = true)]
    pub pid: Vec<u32>,

    /// Only sockets held by processes with this exact name: the kernel's comm (15
    /// characters at most), argv[0]'s basename or the executable's.
    #[arg(long = "process", value_name = "NAME", value_parser = parse_name)]
    pub process: Vec<String>,

    /// Only sockets held by processes of this user (name or uid).
    #[arg(long, value_name = "NAME|UID")]
    pub user: Vec<String>,

    /// Only sockets whose remote end matches: IP, IP:PORT, :PORT, CIDR, [IPv6]:PORT.
    /// Repeat for several.
    #[arg(long, value_name = "ADDR")]
    pub remote: Vec<RemoteFilter>,

    /// Only sockets with this local port.
    #[arg(long, value_name = "PORT", value_delimiter = ',', value_parser = parse_port, allow_negative_numbers = true)]
    pub local_port: Vec<u16>,

    /// Only sockets idle (no data either way) at least DURATION: 30s, 5m, 2h, or
    /// seconds. Idle ages come from netlink: refused with --source proc.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, allow_negative_numbers = true)]
    pub idle_over: Option<Duration>,

    /// Which sockets: tcp (default), unix (connected and listening unix stream and
    /// seqpacket sockets, per process and server-side path, with their peers), or all.
    #[arg(long, value_enum, value_name = "PROTO", default_value_t = ProtoArg::Tcp)]
    pub proto: ProtoArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Unix,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateList(pub Vec<TcpState>);

/// `--state`: states separated by commas, or `all`.
impl FromStr for StateList {
    type Err = String;
    fn from_str(s: &str) -> Result<StateList, String> {
        filter::parse_states(s).map(StateList)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Prometheus,
    Nagios,
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Same as -o json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Show at most N groups (0 = all) [default: 20 in the table, all in JSON].
    #[arg(long, value_name = "N", value_parser = parse_top, allow_negative_numbers = true)]
    pub top: Option<usize>,

    /// Leave out the header and footer lines (for awk).
    #[arg(long)]
    pub no_header: bool,

    /// Explain each warning in full (what was not seen, why, and how to see it)
    /// instead of one short line.
    #[arg(short = 'v', long, alias = "verbose", conflicts_with = "quiet")]
    pub explain: bool,

    /// No warnings on stderr or in the --watch frame (JSON still carries them).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Write the output atomically to PATH instead of stdout (for node_exporter's
    /// textfile collector).
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,

    /// Prometheus: at most N per-group series; the rest are summed into process="other".
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = parse_positive, allow_negative_numbers = true)]
    pub max_series: u64,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format.unwrap_or(Format::Table)
        }
    }
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Watch")]
pub struct WatchArgs {
    /// Sample every SECONDS (default 2; fractions allowed) until Ctrl-C.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2",
          value_parser = parse_interval, allow_negative_numbers = true)]
    pub watch: Option<Duration>,

    /// Stop after N samples.
    #[arg(long, value_name = "N", requires = "watch", value_parser = parse_positive, allow_negative_numbers = true)]
    pub count: Option<u64>,

    /// Sliding window for growth rates, in seconds, at least two intervals
    /// [default: 60, or two intervals when they are longer].
    #[arg(long, value_name = "SECONDS", requires = "watch", value_parser = parse_interval, allow_negative_numbers = true)]
    pub window: Option<Duration>,

    /// Pool size of the client groups: N for every outbound group with an owner, or
    /// ENDPOINT=N (--remote syntax: IP, IP:PORT, :PORT, CIDR, [v6]:PORT) for the
    /// groups whose remote end matches, the most specific winning; repeatable. A rule
    /// naming a local service also sets a server's limit for its inbound groups.
    /// Unix groups (--proto): PATH=N or @NAME=N, the server-side name exactly.
    /// Enables POOL %, ETA and warn/full flags, and % thresholds.
    #[arg(long, value_name = "N|ENDPOINT=N", allow_negative_numbers = true)]
    pub pool_size: Vec<PoolRule>,

    /// Warn when a group reaches this share of --pool-size.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "75%",
        requires = "watch",
        allow_negative_numbers = true
    )]
    pub warn_at: Percent,

    /// The state whose growth is watched or checked, and groups are ranked by
    /// [default: close-wait].
    #[arg(long = "metric", value_name = "STATE", value_parser = hinted(TcpState::from_str, state_names(false)), hide_possible_values = true)]
    pub metric_arg: Option<TcpState>,

    /// Run CMD (with /bin/sh -c) when a group's flag rises. The values go only into
    /// SOCKLEAK_* environment variables, never into the command string.
    #[arg(long, value_name = "CMD", requires = "watch")]
    pub on_flag: Option<String>,

    /// Append each sample as an NDJSON line to FILE (never truncates it).
    #[arg(long, value_name = "FILE", requires = "watch")]
    pub record: Option<PathBuf>,
}

impl WatchArgs {
    /// `--metric`, CLOSE_WAIT when not given.
    pub fn metric(&self) -> TcpState {
        self.metric_arg.unwrap_or(TcpState::CloseWait)
    }
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Verdicts and checks")]
pub struct CheckArgs {
    /// Breach when a group is judged a leak (or suspect), its --metric count reaches N,
    /// or P% of --pool-size. Silent and exit 0 when healthy; one line per breaching
    /// group and exit 1 otherwise.
    #[arg(
        long,
        value_name = "leak|suspect|N|P%",
        conflicts_with = "watch",
        allow_negative_numbers = true
    )]
    pub threshold: Option<Threshold>,

    /// Exit 2 for groups at or over this level.
    #[arg(
        long,
        value_name = "leak|suspect|N|P%",
        conflicts_with = "watch",
        allow_negative_numbers = true
    )]
    pub critical: Option<Threshold>,

    /// A group whose CLOSE_WAIT sockets are idle this long is a leak (verdict
    /// `leak`): 30s, 5m, 2h, or seconds.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, allow_negative_numbers = true)]
    pub leak_after: Duration,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on. Non-loopback addresses expose socket metadata: a warning is printed.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9732")]
    pub listen: ListenAddr,

    /// Serve cached results younger than SECONDS instead of collecting again.
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = parse_nonneg_secs, allow_negative_numbers = true)]
    pub min_interval: Duration,

    #[command(flatten)]
    pub collect: CollectArgs,

    #[command(flatten)]
    pub view: ViewArgs,

    /// At most N per-group series; the rest are summed into process="other".
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = parse_positive, allow_negative_numbers = true)]
    pub max_series: u64,

    /// Pool sizes (N or ENDPOINT=N, repeatable, as for the default command),
    /// exported per group as sockleak_pool_size for alert rules.
    #[arg(long, value_name = "N|ENDPOINT=N", allow_negative_numbers = true)]
    pub pool_size: Vec<PoolRule>,

    #[command(flatten)]
    pub peek: PeekArgs,

    #[command(flatten)]
    pub trace: TraceJoinArgs,
}

/// `serve --listen`: an address to listen on, `IP:PORT` or `localhost:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<ListenAddr, String> {
        let bad = || {
            format!(
                "'{s}' is not an address to listen on (expected IP:PORT, e.g. 127.0.0.1:9732 or [::1]:9732)"
            )
        };
        if let Some(port) = s.strip_prefix("localhost:") {
            let port: u16 = port.parse().map_err(|_| bad())?;
            return Ok(ListenAddr(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        s.parse().map(ListenAddr).map_err(|_| bad())
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `--peek`: name what unread receive queues hold. Opt-in everywhere, `serve`
/// included.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Peek")]
pub struct PeekArgs {
    /// Name what unread receive queues hold: peek (never consume) at most 512 bytes
    /// of each socket with unread bytes and summarise them per group, e.g. 9× html
    /// "<html>...". Needs root (or CAP_SYS_PTRACE) and Linux 5.6+.
    #[arg(long)]
    pub peek: bool,

    /// With --peek: content bytes a summary shows (0: the class only; at most 512).
    #[arg(long, value_name = "N", default_value_t = 48, requires = "peek", value_parser = parse_peek_bytes)]
    pub peek_bytes: usize,

    /// With --peek: sockets peeked per group at most.
    #[arg(long, value_name = "N", default_value_t = 16, requires = "peek", value_parser = parse_peek_max)]
    pub peek_max: usize,
}

#[derive(Debug, Args, Clone)]
pub struct PlotArgs {
    /// An NDJSON file written by --watch --record, or a `pool-log --json` document.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,

    /// Output image; the extension chooses the format (.svg or .png).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,

    /// Plot the N groups with the highest peak.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = parse_positive, allow_negative_numbers = true)]
    pub top: u64,

    /// The state to plot.
    #[arg(long, value_name = "STATE", default_value = "close-wait", value_parser = hinted(TcpState::from_str, state_names(false)), hide_possible_values = true)]
    pub metric: TcpState,

    /// Draw the pool size (and warn level) as horizontal lines: N for every group,
    /// or ENDPOINT=N (as for --watch) for the groups whose remote end matches, each
    /// drawn against its own; repeatable.
    #[arg(long, value_name = "N|ENDPOINT=N", allow_negative_numbers = true)]
    pub pool_size: Vec<PoolRule>,

    /// Warn level, as a share of --pool-size.
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "75%",
        allow_negative_numbers = true
    )]
    pub warn_at: Percent,
}

impl Cli {
    /// Whether this is a Nagios check (`-o nagios` on the default command), whose
    /// every failure must still answer as a plugin.
    pub fn is_nagios_check(&self) -> bool {
        self.command.is_none() && self.output.format() == Format::Nagios
    }
}

/// clap's message without its usage and help hints, on one line ("...not
/// provided:" is followed by the argument's name).
pub fn one_line_reason(e: &clap::Error) -> String {
    let detail = e.to_string();
    let why: Vec<&str> = detail
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
        .filter(|l| !l.is_empty())
        .collect();
    why.join(" ").trim_start_matches("error: ").to_string()
}

/// Whether raw arguments ask for `-o nagios` (read before, or without, clap: for
/// answering a parse error in the plugin's format).
pub fn wants_nagios(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // `plot -o FILE` names a file, and subcommands have no nagios output.
    if args.first().is_some_and(|a| {
        matches!(
            a.as_str(),
            "plot" | "serve" | "help" | "pool-log" | "completions" | "man"
        )
    }) {
        return false;
    }
    let args: Vec<&String> = args.iter().take_while(|a| *a != "--").collect();
    args.iter().enumerate().any(|(i, a)| {
        matches!(a.as_str(), "-onagios" | "-o=nagios" | "--output=nagios")
            || (matches!(a.as_str(), "-o" | "--output")
                && args.get(i + 1).is_some_and(|v| *v == "nagios"))
    })
}

/// The state spellings offered for completion (more are accepted: any case, `_`).
fn state_names(with_all: bool) -> Vec<String> {
    let names = TcpState::ALL.map(|s| s.snake().replace('_', "-"));
    let all = with_all.then(|| "all".to_string());
    names.into_iter().chain(all).collect()
}

fn parse_pid(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}' is not a pid (expected a positive whole number)"))
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}' is not a port (expected 1 to 65535)"))
}

fn parse_top(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .map_err(|_| format!("'{s}' is not a count (expected a whole number; 0 shows all)"))
}

fn parse_positive(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{s}' is not a positive whole number (expected 1 or more)"))
}

fn parse_peek_bytes(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n <= 512)
        .ok_or_else(|| format!("'{s}' is not a byte count from 0 to 512 (0 shows the class only)"))
}

fn parse_peek_max(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (1..=4096).contains(n))
        .ok_or_else(|| format!("'{s}' is not a socket count from 1 to 4096"))
}

fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an empty name matches no process (give a name as ps -o comm shows it)".into());
    }
    Ok(s.to_string())
}

/// Seconds as a plain number (fractions allowed), more than 0 (or 0 too with
/// `allow_zero`), a day at most.
fn parse_seconds(s: &str, allow_zero: bool) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds (e.g. 2 or 0.5)"))?;
    let ok = v.is_finite() && v <= 86_400.0 && (v > 0.0 || (allow_zero && v == 0.0));
    if !ok {
        let lower = if allow_zero {
            "0 or more"
        } else {
            "more than 0"
        };
        return Err(format!("'{s}': expected {lower} seconds, at most 86400"));
    }
    Ok(v)
}

/// `--idle-over`, `--leak-after`: a number with an optional unit s, m, h or d
/// (seconds without).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration (expected e.g. 30s, 5m, 2h, 1.5h or 90)");
    let t = s.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(bad()),
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let secs = v * scale;
    // tcp_info's clocks are u32 milliseconds: 49 days at most.
    if !secs.is_finite() || secs < 0.0 || secs > f64::from(u32::MAX) / 1000.0 {
        return Err(format!(
            "'{s}': expected a duration from 0 to 49 days (e.g. 30s, 5m, 2h)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `--watch`, `--window`: seconds, 0.05 at least.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let v = parse_seconds(s, false)?;
    if v < 0.05 {
        return Err(format!("'{s}': the shortest interval is 0.05 seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// `serve --min-interval`: seconds, 0 included.
fn parse_nonneg_secs(s: &str) -> Result<Duration, String> {
    parse_seconds(s, true).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("30s"), Ok(30.0));
        assert_eq!(d("5m"), Ok(300.0));
        assert_eq!(d("2h"), Ok(7200.0));
        assert_eq!(d("1.5h"), Ok(5400.0));
        assert_eq!(d("90"), Ok(90.0));
        assert_eq!(d("0"), Ok(0.0));
        for bad in ["5x", "m", "-1s", "abc", "inf", "60d", "5 minutes"] {
            assert!(parse_duration(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["-1", "abc", "0", "inf", "NaN", "1e9"] {
            assert!(parse_interval(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn nagios_is_recognised_before_parsing() {
        let w = |args: &[&str]| {
            wants_nagios(
                std::iter::once("sockleak")
                    .chain(args.iter().copied())
                    .map(std::ffi::OsString::from),
            )
        };
        for yes in [
            &["-o", "nagios"][..],
            &["--output", "nagios"],
            &["-onagios"],
            &["-o=nagios"],
            &["--output=nagios"],
            &["--threshold", "x", "-o", "nagios"],
        ] {
            assert!(w(yes), "{yes:?}");
        }
        for no in [
            &["-o", "json"][..],
            &["plot", "rec.ndjson", "-o", "nagios"],
            &["--", "-o", "nagios"],
            &[],
        ] {
            assert!(!w(no), "{no:?}");
        }
        assert!(
            "0.07"
                .parse::<Percent>()
                .unwrap_err()
                .contains("write 7% for a share of 0.07")
        );
    }

    #[test]
    fn namespaces_and_state_lists_parse_themselves() {
        assert_eq!("all".parse(), Ok(NetnsArg::All));
        assert_eq!("host".parse(), Ok(NetnsArg::Host));
        assert_eq!("4026531840".parse(), Ok(NetnsArg::Id(4026531840)));
        assert!(
            "0".parse::<NetnsArg>()
                .unwrap_err()
                .contains("is not a namespace")
        );
        assert_eq!(
            "close-wait,established".parse(),
            Ok(StateList(vec![TcpState::Established, TcpState::CloseWait]))
        );
    }

    #[test]
    fn listen_addresses() {
        let parse = |s: &str| s.parse::<ListenAddr>();
        assert!(parse("127.0.0.1:9732").is_ok());
        assert!(parse("[::1]:9732").is_ok());
        assert_eq!(
            parse("localhost:9"),
            Ok(ListenAddr(SocketAddr::from(([127, 0, 0, 1], 9))))
        );
        assert!(
            parse("nothost:99999")
                .unwrap_err()
                .contains("nothost:99999")
        );
    }
}
