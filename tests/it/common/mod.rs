//! The one place for test helpers (a helper written inside a test module is a
//! second copy waiting to drift): look here before writing one.
//!
//! | module     | what it holds |
//! |------------|---------------|
//! | `base`     | the binary, the repository, `require` a tool, `assert_root`, `wait_until`, a private loopback address, a free port |
//! | `run`      | running sockleak (`run`, `json`, `run_bounded`, `as_nobody`), reading its JSON and NDJSON (`lines`), promtool |
//! | `peer`     | [`Peer`], the one wrapper of a helper process of tests/support; `leak`: a server and a client |
//! | `serve`    | [`Server`], the one `sockleak serve` starter |
//! | `postgres` | [`Postgres`], a PostgreSQL 15 server of a test's own |
//! | `oracle`   | `ss` and the kernel's TIME_WAIT counters, the live tests' oracle |
//! | `net`      | [`PrivateNet`], a network namespace of a test's own |
//! | `tree`     | fixture `/proc` trees in a temporary directory, and hostile things in them |
//! | `report`   | collections and reports built in memory, for report and render tests |
//!
//! `base`, `peer` and `serve` are also compiled into `tests/serial` (see its main.rs).

mod base;
mod net;
mod oracle;
mod peer;
mod postgres;
pub mod report;
mod run;
mod serve;
pub mod tree;

pub use base::*;
pub use net::*;
pub use oracle::*;
pub use peer::*;
pub use postgres::*;
pub use run::*;
pub use serve::*;
