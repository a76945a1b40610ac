//! The pool's story from its log: a per-route state machine fed one parsed line at
//! a time, and the verdict drawn from it at the end. Pure (no I/O), so that it is
//! tested on hand-made lines; the caller reads the files.
//!
//! Memory is bounded whatever the log's size: state is kept per route, per open
//! lease and per live connection (each capped), the time series is thinned as it
//! grows, and request summaries keep a capped number of distinct requests.

use std::collections::HashMap;

use super::parse::{self, Event, Kind, Stamp, Stats};
pub use crate::model::pool_log::{
    Exchange, Moment, NO_HEADERS, Point, PoolLogReport, PoolLogVerdict, RouteReport, Unreleased,
};

/// Points kept per route's time series; past it, neighbours are merged (their
/// maxima kept, so that a peak is never thinned away).
pub const MAX_POINTS: usize = 2048;
/// Open leases tracked at once (a pool has at most its limit; more means several
/// pools, or a log whose releases are not logged). Past it, leases are counted only.
pub const MAX_OPEN: usize = 100_000;
/// Routes tracked; the lines of further routes are counted as dropped.
pub const MAX_ROUTES: usize = 1_000;
/// Distinct requests kept per route's summary of released exchanges.
pub const MAX_SUMMARY: usize = 200;
/// Live connections tracked (to attribute shutdowns to a route).
const MAX_CONNS: usize = 100_000;
/// Unreleased leases that other leases outlived (leased before a later release on
/// the same route) it takes to call a leak: one may be a long request.
pub const MIN_LEAKED: usize = 2;
/// Garbled lines whose numbers and reasons are kept for the report.
const GARBLED_SAMPLES: usize = 10;

#[derive(Debug)]
struct OpenLease {
    route: usize,
    leased: Moment,
    conn: Option<u64>,
    request: Option<String>,
    status: Option<String>,
}

/// A route's time series, kept under [`MAX_POINTS`] by merging neighbours
/// (every `stride` points become one) as it grows.
#[derive(Debug, Default)]
struct ThinnedSeries {
    points: Vec<Point>,
    stride: u32,
    acc: Option<Point>,
    n: u32,
}

impl ThinnedSeries {
    fn push(&mut self, p: Point) {
        self.acc = Some(match self.acc {
            None => p,
            Some(a) => merge(a, p),
        });
        self.n += 1;
        if self.n >= self.stride.max(1) {
            self.points.extend(self.acc.take());
            self.n = 0;
            if self.points.len() >= MAX_POINTS {
                self.points = self
                    .points
                    .chunks(2)
                    .map(|c| c.iter().copied().reduce(merge).expect("chunk"))
                    .collect();
                self.stride = self.stride.max(1) * 2;
            }
        }
    }
}

/// Two neighbouring points as one: the later time, the larger counts.
fn merge(a: Point, b: Point) -> Point {
    Point {
        secs: b.secs,
        leased: a.leased.max(b.leased),
        allocated: a.allocated.max(b.allocated),
    }
}

#[derive(Debug, Default)]
struct RouteState {
    r: RouteReport,
    allocated: u32,
    open: u32,
    last_release_line: u64,
    last_request_exhausted: bool,
    released: HashMap<(String, String), u64>,
    series: ThinnedSeries,
    last_point: Option<Point>,
}

#[derive(Debug)]
struct Conn {
    route: usize,
    lease: Option<String>,
}

/// Feed it lines with [`Analyzer::line`], then take the [`PoolLogReport`] with [`Analyzer::finish`].
#[derive(Debug, Default)]
pub struct Analyzer {
    rep: PoolLogReport,
    clock: Option<f64>,
    day_offset: f64,
    routes: Vec<RouteState>,
    route_index: HashMap<String, usize>,
    open: HashMap<String, OpenLease>,
    ended: Vec<(String, OpenLease, Moment)>,
    conns: HashMap<u64, Conn>,
    last_shutdown_conn: Option<u64>,
    last_exhausted_route: Option<usize>,
}

impl Analyzer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Take one line (its number counted here, from 1).
    pub fn line(&mut self, text: &str) {
        self.rep.lines += 1;
        let parsed = parse::parse_line(text);
        if let Some(st) = parsed.stamp {
            self.tick(st);
        }
        match parsed.kind {
            Kind::Event(ev) => {
                self.rep.pool_lines += 1;
                self.event(ev);
            }
            Kind::Noise => self.rep.other_httpclient_lines += 1,
            Kind::Garbled(why) => {
                self.rep.garbled_lines += 1;
                if self.rep.garbled_samples.len() < GARBLED_SAMPLES {
                    self.rep.garbled_samples.push((self.rep.lines, why));
                }
            }
            Kind::Unknown => self.rep.unknown_lines += 1,
        }
    }

    /// Advance the log's clock. A log of times without dates wraps at midnight: a
    /// jump back of more than 12 hours is the next day.
    fn tick(&mut self, st: Stamp) {
        if self.rep.first_secs.is_none() {
            self.rep.dated = st.dated;
        } else if st.dated != self.rep.dated {
            return; // one clock per log: stamps of the other form are not mixed in
        }
        let mut secs = st.secs + self.day_offset;
        if let Some(prev) = self.clock {
            if !st.dated && secs < prev - 43_200.0 {
                self.day_offset += 86_400.0;
                secs += 86_400.0;
            }
        }
        self.clock = Some(secs);
        self.rep.first_secs.get_or_insert(secs);
        self.rep.last_secs = Some(secs);
    }

    fn now(&self) -> Moment {
        Moment {
            line: self.rep.lines,
            secs: self.clock,
        }
    }

    fn event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Request { route, stats } => self.request(route, stats),
            Event::Leased { id, route, stats } => self.leased(id, route, stats),
            Event::Released { id, route, stats } => self.released(id, route, stats),
            Event::Acquired { exchange, endpoint } => {
                if let Some(l) = self.open.remove(exchange) {
                    self.open.insert(endpoint.to_owned(), l);
                }
            }
            Event::LeaseFailed { id } => {
                if let Some(l) = self.open.remove(id) {
                    let rs = &mut self.routes[l.route];
                    rs.open = rs.open.saturating_sub(1);
                    rs.r.failed_leases += 1;
                    self.point(l.route);
                }
            }
            Event::Bound { endpoint, conn } => {
                if let Some(l) = self.open.get_mut(endpoint) {
                    l.conn = Some(conn);
                    let route = l.route;
                    self.conn(conn, route, Some(endpoint.to_owned()));
                }
            }
            Event::Shutdown { conn } | Event::Close { conn } => {
                let shut = matches!(ev, Event::Shutdown { .. });
                self.closed(conn, shut);
            }
            Event::Discarded => {
                let route = self
                    .last_shutdown_conn
                    .and_then(|c| self.conns.get(&c))
                    .map(|c| c.route);
                if let Some(r) = route {
                    self.routes[r].r.discards += 1;
                }
            }
            Event::RequestLine {
                conn,
                method,
                target,
            } => {
                if let Some(l) = self.lease_of(conn) {
                    l.request = Some(request_key(method, target));
                    l.status = None;
                }
            }
            Event::Status { conn, code, reason } => {
                if let Some(l) = self.lease_of(conn) {
                    l.status = Some(
                        format!("{code} {}", truncate(reason, 60))
                            .trim_end()
                            .to_owned(),
                    );
                }
            }
            Event::PoolTimeout => self.timeout(),
            Event::ManagerShutdown => self.manager_shutdown(),
        }
    }

    /// The route's index, created on first sight (None past [`MAX_ROUTES`]).
    fn route(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.route_index.get(name) {
            return Some(i);
        }
        if self.routes.len() >= MAX_ROUTES {
            self.rep.dropped_route_lines += 1;
            return None;
        }
        let i = self.routes.len();
        self.route_index.insert(name.to_owned(), i);
        self.routes.push(RouteState {
            r: RouteReport {
                route: name.to_owned(),
                ..RouteReport::default()
            },
            ..RouteState::default()
        });
        Some(i)
    }

    /// The counters every request, lease and release line carries.
    fn observe(&mut self, r: usize, s: Stats) {
        let now = self.now();
        let rs = &mut self.routes[r];
        rs.r.max_per_route = Some(s.route_max);
        rs.r.max_total = Some(s.total_max);
        rs.allocated = s.route_allocated;
        if s.route_allocated > rs.r.peak_allocated || rs.r.peak_at.line == 0 {
            rs.r.peak_allocated = s.route_allocated;
            rs.r.peak_at = now;
        }
    }

    fn request(&mut self, route: &str, s: Stats) {
        let Some(r) = self.route(route) else { return };
        self.observe(r, s);
        let now = self.now();
        let rs = &mut self.routes[r];
        rs.r.requests += 1;
        // "route allocated: N of N" alone is not exhaustion: an idle connection of
        // the route may serve the request. Only with nothing idle must it wait.
        let exhausted = s.available == 0
            && (s.route_allocated >= s.route_max || s.total_allocated >= s.total_max);
        rs.last_request_exhausted = exhausted;
        if exhausted {
            rs.r.exhausted_requests += 1;
            rs.r.first_exhausted.get_or_insert(now);
            rs.r.last_exhausted = Some(now);
            self.last_exhausted_route = Some(r);
        }
        self.point(r);
    }

    fn leased(&mut self, id: &str, route: &str, s: Stats) {
        let Some(r) = self.route(route) else { return };
        self.observe(r, s);
        let now = self.now();
        self.routes[r].r.leases += 1;
        self.routes[r].last_request_exhausted = false;
        let lease = OpenLease {
            route: r,
            leased: now,
            conn: id.parse().ok(),
            request: None,
            status: None,
        };
        if self.open.len() >= MAX_OPEN && !self.open.contains_key(id) {
            self.rep.untracked_leases += 1;
        } else if let Some(old) = self.open.insert(id.to_owned(), lease) {
            // Leased again while out: a release the log does not have.
            self.rep.repeated_leases += 1;
            let o = &mut self.routes[old.route];
            o.open = o.open.saturating_sub(1);
        }
        self.routes[r].open += 1;
        // 4.x: the pool entry id and the connection's http-outgoing number are the
        // same (both count the connections the JVM's pools create).
        if let Ok(n) = id.parse::<u64>() {
            self.conn(n, r, Some(id.to_owned()));
        }
        self.point(r);
    }

    fn released(&mut self, id: &str, route: &str, s: Stats) {
        let Some(r) = self.route(route) else { return };
        self.observe(r, s);
        self.routes[r].r.releases += 1;
        self.routes[r].last_release_line = self.rep.lines;
        match self.open.remove(id) {
            Some(l) => {
                if let Some(c) = l.conn.and_then(|n| self.conns.get_mut(&n)) {
                    c.lease = None;
                }
                let lr = &mut self.routes[l.route];
                lr.open = lr.open.saturating_sub(1);
                let key = (
                    l.request.unwrap_or_else(|| NO_HEADERS.to_owned()),
                    l.status.unwrap_or_default(),
                );
                let rs = &mut self.routes[r];
                if let Some(c) = rs.released.get_mut(&key) {
                    *c += 1;
                } else if rs.released.len() < MAX_SUMMARY {
                    rs.released.insert(key, 1);
                } else {
                    rs.r.released_other += 1;
                }
            }
            None => self.rep.unmatched_releases += 1,
        }
        self.point(r);
    }

    /// Remember which route a connection serves (and which lease holds it).
    fn conn(&mut self, n: u64, route: usize, lease: Option<String>) {
        if self.conns.len() >= MAX_CONNS && !self.conns.contains_key(&n) {
            // Connections closed without a line about it: forget them all rather
            // than grow; shutdowns of those are then not attributed to a route.
            self.conns.retain(|_, c| c.lease.is_some());
            if self.conns.len() >= MAX_CONNS {
                return;
            }
        }
        self.conns.insert(n, Conn { route, lease });
    }

    fn closed(&mut self, n: u64, shutdown: bool) {
        self.last_shutdown_conn = Some(n);
        let Some(c) = self.conns.get(&n) else { return };
        let rs = &mut self.routes[c.route];
        if shutdown {
            rs.r.shutdowns += 1;
        } else {
            rs.r.closes += 1;
        }
        // A leased connection is shut down before its release is logged; keep it
        // until then. An idle one is gone.
        if c.lease.is_none() {
            self.conns.remove(&n);
        }
    }

    fn lease_of(&mut self, conn: u64) -> Option<&mut OpenLease> {
        let key = self.conns.get(&conn)?.lease.as_ref()?;
        self.open.get_mut(key)
    }

    fn point(&mut self, r: usize) {
        let Some(secs) = self.clock else { return };
        let rs = &mut self.routes[r];
        let p = Point {
            secs,
            leased: rs.open,
            allocated: rs.allocated,
        };
        // A count holds until it changes: the old value at the new time first, so
        // that a chart steps rather than slopes between two lines far apart.
        if let Some(last) = rs
            .last_point
            .filter(|l| (l.leased, l.allocated) != (p.leased, p.allocated))
        {
            rs.series.push(Point { secs, ..last });
        }
        rs.last_point = Some(p);
        rs.series.push(p);
    }

    /// A caller gave up waiting. The line names no route: it is the route whose
    /// last request found the pool exhausted, or the only route there is.
    fn timeout(&mut self) {
        self.rep.pool_timeouts += 1;
        let r = self
            .last_exhausted_route
            .or((self.routes.len() == 1).then_some(0));
        let now = self.now();
        match r {
            Some(r) => {
                let rs = &mut self.routes[r].r;
                rs.pool_timeouts += 1;
                rs.first_timeout.get_or_insert(now);
            }
            None => self.rep.unattributed_timeouts += 1,
        }
    }

    /// Mark routes whose last request waits behind a limit's worth of unreleased leases.
    fn mark_stuck(&mut self) {
        let now = self.now();
        for rs in &mut self.routes {
            let full = rs.r.max_per_route.is_some_and(|m| m > 0 && rs.open >= m);
            if full && rs.last_request_exhausted && rs.r.stuck_at.is_none() {
                rs.r.stuck_at = Some(now);
            }
        }
    }

    /// The pool is gone: its leases can no longer come back, and a new pool in the
    /// same log starts its ids again.
    fn manager_shutdown(&mut self) {
        self.mark_stuck();
        let now = self.now();
        for (id, l) in self.open.drain() {
            if self.ended.len() < MAX_OPEN {
                self.ended.push((id, l, now));
            }
        }
        for rs in &mut self.routes {
            rs.open = 0;
            rs.allocated = 0;
            rs.last_request_exhausted = false;
        }
        // Its connections' shutdown lines follow: keep them to attribute those.
        for c in self.conns.values_mut() {
            c.lease = None;
        }
        for r in 0..self.routes.len() {
            self.point(r);
        }
    }
}

/// `GET /invoices/42?lang=en` groups with every other invoice: the query is dropped
/// and a path segment of digits alone becomes `{n}`, so that one code path is one line.
pub fn request_key(method: &str, target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let path = truncate(path, 200);
    let mut out = String::with_capacity(method.len() + path.len() + 1);
    out.push_str(method);
    out.push(' ');
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{n}");
        } else {
            out.push_str(seg);
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Analyzer {
    /// The report: per-route counts, unreleased leases and verdicts, and the overall one.
    pub fn finish(mut self) -> PoolLogReport {
        self.mark_stuck();
        let end = self.now();
        let mut unreleased: Vec<Vec<Unreleased>> = vec![Vec::new(); self.routes.len()];
        let open = self.open.drain().map(|(id, l)| (id, l, None));
        let ended = self.ended.drain(..).map(|(id, l, at)| (id, l, Some(at)));
        for (id, l, shut) in open.chain(ended).collect::<Vec<_>>() {
            let until: Option<Moment> = shut.or(Some(end));
            let age = match (l.leased.secs, until.and_then(|u| u.secs)) {
                (Some(a), Some(b)) => Some((b - a).max(0.0)),
                _ => None,
            };
            unreleased[l.route].push(Unreleased {
                outlived: l.leased.line < self.routes[l.route].last_release_line,
                id,
                leased: l.leased,
                age_secs: age,
                request: l.request,
                status: l.status,
                ended_by_shutdown: shut,
            });
        }
        let mut routes = Vec::with_capacity(self.routes.len());
        for (rs, mut un) in self.routes.into_iter().zip(unreleased) {
            un.sort_by_key(|u| u.leased.line);
            routes.push(finish_route(rs, un, end));
        }
        let mut rep = self.rep;
        rep.verdict = routes.iter().map(|r| r.verdict).max().unwrap_or_default();
        if rep.unattributed_timeouts > 0 {
            rep.verdict = PoolLogVerdict::Exhausted;
        }
        rep.reason = overall_reason(&rep, &routes);
        rep.routes = routes;
        rep
    }
}

fn finish_route(mut rs: RouteState, unreleased: Vec<Unreleased>, end: Moment) -> RouteReport {
    let mut series = std::mem::take(&mut rs.series);
    series.points.extend(series.acc.take());
    if let Some(secs) = end.secs.filter(|_| !series.points.is_empty()) {
        // The state at the end of the log, not a merged maximum.
        series.points.push(Point {
            secs,
            leased: rs.open,
            allocated: rs.allocated,
        });
    }
    let mut r = rs.r;
    r.series = series.points;
    r.released_summary = summarise(rs.released.into_iter());
    r.unreleased_summary = summarise(unreleased.iter().map(|u| {
        let req = u.request.clone().unwrap_or_else(|| NO_HEADERS.to_owned());
        ((req, u.status.clone().unwrap_or_default()), 1)
    }));
    r.unreleased = unreleased;
    let outlived: Vec<&Unreleased> = r.unreleased.iter().filter(|u| u.outlived).collect();
    let times: Vec<f64> = outlived.iter().filter_map(|u| u.leased.secs).collect();
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        if times.len() >= MIN_LEAKED && last > first {
            let rate = (times.len() - 1) as f64 / (last - first) * 60.0;
            r.leak_per_minute = Some(rate);
            let out = r.unreleased.len() as f64;
            let left = r.max_per_route.map(|m| f64::from(m) - out);
            r.exhaustion_in_secs = left.map(|l| l.max(0.0) / rate * 60.0);
        }
    }
    (r.verdict, r.reason) = route_verdict(&r, outlived.len());
    if r.verdict == PoolLogVerdict::Exhausted && r.leak_per_minute.is_some() {
        r.exhaustion_in_secs = Some(0.0);
    }
    r
}

fn summarise(items: impl Iterator<Item = ((String, String), u64)>) -> Vec<Exchange> {
    let mut m: HashMap<(String, String), u64> = HashMap::new();
    for (k, n) in items {
        *m.entry(k).or_default() += n;
    }
    let mut v: Vec<Exchange> = m
        .into_iter()
        .map(|((request, status), count)| Exchange {
            request,
            status,
            count,
        })
        .collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.request.cmp(&b.request))
            .then_with(|| a.status.cmp(&b.status))
    });
    v
}

fn route_verdict(r: &RouteReport, outlived: usize) -> (PoolLogVerdict, String) {
    let limit = r
        .max_per_route
        .map_or_else(|| "its limit".to_owned(), |m| format!("its limit of {m}"));
    let leaked = format!(
        "{} lease(s) never released ({outlived} of them leased before a later release)",
        r.unreleased.len()
    );
    if r.pool_timeouts > 0 {
        return (
            PoolLogVerdict::Exhausted,
            format!(
                "{} request(s) timed out waiting for a connection; {leaked}",
                r.pool_timeouts
            ),
        );
    }
    if r.stuck_at.is_some() {
        return (
            PoolLogVerdict::Exhausted,
            format!("a request waits behind {limit} of unreleased leases; {leaked}"),
        );
    }
    if outlived >= MIN_LEAKED {
        return (PoolLogVerdict::Leak, leaked);
    }
    if r.releases > 0 {
        let why = match r.unreleased.len() {
            0 => "every lease came back".to_owned(),
            n => format!("leases come back ({n} still out at the end of the log)"),
        };
        return (PoolLogVerdict::Healthy, why);
    }
    (
        PoolLogVerdict::NotEnoughData,
        format!("{} lease(s) and no release logged", r.leases),
    )
}

fn overall_reason(rep: &PoolLogReport, routes: &[RouteReport]) -> String {
    if routes.is_empty() {
        return if rep.unattributed_timeouts > 0 {
            format!(
                "{} pool timeout(s), and no pool line to name a route (enable DEBUG for org.apache.http.impl.conn)",
                rep.unattributed_timeouts
            )
        } else {
            "no HttpClient pool lines: enable DEBUG for org.apache.http.impl.conn (4.x) or org.apache.hc.client5.http.impl.io (5.x)".to_owned()
        };
    }
    let worst = routes.iter().max_by_key(|r| r.verdict).expect("routes");
    if rep.verdict == PoolLogVerdict::Exhausted && worst.verdict != PoolLogVerdict::Exhausted {
        return format!(
            "{} pool timeout(s) that no route can be named for",
            rep.unattributed_timeouts
        );
    }
    format!("{}: {}", worst.route, worst.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "{}->http://a:80";

    fn stats(alloc: u32, max: u32, avail: u32) -> String {
        format!(
            "[total available: {avail}; route allocated: {alloc} of {max}; total allocated: {alloc} of 100]"
        )
    }

    /// Lines at one a second: `L id`, `R id`, `Q` (request at the limit), `H id path code`.
    fn run(max: u32, script: &[&str]) -> PoolLogReport {
        let mut a = Analyzer::new();
        let mut out = 0u32;
        for (i, step) in script.iter().enumerate() {
            let t = format!("2024-01-01 00:{:02}:{:02},000 DEBUG - ", i / 60, i % 60);
            let w: Vec<&str> = step.split(' ').collect();
            let line = match w[0] {
                "L" => {
                    out += 1;
                    format!(
                        "Connection leased: [id: {}][route: {R}]{}",
                        w[1],
                        stats(out, max, 0)
                    )
                }
                "R" => {
                    out -= 1;
                    format!(
                        "Connection released: [id: {}][route: {R}]{}",
                        w[1],
                        stats(out + 1, max, 1)
                    )
                }
                "Q" => format!("Connection request: [route: {R}]{}", stats(out, max, 0)),
                "H" => {
                    a.line(&format!(
                        "{t}http-outgoing-{} >> GET {} HTTP/1.1",
                        w[1], w[2]
                    ));
                    format!("http-outgoing-{} << HTTP/1.1 {} X", w[1], w[3])
                }
                _ => step.to_string(),
            };
            a.line(&format!("{t}{line}"));
        }
        a.finish()
    }

    #[test]
    fn leases_outlived_by_released_ones_are_a_leak_with_a_rate() {
        let rep = run(
            10,
            &[
                "L 0",
                "H 0 /bad/1 403",
                "L 1",
                "H 1 /ok 200",
                "R 1",
                "L 2",
                "H 2 /bad/2 403",
                "L 1",
                "R 1",
            ],
        );
        let r = &rep.routes[0];
        assert_eq!(rep.verdict, PoolLogVerdict::Leak);
        assert_eq!(
            r.unreleased
                .iter()
                .map(|u| u.id.as_str())
                .collect::<Vec<_>>(),
            ["0", "2"]
        );
        assert_eq!(
            r.unreleased_summary,
            vec![Exchange {
                request: "GET /bad/{n}".into(),
                status: "403 X".into(),
                count: 2
            }]
        );
        assert!(
            r.released_summary
                .iter()
                .any(|e| e.request == "GET /ok" && e.status == "200 X")
        );
        // Two leaked leases 5 s apart (steps 0 and 5, one a second).
        let rate = r.leak_per_minute.unwrap();
        assert!((rate - 60.0 / 5.0).abs() < 1e-6, "{rate}");
        assert!((r.exhaustion_in_secs.unwrap() - 8.0 / rate * 60.0).abs() < 1e-6);
        assert_eq!(rep.verdict.exit_code(), 1);
    }

    #[test]
    fn leases_that_come_back_are_healthy_and_no_release_is_not_enough_data() {
        let rep = run(2, &["L 0", "R 0", "L 0", "R 0", "L 1"]);
        assert_eq!(rep.verdict, PoolLogVerdict::Healthy);
        assert_eq!(rep.routes[0].unreleased.len(), 1);
        assert!(!rep.routes[0].unreleased[0].outlived);
        let rep = run(2, &["L 0", "L 1"]);
        assert_eq!(rep.verdict, PoolLogVerdict::NotEnoughData);
        assert_eq!(rep.verdict.exit_code(), 3);
        let rep = run(2, &["just an application line"]);
        assert_eq!(rep.verdict, PoolLogVerdict::NotEnoughData);
        assert!(rep.reason.contains("enable DEBUG"), "{}", rep.reason);
    }

    #[test]
    fn a_request_behind_a_full_pool_of_leaks_is_exhausted() {
        let rep = run(2, &["L 0", "L 1", "R 1", "L 1", "Q"]);
        assert_eq!(rep.verdict, PoolLogVerdict::Exhausted);
        assert!(rep.routes[0].stuck_at.is_some());
        let rep = run(
            2,
            &[
                "L 0",
                "R 0",
                "Q",
                "Timeout waiting for connection from pool",
            ],
        );
        assert_eq!(rep.routes[0].pool_timeouts, 1);
        assert_eq!(rep.verdict, PoolLogVerdict::Exhausted);
    }

    #[test]
    fn a_lease_of_an_id_already_out_is_counted_not_doubled() {
        let rep = run(5, &["L 0", "L 0", "R 0"]);
        assert_eq!(rep.repeated_leases, 1);
        assert!(rep.routes[0].unreleased.is_empty());
    }

    #[test]
    fn memory_is_bounded_over_a_long_log() {
        let mut a = Analyzer::new();
        for i in 0..40_000u64 {
            let t = format!(
                "2024-01-01 {:02}:{:02}:{:02},000 ",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60
            );
            let id = i % 7;
            let s = stats(1, 10, 0);
            a.line(&format!("{t}Connection leased: [id: {id}][route: {R}]{s}"));
            a.line(&format!(
                "{t}headers - http-outgoing-{id} >> GET /item/{i}/x{i} HTTP/1.1"
            ));
            a.line(&format!(
                "{t}Connection released: [id: {id}][route: {R}]{s}"
            ));
        }
        assert!(a.routes[0].series.points.len() <= MAX_POINTS);
        assert!(a.routes[0].released.len() <= MAX_SUMMARY);
        let rep = a.finish();
        assert_eq!(rep.routes[0].releases, 40_000);
        assert!(rep.routes[0].released_other > 0);
        assert!(rep.routes[0].series.len() <= MAX_POINTS + 2);
    }
}
