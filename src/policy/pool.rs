//! Which pool a group is judged against: `--pool-size N` for every outbound group
//! with an owner, `--pool-size ENDPOINT=N` (repeatable) for the groups whose remote
//! end matches, the most specific rule winning. Inbound groups have a pool only when
//! a rule names their local service (a server's connection limit); unowned and
//! unattributed sockets are in no pool. Unix groups (`--proto unix|all`) are
//! judged the same way, by `--pool-size PATH=N` or `@NAME=N` (the server-side
//! name, exactly), which is more specific than any TCP rule and matches no TCP
//! group; the bare `N` covers unix client groups too. Pure.

use std::fmt;
use std::str::FromStr;

use crate::filter::RemoteFilter;
use crate::model::Direction;
use crate::model::report::{Attribution, Group, RemoteKey, Report};
use crate::model::unix::{Proto, UnixEndpoint, UnixName};

/// One `--pool-size` value: a size for every group, or for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRule {
    /// `None`: the bare `--pool-size N` (or a unix rule, `path`).
    pub endpoint: Option<RemoteFilter>,
    /// A unix server-side name (`/run/app.sock=N`, `@name=N`): matches unix
    /// groups of exactly that name.
    pub path: Option<UnixName>,
    /// As the user wrote it, for messages (`10.0.0.5:5432`).
    pub text: String,
    pub size: u64,
}

impl PoolRule {
    /// How specific the rule is: a port over none, then a longer prefix; the bare
    /// default least. `IP:PORT > CIDR:PORT > :PORT > IP > CIDR > default`.
    fn specificity(&self) -> (u8, u8, u8) {
        if self.path.is_some() {
            // An exact name: nothing is more specific (and no TCP rule competes).
            return (2, 0, 0);
        }
        match &self.endpoint {
            None => (0, 0, 0),
            Some(f) => (
                1,
                u8::from(f.port.is_some()),
                f.net.map_or(0, |(_, len)| len),
            ),
        }
    }
}

impl FromStr for PoolRule {
    type Err = String;

    /// `N`, or `ENDPOINT=N` with ENDPOINT in `--remote` syntax.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad_size = |n: &str| {
            format!(
                "'{s}': '{n}' is not a pool size (expected N or ENDPOINT=N with N of 1 or more, e.g. 20 or 10.0.0.5:5432=10)"
            )
        };
        // A unix name: an absolute path or `@abstract`; the size follows the
        // last `=` (a path may hold one).
        if let Some((name, n)) = s.rsplit_once('=')
            && (name.starts_with('/') || name.starts_with('@'))
        {
            let size = n.trim().parse::<u64>().ok().filter(|n| *n > 0);
            let path = UnixName::from_text(name);
            return Ok(PoolRule {
                endpoint: None,
                path: Some(path),
                text: name.to_string(),
                size: size.ok_or_else(|| bad_size(n))?,
            });
        }
        let (endpoint, n) = match s.rsplit_once('=') {
            None => (None, s),
            Some((ep, n)) => {
                let f: RemoteFilter = ep.parse().map_err(|e| format!("'{s}': the endpoint {e}"))?;
                (Some(f), n)
            }
        };
        let size = n
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad_size(n))?;
        let text = endpoint.as_ref().map_or_else(String::new, |_| {
            s.rsplit_once('=').map_or("", |(e, _)| e).to_string()
        });
        Ok(PoolRule {
            endpoint,
            path: None,
            text,
            size,
        })
    }
}

/// Every `--pool-size` given, most specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSizes {
    rules: Vec<PoolRule>,
}

impl PoolSizes {
    pub fn new(mut rules: Vec<PoolRule>) -> PoolSizes {
        // Stable: of two equally specific rules, the one given first wins.
        rules.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        PoolSizes { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The bare `--pool-size N`, if given.
    pub fn default_size(&self) -> Option<u64> {
        self.rules
            .iter()
            .find(|r| r.endpoint.is_none() && r.path.is_none())
            .map(|r| r.size)
    }

    /// The size when the bare `--pool-size N` is the only rule.
    pub fn only_default(&self) -> Option<u64> {
        match self.rules.as_slice() {
            [only] if only.endpoint.is_none() && only.path.is_none() => Some(only.size),
            _ => None,
        }
    }

    /// The pool `g` is judged against, if it is in one.
    pub fn for_group(&self, g: &Group) -> Option<u64> {
        if matches!(
            g.key.attribution,
            Some(Attribution::Unowned | Attribution::Unattributed)
        ) {
            return None;
        }
        if g.key.proto == Proto::Unix {
            return self.for_unix(g);
        }
        match g.key.direction {
            Some(Direction::Listen) => None,
            // A server's accepted connections: only a rule naming its service.
            Some(Direction::Inbound) => {
                let local = g.key.local?;
                self.rules
                    .iter()
                    .find(|r| r.endpoint.as_ref().is_some_and(|f| f.matches(local)))
                    .map(|r| r.size)
            }
            Some(Direction::Outbound) | None => self
                .rules
                .iter()
                .filter(|r| r.path.is_none())
                .find(|r| match (&r.endpoint, g.key.remote) {
                    (None, _) => true,
                    (Some(f), Some(RemoteKey::Endpoint(a))) => f.matches(a),
                    // A host without its port matches only rules without one.
                    (Some(f), Some(RemoteKey::Host(ip))) => {
                        f.port.is_none() && f.matches((ip, 0).into())
                    }
                    (Some(_), None) => false,
                })
                .map(|r| r.size),
        }
    }
}

impl PoolSizes {
    /// A unix group's pool: a rule naming its server-side name; for a client
    /// group (outbound) the bare default too. A server's accepted sockets only
    /// by name, as for TCP.
    fn for_unix(&self, g: &Group) -> Option<u64> {
        let named = |r: &&PoolRule| match (&r.path, &g.key.unix) {
            (Some(p), Some(UnixEndpoint::Name(n))) => p == n,
            _ => false,
        };
        match g.key.direction {
            Some(Direction::Listen) => None,
            Some(Direction::Inbound) => self.rules.iter().find(named).map(|r| r.size),
            Some(Direction::Outbound) => self
                .rules
                .iter()
                .find(|r| named(r) || (r.path.is_none() && r.endpoint.is_none()))
                .map(|r| r.size),
            // Socketpairs, closed peers: no pool is theirs.
            None => None,
        }
    }
}

/// `pool 20` or `pools 10.0.0.5:5432=10, :6379=8, default 20`: for titles.
impl fmt::Display for PoolSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rules.as_slice() {
            [] => Ok(()),
            [only] if only.endpoint.is_none() && only.path.is_none() => {
                write!(f, "pool {}", only.size)
            }
            rules => {
                let parts: Vec<String> = rules
                    .iter()
                    .map(|r| match (&r.endpoint, &r.path) {
                        (None, None) => format!("default {}", r.size),
                        _ => format!("{}={}", r.text, r.size),
                    })
                    .collect();
                write!(f, "pools {}", parts.join(", "))
            }
        }
    }
}

/// Attach each group's pool ([`PoolSizes::for_group`]) to the report, for the
/// renderers (`sockleak_pool_size`), which read the model only.
pub fn attach(report: &mut Report, pools: &PoolSizes) {
    for g in &mut report.groups {
        g.pool_size = pools.for_group(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::GroupKey;
    use crate::model::unix::{Proto, UnixEndpoint, UnixName};

    fn outbound(remote: &str) -> Group {
        let mut g = Group::empty(GroupKey {
            attribution: Some(Attribution::Process),
            pid: Some(1),
            direction: Some(Direction::Outbound),
            remote: Some(RemoteKey::Endpoint(remote.parse().unwrap())),
            ..Default::default()
        });
        g.pid = Some(1);
        g
    }

    fn pools(rules: &[&str]) -> PoolSizes {
        PoolSizes::new(rules.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let p = pools(&[
            "100",
            "10.0.0.0/8=50",
            "10.0.0.0/24=40",
            "10.0.0.5=30",
            ":5432=20",
            "10.0.0.0/8:5432=15",
            "10.0.0.5:5432=10",
        ]);
        // (remote, expected pool)
        for (remote, want) in [
            ("10.0.0.5:5432", 10),    // exact IP:PORT
            ("10.0.0.6:5432", 15),    // CIDR:PORT over :PORT
            ("192.168.1.1:5432", 20), // :PORT over the default
            ("10.0.0.5:80", 30),      // IP over CIDR
            ("10.0.0.9:80", 40),      // the longer prefix
            ("10.9.9.9:80", 50),      // the shorter prefix over the default
            ("192.168.1.1:80", 100),  // the default
        ] {
            assert_eq!(p.for_group(&outbound(remote)), Some(want), "{remote}");
        }
        // Order on the command line does not matter.
        let reversed = pools(&["10.0.0.5:5432=10", ":5432=20", "100"]);
        assert_eq!(reversed.for_group(&outbound("10.0.0.5:5432")), Some(10));
        assert_eq!(reversed.for_group(&outbound("1.2.3.4:5432")), Some(20));
        assert_eq!(reversed.default_size(), Some(100));
        assert_eq!(
            pools(&[":5432=20"]).for_group(&outbound("1.2.3.4:80")),
            None
        );
    }

    #[test]
    fn only_owned_outbound_groups_and_named_services_have_pools() {
        let p = pools(&["20", ":8080=500"]);
        let mut unowned = outbound("10.0.0.5:5432");
        unowned.key.attribution = Some(Attribution::Unowned);
        assert_eq!(p.for_group(&unowned), None);
        unowned.key.attribution = Some(Attribution::Unattributed);
        assert_eq!(p.for_group(&unowned), None);
        let inbound = |local: &str| {
            Group::empty(GroupKey {
                attribution: Some(Attribution::Process),
                direction: Some(Direction::Inbound),
                local: Some(local.parse().unwrap()),
                ..Default::default()
            })
        };
        assert_eq!(
            p.for_group(&inbound("10.0.0.2:80")),
            None,
            "no default for servers"
        );
        assert_eq!(p.for_group(&inbound("10.0.0.2:8080")), Some(500));
    }

    #[test]
    fn unix_paths_have_their_own_rules() {
        let unix = |dir: Direction, name: UnixName| {
            Group::empty(GroupKey {
                attribution: Some(Attribution::Process),
                pid: Some(1),
                direction: Some(dir),
                proto: Proto::Unix,
                unix: Some(UnixEndpoint::Name(name)),
                ..Default::default()
            })
        };
        let pg = UnixName::from_text("/run/postgresql/.s.PGSQL.5432");
        let p = pools(&[
            "100",
            ":5432=7",
            "/run/postgresql/.s.PGSQL.5432=20",
            "@bus=3",
        ]);
        assert_eq!(
            p.for_group(&unix(Direction::Outbound, pg.clone())),
            Some(20)
        );
        assert_eq!(p.for_group(&unix(Direction::Inbound, pg.clone())), Some(20));
        let other = UnixName::from_text("/run/docker.sock");
        assert_eq!(
            p.for_group(&unix(Direction::Outbound, other.clone())),
            Some(100)
        );
        assert_eq!(p.for_group(&unix(Direction::Inbound, other)), None);
        let bus = UnixName::from_text("@bus");
        assert_eq!(p.for_group(&unix(Direction::Outbound, bus)), Some(3));
        assert_eq!(p.for_group(&unix(Direction::Listen, pg)), None);
        // A path rule never sizes a TCP group, nor is it the default.
        assert_eq!(p.for_group(&outbound("10.0.0.5:5432")), Some(7));
        assert_eq!(
            pools(&["/a.sock=5"]).for_group(&outbound("10.0.0.5:80")),
            None
        );
        assert_eq!(pools(&["/a.sock=5"]).default_size(), None);
        assert_eq!(pools(&["/a=b.sock=5"]).to_string(), "pools /a=b.sock=5");
        assert!("/a.sock=0".parse::<PoolRule>().is_err());
    }

    #[test]
    fn rules_parse_and_refuse() {
        let r: PoolRule = "[::1]:5432=7".parse().unwrap();
        assert_eq!((r.text.as_str(), r.size), ("[::1]:5432", 7));
        assert!(r.endpoint.is_some());
        assert_eq!("20".parse::<PoolRule>().unwrap().endpoint, None);
        for bad in ["0", "x", "10.0.0.5:5432=0", "10.0.0.5:5432=", "nothost=5"] {
            assert!(bad.parse::<PoolRule>().unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(pools(&["20"]).to_string(), "pool 20");
        assert_eq!(
            pools(&["20", ":5432=10"]).to_string(),
            "pools :5432=10, default 20"
        );
    }
}
