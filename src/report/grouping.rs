//! The one aggregation core every protocol goes through: a socket's holders, kept
//! by the owner filters, give it one group key each ([`key_for`]: the owner half,
//! shared, and the endpoint half its protocol sets, [`Holdable::endpoint_key`]),
//! or one ownerless key; the socket then counts once in each distinct group
//! ([`Grouper::count`]). TCP sockets, reset-but-held ones and unix sockets
//! ([`super::unix`]) are counted with it; `--peek`'s plan and the recorder's join
//! ([`super::for_each_grouped`]) find a socket's groups with the same keys.
//!
//! Generic rather than `dyn`: the TCP loop runs once per socket of a table that can
//! hold 100k, and each protocol's calls inline into its own copy of the loop.

use std::sync::Arc;

use crate::collect::Collection;
use crate::filter::Filters;
use crate::model::report::{Attribution, GroupField, GroupKey};
use crate::model::unix::Proto;
use crate::model::{NetnsId, Process};

use super::FastMap;

/// One socket of some protocol, as the core keys and counts it.
pub(super) trait Holdable {
    /// What a group of this protocol accumulates.
    type Acc: GroupAcc;
    /// The protocol of its groups.
    const PROTO: Proto;
    /// The pids holding it (none for a socket without an inode).
    fn holders(&self) -> impl Iterator<Item = u32>;
    /// Its key when no holder is kept and no owner filter is set; `None`: it is
    /// in no group then.
    fn ownerless(&self) -> Option<Ownerless>;
    /// The namespace of its key built for `owner` (or for no owner).
    fn netns(&self, owner: Option<&Process>) -> NetnsId;
    /// The endpoint half of the key: set `f`, one of the `--by` fields that are
    /// not the owner's (endpoint, remote, remote-host, the ports, state,
    /// direction), in `k`. Fields are set in `--by` order.
    fn endpoint_key(&self, f: GroupField, k: &mut GroupKey);
    /// Count it in one of its groups (once per group, however many holders).
    fn count(&self, acc: &mut Self::Acc);
}

/// A group's accumulator: the pids of its holders, and whatever its protocol
/// counts.
pub(super) trait GroupAcc: Default {
    fn pids(&mut self) -> &mut Vec<u32>;
}

/// How a socket none of whose holders is kept is keyed.
#[derive(Clone, Copy)]
pub(super) struct Ownerless {
    attribution: Attribution,
    /// The uid whose user names an unattributed group, when known.
    uid: Option<u32>,
}

impl Ownerless {
    /// A table socket's: unowned without an inode (TIME_WAIT, request sockets),
    /// unattributed with no holder seen, else its holders' (not read as
    /// processes).
    pub(super) fn of(inode: u64, held: &[(u64, u32)], uid: Option<u32>) -> Ownerless {
        let attribution = if inode == 0 {
            Attribution::Unowned
        } else if held.is_empty() {
            Attribution::Unattributed
        } else {
            Attribution::Process
        };
        Ownerless { attribution, uid }
    }
}

/// Per-process values shared by every key built for that process.
pub(super) struct OwnerInfo<'a> {
    pub(super) proc: &'a Process,
    comm: Arc<str>,
    user: Arc<str>,
}

/// What every socket of every protocol is grouped with: the owners, the `--by`
/// fields, the owner filters, and the keys of the socket at hand.
pub(super) struct Grouper<'a> {
    by: &'a [GroupField],
    filters: &'a Filters,
    owner_filter: bool,
    pub(super) owners: FastMap<u32, OwnerInfo<'a>>,
    /// The users of unattributed sockets' uids.
    uid_users: FastMap<u32, Arc<str>>,
    /// The keys of the socket at hand, each with the holder it was built for
    /// (reused: no allocation per socket).
    pub(super) keys: Vec<(GroupKey, Option<u32>)>,
}

impl<'a> Grouper<'a> {
    pub(super) fn new(c: &'a Collection, by: &'a [GroupField], filters: &'a Filters) -> Self {
        let owners = c
            .processes
            .iter()
            .map(|(pid, p)| {
                let info = OwnerInfo {
                    proc: p,
                    comm: Arc::from(p.comm.as_str()),
                    user: Arc::from(p.user.as_str()),
                };
                (*pid, info)
            })
            .collect();
        let uid_users = c
            .uid_names
            .iter()
            .map(|(uid, name)| (*uid, Arc::from(name.as_str())))
            .collect();
        Grouper {
            by,
            filters,
            owner_filter: filters.has_owner_filter(),
            owners,
            uid_users,
            keys: Vec::new(),
        }
    }

    /// Key `h` and count it in its groups; false when it is in none.
    pub(super) fn add<H: Holdable>(
        &mut self,
        h: &H,
        groups: &mut FastMap<GroupKey, H::Acc>,
    ) -> bool {
        if !self.key(h) {
            return false;
        }
        self.count(h, groups);
        true
    }

    /// Fill [`Grouper::keys`] with the keys of `h`, one per holder that passes the
    /// owner filters (or one ownerless key); false when none is left.
    pub(super) fn key<H: Holdable>(&mut self, h: &H) -> bool {
        self.keys.clear();
        for pid in h.holders() {
            let Some(o) = self.owners.get(&pid) else {
                continue;
            };
            if self.owner_filter && !self.filters.owner_matches(o.proc) {
                continue;
            }
            let key = key_for(h, self.by, Attribution::Process, Some(o), None);
            self.keys.push((key, Some(pid)));
        }
        if !self.keys.is_empty() {
            return true;
        }
        let ownerless = match h.ownerless() {
            Some(o) if !self.owner_filter => o,
            _ => return false,
        };
        let uid_user = match ownerless.attribution {
            Attribution::Unattributed => ownerless.uid.and_then(|u| self.uid_users.get(&u)),
            _ => None,
        };
        let key = key_for(h, self.by, ownerless.attribution, None, uid_user);
        self.keys.push((key, None));
        true
    }

    /// Count `h` in the group of each distinct key of [`Grouper::keys`], and
    /// each holder's pid in its key's group.
    fn count<H: Holdable>(&mut self, h: &H, groups: &mut FastMap<GroupKey, H::Acc>) {
        if self.keys.len() > 1 {
            self.keys.sort();
        }
        let mut last: Option<&GroupKey> = None;
        for (key, pid) in &self.keys {
            // Look up before inserting: most sockets land in an existing group, and
            // cloning the key (Arc counts) for every socket is measurable at 100k.
            let acc = match groups.get_mut(key) {
                Some(acc) => acc,
                None => groups.entry(key.clone()).or_default(),
            };
            // Sorted and deduplicated later; skipping repeats keeps a 50k-socket
            // group's pid list one entry long instead of 50k.
            let pids = acc.pids();
            if let Some(pid) = pid
                && pids.last() != Some(pid)
            {
                pids.push(*pid);
            }
            // The same socket reaching the same group through two owners counts once.
            if last == Some(key) {
                continue;
            }
            last = Some(key);
            h.count(acc);
        }
    }
}

/// The group key of `h` under the `--by` fields, for one owner (or none): the
/// owner half here, the endpoint half from `h`. An unattributed socket's group
/// carries its uid's user (`uid_user`), so that the reader knows whose sockets
/// they are.
fn key_for<H: Holdable>(
    h: &H,
    by: &[GroupField],
    attribution: Attribution,
    owner: Option<&OwnerInfo>,
    uid_user: Option<&Arc<str>>,
) -> GroupKey {
    let mut k = GroupKey {
        netns: Some(h.netns(owner.map(|o| o.proc))),
        proto: H::PROTO,
        ..Default::default()
    };
    for &f in by {
        match f {
            GroupField::Process | GroupField::Command | GroupField::User => {
                k.attribution = Some(attribution);
                if let Some(o) = owner {
                    match f {
                        GroupField::Process => k.pid = Some(o.proc.pid),
                        GroupField::Command => k.command = Some(o.comm.clone()),
                        _ => k.user = Some(o.user.clone()),
                    }
                } else if attribution == Attribution::Unattributed {
                    k.user = uid_user.cloned();
                }
            }
            GroupField::Container => {
                k.container = owner.and_then(|o| o.proc.container.clone());
            }
            // Always a key (set above): sockets of two namespaces are never one group.
            GroupField::Netns => {}
            GroupField::Endpoint
            | GroupField::Remote
            | GroupField::RemoteHost
            | GroupField::RemotePort
            | GroupField::LocalPort
            | GroupField::State
            | GroupField::Direction => h.endpoint_key(f, &mut k),
        }
    }
    k
}
