//! `sockleak trace start | status | stop`: arm, inspect and remove the pinned flight
//! recorder (`collect::trace`). Each action is one run; none calls another.

use std::io::Write;
use std::time::SystemTime;

use anyhow::Result;
use serde::Serialize;

use crate::collect::trace::{self, Status};
use crate::config::cli::TraceAction;
use crate::exit;

pub fn run(action: TraceAction) -> Result<i32> {
    match action {
        TraceAction::Start { max_sockets } => start(max_sockets),
        TraceAction::Status { json } => status(json),
        TraceAction::Stop => stop(),
    }
}

/// Kernel memory of a map of `entries` records, as measured (bench/NOTES.md: 384
/// bytes a socket, the record, its key, the LRU hash element and its bucket).
fn map_mib(entries: u32) -> f64 {
    f64::from(entries) * 384.0 / (1024.0 * 1024.0)
}

fn start(entries: u32) -> Result<i32> {
    let cgroup = trace::preflight()?;
    let dir = trace::pin_dir();
    if let Some(s) = trace::status(&dir)? {
        println!(
            "sockleak: the recorder is already armed since {} ({}); `sockleak trace stop` removes it",
            since(&s),
            s.dir.display()
        );
        return Ok(exit::OK);
    }
    // Leftovers of an interrupted start or stop: a partial recorder is never kept.
    trace::remove_pins(&dir)?;
    trace::arm(&cgroup, entries)?.pin(&dir)?;
    println!(
        "sockleak: recorder armed on {} (egress and ingress), at most {entries} sockets (~{:.1} MiB of kernel memory), pinned in {}; `sockleak trace stop` removes it",
        cgroup.display(),
        map_mib(entries),
        dir.display()
    );
    Ok(exit::OK)
}

/// `trace status --json`: one object.
#[derive(Serialize)]
struct StatusJson {
    armed: bool,
    /// RFC 3339, when the recorder was pinned.
    since: Option<String>,
    recorded: Option<u64>,
    capacity: Option<u32>,
    fill: Option<f64>,
    pin_dir: String,
}

fn status(json: bool) -> Result<i32> {
    // Privileges first: an unprivileged run cannot even see the pins (bpffs is
    // root-only), and "no recorder" would be a guess.
    trace::preflight()?;
    let dir = trace::pin_dir();
    let s = trace::status(&dir)?;
    let mut out = std::io::stdout().lock();
    if json {
        let doc = StatusJson {
            armed: s.is_some(),
            since: s.as_ref().and_then(|s| s.since).map(rfc3339),
            recorded: s.as_ref().map(|s| s.recorded),
            capacity: s.as_ref().map(|s| s.capacity),
            fill: s.as_ref().map(fill),
            pin_dir: dir.display().to_string(),
        };
        writeln!(out, "{}", serde_json::to_string(&doc)?)?;
    } else {
        match &s {
            Some(s) => writeln!(
                out,
                "sockleak: recorder armed since {}: {} sockets recorded of {} ({:.0} % full), pinned in {}",
                since(s),
                s.recorded,
                s.capacity,
                fill(s) * 100.0,
                s.dir.display()
            )?,
            None => writeln!(
                out,
                "sockleak: no recorder armed (`sudo sockleak trace start` arms one)"
            )?,
        }
    }
    Ok(exit::OK)
}

fn stop() -> Result<i32> {
    trace::preflight()?;
    let dir = trace::pin_dir();
    if trace::remove_pins(&dir)? {
        println!(
            "sockleak: recorder stopped: detached and unpinned ({})",
            dir.display()
        );
    } else {
        println!("sockleak: no recorder was armed");
    }
    Ok(exit::OK)
}

fn fill(s: &Status) -> f64 {
    if s.capacity == 0 {
        0.0
    } else {
        s.recorded as f64 / f64::from(s.capacity)
    }
}

fn since(s: &Status) -> String {
    s.since
        .map_or_else(|| "an unknown time".to_string(), rfc3339)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
