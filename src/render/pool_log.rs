//! The pool-log report as a table for a person, or as a JSON document (version 1,
//! `"kind": "sockleak-pool-log"`) for scripts and `sockleak plot`.

use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Value, json};

use crate::model::pool_log::{
    self, Exchange, KIND, Moment, PoolLogReport, RouteReport, Unreleased,
};
use crate::model::printable;
use crate::model::time::civil_from_days;

/// A time on the log's clock as the log wrote it (no zone conversion).
pub fn clock_text(secs: f64, dated: bool) -> String {
    let ms = (secs * 1000.0).round() as i64;
    let (day, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (h, m, s, frac) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    if dated {
        let (y, mo, d) = civil_from_days(day);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{frac:03}")
    } else if day > 0 {
        format!("{h:02}:{m:02}:{s:02}.{frac:03} (+{day}d)")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{frac:03}")
    }
}

/// A duration for a person: `850 ms`, `42.0 s`, `3.5 min`, `2.1 h`.
pub fn duration_text(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

fn exchange_text(e: &Exchange) -> String {
    if e.request == pool_log::NO_HEADERS {
        e.request.clone()
    } else if e.status.is_empty() {
        format!("{} -> (no response logged)", printable(&e.request))
    } else {
        format!("{} -> {}", printable(&e.request), printable(&e.status))
    }
}

fn when(m: &Moment, dated: bool) -> String {
    match m.secs {
        Some(s) => clock_text(s, dated),
        None => format!("line {}", m.line),
    }
}

/// The report as text: a summary line, a table of routes, then each route's story.
pub fn write_table(
    out: &mut dyn Write,
    rep: &PoolLogReport,
    inputs: &[String],
    show: usize,
) -> io::Result<()> {
    writeln!(
        out,
        "sockleak pool-log: {}: {} lines, {} pool lines, {} other HttpClient lines, {} other lines skipped, {} garbled",
        printable(&inputs.join(", ")),
        rep.lines,
        rep.pool_lines,
        rep.other_httpclient_lines,
        rep.unknown_lines,
        rep.garbled_lines
    )?;
    for (line, why) in &rep.garbled_samples {
        writeln!(out, "  garbled line {line}: {why}")?;
    }
    if let (Some(a), Some(b)) = (rep.first_secs, rep.last_secs) {
        writeln!(
            out,
            "log clock: {} to {} ({})",
            clock_text(a, rep.dated),
            clock_text(b, rep.dated),
            duration_text(b - a)
        )?;
    } else {
        writeln!(out, "log clock: no timestamps (no rates or ages)")?;
    }
    writeln!(
        out,
        "verdict: {} - {}",
        rep.verdict.as_str().to_uppercase(),
        printable(&rep.reason)
    )?;
    if rep.routes.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    write_routes_table(out, rep)?;
    for r in &rep.routes {
        writeln!(out)?;
        write_route(out, r, rep.dated, show)?;
    }
    let odd = [
        (
            rep.unattributed_timeouts,
            "pool timeout(s) not attributed to a route",
        ),
        (
            rep.unmatched_releases,
            "release(s) of a lease the log does not have (it starts mid-way)",
        ),
        (
            rep.repeated_leases,
            "lease(s) of an id already out (a release missing from the log)",
        ),
        (
            rep.untracked_leases,
            "lease(s) counted but not tracked (too many open)",
        ),
        (
            rep.dropped_route_lines,
            "line(s) of routes past the route limit dropped",
        ),
    ];
    for (n, what) in odd.iter().filter(|(n, _)| *n > 0) {
        writeln!(out, "note: {n} {what}")?;
    }
    Ok(())
}

fn write_routes_table(out: &mut dyn Write, rep: &PoolLogReport) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    t.set_header([
        "ROUTE",
        "LIMIT",
        "TOTAL",
        "PEAK",
        "PEAK_AT",
        "LEASES",
        "RELEASES",
        "DISCARDS",
        "SHUTDOWNS",
        "UNRELEASED",
        "EXHAUSTED_FROM",
        "VERDICT",
    ]);
    let opt = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
    for r in &rep.routes {
        t.add_row([
            printable(&r.route).into_owned(),
            opt(r.max_per_route),
            opt(r.max_total),
            r.peak_allocated.to_string(),
            when(&r.peak_at, rep.dated),
            r.leases.to_string(),
            r.releases.to_string(),
            r.discards.to_string(),
            r.shutdowns.to_string(),
            r.unreleased.len().to_string(),
            r.first_exhausted
                .map_or("-".to_owned(), |m| when(&m, rep.dated)),
            r.verdict.as_str().to_owned(),
        ]);
    }
    for line in t.to_string().lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_route(out: &mut dyn Write, r: &RouteReport, dated: bool, show: usize) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} - {}",
        printable(&r.route),
        r.verdict.as_str(),
        printable(&r.reason)
    )?;
    let n = r.unreleased.len();
    for e in &r.unreleased_summary {
        writeln!(
            out,
            "  {} of {n} unreleased leases: {}",
            e.count,
            exchange_text(e)
        )?;
    }
    for e in &r.released_summary {
        writeln!(out, "  released: {} {}", e.count, exchange_text(e))?;
    }
    if r.released_other > 0 {
        writeln!(out, "  released: {} other requests", r.released_other)?;
    }
    if let Some(rate) = r.leak_per_minute {
        let eta = match r.exhaustion_in_secs {
            Some(s) if s <= 0.0 => "the limit is reached".to_owned(),
            Some(s) => format!("the limit is reached in {} at this rate", duration_text(s)),
            None => "no limit logged".to_owned(),
        };
        writeln!(
            out,
            "  leak rate: {rate:.2} unreleased leases per minute; {eta}"
        )?;
    }
    if let (Some(first), Some(last)) = (r.first_exhausted, r.last_exhausted) {
        writeln!(
            out,
            "  pool exhausted: {} request(s) found it at its limit with nothing idle, {} to {}",
            r.exhausted_requests,
            when(&first, dated),
            when(&last, dated)
        )?;
    }
    if let Some(t) = r.first_timeout {
        writeln!(
            out,
            "  {} timeout(s) waiting for the pool, the first at {}",
            r.pool_timeouts,
            when(&t, dated)
        )?;
    }
    if n > 0 {
        write_unreleased(out, &r.unreleased, dated, show)?;
    }
    Ok(())
}

fn write_unreleased(
    out: &mut dyn Write,
    un: &[Unreleased],
    dated: bool,
    show: usize,
) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    t.set_header([
        "ID",
        "LEASED_AT",
        "LINE",
        "AGE",
        "REQUEST",
        "STATUS",
        "NOTE",
    ]);
    for u in un.iter().take(show) {
        let note = match (&u.ended_by_shutdown, u.outlived) {
            (Some(m), _) => format!("pool shut down at {}", when(m, dated)),
            (None, true) => "outlived".to_owned(),
            (None, false) => String::new(),
        };
        t.add_row([
            printable(&u.id).into_owned(),
            when(&u.leased, dated),
            u.leased.line.to_string(),
            u.age_secs.map_or("-".to_owned(), duration_text),
            u.request
                .as_deref()
                .map_or("-".to_owned(), |s| printable(s).into_owned()),
            u.status
                .as_deref()
                .map_or("-".to_owned(), |s| printable(s).into_owned()),
            note,
        ]);
    }
    writeln!(out, "  unreleased leases:")?;
    for line in t.to_string().lines() {
        writeln!(out, "    {}", line.trim_end())?;
    }
    if un.len() > show {
        writeln!(
            out,
            "    ... {} more (--show N, or --json for all)",
            un.len() - show
        )?;
    }
    Ok(())
}

fn moment_json(m: &Moment, rep: &PoolLogReport) -> Value {
    json!({
        "line": m.line,
        "time": m.secs.map(|s| clock_text(s, rep.dated)),
        "t": m.secs.zip(rep.first_secs).map(|(s, f)| round3(s - f)),
    })
}

fn opt_moment(m: &Option<Moment>, rep: &PoolLogReport) -> Value {
    m.as_ref().map_or(Value::Null, |m| moment_json(m, rep))
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn exchanges_json(v: &[Exchange]) -> Value {
    v.iter()
        .map(|e| json!({"request": e.request, "status": e.status, "count": e.count}))
        .collect()
}

fn route_json(r: &RouteReport, rep: &PoolLogReport) -> Value {
    let first = rep.first_secs.unwrap_or(0.0);
    json!({
        "route": r.route,
        "max_per_route": r.max_per_route,
        "max_total": r.max_total,
        "peak_allocated": r.peak_allocated,
        "peak_at": moment_json(&r.peak_at, rep),
        "requests": r.requests,
        "leases": r.leases,
        "releases": r.releases,
        "failed_leases": r.failed_leases,
        "discards": r.discards,
        "shutdowns": r.shutdowns,
        "closes": r.closes,
        "exhausted_requests": r.exhausted_requests,
        "first_exhausted": opt_moment(&r.first_exhausted, rep),
        "last_exhausted": opt_moment(&r.last_exhausted, rep),
        "pool_timeouts": r.pool_timeouts,
        "first_timeout": opt_moment(&r.first_timeout, rep),
        "stuck_at": opt_moment(&r.stuck_at, rep),
        "unreleased": r.unreleased.iter().map(|u| json!({
            "id": u.id,
            "leased": moment_json(&u.leased, rep),
            "age_secs": u.age_secs.map(round3),
            "request": u.request,
            "status": u.status,
            "outlived": u.outlived,
            "ended_by_shutdown": opt_moment(&u.ended_by_shutdown, rep),
        })).collect::<Value>(),
        "unreleased_summary": exchanges_json(&r.unreleased_summary),
        "released_summary": exchanges_json(&r.released_summary),
        "released_other": r.released_other,
        "leak_per_minute": r.leak_per_minute.map(round3),
        "exhaustion_in_secs": r.exhaustion_in_secs.map(round3),
        "verdict": r.verdict.as_str(),
        "reason": r.reason,
        "series": r.series.iter().map(|p| json!({
            "t": round3(p.secs - first),
            "leased": p.leased,
            "allocated": p.allocated,
        })).collect::<Value>(),
    })
}

/// The report as one JSON document (schema in docs/json.md, "pool-log JSON").
pub fn to_json(rep: &PoolLogReport, inputs: &[String]) -> Value {
    json!({
        "version": 1,
        "kind": KIND,
        "inputs": inputs,
        "verdict": rep.verdict.as_str(),
        "exit_code": rep.verdict.exit_code(),
        "reason": rep.reason,
        "lines": {
            "total": rep.lines,
            "pool": rep.pool_lines,
            "other_httpclient": rep.other_httpclient_lines,
            "unknown": rep.unknown_lines,
            "garbled": rep.garbled_lines,
            "garbled_samples": rep.garbled_samples.iter()
                .map(|(l, why)| json!({"line": l, "why": why})).collect::<Value>(),
        },
        "clock": {
            "dated": rep.dated,
            "first": rep.first_secs.map(|s| clock_text(s, rep.dated)),
            "last": rep.last_secs.map(|s| clock_text(s, rep.dated)),
            "span_secs": rep.first_secs.zip(rep.last_secs).map(|(a, b)| round3(b - a)),
        },
        "pool_timeouts": rep.pool_timeouts,
        "unattributed_timeouts": rep.unattributed_timeouts,
        "unmatched_releases": rep.unmatched_releases,
        "repeated_leases": rep.repeated_leases,
        "untracked_leases": rep.untracked_leases,
        "dropped_route_lines": rep.dropped_route_lines,
        "routes": rep.routes.iter().map(|r| route_json(r, rep)).collect::<Value>(),
    })
}
