//! sockleak's integration tests: one binary (`cargo test --test it`), a module per
//! area. Tests run in parallel threads of this one process, so a test never changes
//! process-wide state (environment, cwd, umask, rlimits, signal dispositions): put
//! such state on the child's `Command` (`.env`, `.current_dir`, `pre_exec`, a
//! `sh -c 'umask …; exec …'` wrapper). A test that needs the host to itself, or
//! holds a socket lock, goes in the other binary, `tests/serial/`.
//!
//! Where a new test goes (by what it tests, not how):
//!
//! | area                         | module                  | what goes there                                                    |
//! |------------------------------|-------------------------|--------------------------------------------------------------------|
//! | reading the kernel and /proc | `collect::live`         | counts per pid and endpoint on real loopback sockets, both sources |
//! |                              | `collect::oracle`       | totals per state against `ss`                                      |
//! |                              | `collect::signatures`   | idle ages, reset-but-held sockets, fds near RLIMIT_NOFILE          |
//! |                              | `collect::netns`        | network namespaces, container ids                                  |
//! |                              | `collect::unix`         | `--proto unix` and `all` on real clients                           |
//! |                              | `collect::focus`        | `--pid`, `--process`, `--user` reading only what matches           |
//! |                              | `collect::filters`      | filters that match nothing, refused no-op flags                    |
//! |                              | `collect::fixture_proc` | the committed `--proc-root` tree: parser, join, groups             |
//! |                              | `collect::fuzz_proc`    | generated hostile `--proc-root` trees                              |
//! |                              | `collect::properties`   | proptest of the parsers of untrusted text                          |
//! | report, policy, render       | `report::golden`        | every renderer's exact bytes, from `common::report`                |
//! |                              | `report::check`         | exit codes, Nagios, textfile writes on a live leak                 |
//! |                              | `report::prometheus`    | exposition edge cases (escaping, `--max-series`)                   |
//! |                              | `report::verdict`       | `leak`, `suspect`, `ok` verdicts                                   |
//! |                              | `report::direction`     | which end is the service                                           |
//! |                              | `report::escape`        | `model::escape`, hostile names in every format                     |
//! |                              | `report::pools`         | each pool judged by its own size                                   |
//! |                              | `report::ports`         | ephemeral-port exhaustion                                          |
//! | the other commands           | `commands::watch`       | `--watch`: flags, ETA, records, `--on-flag`                        |
//! |                              | `commands::serve`       | `serve` over HTTP, a real Prometheus, promtool rules               |
//! |                              | `commands::plot`        | `sockleak plot`                                                    |
//! |                              | `commands::pool_log`    | `sockleak pool-log`                                                |
//! |                              | `commands::generate`    | completions and the man page                                       |
//! | `--peek`                     | `peek::live`            | peeks on real clients, the peek race                               |
//! |                              | `peek::properties`      | proptest of the classifier                                         |
//! | `sockleak trace`             | `trace`                 | the flight recorder (each test holds a `Session`)                  |
//! | hardening                    | `hardening::live`       | without root, under churn, closed pipes, bad flags                 |
//! |                              | `hardening::app`        | commands whose reader goes away, bad records, plot                 |
//! |                              | `hardening::input`      | hostile files and file systems, running out of fds                 |
//! | docs and structure           | `docs::readme`          | README.md's examples are real output                               |
//! |                              | `docs::layers`          | the crate's layer rules                                            |
//!
//! Helpers live only in `common` (and `common::tree`, `common::report`): look there
//! before writing one (running sockleak, `as_nobody`, the child process wrapper
//! `Peer`, the `serve` starter, `ss` as the oracle, private namespaces, fixture
//! trees, in-memory reports). A test that needs root or a tool fails loudly when it
//! is missing (`assert_root`, `require`), never skips. Data stays beside the code:
//! `tests/golden` (golden files), `tests/fixtures` (committed /proc trees, cgroup
//! files, pool logs), `tests/support` (the helper programs the tests run).

mod common;

mod collect {
    mod filters;
    mod fixture_proc;
    mod focus;
    mod fuzz_proc;
    mod live;
    mod netns;
    mod oracle;
    mod properties;
    mod signatures;
    mod unix;
}

mod report {
    mod check;
    mod direction;
    mod escape;
    mod golden;
    mod pools;
    mod ports;
    mod prometheus;
    mod verdict;
}

mod commands {
    mod generate;
    mod plot;
    mod pool_log;
    mod serve;
    mod watch;
}

mod peek {
    mod live;
    mod properties;
}

mod trace;

mod hardening {
    mod app;
    mod input;
    mod live;
}

mod docs {
    mod layers;
    mod readme;
}
