//! A process's effective capabilities, from the `CapEff:` line of its
//! `/proc/<pid>/status` (a hex bit set, one bit per `CAP_*` of
//! `include/uapi/linux/capability.h`): the one parser of it.

/// One capability, by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap(u32);

/// Bypass directory read and search permission checks (with `CAP_SYS_PTRACE`:
/// every `/proc/<pid>/fd`).
pub const CAP_DAC_READ_SEARCH: Cap = Cap(2);
/// Network administration (the recorder's cgroup programs).
pub const CAP_NET_ADMIN: Cap = Cap(12);
/// Trace any process: its fd table, its namespace link, its fds (`pidfd_getfd`).
pub const CAP_SYS_PTRACE: Cap = Cap(19);
/// `setns` into another namespace; BPF before `CAP_BPF` existed.
pub const CAP_SYS_ADMIN: Cap = Cap(21);
/// Load BPF programs and maps (Linux 5.8+).
pub const CAP_BPF: Cap = Cap(39);

/// An effective capability set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps(u64);

impl Caps {
    /// From the text of a `/proc/<pid>/status`; `None` without a readable
    /// `CapEff:` line.
    pub fn from_status(status: &str) -> Option<Caps> {
        let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
        u64::from_str_radix(hex.trim(), 16).ok().map(Caps)
    }

    pub fn has(self, cap: Cap) -> bool {
        // Numbers past 63 are no capability any kernel has: not held.
        1u64.checked_shl(cap.0).is_some_and(|bit| self.0 & bit != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capeff_is_read_as_a_hex_bit_set() {
        let root = Caps::from_status("Name:\tx\nCapEff:\t000001ffffffffff\n").unwrap();
        for cap in [
            CAP_DAC_READ_SEARCH,
            CAP_NET_ADMIN,
            CAP_SYS_PTRACE,
            CAP_SYS_ADMIN,
            CAP_BPF,
        ] {
            assert!(root.has(cap), "{cap:?}");
        }
        // cap_sys_ptrace,cap_dac_read_search+ep: bits 19 and 2.
        let setcap = Caps::from_status("CapEff:\t0000000000080004\n").unwrap();
        assert!(setcap.has(CAP_SYS_PTRACE) && setcap.has(CAP_DAC_READ_SEARCH));
        assert!(!setcap.has(CAP_SYS_ADMIN) && !setcap.has(CAP_NET_ADMIN));
        assert!(!root.has(Cap(64)) && !root.has(Cap(u32::MAX)));
        assert_eq!(Caps::from_status("CapEff:\t0\n"), Some(Caps::default()));
        for bad in [
            "",
            "garbage",
            "CapEff:\tzz\n",
            "CapEff:\t1ffffffffffffffff\n",
        ] {
            assert_eq!(Caps::from_status(bad), None, "{bad:?}");
        }
        assert_eq!(Caps::from_status("CapPrm:\t1\n"), None);
    }
}
