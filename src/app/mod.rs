//! Commands: snapshot, check, watch, serve, plot, pool-log, trace, completions and man. Siblings that never use each
//! other: each takes its part of the validated [`crate::config::Config`] and runs.

pub mod check;
pub mod generate;
pub mod plot;
pub mod pool_log;
pub mod serve;
pub mod snapshot;
pub mod trace;
pub mod watch;

use anyhow::Result;

use crate::config::Config;

/// Run the configured command; returns the exit code.
pub fn run(config: Config) -> Result<i32> {
    match config {
        Config::Snapshot(c) => snapshot::run(c),
        Config::Check(c) => check::run(c),
        Config::Watch(c) => watch::run(c),
        Config::Serve(c) => serve::run(c),
        Config::Plot(c) => plot::run(c),
        Config::PoolLog(c) => pool_log::run(c),
        Config::Trace(a) => trace::run(a),
        Config::Completions(shell) => generate::completions(shell),
        Config::Man => generate::man(),
    }
}
