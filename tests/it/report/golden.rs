//! Golden output of every renderer, from a report built in memory (no sockets, no
//! root, no /proc): the table, JSON, Prometheus, the check lines, the Nagios line,
//! and a `--watch` frame fitted to an 80x24 terminal with its alert line. A layout
//! change shows up as a readable diff against `tests/golden/*`.
//!
//! After an intended change: `SOCKLEAK_BLESS=1 cargo test --test it report::golden`,
//! then read the diff of `tests/golden/` before committing it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sockleak::collect::Collection;
use sockleak::collect::fdscan::FdScan;
use sockleak::collect::unix::UnixCollection;
use sockleak::filter::Filters;
use sockleak::model::report::{DEFAULT_GROUP_BY, Report};
use sockleak::model::unix::{PeerRef, Protos, UnixName, UnixSocket, UnixType};
use sockleak::model::verdict::Level;
use sockleak::model::warning::Warning;
use sockleak::model::watch::{Alert, AlertKind};
use sockleak::model::{Process, Socket, Source, TcpState};
use sockleak::policy::levels::{self, Levels, Threshold};
use sockleak::policy::pool::{self, PoolSizes};
use sockleak::policy::rank;
use sockleak::policy::tracker::{Policy, Tracker};
use sockleak::policy::verdict::{self, VerdictPolicy};
use sockleak::render::frame::{self, FrameOptions};
use sockleak::render::prometheus::PromOptions;
use sockleak::render::table::TableOptions;
use sockleak::render::{Renderer, WarningStyle, check};

const NS: u64 = 4026531840;

fn sock(state: TcpState, local: &str, remote: &str, inode: u64, recv_q: u32) -> Socket {
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

fn process(pid: u32, comm: &str, user: &str) -> Process {
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

/// A host with a client leaking `leaked` CLOSE_WAIT sockets toward 10.0.0.5:8080,
/// a healthy database pool, a web server with clients and TIME_WAIT behind it, two
/// sockets whose owner is gone, and a process whose name holds an escape sequence.
fn collection(leaked: u64) -> Collection {
    let mut sockets = Vec::new();
    let mut pairs = Vec::new();
    let mut inode = 1000;
    let mut add = |s: Socket, pid: Option<u32>, sockets: &mut Vec<Socket>| {
        if let Some(pid) = pid {
            pairs.push((s.inode, pid));
        }
        sockets.push(s);
    };
    for i in 0..leaked {
        inode += 1;
        let local = format!("10.0.0.2:{}", 40000 + i);
        let s = sock(TcpState::CloseWait, &local, "10.0.0.5:8080", inode, 512);
        add(s, Some(4242), &mut sockets);
    }
    for i in 0..3 {
        inode += 1;
        let local = format!("10.0.0.2:{}", 41000 + i);
        let s = sock(TcpState::Established, &local, "10.0.0.9:5432", inode, 0);
        add(s, Some(4242), &mut sockets);
    }
    inode += 1;
    let s = sock(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0", inode, 0);
    add(s, Some(77), &mut sockets);
    for i in 0..4 {
        inode += 1;
        let remote = format!("10.1.1.{}:{}", 10 + i, 50000 + i);
        let s = sock(TcpState::Established, "10.0.0.2:80", &remote, inode, 0);
        add(s, Some(77), &mut sockets);
    }
    for i in 0..5 {
        let remote = format!("10.1.1.{}:{}", 20 + i, 51000 + i);
        let s = sock(TcpState::TimeWait, "10.0.0.2:80", &remote, 0, 0);
        add(s, None, &mut sockets);
    }
    for i in 0..2 {
        let local = format!("10.0.0.2:{}", 42000 + i);
        let s = sock(TcpState::Established, &local, "10.0.0.7:443", 9000 + i, 0);
        add(s, None, &mut sockets);
    }
    let s = sock(
        TcpState::CloseWait,
        "10.0.0.2:43000",
        "10.0.0.8:6379",
        9100,
        0,
    );
    add(s, Some(666), &mut sockets);
    let processes: HashMap<u32, Process> = [
        process(4242, "billing-api", "app"),
        process(77, "nginx", "www-data"),
        process(666, "evil\x1b[2Jname", "app"),
    ]
    .into_iter()
    .map(|p| (p.pid, p))
    .collect();
    Collection {
        source: Source::Netlink,
        netns: NS,
        namespaces: vec![NS],
        unowned: 5,
        unattributed: Some(2),
        warnings: vec![Warning::UnattributedGone {
            proto: sockleak::model::unix::Proto::Tcp,
            sockets: 2,
            owners: vec![(1000, "app".to_string())],
            hidepid: false,
        }],
        sockets,
        fds: FdScan::from_pairs(pairs),
        processes,
        elapsed: Duration::from_millis(12),
        port_ranges: HashMap::new(),
        uid_names: [(1000, "app".to_string())].into_iter().collect(),
        scan: Default::default(),
        starts: vec![],
        cost: None,
        unix: None,
        host: "golden-host".to_string(),
    }
}

fn usock(
    inode: u64,
    kind: UnixType,
    state: TcpState,
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

/// [`collection`] with a unix table beside it: a client (pid 5150) leaking 30
/// connections to PostgreSQL's socket, each accepted by a backend of its own; a
/// healthy client of Docker's socket; a socketpair; a D-Bus-like abstract name;
/// a connection whose server went away; one socket nobody holds; `/dev/log`.
fn unix_collection() -> Collection {
    const PG: &str = "/run/postgresql/.s.PGSQL.5432";
    let mut c = collection(3);
    let mut socks = vec![usock(1, UnixType::Stream, TcpState::Listen, PG, None, 0)];
    let mut pairs = c.fds.pairs().to_vec();
    pairs.push((1, 700));
    let mut processes = vec![
        process(5150, "python3", "app"),
        process(700, "postgres", "postgres"),
    ];
    for i in 0..30u64 {
        let (client, server) = (100 + 2 * i, 101 + 2 * i);
        let peer = |n| Some(PeerRef::Inode(n));
        socks.push(usock(
            client,
            UnixType::Stream,
            TcpState::Established,
            "",
            peer(server),
            0,
        ));
        socks.push(usock(
            server,
            UnixType::Stream,
            TcpState::Established,
            PG,
            peer(client),
            0,
        ));
        let backend = 701 + i as u32;
        pairs.push((client, 5150));
        pairs.push((server, backend));
        processes.push(process(backend, "postgres", "postgres"));
    }
    let docker = "/run/docker.sock";
    socks.push(usock(
        2,
        UnixType::Stream,
        TcpState::Listen,
        docker,
        None,
        0,
    ));
    socks.push(usock(
        200,
        UnixType::Stream,
        TcpState::Established,
        "",
        Some(PeerRef::Inode(201)),
        0,
    ));
    socks.push(usock(
        201,
        UnixType::Stream,
        TcpState::Established,
        docker,
        Some(PeerRef::Inode(200)),
        48,
    ));
    pairs.extend([(2, 800), (200, 4242), (201, 800)]);
    processes.push(process(800, "dockerd", "root"));
    socks.push(usock(
        300,
        UnixType::Stream,
        TcpState::Established,
        "",
        Some(PeerRef::Inode(301)),
        0,
    ));
    socks.push(usock(
        301,
        UnixType::Stream,
        TcpState::Established,
        "",
        Some(PeerRef::Inode(300)),
        0,
    ));
    pairs.extend([(300, 5150), (301, 5150)]);
    socks.push(usock(
        3,
        UnixType::Seqpacket,
        TcpState::Listen,
        "@bus",
        None,
        0,
    ));
    socks.push(usock(
        400,
        UnixType::Seqpacket,
        TcpState::Established,
        "",
        Some(PeerRef::Inode(401)),
        0,
    ));
    socks.push(usock(
        401,
        UnixType::Seqpacket,
        TcpState::Established,
        "@bus",
        Some(PeerRef::Inode(400)),
        0,
    ));
    pairs.extend([(3, 900), (400, 77), (401, 900)]);
    processes.push(process(900, "bus-daemon", "root"));
    socks.push(usock(
        500,
        UnixType::Stream,
        TcpState::Established,
        "",
        Some(PeerRef::Closed),
        1,
    ));
    pairs.push((500, 4242));
    socks.push(usock(
        600,
        UnixType::Stream,
        TcpState::Established,
        "",
        Some(PeerRef::Inode(301)),
        0,
    ));
    socks.push(usock(
        4,
        UnixType::Dgram,
        TcpState::Close,
        "/dev/log",
        None,
        0,
    ));
    pairs.push((4, 1));
    processes.push(process(1, "systemd", "root"));
    c.fds = FdScan::from_pairs(pairs);
    c.processes
        .extend(processes.into_iter().map(|p| (p.pid, p)));
    let mut unix = UnixCollection {
        sockets: socks,
        source: Source::Netlink,
        ..Default::default()
    };
    unix.join(&c.fds, false);
    c.unix = Some(unix);
    c
}

/// The report of [`unix_collection`] under `--proto all` (or `unix`).
fn unix_report(tcp: bool) -> Report {
    let filters = Filters {
        protos: Protos { tcp, unix: true },
        ..Filters::default()
    };
    let mut r = sockleak::report::aggregate(&unix_collection(), &DEFAULT_GROUP_BY, &filters);
    r.time = "2026-12-02T12:00:00Z".to_string();
    r.host = "golden-host".to_string();
    verdict::attach(&mut r, &VerdictPolicy::default());
    rank::worst_first(&mut r);
    r
}

#[test]
fn unix_groups() {
    let table = |top| {
        Renderer::Table(TableOptions {
            top,
            header: true,
            color: false,
            more_hint: TableOptions::TOP_HINT,
            fit: None,
        })
    };
    let r = unix_report(false);
    golden("unix-table.txt", &table(20).render(&r).unwrap());
    // At 80 columns too: the verdict and the path survive.
    let narrow = Renderer::Table(TableOptions {
        top: 5,
        header: true,
        color: false,
        more_hint: TableOptions::TOP_HINT,
        fit: Some((80, TcpState::Established)),
    });
    let text = String::from_utf8(narrow.render(&unix_report(true)).unwrap()).unwrap();
    for line in text.lines() {
        assert!(sockleak::render::visible_width(line) <= 80, "{line}");
    }
    golden("unix-all-table-80.txt", text.as_bytes());
    golden(
        "unix-all-table.txt",
        &table(20).render(&unix_report(true)).unwrap(),
    );
    golden(
        "unix-report.json",
        &Renderer::Json { top: None }.render(&r).unwrap(),
    );
    let mut pooled = r.clone();
    pool::attach(
        &mut pooled,
        &PoolSizes::new(vec![
            "20".parse().unwrap(),
            "/run/postgresql/.s.PGSQL.5432=25".parse().unwrap(),
        ]),
    );
    let p = Renderer::Prometheus(PromOptions { max_series: 500 });
    golden("unix-metrics.prom", &p.render(&pooled).unwrap());
    // Row 1 is the leaking client, its peer the PostgreSQL backends.
    let g = &r.groups[0];
    assert_eq!((g.pid, g.total), (Some(5150), 30));
    assert_eq!(g.remote.as_deref(), Some("/run/postgresql/.s.PGSQL.5432"));
    let peer = g.peer.as_ref().unwrap();
    assert_eq!(
        (peer.pids.len(), peer.processes.as_slice()),
        (30, &["postgres".to_string()][..])
    );
}

/// The report of [`collection`], with the clock and host name fixed, judged as
/// a snapshot judges it (default `--leak-after`, no pool) and ranked worst first.
fn report(leaked: u64) -> Report {
    let mut r =
        sockleak::report::aggregate(&collection(leaked), &DEFAULT_GROUP_BY, &Filters::default());
    r.time = "2026-12-02T12:00:00Z".to_string();
    r.host = "golden-host".to_string();
    verdict::attach(&mut r, &VerdictPolicy::default());
    rank::worst_first(&mut r);
    r
}

/// Compare with `tests/golden/NAME`, or write it with SOCKLEAK_BLESS=1.
fn golden(name: &str, actual: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SOCKLEAK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with SOCKLEAK_BLESS=1 cargo test --test it report::golden",
            path.display()
        )
    });
    if expected != actual {
        let (e, a) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual),
        );
        let first = e
            .lines()
            .zip(a.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(e.lines().count().min(a.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n--- expected\n{e}\n--- actual\n{a}\n(SOCKLEAK_BLESS=1 rewrites it after an intended change)",
            path.display(),
            first + 1
        );
    }
}

#[test]
fn table() {
    let r = report(12);
    let t = Renderer::Table(TableOptions {
        top: 20,
        header: true,
        color: false,
        more_hint: TableOptions::TOP_HINT,
        fit: None,
    });
    golden("table.txt", &t.render(&r).unwrap());
    let top2 = Renderer::Table(TableOptions {
        top: 2,
        header: true,
        color: false,
        more_hint: TableOptions::TOP_HINT,
        fit: None,
    });
    golden("table-top2.txt", &top2.render(&r).unwrap());
}

/// The snapshot table fitted to 80, 120 and 200 columns: nothing wider, the
/// verdict and endpoint (with its direction) on every row, cut text marked.
#[test]
fn table_fits_the_terminal() {
    let r = report(12);
    for width in [80, 120, 200] {
        let t = Renderer::Table(TableOptions {
            top: 20,
            header: true,
            color: false,
            more_hint: TableOptions::TOP_HINT,
            fit: Some((width, TcpState::CloseWait)),
        });
        let out = t.render(&r).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        for line in text.lines() {
            let cols = sockleak::render::visible_width(line);
            assert!(cols <= width, "{cols} columns at {width}: {line}");
        }
        let first = text.lines().nth(1).unwrap();
        assert!(first.ends_with(" leak"), "{first}");
        assert!(
            first.contains("outbound  10.0.0.5:8080") || first.contains("→10.0.0.5:8080"),
            "{first}"
        );
        golden(&format!("table-{width}.txt"), &out);
    }
}

#[test]
fn json() {
    let r = report(12);
    golden(
        "report.json",
        &Renderer::Json { top: None }.render(&r).unwrap(),
    );
}

#[test]
fn prometheus() {
    let r = report(12);
    let mut pooled = r.clone();
    pool::attach(
        &mut pooled,
        &PoolSizes::new(vec![
            "20".parse().unwrap(),
            "10.0.0.9:5432=10".parse().unwrap(),
        ]),
    );
    let p = Renderer::Prometheus(PromOptions { max_series: 500 });
    golden("metrics.prom", &p.render(&pooled).unwrap());
    let bounded = Renderer::Prometheus(PromOptions { max_series: 4 });
    golden("metrics-max4.prom", &bounded.render(&r).unwrap());
}

#[test]
fn checks() {
    let r = report(12);
    let l = Levels {
        metric: TcpState::CloseWait,
        warn: Some(Threshold::Count(10)),
        crit: Some(Threshold::Count(20)),
        pools: PoolSizes::default(),
    };
    let v = levels::judge(&r, &l);
    assert_eq!(v.exit_code(), 1);
    let mut out = check::breach_lines(&v, &r);
    out.push_str(&check::nagios(&r, &v, Protos::default()));
    let crit = Levels {
        crit: Some(Threshold::Count(12)),
        ..l.clone()
    };
    out.push_str(&check::nagios(
        &r,
        &levels::judge(&r, &crit),
        Protos::default(),
    ));
    let healthy = Levels {
        warn: Some(Threshold::Count(100)),
        crit: None,
        ..l.clone()
    };
    out.push_str(&check::nagios(
        &r,
        &levels::judge(&r, &healthy),
        Protos::default(),
    ));
    // A share of each group's own pool: the leaking client's pool is 20 (75% is
    // 15), the database pool's 10 (30% is 3).
    let pct = Levels {
        warn: Some(Threshold::Percent(30.0)),
        crit: Some(Threshold::Percent(50.0)),
        pools: PoolSizes::new(vec!["20".parse().unwrap(), ":5432=10".parse().unwrap()]),
        metric: TcpState::Established,
    };
    let v = levels::judge(&r, &pct);
    out.push_str(&check::breach_lines(&v, &r));
    out.push_str(&check::nagios(
        &r,
        &levels::judge(&r, &healthy),
        Protos::default(),
    ));
    // Verdict levels: no pool size needed.
    let verdicts = Levels {
        warn: Some(Threshold::Verdict(Level::Suspect)),
        crit: Some(Threshold::Verdict(Level::Leak)),
        pools: PoolSizes::default(),
        metric: TcpState::CloseWait,
    };
    let v = levels::judge(&r, &verdicts);
    assert_eq!(v.exit_code(), 2, "the leaking client is critical");
    out.push_str(&check::breach_lines(&v, &r));
    out.push_str(&check::nagios(&r, &v, Protos::default()));
    golden("checks.txt", out.as_bytes());
}

#[test]
fn watch_frame_at_80_columns() {
    let pools = PoolSizes::new(vec!["20".parse().unwrap(), ":5432=3".parse().unwrap()]);
    let mut tracker = Tracker::new(Policy {
        metric: TcpState::CloseWait,
        window: Duration::from_secs(60),
        pools: pools.clone(),
        warn_pct: 75.0,
    });
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    let verdicts = VerdictPolicy {
        pools: pools.clone(),
        ..VerdictPolicy::default()
    };
    for (i, leaked) in [6u64, 9, 12, 16].into_iter().enumerate() {
        let mut r = report(leaked);
        let mut rises = tracker.update(&mut r, i as f64 * 2.0);
        verdict::attach(&mut r, &verdicts);
        rank::flagged_first(&mut r, &mut rises);
        for rise in &rises {
            let g = &r.groups[rise.group];
            alerts.push(Alert {
                kind: AlertKind::Pool,
                line: frame::alert_line(&r, g, rise.from, TcpState::CloseWait),
            });
        }
        let opts = FrameOptions {
            sample: i as u64 + 1,
            interval: 2.0,
            pools: &pools.to_string(),
            metric: TcpState::CloseWait,
            top: 20,
            header: true,
            color: false,
            tty: true,
            size: Some((80, 24)),
            recent_alerts: &alerts,
            warnings: WarningStyle::Short,
        };
        out = frame::frame(&r, &opts).unwrap();
    }
    golden("watch-frame-80x24.txt", &out);
    let lines: Vec<&str> = alerts.iter().map(|a| a.line.as_str()).collect();
    golden("watch-alerts.txt", (lines.join("\n") + "\n").as_bytes());
}

/// `--watch` at 80x15 with five alerts (three about fd limits of other
/// processes, two pool alerts) and a warning: the table keeps at least half
/// the screen, the pool alerts come first, the rest is summarised, and no line
/// is wider than the terminal.
#[test]
fn watch_frame_at_80x15_with_five_alerts() {
    let pools = PoolSizes::new(vec!["20".parse().unwrap()]);
    let mut tracker = Tracker::new(Policy {
        metric: TcpState::CloseWait,
        window: Duration::from_secs(60),
        pools: pools.clone(),
        warn_pct: 75.0,
    });
    let verdicts = VerdictPolicy {
        pools: pools.clone(),
        ..VerdictPolicy::default()
    };
    let fd = |pid: u32| Alert {
        kind: AlertKind::FdLimit,
        line: format!(
            "2026-12-02T12:00:00Z sockleak: fd limit: pid {pid} java inbound 10.0.0.2:8443: 950 of 1024 fds open (93%)"
        ),
    };
    let mut alerts = vec![fd(901), fd(902)];
    let mut out = Vec::new();
    for (i, leaked) in [6u64, 9, 16].into_iter().enumerate() {
        let mut r = report(leaked);
        let mut rises = tracker.update(&mut r, i as f64 * 2.0);
        verdict::attach(&mut r, &verdicts);
        rank::flagged_first(&mut r, &mut rises);
        for rise in &rises {
            let g = &r.groups[rise.group];
            alerts.push(Alert {
                kind: AlertKind::Pool,
                line: frame::alert_line(&r, g, rise.from, TcpState::CloseWait),
            });
        }
        if i == 1 {
            alerts.push(fd(903));
        }
        let opts = FrameOptions {
            sample: i as u64 + 1,
            interval: 2.0,
            pools: &pools.to_string(),
            metric: TcpState::CloseWait,
            top: 20,
            header: true,
            color: false,
            tty: true,
            size: Some((80, 15)),
            recent_alerts: &alerts,
            warnings: WarningStyle::Short,
        };
        out = frame::frame(&r, &opts).unwrap();
    }
    assert_eq!(alerts.len(), 5, "two pool alerts and three fd-limit alerts");
    let text = String::from_utf8(out.clone()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines.len() <= 15, "{text}");
    for l in &lines {
        let l = l.trim_start_matches("\x1b[H\x1b[2J");
        assert!(sockleak::render::visible_width(l) <= 80, "{l}");
    }
    let table = lines.iter().take_while(|l| !l.starts_with("host:")).count() + 1;
    assert!(table * 2 >= 15, "the table keeps half the screen: {text}");
    assert!(lines[2].starts_with("4242 "), "row 1 of the table: {text}");
    let alerts_at = lines
        .iter()
        .position(|l| l.starts_with("recent alerts"))
        .unwrap();
    assert!(
        lines[alerts_at + 1].contains("-> "),
        "a pool alert first: {text}"
    );
    golden("watch-frame-80x15.txt", &out);
}

/// `--peek` summaries on the report, as `report::peek` attaches them: the
/// leaking client's 403 bodies (and one summary needing escapes), none on the
/// other groups.
fn peeked(leaked: u64) -> Report {
    use sockleak::model::peek::{PeekCount, Unread, UnreadClass};
    let mut r = report(leaked);
    for g in &mut r.groups {
        g.unread = Some(Vec::new());
        g.peek = Some(PeekCount::default());
    }
    let leak = r
        .groups
        .iter_mut()
        .find(|g| g.pid == Some(4242) && g.close_wait() > 0)
        .unwrap();
    let u = |class, summary: &str, count| Unread {
        class,
        summary: summary.to_string(),
        count,
    };
    // 13 peeked (`--peek-max 13`) of the group's sockets with unread bytes.
    leak.peek = Some(PeekCount {
        peeked: 13,
        with_unread: leaked,
    });
    leak.unread = Some(vec![
        u(
            UnreadClass::Html,
            "<html><head><title>403 Forbidden</title></head><...",
            9,
        ),
        u(UnreadClass::Json, "{\"error\":\"forbidden\"}\\n", 2),
        u(UnreadClass::HttpHead, "HTTP/1.1 403 Forbidden", 1),
        u(
            UnreadClass::Tls,
            "TLS record, application_data (encrypted)",
            1,
        ),
    ]);
    r
}

#[test]
fn peek() {
    let r = peeked(20);
    let t = Renderer::Table(TableOptions {
        top: 20,
        header: true,
        color: false,
        more_hint: TableOptions::TOP_HINT,
        fit: None,
    });
    golden("table-peek.txt", &t.render(&r).unwrap());
    golden(
        "report-peek.json",
        &Renderer::Json { top: None }.render(&r).unwrap(),
    );
    let p = Renderer::Prometheus(PromOptions { max_series: 500 });
    let prom = p.render(&r).unwrap();
    let text = String::from_utf8_lossy(&prom);
    let unread: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sockleak_unread_sockets"))
        .collect();
    golden("metrics-peek.prom", (unread.join("\n") + "\n").as_bytes());
    // Alert and breach lines name the dominant class.
    let mut tracker = Tracker::new(Policy {
        metric: TcpState::CloseWait,
        window: Duration::from_secs(60),
        pools: PoolSizes::new(vec!["20".parse().unwrap()]),
        warn_pct: 75.0,
    });
    let mut lines = Vec::new();
    for (i, leaked) in [6u64, 16].into_iter().enumerate() {
        let mut r = peeked(leaked);
        for rise in tracker.update(&mut r, i as f64 * 2.0) {
            let g = &r.groups[rise.group];
            lines.push(frame::alert_line(&r, g, rise.from, TcpState::CloseWait));
        }
    }
    let l = Levels {
        metric: TcpState::CloseWait,
        warn: Some(Threshold::Count(10)),
        crit: None,
        pools: PoolSizes::default(),
    };
    lines.push(check::breach_lines(&levels::judge(&r, &l), &r));
    golden("peek-lines.txt", lines.join("\n").as_bytes());
}

#[test]
fn ports_near_exhaustion() {
    let mut r = report(12);
    let i = r
        .groups
        .iter()
        .position(|g| g.ports.is_some())
        .expect("an outbound group");
    r.groups[i].ports = Some(sockleak::model::PortUse {
        used: 26_000,
        range: 28_232,
    });
    let t = Renderer::Table(TableOptions {
        top: 20,
        header: true,
        color: false,
        more_hint: TableOptions::TOP_HINT,
        fit: None,
    });
    golden("table-ports.txt", &t.render(&r).unwrap());
    let line = frame::ports_alert_line(&r, &r.groups[i], sockleak::model::watch::Flag::Warn);
    golden("ports-alert.txt", (line + "\n").as_bytes());
}
