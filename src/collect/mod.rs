//! Collection: read the kernel's socket tables and join each socket to the
//! processes holding it. Everything here reads through a `/proc` root so that
//! tests can point it at a fixture tree (`--proc-root`).
//!
//! Order matters for honesty under churn: the socket tables are read first and
//! the fd tables after, so a socket opened mid-scan is simply not in this
//! snapshot, while one closed mid-scan is counted and labelled unattributed.
//!
//! The rooms, in the order [`Collector::collect`] walks a sample through them:
//!
//! | room | what it does |
//! |---|---|
//! | [`options`] | what to read (`Options`, made by `config`), a focused query's `Focus` |
//! | `collector` | the [`Collector`], kept across samples; one sample's walk |
//! | `tables` | which namespaces, then every table: TCP ([`netlink`], [`proc_net`], [`netns`]), unix ([`unix`]), each through [`source`]'s one netlink → `/proc` fallback rule |
//! | [`fdscan`], [`fdcache`] | the fd tables, all or incrementally ([`recheck`]) |
//! | `owners`, `process` | each holder's `comm`, `status`, `cgroup`, `limits`; reset-but-held sockets confirmed |
//! | `attribution` | the sockets no readable process holds, and why; locked sockets |
//! | [`collection`] | the result, a [`Collection`], and what it cost |
//!
//! Beside them: `privilege` (sockleak's own capabilities, for advice), the
//! readers every room shares ([`fsread`]: bounded reads; `lines`: a `/proc`
//! table's line loop; `nlattr`: netlink attributes; [`names`], [`users`],
//! [`container`]), and the reads that run apart from a sample: [`guard`]
//! (syscalls that can sleep on a socket lock, in a forked child), [`peek`]
//! (`--peek`) and [`trace`] (the flight recorder).

mod attribution;
pub mod collection;
mod collector;
pub mod container;
pub mod fdcache;
pub mod fdscan;
pub mod fsread;
pub mod guard;
mod lines;
pub mod names;
pub mod netlink;
pub mod netns;
mod nlattr;
pub mod options;
mod owners;
pub mod peek;
mod privilege;
pub mod proc_net;
mod process;
pub mod recheck;
pub mod source;
mod tables;
pub mod trace;
pub mod unix;
pub mod users;

pub use collection::{Collection, Cost, process_cpu};
pub use collector::Collector;
pub use fsread::{ReadError, raise_fd_limit, read_bounded, shown};
pub use netns::read_ns;
pub use options::{Focus, Known, Options};
pub use privilege::privileged_exec;
pub use source::SourceChoice;
