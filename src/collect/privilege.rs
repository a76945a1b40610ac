//! What sockleak itself may do: its effective capabilities (read from the
//! kernel, never from a `--proc-root`), for advice that fits and for the
//! recorder's and `--peek`'s checks, and whether it was exec'd with more
//! privilege than its user has.

use std::path::Path;

use super::fsread::{self, Oversize};
use crate::model::warning::{Caps, Privilege};

/// Our own effective capabilities: the `CapEff:` line of the live
/// `/proc/self/status`, read bounded; none when it cannot be read.
pub fn own_caps() -> Caps {
    let path = Path::new("/proc/self/status");
    let status = fsread::read_bounded(path, fsread::STATUS, Oversize::Truncate).unwrap_or_default();
    Caps::from_status(&String::from_utf8_lossy(&status)).unwrap_or_default()
}

/// Our own capabilities, and this binary's path for the advice.
pub(super) fn current_privilege() -> Privilege {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "$(command -v sockleak)".to_string());
    Privilege::from_caps(own_caps(), exe)
}

/// Whether this process was exec'd with more privilege than its user has (file
/// capabilities, setuid or setgid): the kernel sets `AT_SECURE` for exactly that.
pub fn privileged_exec() -> bool {
    // SAFETY: getauxval has no preconditions; it returns 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}
