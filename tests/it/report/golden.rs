//! Golden output of every renderer, from a report built in memory (no sockets, no
//! root, no /proc): the table, JSON, Prometheus, the check lines, the Nagios line,
//! and a `--watch` frame fitted to an 80x24 terminal with its alert line. A layout
//! change shows up as a readable diff against `tests/golden/*`.
//!
//! After an intended change: `SOCKLEAK_BLESS=1 cargo test --test it report::golden`,
//! then read the diff of `tests/golden/` before committing it.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::report::{leaking_host, report_of, unix_host};
use sockleak::filter::Filters;
use sockleak::model::report::Report;
use sockleak::model::unix::Protos;
use sockleak::model::verdict::Level;
use sockleak::model::watch::{Alert, AlertKind};
use sockleak::model::{Percent, TcpState};
use sockleak::policy::levels::{self, Levels, Threshold};
use sockleak::policy::pool::{self, PoolSizes};
use sockleak::policy::rank;
use sockleak::policy::tracker::{Policy, Tracker};
use sockleak::policy::verdict::{self, VerdictPolicy};
use sockleak::render::frame::{self, FrameOptions};
use sockleak::render::prometheus::PromOptions;
use sockleak::render::table::TableOptions;
use sockleak::render::{Renderer, WarningStyle, check};

/// The report of [`unix_host`] under `--proto all` (or `unix`).
fn unix_report(tcp: bool) -> Report {
    let filters = Filters {
        protos: Protos { tcp, unix: true },
        ..Filters::default()
    };
    report_of(&unix_host(), &filters)
}

#[test]
fn unix_groups() {
    let r = unix_report(false);
    golden("unix-table.txt", &renderer(20, None).render(&r).unwrap());
    // At 80 columns too: the verdict and the path survive.
    let narrow = renderer(5, Some((80, TcpState::Established)));
    let text = String::from_utf8(narrow.render(&unix_report(true)).unwrap()).unwrap();
    for line in text.lines() {
        assert!(sockleak::render::visible_width(line) <= 80, "{line}");
    }
    golden("unix-all-table-80.txt", text.as_bytes());
    golden(
        "unix-all-table.txt",
        &renderer(20, None).render(&unix_report(true)).unwrap(),
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

/// The report of [`leaking_host`], judged as a snapshot judges it.
/// The table renderer golden tests use: `top` rows, a header, no colour,
/// fitted to `fit` columns (ranked by `metric`) or not fitted.
fn renderer(top: usize, fit: Option<(usize, TcpState)>) -> Renderer {
    Renderer::Table(TableOptions {
        top,
        header: true,
        color: false,
        more_hint: TableOptions::TOP_HINT,
        fit,
    })
}

fn report(leaked: u64) -> Report {
    report_of(&leaking_host(leaked), &Filters::default())
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
    let t = renderer(20, None);
    golden("table.txt", &t.render(&r).unwrap());
    let top2 = renderer(2, None);
    golden("table-top2.txt", &top2.render(&r).unwrap());
}

/// The snapshot table fitted to 80, 120 and 200 columns: nothing wider, the
/// verdict and endpoint (with its direction) on every row, cut text marked.
#[test]
fn table_fits_the_terminal() {
    let r = report(12);
    for width in [80, 120, 200] {
        let t = renderer(20, Some((width, TcpState::CloseWait)));
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

/// Narrow, a table whose rows are in other namespaces gives up NETNS before
/// PID: the pid tells two processes apart anywhere, and is what is killed.
#[test]
fn narrow_tables_keep_pid_before_netns() {
    let mut r = report(12);
    for g in &mut r.groups {
        g.netns = Some(4026532999);
    }
    let table = |width: usize| {
        let t = renderer(20, Some((width, TcpState::CloseWait)));
        String::from_utf8(t.render(&r).unwrap()).unwrap()
    };
    let header = |text: &str| text.lines().next().unwrap().to_string();
    assert!(header(&table(200)).contains("NETNS"), "{}", table(200));
    let narrow = (40..=120)
        .rev()
        .map(|w| (w, table(w)))
        .find(|(_, t)| !header(t).contains("NETNS"))
        .expect("NETNS folds away at some width");
    assert!(
        header(&narrow.1).starts_with("PID "),
        "at {} columns NETNS went but PID must stay:\n{}",
        narrow.0,
        narrow.1
    );
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

/// A Nagios OK from a check that could not see everything says so on its
/// status line (a namespace it could not read may hold the leak); churn alone
/// (sockets closed during the scan, in every report here) does not.
#[test]
fn a_blind_nagios_ok_says_what_it_could_not_see() {
    use sockleak::model::warning::{Privilege, Warning};
    let mut r = report(12);
    let l = Levels {
        metric: TcpState::CloseWait,
        warn: Some(Threshold::Count(100)),
        crit: None,
        pools: PoolSizes::default(),
    };
    let ok = check::nagios(&r, &levels::judge(&r, &l), Protos::default());
    assert!(
        ok.starts_with("SOCKLEAK OK - ") && !ok.contains("warning:"),
        "{ok}"
    );
    r.warnings.push(Warning::NsLinksUnreadable {
        count: 44,
        pids: vec![700, 701],
        privilege: Privilege::default(),
    });
    let blind = check::nagios(&r, &levels::judge(&r, &l), Protos::default());
    let text = blind.split(" | ").next().unwrap();
    assert!(
        text.starts_with("SOCKLEAK OK - ")
            && text.contains("; warning: network namespace of pid 700, 701, ... not readable")
            && text.ends_with("run as root"),
        "{blind}"
    );
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
        warn: Some(Threshold::Percent("30%".parse().unwrap())),
        crit: Some(Threshold::Percent("50%".parse().unwrap())),
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

/// A `--watch` of the golden host in memory: the steps `app::watch::sample`
/// takes after collection (tracker, verdicts, rank), every rise an alert.
struct Watched {
    pools: PoolSizes,
    tracker: Tracker,
    verdicts: VerdictPolicy,
}

impl Watched {
    fn new(pools: PoolSizes) -> Watched {
        Watched {
            tracker: Tracker::new(Policy {
                metric: TcpState::CloseWait,
                window: Duration::from_secs(60),
                pools: pools.clone(),
                warn_at: Percent::WARN_DEFAULT,
            }),
            verdicts: VerdictPolicy {
                pools: pools.clone(),
                ..VerdictPolicy::default()
            },
            pools,
        }
    }

    /// Sample `i` (every 2 s) of a host leaking `leaked`: its report, with the
    /// pool alerts of the flags that rose appended to `alerts`.
    fn sample(&mut self, i: usize, leaked: u64, alerts: &mut Vec<Alert>) -> Report {
        let mut r = report(leaked);
        let mut rises = self
            .tracker
            .update(&mut r, Duration::from_secs(i as u64 * 2));
        verdict::attach(&mut r, &self.verdicts);
        rank::flagged_first(&mut r, &mut rises);
        for rise in &rises {
            let g = &r.groups[rise.group];
            alerts.push(Alert {
                kind: AlertKind::Pool,
                line: frame::alert_line(&r, g, rise.from, TcpState::CloseWait),
            });
        }
        r
    }

    /// Sample `i`'s frame on a terminal of `size` (columns, rows).
    fn frame(&self, r: &Report, i: usize, size: (usize, usize), alerts: &[Alert]) -> Vec<u8> {
        let opts = FrameOptions {
            sample: i as u64 + 1,
            interval: Duration::from_secs(2),
            pools: &self.pools.to_string(),
            metric: TcpState::CloseWait,
            top: 20,
            header: true,
            color: false,
            tty: true,
            size: Some(size),
            recent_alerts: alerts,
            warnings: WarningStyle::Short,
        };
        frame::frame(r, &opts).unwrap()
    }
}

#[test]
fn watch_frame_at_80_columns() {
    let mut w = Watched::new(PoolSizes::new(vec![
        "20".parse().unwrap(),
        ":5432=3".parse().unwrap(),
    ]));
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    for (i, leaked) in [6u64, 9, 12, 16].into_iter().enumerate() {
        let r = w.sample(i, leaked, &mut alerts);
        out = w.frame(&r, i, (80, 24), &alerts);
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
    let mut w = Watched::new(PoolSizes::new(vec!["20".parse().unwrap()]));
    let fd = |pid: u32| Alert {
        kind: AlertKind::FdLimit,
        line: format!(
            "2026-12-02T12:00:00Z sockleak: fd limit: pid {pid} java inbound 10.0.0.2:8443: 950 of 1024 fds open (93%)"
        ),
    };
    let mut alerts = vec![fd(901), fd(902)];
    let mut out = Vec::new();
    for (i, leaked) in [6u64, 9, 16].into_iter().enumerate() {
        let r = w.sample(i, leaked, &mut alerts);
        if i == 1 {
            alerts.push(fd(903));
        }
        out = w.frame(&r, i, (80, 15), &alerts);
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
    let t = renderer(20, None);
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
        warn_at: Percent::WARN_DEFAULT,
    });
    let mut lines = Vec::new();
    for (i, leaked) in [6u64, 16].into_iter().enumerate() {
        let mut r = peeked(leaked);
        for rise in tracker.update(&mut r, Duration::from_secs(i as u64 * 2)) {
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
    let t = renderer(20, None);
    golden("table-ports.txt", &t.render(&r).unwrap());
    let line = frame::ports_alert_line(&r, &r.groups[i], sockleak::model::watch::Flag::Warn);
    golden("ports-alert.txt", (line + "\n").as_bytes());
}
