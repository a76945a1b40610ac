//! Collections and reports built in memory, for report and render tests: no
//! sockets, no root, no /proc. [`Host`] gathers sockets, their holders and the
//! processes into a `Collection`; [`leaking_host`] and [`unix_host`] are the
//! scenes of the golden files (tests/golden: change them and every golden file
//! moves); [`report_of`] aggregates a collection as a snapshot does, with the
//! clock and host name fixed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use sockleak::collect::Collection;
use sockleak::collect::fdscan::FdScan;
use sockleak::collect::unix::UnixCollection;
use sockleak::filter::Filters;
use sockleak::model::report::{DEFAULT_GROUP_BY, Report};
use sockleak::model::unix::{PeerRef, UnixName, UnixSocket, UnixState, UnixType};
use sockleak::model::warning::Warning;
use sockleak::model::{Process, Socket, Source, TcpState};
use sockleak::policy::{rank, verdict};

/// The network namespace every socket and process of an in-memory host is in.
pub const NS: u64 = 4026531840;

/// A TCP socket of uid 1000 in [`NS`]; a CLOSE_WAIT one idle 305 s.
pub fn tcp(state: TcpState, local: &str, remote: &str, inode: u64, recv_q: u32) -> Socket {
    Socket {
        state,
        local: local.parse::<SocketAddr>().unwrap(),
        remote: remote.parse::<SocketAddr>().unwrap(),
        inode,
        uid: 1000,
        recv_q,
        send_q: 0,
        idle_ms: (state == TcpState::CloseWait).then_some(305_000),
        cookie: 0,
        netns: NS,
        bound_if: 0,
    }
}

/// A unix socket in [`NS`] named `name` (empty: unnamed; `@name`: abstract).
pub fn unix(
    inode: u64,
    kind: UnixType,
    state: UnixState,
    name: &str,
    peer: Option<PeerRef>,
    recv_q: u32,
) -> UnixSocket {
    UnixSocket {
        inode,
        kind,
        state,
        name: UnixName::from_text(name),
        peer,
        recv_q,
        send_q: 0,
        netns: NS,
        uid: None,
    }
}

/// A process of uid 1000 in [`NS`], going by `comm`, shown as `user`.
pub fn process(pid: u32, comm: &str, user: &str) -> Process {
    Process {
        pid,
        comm: comm.to_string(),
        full_names: Vec::new(),
        uid: Some(1000),
        user: user.to_string(),
        cmdline: None,
        netns: NS,
        container: None,
        fds: None,
    }
}

/// A host being built: sockets in the order added, who holds each, processes.
#[derive(Default)]
pub struct Host {
    sockets: Vec<Socket>,
    unix: Vec<UnixSocket>,
    pairs: Vec<(u64, u32)>,
    processes: Vec<Process>,
}

impl Host {
    /// A TCP socket, held by `holder` (None: by nobody, e.g. TIME_WAIT).
    pub fn tcp(&mut self, s: Socket, holder: Option<u32>) {
        if let Some(pid) = holder {
            self.pairs.push((s.inode, pid));
        }
        self.sockets.push(s);
    }

    /// A unix socket, held by `holder` (None: by nobody).
    pub fn unix(&mut self, s: UnixSocket, holder: Option<u32>) {
        if let Some(pid) = holder {
            self.pairs.push((s.inode, pid));
        }
        self.unix.push(s);
    }

    pub fn process(&mut self, p: Process) {
        self.processes.push(p);
    }

    /// The collection a netlink read of this host would give: every holder's fd
    /// table read, nothing unowned, no warnings; a unix table when a unix socket
    /// was added. Host name `golden-host`, uid 1000 named `app`.
    pub fn build(self) -> Collection {
        let fds = FdScan::from_pairs(self.pairs);
        let unix = (!self.unix.is_empty()).then(|| {
            let mut unix = UnixCollection {
                sockets: self.unix,
                source: Source::Netlink,
                ..Default::default()
            };
            unix.join(&fds, false);
            unix
        });
        Collection {
            source: Source::Netlink,
            netns: NS,
            namespaces: vec![NS],
            unowned: 0,
            unattributed: Some(0),
            warnings: Vec::new(),
            sockets: self.sockets,
            fds,
            processes: self.processes.into_iter().map(|p| (p.pid, p)).collect(),
            elapsed: Duration::from_millis(12),
            port_ranges: HashMap::new(),
            uid_names: [(1000, "app".to_string())].into_iter().collect(),
            scan: Default::default(),
            starts: vec![],
            cost: None,
            unix,
            host: "golden-host".to_string(),
        }
    }
}

/// The report of `c` under `filters`, as a snapshot makes it (default `--by`,
/// verdicts with the default `--leak-after`, no pool, worst first), with the
/// clock and host name fixed.
pub fn report_of(c: &Collection, filters: &Filters) -> Report {
    let mut r = sockleak::report::aggregate(c, &DEFAULT_GROUP_BY, filters);
    r.time = "2026-12-02T12:00:00Z".to_string();
    r.host = "golden-host".to_string();
    verdict::attach(&mut r, &verdict::VerdictPolicy::default());
    rank::worst_first(&mut r);
    r
}

/// A host with a client leaking `leaked` CLOSE_WAIT sockets toward 10.0.0.5:8080,
/// a healthy database pool, a web server with clients and TIME_WAIT behind it, two
/// sockets whose owner is gone, and a process whose name holds an escape sequence.
pub fn leaking_host(leaked: u64) -> Collection {
    finish(leaking(leaked).build())
}

/// [`leaking_host`] with a unix table beside it: a client (pid 5150) leaking 30
/// connections to PostgreSQL's socket, each accepted by a backend of its own; a
/// healthy client of Docker's socket; a socketpair; a D-Bus-like abstract name;
/// a connection whose server went away; one socket nobody holds; `/dev/log`.
pub fn unix_host() -> Collection {
    const PG: &str = "/run/postgresql/.s.PGSQL.5432";
    const DOCKER: &str = "/run/docker.sock";
    use UnixState::{Connected as Est, Listening as Listen, Unconnected as Close};
    use UnixType::{Dgram, Seqpacket, Stream};
    let peer = |n| Some(PeerRef::Inode(n));
    let mut h = leaking(3);
    h.unix(unix(1, Stream, Listen, PG, None, 0), Some(700));
    h.process(process(5150, "python3", "app"));
    h.process(process(700, "postgres", "postgres"));
    for i in 0..30u64 {
        let (client, server) = (100 + 2 * i, 101 + 2 * i);
        let backend = 701 + i as u32;
        h.unix(unix(client, Stream, Est, "", peer(server), 0), Some(5150));
        h.unix(
            unix(server, Stream, Est, PG, peer(client), 0),
            Some(backend),
        );
        h.process(process(backend, "postgres", "postgres"));
    }
    h.unix(unix(2, Stream, Listen, DOCKER, None, 0), Some(800));
    h.unix(unix(200, Stream, Est, "", peer(201), 0), Some(4242));
    h.unix(unix(201, Stream, Est, DOCKER, peer(200), 48), Some(800));
    h.process(process(800, "dockerd", "root"));
    h.unix(unix(300, Stream, Est, "", peer(301), 0), Some(5150));
    h.unix(unix(301, Stream, Est, "", peer(300), 0), Some(5150));
    h.unix(unix(3, Seqpacket, Listen, "@bus", None, 0), Some(900));
    h.unix(unix(400, Seqpacket, Est, "", peer(401), 0), Some(77));
    h.unix(unix(401, Seqpacket, Est, "@bus", peer(400), 0), Some(900));
    h.process(process(900, "bus-daemon", "root"));
    let closed = Some(PeerRef::Closed);
    h.unix(unix(500, Stream, Est, "", closed, 1), Some(4242));
    h.unix(unix(600, Stream, Est, "", peer(301), 0), None);
    h.unix(unix(4, Dgram, Close, "/dev/log", None, 0), Some(1));
    h.process(process(1, "systemd", "root"));
    finish(h.build())
}

/// The sockets and processes of [`leaking_host`].
fn leaking(leaked: u64) -> Host {
    let mut h = Host::default();
    let mut inode = 1000;
    for i in 0..leaked {
        inode += 1;
        let local = format!("10.0.0.2:{}", 40000 + i);
        let s = tcp(TcpState::CloseWait, &local, "10.0.0.5:8080", inode, 512);
        h.tcp(s, Some(4242));
    }
    for i in 0..3 {
        inode += 1;
        let local = format!("10.0.0.2:{}", 41000 + i);
        let s = tcp(TcpState::Established, &local, "10.0.0.9:5432", inode, 0);
        h.tcp(s, Some(4242));
    }
    inode += 1;
    h.tcp(
        tcp(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0", inode, 0),
        Some(77),
    );
    for i in 0..4 {
        inode += 1;
        let remote = format!("10.1.1.{}:{}", 10 + i, 50000 + i);
        let s = tcp(TcpState::Established, "10.0.0.2:80", &remote, inode, 0);
        h.tcp(s, Some(77));
    }
    for i in 0..5 {
        let remote = format!("10.1.1.{}:{}", 20 + i, 51000 + i);
        h.tcp(tcp(TcpState::TimeWait, "10.0.0.2:80", &remote, 0, 0), None);
    }
    for i in 0..2 {
        let local = format!("10.0.0.2:{}", 42000 + i);
        let s = tcp(TcpState::Established, &local, "10.0.0.7:443", 9000 + i, 0);
        h.tcp(s, None);
    }
    let s = tcp(
        TcpState::CloseWait,
        "10.0.0.2:43000",
        "10.0.0.8:6379",
        9100,
        0,
    );
    h.tcp(s, Some(666));
    h.process(process(4242, "billing-api", "app"));
    h.process(process(77, "nginx", "www-data"));
    h.process(process(666, "evil\x1b[2Jname", "app"));
    h
}

/// The golden scenes' unowned and unattributed sockets, and the warning about the
/// latter.
fn finish(mut c: Collection) -> Collection {
    c.unowned = 5;
    c.unattributed = Some(2);
    c.warnings = vec![Warning::UnattributedGone {
        proto: sockleak::model::unix::Proto::Tcp,
        sockets: 2,
        owners: vec![(1000, "app".to_string())],
        hidepid: false,
    }];
    c
}
