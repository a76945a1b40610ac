//! The tests that cannot share the host with the rest of the suite, in a binary
//! of their own (cargo runs test binaries one after another, so nothing of
//! `tests/it` runs meanwhile):
//!
//! | module        | why it is here                                                  |
//! |---------------|-----------------------------------------------------------------|
//! | `locked`      | holds a socket's lock (in a private network namespace): one at a time, and nothing else of this binary meanwhile ([`exclusive`]) |
//! | `incremental` | compares incremental and full collections of the whole host while processes churn: the suite's other tests would churn it too ([`shared`]: beside each other, never beside `locked`) |
//!
//! Every other test goes in `tests/it` (see the table at the top of its main.rs).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The files of `tests/it/common` this binary needs, compiled here too: one copy
/// of each helper. Not every item of them is used here; `tests/it` uses them all,
/// and its build is where an unused helper is caught.
#[allow(dead_code)]
#[path = "../it/common"]
mod common {
    mod base;
    mod peer;
    mod serve;

    pub use base::*;
    pub use peer::*;
    pub use serve::*;
}

mod incremental;
mod locked;

static HOST: RwLock<()> = RwLock::new(());

/// Held by a test that must run alone in this binary (a lock holder).
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    HOST.write().unwrap_or_else(|p| p.into_inner())
}

/// Held by a test that may run beside other `shared` tests, never beside an
/// [`exclusive`] one.
fn shared() -> RwLockReadGuard<'static, ()> {
    HOST.read().unwrap_or_else(|p| p.into_inner())
}
