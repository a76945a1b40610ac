//! The flight recorder's join, decided once: a recorder pinned by `trace start` is
//! joined by every run on the live /proc; `--trace` (watch, serve) arms a private one
//! for the run's lifetime when none is pinned. Like `--peek`, a binary that gained
//! privilege at exec joins nothing unless its real user is root: it would show any
//! user the requests of every process on the host.

use std::sync::Arc;

use anyhow::Result;

use crate::collect::{self, trace};
use crate::exit::UsageError;
use crate::sample::TraceJoin;

use super::cli::{CollectArgs, TraceJoinArgs};

/// The join of a run; `lifetime` is whether the command lives long enough for a
/// private recorder to see anything (watch, serve).
pub(super) fn join(
    args: &TraceJoinArgs,
    collect: &CollectArgs,
    lifetime: bool,
) -> Result<Option<TraceJoin>> {
    if args.trace && !lifetime {
        return Err(UsageError(
            "--trace arms a recorder for the run's lifetime, which a snapshot does not have: use it with --watch or serve, or arm one first with `sudo sockleak trace start`".to_string(),
        )
        .into());
    }
    if let Some(root) = &collect.proc_root {
        if args.trace {
            return Err(UsageError(format!(
                "--trace records live sockets, which a --proc-root tree ({}) does not have; drop one of them",
                root.display()
            ))
            .into());
        }
        return Ok(None);
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    if collect::privileged_exec() && unsafe { libc::getuid() } != 0 {
        return Ok(None);
    }
    let dir = trace::pin_dir();
    let source = if args.trace && !trace::is_pinned(&dir) {
        let cgroup = trace::preflight()?;
        let recorder = trace::arm(&cgroup, trace::DEFAULT_ENTRIES)?;
        trace::Source::Private(Arc::new(recorder))
    } else {
        trace::Source::Pinned(dir)
    };
    Ok(Some(TraceJoin {
        source,
        show_query: args.show_query,
    }))
}
