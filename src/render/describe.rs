//! A group named in one line, for breach lines, Nagios status lines and `--watch`
//! alerts.

use crate::model::escape;
use crate::model::report::{Group, GroupField, Report};

/// "pid 10725 billing-api outbound 127.0.0.1:42063", from whatever the key holds;
/// the namespace and container only where they say something: when they are
/// grouping keys, or (namespace) when it is not sockleak's own. Every name is
/// escaped ([`escape::name`]; the endpoint by [`Group::endpoint_label`]): this is
/// a terminal line.
pub fn describe(g: &Group, r: &Report) -> String {
    let key = |f: GroupField| r.group_by.contains(&f);
    let mut parts = Vec::new();
    if let Some(pid) = g.pid {
        parts.push(format!("pid {pid}"));
    }
    if g.process.is_some() || g.attribution.is_some() {
        parts.push(g.process_text());
    }
    if g.pid.is_none()
        && let Some(u) = &g.user
    {
        parts.push(format!("user {}", escape::name(u.as_bytes())));
    }
    if let Some(d) = g.direction {
        parts.push(d.as_str().to_string());
    }
    let ep = g.endpoint_label();
    if ep != "*" {
        parts.push(ep);
    }
    if let Some(st) = g.state {
        parts.push(format!("state {}", st.snake()));
    }
    match &g.container {
        Some(c) => parts.push(format!("container {}", escape::name(c.short().as_bytes()))),
        None if key(GroupField::Container) => parts.push("no container".to_string()),
        None => {}
    }
    if let Some(ns) = g
        .netns
        .filter(|ns| *ns != r.host_netns || key(GroupField::Netns))
    {
        parts.push(format!("netns {ns}"));
    }
    parts.join(" ")
}

/// `; unread: 9× html "<html>..."`: the group's most frequent `--peek` summary,
/// for alert and breach lines (empty without `--peek` or when nothing was
/// peeked). Summaries are escaped already.
pub fn unread_note(g: &Group) -> String {
    match g.unread.as_deref().and_then(<[_]>::first) {
        Some(u) => format!("; unread: {u}"),
        None => String::new(),
    }
}

/// `; last: 10× GET /forbidden → 403 Forbidden`: the group's dominant recorded
/// exchange (`sockleak trace`), for alert lines; empty without one.
pub fn exchange_note(g: &Group) -> String {
    match g.exchanges.as_deref().and_then(<[_]>::first) {
        Some(x) => format!("; last: {x}"),
        None => String::new(),
    }
}
