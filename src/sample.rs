//! One sample, start to end: the step every command (snapshot, check, watch,
//! serve) takes. It drives the layers in order and is where the I/O of a sample
//! happens: the collector reads the tables and fd tables; [`report`] aggregates
//! (pure); for `--peek`, [`report::peek::plan`] picks sockets (pure), the
//! collection side peeks them through the collector's proc root
//! ([`crate::collect::peek::peek_all`]) and [`report::peek::attach`] folds the outcomes
//! in (pure); the flight recorder's map is read here
//! ([`crate::collect::trace::read`]) and joined by [`report::exchange::attach`].
//! Judging ([`crate::policy`]) and rendering follow in the command.

use std::time::SystemTime;

use anyhow::Result;

use crate::collect::peek::PeekOptions;
use crate::collect::{Collection, Collector, peek, trace};
use crate::filter::Filters;
use crate::model::Source;
use crate::model::TcpState;
use crate::model::report::{GroupField, Report};
use crate::report::{self, aggregate_ranked, exchange};

/// What every command samples with: the collector (with its caches), the `--by`
/// keys and the filters, built once by the configuration.
#[derive(Debug)]
pub struct Sampler {
    pub collector: Collector,
    pub by: Vec<GroupField>,
    pub filters: Filters,
    /// The state groups are ranked by (`--metric`; CLOSE_WAIT by default).
    pub rank: TcpState,
    /// `--peek`: what unread queues hold, per group (off by default).
    pub peek: Option<PeekOptions>,
    /// The flight recorder's records, joined by socket cookie (`sockleak trace`);
    /// `None` where no join is possible (`--proc-root`).
    pub trace: Option<TraceJoin>,
}

/// Where the recorder's records come from, and how requests are shown.
#[derive(Debug, Clone)]
pub struct TraceJoin {
    pub source: trace::Source,
    /// `--show-query`: HTTP query strings kept instead of `?…`.
    pub show_query: bool,
}

impl Sampler {
    /// Collect and aggregate one snapshot.
    pub fn take(&mut self) -> Result<Report> {
        self.take_with(|_| {})
    }

    /// One sample with a step between collection and aggregation: `--watch` ages
    /// the /proc source's sockets there, which have no idle age of their own.
    pub fn take_with(&mut self, between: impl FnOnce(&mut Collection)) -> Result<Report> {
        let mut c = self.collector.collect()?;
        // The sample's time is the collection's, read here: the report layer reads
        // no clock.
        let taken_at = SystemTime::now();
        self.require_idle(&c)?;
        between(&mut c);
        let r = self.aggregate(&c, taken_at);
        // A guarded read the stop cut short was done without (a namespace read
        // from /proc, a peek not taken): that sample would lie, so none is shown.
        if crate::collect::guard::stopping() {
            return Err(
                anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::Interrupted))
                    .context("stopped during a sample"),
            );
        }
        Ok(r)
    }

    /// Aggregate a collection taken by [`Sampler::collector`] at `taken_at`, with
    /// its peeks and recorder records (read now).
    pub fn aggregate(&self, c: &Collection, taken_at: SystemTime) -> Report {
        let mut r = aggregate_ranked(c, &self.by, &self.filters, self.rank, taken_at);
        if let Some(opts) = &self.peek {
            let plan = report::peek::plan(&r, c, &self.by, &self.filters, opts.max_per_group);
            // The live /proc: the configuration refuses --peek with --proc-root.
            let found = peek::peek_all(self.collector.proc_root(), &plan.requests, opts.budget);
            report::peek::attach(&mut r, plan, found, opts);
        }
        if let Some(t) = &self.trace {
            let read = trace::read(&t.source, t.show_query);
            exchange::attach(&mut r, c, &self.by, &self.filters, read);
        }
        r
    }

    /// `--idle-over` needs idle ages, which only netlink gives: a collection that
    /// fell back to /proc (netlink unavailable) is refused rather than shown empty.
    pub fn require_idle(&self, c: &Collection) -> Result<()> {
        if self.filters.idle_over_ms.is_some() && c.source != Source::Netlink {
            return Err(crate::exit::UsageError(
                "--idle-over needs idle ages, which only netlink sock_diag gives, and netlink is unavailable here (see the warning); drop --idle-over, or run where sock_diag works (the tcp_diag module, root in containers)".to_string(),
            )
            .into());
        }
        Ok(())
    }
}
