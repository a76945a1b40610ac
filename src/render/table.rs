//! The human table: one row per group, worst first, and a footer with the host's
//! totals. Borderless and unstyled when not on a terminal, so it pipes into awk.

use std::io::{self, Write};

use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table, presets};

use crate::model::Direction;
use crate::model::report::{Group, GroupField, Report};
use crate::model::unix::{Proto, UnixTotals};
use crate::model::verdict::Level;
use crate::model::watch::{Flag, WatchStats};
use crate::model::{FdUsage, PortUse, TcpState, escape, printable};

use super::{fit_text, human_age, human_bytes};

#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Rows to show; 0 shows all.
    pub top: usize,
    pub header: bool,
    pub color: bool,
    /// What the "N more groups" line suggests: `--top 0`, unless the rows were cut
    /// to fit a terminal (`--watch`), where `--top 0` would change nothing.
    pub more_hint: &'static str,
    /// Fit the table to this many terminal columns (`--watch` on a terminal): state
    /// columns but this one fold into TOTAL, then the least telling columns go,
    /// before anything would cut the judgement columns at the right.
    pub fit: Option<(usize, TcpState)>,
}

impl TableOptions {
    pub const TOP_HINT: &'static str = "--top 0 shows all";
    pub const TERMINAL_HINT: &'static str = "cut to fit the terminal; --json shows all";
}

/// A column the table can show, chosen from the report's group keys.
#[derive(Clone, Copy, PartialEq)]
enum Col {
    Pid,
    Process,
    User,
    Dir,
    Endpoint,
    State,
    Netns,
    Container,
    /// A unix group's peer processes.
    Peer,
}

fn key_columns(report: &Report, groups: &[Group]) -> Vec<Col> {
    let has = |k: GroupField| report.group_by.contains(&k);
    let mut cols = Vec::new();
    if has(GroupField::Process) {
        cols.extend([Col::Pid, Col::Process, Col::User]);
    } else {
        if has(GroupField::Command) {
            cols.push(Col::Process);
        }
        if has(GroupField::User) {
            cols.push(Col::User);
        }
    }
    // Only when it tells something: a shown row outside sockleak's own namespace.
    // (Other namespaces merely existing on the host, filtered out, are no reason.)
    if has(GroupField::Netns)
        || groups
            .iter()
            .any(|g| g.netns.is_some_and(|n| n != report.host_netns))
    {
        cols.push(Col::Netns);
    }
    if has(GroupField::Container) || groups.iter().any(|g| g.container.is_some()) {
        cols.push(Col::Container);
    }
    if has(GroupField::Endpoint) || has(GroupField::Direction) {
        cols.push(Col::Dir);
    }
    if [
        GroupField::Endpoint,
        GroupField::Remote,
        GroupField::RemoteHost,
        GroupField::RemotePort,
        GroupField::LocalPort,
    ]
    .into_iter()
    .any(has)
    {
        cols.push(Col::Endpoint);
    }
    if groups.iter().any(|g| g.peer.is_some()) {
        cols.push(Col::Peer);
    }
    if has(GroupField::State) {
        cols.push(Col::State);
    }
    cols
}

/// The endpoint with its direction as an arrow, for a layout without DIR:
/// `→10.0.0.5:5432` (outbound: we connect to it), `←10.0.0.2:80` (inbound:
/// accepted there), `*0.0.0.0:80` (listening). One awk field, as before.
fn arrowed_endpoint(g: &Group) -> String {
    let arrow = match g.direction {
        Some(Direction::Outbound) => "→",
        Some(Direction::Inbound) => "←",
        Some(Direction::Listen) => "*",
        None => "",
    };
    format!("{arrow}{}", key_cell(Col::Endpoint, g))
}

fn key_cell(col: Col, g: &Group) -> String {
    let dash = || "-".to_string();
    match col {
        Col::Pid => g.pid.map_or_else(dash, |p| p.to_string()),
        Col::Process => g.process_text(),
        Col::User => g
            .user
            .as_deref()
            .map_or_else(dash, |u| escape::name(u.as_bytes())),
        Col::Dir => g.direction.map_or_else(dash, |d| d.as_str().to_string()),
        Col::Endpoint => g.endpoint_label(),
        Col::State => g.state.map_or_else(dash, |s| s.upper().to_string()),
        Col::Netns => g.netns.map_or_else(dash, |n| n.to_string()),
        Col::Container => g
            .container
            .as_ref()
            .map_or_else(dash, |c| escape::name(c.short().as_bytes())),
        // Escaped name by name: the label is not escaped again.
        Col::Peer => g.peer.as_ref().map_or_else(dash, |p| p.label()),
    }
}

fn col_name(col: Col) -> &'static str {
    match col {
        Col::Pid => "PID",
        Col::Process => "PROCESS",
        Col::User => "USER",
        Col::Dir => "DIR",
        Col::Endpoint => "ENDPOINT",
        Col::State => "STATE",
        Col::Netns => "NETNS",
        Col::Container => "CONTAINER",
        Col::Peer => "PEER",
    }
}

/// The columns of one table: the key columns, the states shown, and whether the
/// watch and command-line columns are there.
struct Layout {
    keys: Vec<Col>,
    states: Vec<TcpState>,
    with_total: bool,
    with_recv_q: bool,
    with_oldest_cw: bool,
    with_watch: bool,
    with_cmdline: bool,
    /// Spaces between columns.
    pad: u16,
    /// Process names cut to this many characters.
    process_max: Option<usize>,
    /// FDS: only when a shown group's process is near its fd limit.
    with_fds: bool,
    /// PORTS: only when a shown group's destination uses half its port range.
    with_ports: bool,
    /// IDLE: the oldest idle age of any state.
    with_idle: bool,
    /// Every shown group is a unix one: states named as unix ones, no TCP ages.
    unix_only: bool,
    /// VERDICT, last but COMMAND (PID stays awk's `$1`): some shown group was
    /// judged.
    with_verdict: bool,
    /// DIR folded into ENDPOINT as an arrow ([`arrowed_endpoint`]).
    arrows: bool,
    /// The watch columns RATE/MIN and TREND (DELTA, POOL%, ETA and FLAG stay).
    with_rate: bool,
    with_trend: bool,
}

/// How far a layout is folded to fit a narrow terminal: each step keeps what the
/// previous ones dropped out, and gives up one more thing.
const FOLDS: usize = 15;

impl Layout {
    fn new(report: &Report, groups: &[Group]) -> Layout {
        // CLOSE_WAIT always has a column (a zero there is news too); other states
        // only when some shown group has them.
        // A unix-only table (`--proto unix`) has no CLOSE_WAIT and no idle ages.
        let unix_only = !groups.is_empty() && groups.iter().all(|g| g.proto == Proto::Unix);
        let states = TcpState::ALL
            .into_iter()
            .filter(|s| {
                (*s == TcpState::CloseWait && !unix_only)
                    || groups.iter().any(|g| g.states.get(*s) > 0)
            })
            .collect();
        Layout {
            keys: key_columns(report, groups),
            states,
            with_total: true,
            with_recv_q: true,
            with_oldest_cw: !unix_only,
            with_watch: groups.iter().any(|g| g.watch.is_some()),
            with_cmdline: groups.iter().any(|g| g.cmdline.is_some()),
            pad: 2,
            process_max: None,
            with_fds: groups
                .iter()
                .any(|g| g.fds.is_some_and(|f| f.pct() >= FdUsage::MARK_PCT)),
            with_ports: groups
                .iter()
                .any(|g| g.ports.is_some_and(|p| p.pct() >= PortUse::WARN_PCT)),
            with_idle: !unix_only,
            unix_only,
            with_verdict: groups.iter().any(|g| g.verdict.is_some()),
            arrows: false,
            with_rate: true,
            with_trend: true,
        }
    }

    /// The layout folded `level` steps (1 to [`FOLDS`]): states but `metric` into
    /// TOTAL; COMMAND, RECV-Q and USER out; DIR into ENDPOINT as an arrow;
    /// OLDEST_CW out; one space between columns; process names cut to 12
    /// characters; TOTAL, TREND, IDLE, RATE/MIN, NETNS and PID out (NETNS first: a
    /// pid tells two processes apart anywhere, and is what is killed); process
    /// names cut to 8. What judges the group (VERDICT, the endpoint, the metric,
    /// DELTA, POOL%, ETA and FLAG) stays to the last.
    fn folded(mut self, level: usize, metric: TcpState) -> Layout {
        if level >= 1 {
            self.states.retain(|s| *s == metric);
            if self.states.is_empty() {
                self.states.push(metric);
            }
        }
        self.with_cmdline &= level < 2;
        self.with_recv_q &= level < 3;
        if level >= 4 {
            self.keys.retain(|c| *c != Col::User);
        }
        if level >= 5 && self.keys.contains(&Col::Endpoint) {
            self.arrows = self.keys.contains(&Col::Dir);
            self.keys.retain(|c| *c != Col::Dir);
        }
        self.with_oldest_cw &= level < 6;
        if level >= 7 {
            self.pad = 1;
        }
        if level >= 8 {
            self.process_max = Some(12);
        }
        self.with_total &= level < 9;
        self.with_trend &= level < 10;
        self.with_idle &= level < 11;
        self.with_rate &= level < 12;
        if level >= 13 {
            self.keys.retain(|c| *c != Col::Netns);
        }
        if level >= 14 {
            self.keys.retain(|c| *c != Col::Pid);
        }
        if level >= 15 {
            self.process_max = Some(8);
        }
        self
    }

    fn header(&self, color: bool) -> Vec<Cell> {
        let mut header: Vec<Cell> = self.keys.iter().map(|c| Cell::new(col_name(*c))).collect();
        header.extend(self.states.iter().map(|s| match (self.unix_only, s) {
            // The kernel's TCP numbers, named as what they mean for unix sockets.
            (true, TcpState::Established) => Cell::new("CONNECTED"),
            (true, TcpState::Listen) => Cell::new("LISTENING"),
            (true, TcpState::Close) => Cell::new("UNCONNECTED"),
            _ => Cell::new(s.upper()),
        }));
        if self.with_total {
            header.push(Cell::new("TOTAL"));
        }
        if self.with_recv_q {
            header.push(Cell::new("RECV-Q"));
        }
        if self.with_oldest_cw {
            header.push(Cell::new("OLDEST_CW"));
        }
        if self.with_idle {
            header.push(Cell::new("IDLE"));
        }
        if self.with_fds {
            header.push(Cell::new("FDS"));
        }
        if self.with_ports {
            header.push(Cell::new("PORTS"));
        }
        if self.with_watch {
            header.push(Cell::new("DELTA"));
            if self.with_rate {
                header.push(Cell::new("RATE/MIN"));
            }
            header.extend(["POOL%", "ETA", "FLAG"].map(Cell::new));
            if self.with_trend {
                header.push(Cell::new("TREND"));
            }
        }
        if self.with_verdict {
            header.push(Cell::new("VERDICT"));
        }
        if self.with_cmdline {
            header.push(Cell::new("COMMAND"));
        }
        if color {
            header = header
                .into_iter()
                .map(|c| c.add_attribute(Attribute::Bold))
                .collect();
        }
        header
    }

    fn row(&self, g: &Group, color: bool) -> Vec<Cell> {
        let right = |v: String| Cell::new(v).set_alignment(CellAlignment::Right);
        let mut row: Vec<Cell> = self
            .keys
            .iter()
            .map(|c| match (c, self.process_max) {
                (Col::Process, Some(max)) => Cell::new(cut(&key_cell(*c, g), max)),
                (Col::Endpoint, _) if self.arrows => Cell::new(arrowed_endpoint(g)),
                _ => Cell::new(key_cell(*c, g)),
            })
            .collect();
        for s in &self.states {
            let n = g.states.get(*s);
            let mut cell = right(n.to_string());
            if color && *s == TcpState::CloseWait && n > 0 {
                cell = cell.fg(Color::Red).add_attribute(Attribute::Bold);
            }
            row.push(cell);
        }
        if self.with_total {
            row.push(right(g.total.to_string()));
        }
        if self.with_recv_q {
            row.push(right(human_bytes(g.recv_q)));
        }
        if self.with_oldest_cw {
            row.push(right(
                g.oldest_close_wait_idle
                    .map_or_else(|| "-".into(), human_age),
            ));
        }
        if self.with_idle {
            row.push(right(g.oldest_idle.map_or_else(|| "-".into(), human_age)));
        }
        if self.with_fds {
            row.push(fds_cell(g, color));
        }
        if self.with_ports {
            row.push(ports_cell(g, color));
        }
        if let Some(w) = g.watch.as_ref().filter(|_| self.with_watch) {
            let mut cells = watch_cells(w, color);
            // DELTA RATE/MIN POOL% ETA FLAG TREND: the folded ones out.
            if !self.with_trend {
                cells.pop();
            }
            if !self.with_rate {
                cells.remove(1);
            }
            row.extend(cells);
        }
        if self.with_verdict {
            row.push(verdict_cell(g, color));
        }
        if self.with_cmdline {
            row.push(Cell::new(printable(g.cmdline.as_deref().unwrap_or("-"))));
        }
        row
    }
}

/// The group's verdict level (`-` when nothing judged it): red when a leak,
/// yellow when suspect.
fn verdict_cell(g: &Group, color: bool) -> Cell {
    let Some(v) = &g.verdict else {
        return Cell::new("-");
    };
    let cell = Cell::new(v.level.as_str());
    match (color, v.level) {
        (true, Level::Leak) => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        (true, Level::Suspect) => cell.fg(Color::Yellow),
        _ => cell,
    }
}

/// `open/limit`, marked `!` (and red) from [`FdUsage::MARK_PCT`] of the limit:
/// one awk field.
fn fds_cell(g: &Group, color: bool) -> Cell {
    let Some(f) = g.fds else {
        return Cell::new("-").set_alignment(CellAlignment::Right);
    };
    let near = f.pct() >= FdUsage::MARK_PCT;
    let mut cell = Cell::new(format!(
        "{}/{}{}",
        f.open,
        f.limit,
        if near { "!" } else { "" }
    ))
    .set_alignment(CellAlignment::Right);
    if color && near {
        cell = cell.fg(Color::Red).add_attribute(Attribute::Bold);
    }
    cell
}

/// `used/range` of the group's destination's ephemeral ports, marked `!` (and
/// red) from [`PortUse::FULL_PCT`]: connect() to it is about to fail.
fn ports_cell(g: &Group, color: bool) -> Cell {
    let Some(p) = g.ports else {
        return Cell::new("-").set_alignment(CellAlignment::Right);
    };
    let full = p.pct() >= PortUse::FULL_PCT;
    let mut cell = Cell::new(format!(
        "{}/{}{}",
        p.used,
        p.range,
        if full { "!" } else { "" }
    ))
    .set_alignment(CellAlignment::Right);
    if color && full {
        cell = cell.fg(Color::Red).add_attribute(Attribute::Bold);
    }
    cell
}

/// DELTA, RATE/MIN, POOL%, ETA, FLAG and TREND.
fn watch_cells(w: &WatchStats, color: bool) -> Vec<Cell> {
    let right = |v: String| Cell::new(v).set_alignment(CellAlignment::Right);
    let mut flag = Cell::new(w.flag.as_str());
    if color {
        flag = match w.flag {
            Flag::Ok => flag,
            Flag::Growing => flag.fg(Color::Yellow),
            Flag::Warn => flag.fg(Color::Magenta).add_attribute(Attribute::Bold),
            Flag::Full => flag.fg(Color::Red).add_attribute(Attribute::Bold),
        };
    }
    vec![
        right(format!("{:+}", w.delta)),
        right(format!("{:.1}", w.rate_per_min)),
        right(
            w.pool_pct
                .map_or_else(|| "-".into(), |p| format!("{p:.0}%")),
        ),
        right(w.eta.map_or_else(|| "-".into(), human_age)),
        flag,
        Cell::new(sparkline(&w.trend)),
    ]
}

pub fn write(out: &mut dyn Write, report: &Report, opts: TableOptions) -> io::Result<()> {
    let shown = if opts.top == 0 {
        report.groups.len()
    } else {
        opts.top.min(report.groups.len())
    };
    let groups = &report.groups[..shown];
    let width = opts.fit.map(|(w, _)| w);
    let fit = |line: &str| width.map_or_else(|| line.to_string(), |w| fit_text(line, w));
    if groups.is_empty() && opts.header {
        writeln!(out, "no sockets match")?;
    } else {
        let text = fitted_rows(report, groups, opts);
        let text = under_rows(&text, groups, opts.header, |g| notes(g, opts.header));
        for line in text.lines() {
            writeln!(out, "{}", fit(line))?;
        }
    }
    if opts.header {
        if report.groups.len() > shown {
            let more = report.groups.len() - shown;
            let line = format!(
                "... {more} more group{} ({})",
                if more == 1 { "" } else { "s" },
                opts.more_hint
            );
            writeln!(out, "{}", fit(&line))?;
        }
        writeln!(out, "{}", fit(&footer(report)))?;
    }
    Ok(())
}

/// The header and rows, folded ([`Layout::folded`]) until they fit `opts.fit`.
fn fitted_rows(report: &Report, groups: &[Group], opts: TableOptions) -> String {
    let mut text = rows(&Layout::new(report, groups), groups, opts);
    if let Some((width, metric)) = opts.fit {
        let mut level = 0;
        while level < FOLDS && widest(&text) > width {
            level += 1;
            let layout = Layout::new(report, groups).folded(level, metric);
            text = rows(&layout, groups, opts);
        }
    }
    text
}

/// At most this many `--peek` summaries under a group's row.
const UNREAD_SHOWN: usize = 3;

/// The lines under a group's row: why it is not `ok` (with the header only: a
/// headerless table is for awk, one line per group), then its `--peek`
/// summaries (escaped already), e.g. `  unread: 9× html "<html>..."`, then the
/// flight recorder's last exchanges.
fn notes(g: &Group, header: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = g.verdict.as_ref().filter(|v| header && v.level > Level::Ok) {
        let why: Vec<String> = v.reasons.iter().map(ToString::to_string).collect();
        out.push(format!("  {:<7} {}", "why:", why.join("; ")));
    }
    let unread = g.unread.as_deref().unwrap_or_default();
    for (i, u) in unread.iter().take(UNREAD_SHOWN).enumerate() {
        let label = if i == 0 { "unread:" } else { "" };
        out.push(format!("  {label:<7} {u}"));
    }
    if unread.len() > UNREAD_SHOWN {
        let more: u64 = unread[UNREAD_SHOWN..].iter().map(|u| u.count).sum();
        out.push(format!(
            "          and {more} more (--json lists every class)"
        ));
    }
    // Said when some were left unpeeked (--peek-max, refusals): `16× html` of a
    // group of 25 is not all of it.
    if let Some(p) = g.peek.filter(|p| p.peeked < p.with_unread) {
        let label = if unread.is_empty() { "unread:" } else { "" };
        out.push(format!(
            "  {label:<7} {} of {} with unread bytes peeked",
            p.peeked, p.with_unread
        ));
    }
    out.extend(exchange_notes(g));
    out
}

/// The lines a group takes in the table: its row and the notes under it.
pub fn lines_of(g: &Group, header: bool) -> usize {
    1 + notes(g, header).len()
}

/// `text` (the header, then one line per group) with each group's notes on
/// lines under its row, so that the row stays one awk line.
fn under_rows(
    text: &str,
    groups: &[Group],
    header: bool,
    notes: impl Fn(&Group) -> Vec<String>,
) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut lines = text.lines();
    if header && let Some(h) = lines.next() {
        out.push_str(h);
        out.push('\n');
    }
    for (line, g) in lines.zip(groups) {
        out.push_str(line);
        out.push('\n');
        for note in notes(g) {
            out.push_str(&note);
            out.push('\n');
        }
    }
    out
}

/// At most this many recorded exchanges under a group's row.
const EXCHANGES_SHOWN: usize = 3;

/// The recorder's lines under a group's row, as `--peek`'s:
/// `  last:   10× GET /forbidden → 403 Forbidden`, and how many sockets it has no
/// record of. Summaries are escaped already (`collect::trace::proto`).
fn exchange_notes(g: &Group) -> Vec<String> {
    let mut out = Vec::new();
    let list = g.exchanges.as_deref().unwrap_or_default();
    for (i, x) in list.iter().take(EXCHANGES_SHOWN).enumerate() {
        let label = if i == 0 { "last:" } else { "" };
        out.push(format!("  {label:<7} {x}"));
    }
    if list.len() > EXCHANGES_SHOWN {
        let more: u64 = list[EXCHANGES_SHOWN..].iter().map(|x| x.count).sum();
        out.push(format!(
            "          and {more} more (--json lists every exchange)"
        ));
    }
    let missing = g.exchanges_unrecorded.unwrap_or(0);
    if missing > 0 {
        let label = if list.is_empty() { "last:" } else { "" };
        out.push(format!(
            "  {label:<7} {missing} socket{} without a record (quiet since the recorder was armed)",
            if missing == 1 { "" } else { "s" }
        ));
    }
    out
}

/// The header and rows of `groups` in `layout`, each line ending in a newline.
fn rows(layout: &Layout, groups: &[Group], opts: TableOptions) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if opts.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    if opts.header {
        t.set_header(layout.header(opts.color));
    }
    for g in groups {
        t.add_row(layout.row(g, opts.color));
    }
    // Two spaces between columns (one when folded tight) and none at the start.
    for col in t.column_iter_mut() {
        col.set_padding((0, layout.pad));
    }
    // comfy-table pads each line with the column padding; trim it for awk.
    let mut text = String::new();
    for line in t.to_string().lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `s` cut to `max` characters, the last one an ellipsis when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The widest line of `text` in terminal columns, styling not counted.
fn widest(text: &str) -> usize {
    text.lines().map(super::visible_width).max().unwrap_or(0)
}

/// Recent counts as block characters, scaled to their own maximum.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|v| BARS[(*v * 7).checked_div(max).unwrap_or(0) as usize])
        .collect()
}

/// `host: 1234 sockets (1002 close_wait, 120 established, ...); 10 unowned, 0 unattributed`
/// (and `, 5 held closed` when reset-but-held sockets are held)
pub fn footer(r: &Report) -> String {
    let states: Vec<String> = r
        .totals
        .states
        .nonzero()
        .map(|(s, n)| format!("{n} {}", s.snake()))
        .collect();
    // "host" only when that is what the totals are: sockleak's own namespace.
    let ns = &r.totals.netns;
    let scope = match ns.keys().next() {
        Some(&only) if ns.len() == 1 && only != r.host_netns => format!("netns {only}"),
        _ if ns.len() > 1 => {
            let others = ns.len() - usize::from(ns.contains_key(&r.host_netns));
            let s = if others == 1 { "" } else { "s" };
            if ns.contains_key(&r.host_netns) {
                format!("host + {others} other network namespace{s}")
            } else {
                format!("{others} network namespace{s}")
            }
        }
        _ => "host".to_string(),
    };
    // Reset-but-held sockets are in no table: said apart, and only when there are.
    let held = match r.totals.held_closed {
        0 => String::new(),
        n => format!(", {n} held closed"),
    };
    let unix = r.totals.unix.as_ref().map_or_else(String::new, unix_footer);
    format!(
        "{scope}: {} sockets{}; {} unowned, {}{held} (source {}, {:.0} ms){unix}",
        r.totals.sockets,
        if states.is_empty() {
            String::new()
        } else {
            format!(" ({})", states.join(", "))
        },
        r.totals.unowned,
        match r.totals.unattributed {
            Some(n) => format!("{n} unattributed"),
            None => "unattributed not counted (only the fd tables of --pid/--process/--user matches were read)".to_string(),
        },
        r.source.as_str(),
        r.elapsed.as_secs_f64() * 1000.0
    )
}

/// `; unix: 21 sockets (19 connected, 2 listening; 21 stream), 2 unattributed,
/// 1 peer closed (source netlink)`: the host namespace's unix table.
fn unix_footer(u: &UnixTotals) -> String {
    let (mut conn, mut listen, mut unconn) = (0, 0, 0);
    for t in [&u.stream, &u.seqpacket, &u.dgram] {
        conn += t.connected;
        listen += t.listening;
        unconn += t.unconnected;
    }
    let states: Vec<String> = [
        (conn, "connected"),
        (listen, "listening"),
        (unconn, "unconnected"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, s)| format!("{n} {s}"))
    .collect();
    let types: Vec<String> = [
        (&u.stream, "stream"),
        (&u.seqpacket, "seqpacket"),
        (&u.dgram, "dgram"),
    ]
    .into_iter()
    .filter(|(t, _)| t.total() > 0)
    .map(|(t, s)| format!("{} {s}", t.total()))
    .collect();
    let detail = match (states.is_empty(), types.is_empty()) {
        (true, true) => String::new(),
        _ => format!(" ({}; {})", states.join(", "), types.join(", ")),
    };
    let unattributed = match u.unattributed {
        Some(n) => format!("{n} unattributed"),
        None => "unattributed not counted".to_string(),
    };
    let closed = match u.peer_closed {
        0 => String::new(),
        n => format!(", {n} peer closed"),
    };
    format!(
        "; unix: {} sockets{detail}, {unattributed}{closed} (source {})",
        u.sockets,
        u.source.as_str()
    )
}
