//! Socket and owner filters (`--state`, `--pid`, `--process`, `--user`, `--remote`,
//! `--local-port`), parsed once from the command line into typed values.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::model::unix::{Protos, UnixSocket, UnixState};
use crate::model::{Process, Socket, TcpState, normalize_ip};

/// `--remote`: `IP`, `IP:PORT`, `:PORT`, `CIDR`, `CIDR:PORT`... and `[v6]:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFilter {
    /// Network and prefix length; `None` matches any address.
    pub net: Option<(IpAddr, u8)>,
    pub port: Option<u16>,
}

impl RemoteFilter {
    pub fn matches(&self, addr: SocketAddr) -> bool {
        if let Some(port) = self.port
            && addr.port() != port
        {
            return false;
        }
        match self.net {
            None => true,
            Some((net, len)) => in_prefix(addr.ip(), net, len),
        }
    }
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl FromStr for RemoteFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "'{s}': {why} (expected IP, IP:PORT, :PORT, CIDR or [IPv6]:PORT, e.g. 10.0.0.5:5432, 10.0.0.0/8, :443, [::1]:80)"
            )
        };
        let parse_port = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("bad port '{p}'")))
        };
        // `:443` is a port; `::1` and `::ffff:10.0.0.5` are addresses.
        if let Some(port) = s.strip_prefix(':')
            && !port.starts_with(':')
        {
            return Ok(RemoteFilter {
                net: None,
                port: Some(parse_port(port)?),
            });
        }
        // Split off a port: `[v6]:port`, or `v4:port` / `v4/len:port` (one colon).
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match tail {
                "" => (h, None),
                t => (
                    h,
                    Some(parse_port(
                        t.strip_prefix(':')
                            .ok_or_else(|| bad("expected ':' after ']'"))?,
                    )?),
                ),
            }
        } else if s.matches(':').count() == 1 {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            (h, Some(parse_port(p)?))
        } else {
            (s, None)
        };
        let (ip, len) = match host.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (host, None),
        };
        let written: IpAddr = ip
            .parse()
            .map_err(|_| bad(&format!("'{ip}' is not an IP address")))?;
        // The prefix is checked against the family as written: `::ffff:10.0.0.0/104`
        // is an IPv6 prefix, which on a mapped address is IPv4's /8.
        let max = if written.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| bad(&format!("prefix length '/{l}' must be 0 to {max}")))?,
        };
        let ip = normalize_ip(written);
        let len = match (written, ip) {
            (IpAddr::V6(_), IpAddr::V4(_)) if len < 96 => {
                return Err(bad(&format!(
                    "prefix length '/{len}' reaches beyond the IPv4-mapped range (use /96 to /128, or the IPv4 form)"
                )));
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => len - 96,
            _ => len,
        };
        Ok(RemoteFilter {
            net: Some((ip, len)),
            port,
        })
    }
}

/// `--state` value: a list of states, or every state.
pub fn parse_states(s: &str) -> Result<Vec<TcpState>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("all") {
            out.extend(TcpState::ALL);
        } else {
            out.push(
                part.parse::<TcpState>()
                    .map_err(|e| format!("{e}, or all"))?,
            );
        }
    }
    if out.is_empty() {
        return Err(format!("'{s}': no state given"));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// All filters of one view. Empty lists mean "no restriction".
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// `None`: every state but LISTEN (unless `show_listen`).
    pub states: Option<Vec<TcpState>>,
    pub show_listen: bool,
    pub pids: Vec<u32>,
    pub processes: Vec<String>,
    pub uids: Vec<u32>,
    pub remotes: Vec<RemoteFilter>,
    pub local_ports: Vec<u16>,
    /// `--idle-over`: only sockets idle (no data either way) at least this many
    /// milliseconds. A socket without an idle age never matches.
    pub idle_over_ms: Option<u64>,
    /// `--proto`: which protocols are shown in groups.
    pub protos: Protos,
}

impl Filters {
    /// Whether the view is restricted to particular owners; ownerless sockets then
    /// cannot match.
    pub fn has_owner_filter(&self) -> bool {
        !self.pids.is_empty() || !self.processes.is_empty() || !self.uids.is_empty()
    }

    pub fn socket_matches(&self, s: &Socket) -> bool {
        let state_ok = match &self.states {
            Some(states) => states.contains(&s.state),
            None => s.state != TcpState::Listen || self.show_listen,
        };
        state_ok
            && (self.remotes.is_empty() || self.remotes.iter().any(|r| r.matches(s.remote)))
            && (self.local_ports.is_empty() || self.local_ports.contains(&s.local.port()))
            && self
                .idle_over_ms
                .is_none_or(|min| s.idle_ms.is_some_and(|i| u64::from(i) >= min))
    }

    /// Whether a reset-but-held socket (state CLOSE, endpoints and idle age
    /// unknown) passes the socket filters: only when none asks about what it lacks.
    pub fn closed_matches(&self) -> bool {
        let state_ok = match &self.states {
            Some(states) => states.contains(&TcpState::Close),
            None => true,
        };
        state_ok
            && self.remotes.is_empty()
            && self.local_ports.is_empty()
            && self.idle_over_ms.is_none()
    }

    /// Whether a unix socket passes the socket filters: its state, and no filter
    /// asking what a unix socket has not (a remote address, a port, an idle age).
    pub fn unix_matches(&self, s: &UnixSocket) -> bool {
        let state_ok = match &self.states {
            Some(states) => states.contains(&s.state.counted_as()),
            None => s.state != UnixState::Listening || self.show_listen,
        };
        self.protos.unix
            && state_ok
            && self.remotes.is_empty()
            && self.local_ports.is_empty()
            && self.idle_over_ms.is_none()
    }

    pub fn owner_matches(&self, p: &Process) -> bool {
        (self.pids.is_empty() || self.pids.contains(&p.pid))
            && (self.processes.is_empty()
                || self.processes.contains(&p.comm)
                || p.full_names.iter().any(|n| self.processes.contains(n)))
            && (self.uids.is_empty() || p.uid.is_some_and(|u| self.uids.contains(&u)))
    }
}

/// The names among `names` near `wanted`, closest first, at most three: one
/// that starts with it or that it starts with (`python` and `python3`), one
/// containing it, or one a typo or two away.
pub fn near_names(wanted: &str, names: &[&str]) -> Vec<String> {
    let w = wanted.to_lowercase();
    let typos = (w.chars().count() / 4).max(1);
    let mut near: Vec<(usize, &str)> = names
        .iter()
        .filter(|n| !n.is_empty() && **n != wanted)
        .filter_map(|n| {
            let l = n.to_lowercase();
            let d = edit_distance(&w, &l);
            let related = l.starts_with(&w) || w.starts_with(&l) || l.contains(&w);
            (related || d <= typos).then_some((d, *n))
        })
        .collect();
    near.sort();
    near.dedup_by(|a, b| a.1 == b.1);
    near.into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Edit distance in characters, a swap of two neighbours counting as one typo
/// (optimal string alignment: `ngnix` is one from `nginx`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_suggest_what_was_meant() {
        let names = [
            "python3",
            "postgres",
            "pythonista",
            "sshd",
            "nginx",
            "ngnix",
        ];
        assert_eq!(near_names("python", &names), ["python3", "pythonista"]);
        assert_eq!(near_names("nginx", &names), ["ngnix"]);
        assert_eq!(near_names("postgress", &names), ["postgres"]);
        assert!(near_names("zzz", &names).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("nginx", "ngnix"), 1);
    }

    fn rf(s: &str) -> RemoteFilter {
        s.parse().unwrap()
    }

    #[test]
    fn remote_filter_forms() {
        let a: SocketAddr = "10.1.2.3:5432".parse().unwrap();
        assert!(rf("10.1.2.3").matches(a));
        assert!(rf("10.1.2.3:5432").matches(a));
        assert!(!rf("10.1.2.3:5433").matches(a));
        assert!(rf(":5432").matches(a));
        assert!(rf("10.0.0.0/8").matches(a));
        assert!(rf("10.0.0.0/8:5432").matches(a));
        assert!(!rf("11.0.0.0/8").matches(a));
        assert!(rf("0.0.0.0/0").matches(a));
        assert!(rf("::ffff:10.1.2.3").matches(a), "mapped form normalises");
        // A mapped prefix is IPv6-sized: /104 on ::ffff:10.0.0.0 is IPv4's /8.
        assert!(rf("::ffff:10.0.0.0/104").matches(a));
        assert!(!rf("::ffff:11.0.0.0/104").matches(a));
        assert_eq!(rf("::ffff:10.0.0.0/104"), rf("10.0.0.0/8"));
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert!(rf("[2001:db8::1]:443").matches(v6));
        assert!(rf("2001:db8::/32").matches(v6));
        assert!(rf("[2001:db8::1]").matches(v6));
        assert!(!rf("10.0.0.0/8").matches(v6));
    }

    #[test]
    fn remote_filter_errors_name_the_value() {
        for bad in [
            "999.1.1.1",
            "10.0.0.0/40",
            "::1/129",
            "host:80",
            ":0",
            ":x",
            "[::1",
            "[::1]x",
            "1.2.3.4:99999",
        ] {
            let e = bad.parse::<RemoteFilter>().unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn idle_over_keeps_only_sockets_idle_that_long() {
        let mut s = Socket {
            state: TcpState::Established,
            local: "127.0.0.1:40000".parse().unwrap(),
            remote: "127.0.0.1:5432".parse().unwrap(),
            inode: 1,
            uid: 0,
            recv_q: 0,
            send_q: 0,
            idle_ms: Some(4_999),
            netns: 1,
            cookie: 0,
            bound_if: 0,
        };
        let f = Filters {
            idle_over_ms: Some(5_000),
            ..Filters::default()
        };
        assert!(!f.socket_matches(&s));
        s.idle_ms = Some(5_000);
        assert!(f.socket_matches(&s));
        s.idle_ms = None;
        assert!(!f.socket_matches(&s), "no idle age: not known to be idle");
        assert!(!f.closed_matches());
        assert!(Filters::default().closed_matches());
        let established = Filters {
            states: Some(vec![TcpState::Established]),
            ..Filters::default()
        };
        assert!(!established.closed_matches());
    }

    #[test]
    fn state_spellings() {
        for s in [
            "close-wait",
            "close_wait",
            "CLOSE_WAIT",
            "closewait",
            "Close-Wait",
        ] {
            assert_eq!(parse_states(s).unwrap(), vec![TcpState::CloseWait], "{s}");
        }
        assert_eq!(parse_states("all").unwrap().len(), 11);
        assert_eq!(
            parse_states("established,time-wait").unwrap(),
            vec![TcpState::Established, TcpState::TimeWait]
        );
        assert!(parse_states("nonsense").unwrap_err().contains("close-wait"));
    }
}
