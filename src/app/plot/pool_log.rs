//! `sockleak plot` of a pool-log JSON document: per route, the leases not yet
//! released and the pool's allocated connections over time, against the route's
//! limit. Only the conversion lives here; [`super::chart`] draws.

use std::io::BufReader;
use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::record::PlotLine;
use crate::poollog::KIND;

/// What `sockleak plot` draws for a pool log.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPlot {
    pub series: Vec<PlotLine>,
    /// The largest per-route limit, drawn as the pool line.
    pub limit: Option<u64>,
    /// The log's first timestamp as written (its zone is not known).
    pub since: Option<String>,
}

/// The chart's words for a pool log.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    pub caption: String,
    pub y_desc: String,
    pub since: String,
}

impl PoolPlot {
    pub fn labels(&self) -> Labels {
        Labels {
            caption: "sockleak pool-log: HttpClient connections per route".to_owned(),
            y_desc: "connections".to_owned(),
            since: self
                .since
                .clone()
                .unwrap_or_else(|| "the log's first timestamp".to_owned()),
        }
    }
}

/// The file's first JSON value, when it is a pool-log document; `None` for anything
/// else (a `--record` file's first sample has no `kind`).
pub fn load(path: &Path) -> Result<Option<PoolPlot>> {
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(None); // the caller reports the unreadable file
    };
    let mut it = serde_json::Deserializer::from_reader(BufReader::new(f)).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) if v["kind"] == KIND => Ok(Some(from_json(&v)?)),
        _ => Ok(None),
    }
}

/// Turn a pool-log document into plot series: `ROUTE leased` and `ROUTE allocated`.
pub fn from_json(v: &Value) -> Result<PoolPlot> {
    if v["version"].as_u64() != Some(1) {
        anyhow::bail!(
            "a pool-log document of version {} (this sockleak reads version 1)",
            v["version"]
        );
    }
    let mut series = Vec::new();
    let mut limit: Option<u64> = None;
    for r in v["routes"].as_array().into_iter().flatten() {
        let route = r["route"].as_str().unwrap_or("?");
        if let Some(m) = r["max_per_route"].as_u64() {
            limit = Some(limit.map_or(m, |l| l.max(m)));
        }
        for what in ["leased", "allocated"] {
            let points: Vec<(f64, u64)> = r["series"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p["t"].as_f64()?, p[what].as_u64()?)))
                .collect();
            if points.is_empty() {
                continue;
            }
            series.push(PlotLine {
                label: crate::model::printable(&format!("{route} {what}")).into_owned(),
                peak: points.iter().map(|(_, c)| *c).max().unwrap_or(0),
                points,
                // Each route against its own limit.
                pool: r["max_per_route"].as_u64(),
                key: Default::default(),
                // Allocated >= leased: a leak has them equal, and the leases
                // must stay visible on top.
                wide: what == "allocated",
            });
        }
    }
    if series.is_empty() {
        anyhow::bail!(
            "the pool log has no points over time (its log had no timestamps, or no pool lines)"
        );
    }
    Ok(PoolPlot {
        series,
        limit,
        since: v["clock"]["first"]
            .as_str()
            .map(|s| format!("{s} (the log's clock)")),
    })
}
