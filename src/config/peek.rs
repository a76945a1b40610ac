//! `--peek`'s rules, checked once: it reads live sockets (so no `--proc-root`
//! tree), and it duplicates other processes' fds, so a binary that gained
//! privilege at exec (setuid, file capabilities) refuses it unless its real user
//! is root: such a binary would let any user who can run it read the start of
//! every connection's pending data on the host.

use crate::collect::{self, peek::PeekOptions};
use crate::exit::UsageError;

use super::cli::{CollectArgs, PeekArgs};

/// The validated `--peek` options; `None` without `--peek`.
pub(super) fn options(
    args: &PeekArgs,
    collect: &CollectArgs,
) -> Result<Option<PeekOptions>, UsageError> {
    if !args.peek {
        return Ok(None);
    }
    if let Some(root) = &collect.proc_root {
        return Err(UsageError(format!(
            "--peek reads the receive queues of live sockets, which a --proc-root tree ({}) does not have; drop one of them",
            root.display()
        )));
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let real_uid = unsafe { libc::getuid() };
    if refused(collect::privileged_exec(), real_uid) {
        return Err(UsageError(
            "--peek is refused: this binary runs with file capabilities or setuid, and would let any user who can run it read the start of other users' unread network data; run it as root (sudo sockleak --peek), or a copy without capabilities"
                .to_string(),
        ));
    }
    Ok(Some(PeekOptions {
        shown: args.peek_bytes,
        max_per_group: args.peek_max,
        budget: PeekOptions::BUDGET,
    }))
}

/// Whether a binary exec'd with more privilege than its user (`AT_SECURE`) must
/// refuse: unless the real user is root, who may peek anyway.
fn refused(secure_exec: bool, real_uid: u32) -> bool {
    secure_exec && real_uid != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_privileged_exec_by_another_user_is_refused() {
        assert!(refused(true, 1000));
        assert!(!refused(true, 0));
        assert!(!refused(false, 1000));
    }
}
