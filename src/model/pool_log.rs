//! A pool-log report as data: what `poollog::analyze` concludes from an Apache
//! HttpClient log, and what `render::pool_log` writes (the renderer reads only
//! this, never the analyzer).

/// The `kind` of a pool-log JSON document, which tells it from a snapshot.
pub const KIND: &str = "sockleak-pool-log";

/// What a lease shows when the log has no header lines for its connection.
pub const NO_HEADERS: &str = "(no header lines)";

/// What the log says of the pool, worst last (so that `max` is the overall verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum PoolLogVerdict {
    #[default]
    NotEnoughData,
    Healthy,
    Leak,
    Exhausted,
}

impl PoolLogVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolLogVerdict::NotEnoughData => "not enough data",
            PoolLogVerdict::Healthy => "healthy",
            PoolLogVerdict::Leak => "leak",
            PoolLogVerdict::Exhausted => "exhausted",
        }
    }

    /// 0 healthy, 1 leak, 2 exhausted, 3 not enough data (like an unreadable input:
    /// no answer is not an all-clear).
    pub fn exit_code(self) -> i32 {
        match self {
            PoolLogVerdict::Healthy => crate::exit::OK,
            PoolLogVerdict::Leak => crate::exit::BREACH,
            PoolLogVerdict::Exhausted => crate::exit::CRITICAL,
            PoolLogVerdict::NotEnoughData => crate::exit::FAILURE,
        }
    }
}

/// Where in the log something happened: its line, and its time on the log's clock
/// when a timestamp had been seen by then.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moment {
    pub line: u64,
    pub secs: Option<f64>,
}

/// One point of a route's series: leases not yet released, and the pool's count of
/// the route's connections (leased or idle), at a time on the log's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub secs: f64,
    pub leased: u32,
    pub allocated: u32,
}

/// A lease that was never released.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreleased {
    pub id: String,
    pub leased: Moment,
    /// From the lease to the end of the log (or to the pool's shutdown).
    pub age_secs: Option<f64>,
    pub request: Option<String>,
    pub status: Option<String>,
    /// Other leases of the route were released after this one was leased.
    pub outlived: bool,
    /// The connection manager was shut down with the lease still out.
    pub ended_by_shutdown: Option<Moment>,
}

/// A request and its response, and how many leases carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub request: String,
    pub status: String,
    pub count: u64,
}

/// Everything the log said of one route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteReport {
    pub route: String,
    pub max_per_route: Option<u32>,
    pub max_total: Option<u32>,
    pub peak_allocated: u32,
    pub peak_at: Moment,
    pub requests: u64,
    pub leases: u64,
    pub releases: u64,
    pub failed_leases: u64,
    pub discards: u64,
    pub shutdowns: u64,
    pub closes: u64,
    /// Requests that found the route (or the whole pool) at its limit with nothing idle.
    pub exhausted_requests: u64,
    pub first_exhausted: Option<Moment>,
    pub last_exhausted: Option<Moment>,
    pub pool_timeouts: u64,
    pub first_timeout: Option<Moment>,
    /// A request left waiting behind a route full of unreleased leases (at the end
    /// of the log or when the pool was shut down).
    pub stuck_at: Option<Moment>,
    pub unreleased: Vec<Unreleased>,
    pub unreleased_summary: Vec<Exchange>,
    pub released_summary: Vec<Exchange>,
    /// Distinct released requests past [`MAX_SUMMARY`], counted together.
    pub released_other: u64,
    pub leak_per_minute: Option<f64>,
    /// From the end of the log until the route's limit is reached at that rate.
    pub exhaustion_in_secs: Option<f64>,
    pub series: Vec<Point>,
    pub verdict: PoolLogVerdict,
    pub reason: String,
}

/// The whole log's report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolLogReport {
    pub lines: u64,
    pub pool_lines: u64,
    pub other_httpclient_lines: u64,
    pub unknown_lines: u64,
    pub garbled_lines: u64,
    pub garbled_samples: Vec<(u64, &'static str)>,
    /// Timestamps carry a date (else they are times of day).
    pub dated: bool,
    pub first_secs: Option<f64>,
    pub last_secs: Option<f64>,
    pub routes: Vec<RouteReport>,
    pub pool_timeouts: u64,
    /// Timeouts that no route can be named for (several routes, none at its limit).
    pub unattributed_timeouts: u64,
    pub unmatched_releases: u64,
    pub repeated_leases: u64,
    pub untracked_leases: u64,
    pub dropped_route_lines: u64,
    pub verdict: PoolLogVerdict,
    pub reason: String,
}
