//! How one sample was taken: the `scan` object of a JSON document and NDJSON
//! sample line, and the scan series of Prometheus. `--watch` and `serve` sample
//! incrementally (`collect::fdcache`); this says whether a sample really was
//! incremental, what it read and what it cost, so that a slow sample can be
//! explained and a benchmark can check that sampling stays incremental.

use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use super::{NetnsId, TcpState};

/// How a sample's fd tables were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanKind {
    /// Every readable fd table was read (a snapshot, the first sample, the
    /// periodic full scan, or a socket no rule could explain).
    Full,
    /// Only the fd tables that can have changed were read.
    Incremental,
    /// Incremental, but a socket without a known owner (not held by the
    /// processes of its endpoints either, and still open when asked again) sent
    /// the sample to the processes of that socket's uid (read again whole).
    UidReread,
}

impl ScanKind {
    pub const ALL: [ScanKind; 3] = [ScanKind::Full, ScanKind::Incremental, ScanKind::UidReread];

    /// The name in JSON and Prometheus labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::Full => "full",
            ScanKind::Incremental => "incremental",
            ScanKind::UidReread => "uid-reread",
        }
    }
}

/// Why a sample was not incremental: why it read every fd table (kind `full`),
/// or its uid's (kind `uid-reread`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullReason {
    /// Not incremental: a snapshot, a check, a focused query, or no fd count
    /// here (kernels before 6.2, a `--proc-root` tree).
    NotIncremental,
    /// The first sample.
    First,
    /// `collect::fdcache::FULL_EVERY` had passed since the last full scan.
    Periodic,
    /// A socket of the table had no known owner although a readable process may
    /// hold it, and reading its uid's processes again did not find one.
    Unexplained,
    /// Kind `uid-reread`: a socket of the table had no known owner although a
    /// readable process may hold it, so its uid's processes were read again.
    OwnerUnknown,
}

/// The socket that sent a sample to a re-read (`scan.trigger`): the first of
/// the sockets without a known owner at that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trigger {
    #[serde(serialize_with = "state_name")]
    pub state: TcpState,
    pub inode: u64,
    /// `None` from `/proc/net/tcp`, which has no cookie.
    pub cookie: Option<u64>,
    /// The socket's uid (its creator's), whose processes were read again.
    pub uid: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub netns: NetnsId,
    /// How many sockets of the table were in the same case at that step.
    pub sockets: u64,
}

impl Trigger {
    pub fn new(s: &super::Socket, sockets: usize) -> Trigger {
        Trigger {
            state: s.state,
            inode: s.inode,
            // 0 is the /proc source's "none": null in JSON.
            cookie: (s.cookie != 0).then_some(s.cookie),
            uid: s.uid,
            local: s.local,
            remote: s.remote,
            netns: s.netns,
            sockets: sockets as u64,
        }
    }
}

fn state_name<S: Serializer>(state: &TcpState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.snake())
}

/// One sample's provenance (`scan` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScanInfo {
    pub kind: ScanKind,
    /// Why the sample was not incremental (kinds `full` and `uid-reread`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_reason: Option<FullReason>,
    /// The socket that sent the sample to a re-read (reasons `owner-unknown`
    /// and `unexplained`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// Processes whose fd directory was read in this sample.
    pub fd_tables_read: u64,
    /// File descriptors looked at (one `readlink` each) in this sample.
    pub fds_read: u64,
    /// Wall time reading the kernel's socket tables (every namespace).
    pub table_ms: f64,
    /// Wall time of the fd scan (reading, or deciding what to re-read).
    pub fds_ms: f64,
    /// CPU time of the sample, every thread, collection and aggregation.
    pub cpu_ms: f64,
    /// Running counts over the life of the sampler (Prometheus counters); not
    /// in JSON, where each line says its own sample.
    #[serde(skip)]
    pub totals: ScanTotals,
}

/// What a sampler has done since it started (`sockleak_scans_total`,
/// `sockleak_fd_tables_read_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanTotals {
    /// Samples of each [`ScanKind`], in [`ScanKind::ALL`] order.
    pub scans: [u64; 3],
    pub fd_tables_read: u64,
}

impl ScanTotals {
    /// Count one sample of `kind` that read `tables` fd tables.
    pub fn add(&mut self, kind: ScanKind, tables: u64) {
        let i = ScanKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in ALL");
        self.scans[i] += 1;
        self.fd_tables_read += tables;
    }

    pub fn of(&self, kind: ScanKind) -> u64 {
        ScanKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.scans[i])
    }
}

/// Milliseconds with two decimals: enough to tell samples apart, short in JSON.
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_each_kind_apart() {
        let mut t = ScanTotals::default();
        t.add(ScanKind::Full, 100);
        t.add(ScanKind::Incremental, 3);
        t.add(ScanKind::Incremental, 2);
        assert_eq!(t.of(ScanKind::Full), 1);
        assert_eq!(t.of(ScanKind::Incremental), 2);
        assert_eq!(t.of(ScanKind::UidReread), 0);
        assert_eq!(t.fd_tables_read, 105);
    }

    #[test]
    fn kinds_serialise_as_documented() {
        let names: Vec<String> = ScanKind::ALL
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["full", "incremental", "uid-reread"]);
        for k in ScanKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(
            serde_json::to_value(FullReason::NotIncremental).unwrap(),
            "not-incremental"
        );
        assert_eq!(millis(std::time::Duration::from_micros(12_345)), 12.35);
    }
}
