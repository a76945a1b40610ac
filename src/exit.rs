//! Exit codes, and the typed error a caller branches on to choose one.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success (or healthy, for checks) |
//! | 1 | threshold breached (`--threshold`, Nagios WARNING) |
//! | 2 | critical threshold breached (`--critical`, Nagios CRITICAL) |
//! | 3 | usage error, or failure (Nagios UNKNOWN) |

use std::fmt;

pub const OK: i32 = 0;
pub const BREACH: i32 = 1;
pub const CRITICAL: i32 = 2;
pub const FAILURE: i32 = 3;

/// A bad flag or value: the message names the input and the fix.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Whether an I/O error is sockleak running out of file descriptors, its own
/// (EMFILE) or the system's (ENFILE): a failure of sockleak's, never a fact
/// about the processes it looks at.
pub fn is_out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// [`is_out_of_fds`] anywhere in an error's chain.
pub fn chain_out_of_fds(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(is_out_of_fds)
    })
}

/// Whether an error is a write to a closed pipe (`sockleak | head`), which ends the
/// program quietly rather than as a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
