//! The flight recorder on a report: given its records (read by the sampler with
//! [`crate::collect::trace::read`], already parsed into exchanges by socket cookie), give each group the count of
//! its sockets' last exchanges, most frequent first, and how many of its sockets have
//! no record. A socket lands in exactly the groups it was counted in (the
//! aggregation's own keys, `grouping::Grouper::key`). The counts are never touched.

use std::collections::BTreeMap;

use crate::collect::Collection;
use crate::collect::trace::Read;
use crate::filter::Filters;
use crate::model::report::{GroupField, Report};
use crate::model::trace::{Exchange, SocketExchange};
use crate::model::warning::Warning;
use crate::model::{Socket, TcpState};

use super::for_each_grouped;

/// Whether the recorder could know the socket: it has a cookie (netlink) and is a
/// connection (a listener carries no exchange; TIME_WAIT and request sockets have no
/// holder to blame).
fn recordable(s: &Socket) -> bool {
    s.cookie != 0
        && !matches!(
            s.state,
            TcpState::Listen | TcpState::TimeWait | TcpState::SynRecv
        )
}

/// Join the records to the report's groups; nothing at all without a recorder.
pub fn attach(r: &mut Report, c: &Collection, by: &[GroupField], filters: &Filters, read: Read) {
    let records = match read {
        Read::Absent => return,
        Read::Unreadable(why) => {
            r.warnings.push(Warning::TraceUnreadable { why });
            return;
        }
        Read::Records(records) => records,
    };
    let mut tallies: Vec<BTreeMap<&SocketExchange, u64>> = vec![BTreeMap::new(); r.groups.len()];
    let mut unrecorded = vec![0u64; r.groups.len()];
    for_each_grouped(r, c, by, filters, recordable, |s, groups, _| {
        let found = records.get(&s.cookie);
        for g in groups {
            match found {
                Some(x) => *tallies[g].entry(x).or_default() += 1,
                None => unrecorded[g] += 1,
            }
        }
    });
    for ((g, tally), missing) in r.groups.iter_mut().zip(tallies).zip(unrecorded) {
        g.exchanges = Some(ranked(tally));
        g.exchanges_unrecorded = Some(missing);
    }
}

/// Most frequent first; equal counts in exchange order (stable output).
fn ranked(tally: BTreeMap<&SocketExchange, u64>) -> Vec<Exchange> {
    let mut v: Vec<Exchange> = tally
        .into_iter()
        .map(|(x, count)| Exchange {
            request: x.request.clone(),
            response: x.response.clone(),
            count,
            protocol: x.protocol,
            method: x.method.clone(),
            status: x.status.clone(),
        })
        .collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.count));
    v
}
