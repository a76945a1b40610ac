//! Where a socket table comes from (`--source`), and the one rule for falling
//! back from netlink to `/proc`: the host's TCP table, the unix table and another
//! namespace's table all go through [`netlink_or_proc`].
//!
//! `/proc` has no idle ages and no unix peers, so a fallback is always warned
//! about by the caller; and some netlink failures must not be papered over by a
//! `/proc` read at all ([`NoFallback`]).

use std::io;

use super::fsread;

/// The `--source` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// Netlink, falling back to /proc with a warning.
    #[default]
    Auto,
    Netlink,
    Proc,
}

/// What [`netlink_or_proc`] decided.
#[derive(Debug)]
pub enum Via<T> {
    /// Netlink's answer.
    Netlink(T),
    /// Read `/proc` instead: asked for (`None`: `--source proc`), or netlink
    /// failed for this reason.
    Proc(Option<io::Error>),
}

/// A netlink failure no `/proc` read may stand in for.
#[derive(Debug)]
pub enum NoFallback {
    /// `--source netlink`: netlink or nothing.
    Refused(io::Error),
    /// sockleak is out of its own file descriptors: `/proc` could not be opened
    /// either, and "netlink unavailable" would be a lie.
    OutOfFds(io::Error),
    /// A stop signal came while a guarded read waited: the sample is dropped,
    /// and nothing is read in its place (a `/proc` read would be a sample
    /// without idle ages, shown as if whole).
    Stopped(io::Error),
}

/// Which table a [`NoFallback`] is about, for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Tcp,
    Unix,
}

impl NoFallback {
    /// The error that ends the collection.
    pub fn into_error(self, table: Table) -> anyhow::Error {
        let what = match table {
            Table::Tcp => "netlink sock_diag dump",
            Table::Unix => "netlink sock_diag dump of unix sockets",
        };
        match (self, table) {
            (NoFallback::Refused(e), _) => {
                anyhow::Error::new(e).context(format!("{what} failed (try --source proc)"))
            }
            (NoFallback::OutOfFds(e), Table::Tcp) => anyhow::Error::new(e).context(format!(
                "sockleak is out of file descriptors (limit {}): cannot open a netlink socket; raise the limit (ulimit -n, LimitNOFILE=)",
                fsread::fd_limit()
            )),
            (NoFallback::OutOfFds(e), Table::Unix) => {
                anyhow::Error::new(e).context(format!("{what} failed"))
            }
            (NoFallback::Stopped(e), _) => anyhow::Error::new(e).context("interrupted"),
        }
    }
}

/// Ask netlink (`dump`) unless `source` says `/proc`; when it fails, say whether
/// `/proc` may be read instead (and why it is), or why not.
pub fn netlink_or_proc<T>(
    source: SourceChoice,
    dump: impl FnOnce() -> io::Result<T>,
) -> Result<Via<T>, NoFallback> {
    if source == SourceChoice::Proc {
        return Ok(Via::Proc(None));
    }
    match dump() {
        Ok(t) => Ok(Via::Netlink(t)),
        Err(e) if source == SourceChoice::Netlink => Err(NoFallback::Refused(e)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(NoFallback::Stopped(e)),
        Err(e) if crate::exit::is_out_of_fds(&e) => Err(NoFallback::OutOfFds(e)),
        Err(e) => Ok(Via::Proc(Some(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(kind: io::ErrorKind) -> impl FnOnce() -> io::Result<()> {
        move || Err(io::Error::from(kind))
    }

    #[test]
    fn only_an_ordinary_failure_under_auto_falls_back() {
        use SourceChoice::{Auto, Netlink, Proc};
        let emfile = || Err::<(), _>(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(matches!(
            netlink_or_proc(Auto, || Ok(7)),
            Ok(Via::Netlink(7))
        ));
        assert!(matches!(
            netlink_or_proc(Proc, || Ok(7)),
            Ok(Via::Proc(None))
        ));
        let denied = netlink_or_proc(Auto, fails(io::ErrorKind::PermissionDenied));
        assert!(matches!(denied, Ok(Via::Proc(Some(_)))));
        let stopped = netlink_or_proc(Auto, fails(io::ErrorKind::Interrupted));
        assert!(matches!(stopped, Err(NoFallback::Stopped(_))));
        assert!(matches!(
            netlink_or_proc(Auto, emfile),
            Err(NoFallback::OutOfFds(_))
        ));
        let refused = netlink_or_proc(Netlink, fails(io::ErrorKind::PermissionDenied));
        assert!(matches!(refused, Err(NoFallback::Refused(_))));
        let stopped = NoFallback::Stopped(io::ErrorKind::Interrupted.into());
        assert_eq!(stopped.into_error(Table::Tcp).to_string(), "interrupted");
    }
}
