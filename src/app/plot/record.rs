//! Reading a `--record` file: NDJSON samples of `--watch`, line by line and never
//! trusted. A line that is not a sample (half-written at a crash, or from another
//! file) is reported by number and skipped.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::LazyLock;
use std::time::SystemTime;

use serde_json::Value;

use crate::model::Direction;
use crate::model::TcpState;
use crate::model::escape;
use crate::model::report::{Attribution, GroupKey, RemoteKey, group_identity_fields};
use crate::model::unix::UnixName;

/// One line of the chart: a group's counts over time (or a pool-log route's).
#[derive(Debug, Clone, PartialEq)]
pub struct PlotLine {
    pub label: String,
    /// (seconds since the first sample, count)
    pub points: Vec<(f64, u64)>,
    pub peak: u64,
    /// The group's own pool (`watch.pool_size` of its latest sample that had one).
    pub pool: Option<u64>,
    /// What `plot --pool-size ENDPOINT=N` matches the group by: its ownership,
    /// direction and endpoints as recorded (the rest unknown).
    pub key: GroupKey,
    /// Drawn wide and pale under the other lines, so that a line equal to it
    /// stays visible on top (a pool log's allocated connections under its
    /// leases).
    pub wide: bool,
}

/// What a record file holds, and which of its lines were not samples.
#[derive(Debug, Default)]
pub struct Record {
    pub start: Option<SystemTime>,
    pub samples: usize,
    pub series: Vec<PlotLine>,
    pub pool_size: Option<u64>,
    /// (line number, why) of the first [`BAD_LINES_KEPT`] lines that were not
    /// samples: memory stays bounded on any input.
    pub bad_lines: Vec<(usize, String)>,
    /// How many lines were not samples, those kept included.
    pub bad_count: usize,
}

/// Bad lines kept with their reason; the rest are only counted.
pub const BAD_LINES_KEPT: usize = 20;

impl Record {
    fn bad(&mut self, line: usize, why: String) {
        self.bad_count += 1;
        if self.bad_lines.len() < BAD_LINES_KEPT {
            // The reason may quote the input: escaped and cut for the terminal.
            let why = crate::model::printable(&why).chars().take(200).collect();
            self.bad_lines.push((line, why));
        }
    }
}

/// The fields of a group object that identify it, from the `--by` vocabulary.
static IDENTITY: LazyLock<Vec<&'static str>> = LazyLock::new(group_identity_fields);

/// A stable identity for a group across samples, and a label for the legend.
fn group_identity(g: &Value, by_container: bool) -> (String, String) {
    let f = |k: &str| match &g[k] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    };
    let id = IDENTITY
        .iter()
        .map(|k| f(k).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|");
    let mut label = Vec::new();
    // A record is any file: even what sockleak writes as numbers is escaped.
    let text = |s: String| escape::text(&s).into_owned();
    if let Some(p) = f("pid") {
        label.push(text(p));
    }
    // Names are other processes' text, each escaped as the table escapes it:
    // control characters would break the SVG (XML allows none) and the terminal;
    // plotters escapes `<` and `&` itself.
    let name = |s: String| escape::name(s.as_bytes());
    match (f("process"), f("attribution").as_deref()) {
        (Some(p), _) => label.push(name(p)),
        (None, Some("unowned")) => label.push("(unowned)".into()),
        (None, Some("unattributed")) => label.push("(unattributed)".into()),
        _ => {}
    }
    if g["pid"].is_null() {
        if let Some(u) = f("user") {
            label.push(name(u));
        }
        // Without a pid, the container is what tells groups apart (--by container).
        if let Some(c) = container_label(&g["container"]) {
            label.push(text(c));
        }
    }
    let end = |s: String| match unix_name(g) {
        Some(n) => n.to_string(),
        None => text(s),
    };
    match (f("local").map(end), f("remote").map(end)) {
        (Some(l), None) => label.push(format!("<- {l}")),
        (None, Some(r)) => label.push(format!("-> {r}")),
        (Some(l), Some(r)) => label.push(format!("{l} <- {r}")),
        _ => {}
    }
    if let Some(s) = f("state") {
        label.push(text(s));
    }
    if label.is_empty() {
        label.push(match f("netns") {
            _ if by_container => "(no container)".to_string(),
            Some(ns) => format!("netns {}", text(ns)),
            None => "*".to_string(),
        });
    }
    (id, label.join(" "))
}

/// A unix group's name from its exact bytes (`unix_name_hex`), when the JSON
/// text alone does not give them.
fn unix_name(g: &Value) -> Option<UnixName> {
    let hex = g["unix_name_hex"].as_str()?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some(UnixName::from_kernel(&bytes?))
}

/// `docker 3f2a9c1b7d4e`, as the table's CONTAINER column names it.
fn container_label(c: &Value) -> Option<String> {
    let runtime = c["runtime"].as_str()?;
    let short: String = match c["name"].as_str() {
        Some(n) if runtime == "lxc" => n.to_string(),
        _ => c["id"].as_str()?.chars().take(12).collect(),
    };
    Some(format!("{runtime} {short}"))
}

/// One sample line: its time and groups, or why it is not one.
struct Sample<'a> {
    time: SystemTime,
    pool_size: Option<u64>,
    groups: &'a [Value],
    /// Whether `--by container` made the groups (a group without one is then the
    /// processes in no container).
    by_container: bool,
}

fn parse_sample(v: &Value) -> Result<Sample<'_>, String> {
    let (Some(1), Some(time), Some(groups)) = (
        v["version"].as_u64(),
        v["time"].as_str(),
        v["groups"].as_array(),
    ) else {
        return Err("not a sockleak sample (needs version 1, time, groups)".into());
    };
    let t = humantime::parse_rfc3339(time).map_err(|_| {
        let shown: String = time.chars().take(64).collect();
        format!("bad time '{shown}'")
    })?;
    // Prefer the millisecond `unix_time` of watch samples over the whole-second `time`.
    let t = v["unix_time"]
        .as_f64()
        .filter(|u| u.is_finite() && *u > 0.0 && *u < 1e11)
        .map_or(t, |u| {
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(u)
        });
    Ok(Sample {
        time: t,
        pool_size: v["pool_size"].as_u64(),
        groups,
        by_container: v["group_by"]
            .as_array()
            .is_some_and(|b| b.iter().any(|k| k == "container")),
    })
}

/// One group's series being built: its label, points, latest pool and key.
struct PartialLine(String, Vec<(f64, u64)>, Option<u64>, GroupKey);

/// The part of a group's key a pool rule looks at, from its JSON object.
fn key_of(g: &Value) -> GroupKey {
    let remote = g["remote"].as_str().and_then(|r| {
        r.parse()
            .map(RemoteKey::Endpoint)
            .or_else(|_| r.parse().map(RemoteKey::Host))
            .ok()
    });
    GroupKey {
        attribution: match g["attribution"].as_str() {
            Some("unowned") => Some(Attribution::Unowned),
            Some("unattributed") => Some(Attribution::Unattributed),
            _ => Some(Attribution::Process),
        },
        direction: match g["direction"].as_str() {
            Some("inbound") => Some(Direction::Inbound),
            Some("outbound") => Some(Direction::Outbound),
            Some("listen") => Some(Direction::Listen),
            _ => None,
        },
        local: g["local"].as_str().and_then(|l| l.parse().ok()),
        remote,
        proto: match g["proto"].as_str() {
            Some("unix") => crate::model::unix::Proto::Unix,
            _ => crate::model::unix::Proto::Tcp,
        },
        ..GroupKey::default()
    }
}

/// Lines being built, in the order groups first appear.
#[derive(Default)]
struct Builder {
    by_id: HashMap<String, PartialLine>,
    order: Vec<String>,
}

impl Builder {
    fn add(&mut self, x: f64, s: &Sample, metric: TcpState) {
        let mut seen = std::collections::HashSet::new();
        for g in s.groups {
            let (id, label) = group_identity(g, s.by_container);
            let count = g["states"][metric.snake()].as_u64().unwrap_or(0);
            let entry = self.by_id.entry(id.clone()).or_insert_with(|| {
                self.order.push(id.clone());
                PartialLine(label, Vec::new(), None, key_of(g))
            });
            if let Some(pool) = g["watch"]["pool_size"].as_u64() {
                entry.2 = Some(pool);
            }
            // A group listed twice in one sample (should not happen) counts once.
            if seen.insert(id) {
                entry.1.push((x, count));
            }
        }
        // A group missing from a sample had nothing matching: it is at zero then.
        for id in &self.order {
            if !seen.contains(id) {
                let e = self.by_id.get_mut(id).expect("ordered ids exist");
                if e.1.last().is_some_and(|(t, _)| *t < x) {
                    e.1.push((x, 0));
                }
            }
        }
    }

    fn finish(mut self) -> Vec<PlotLine> {
        self.order
            .into_iter()
            .filter_map(|id| self.by_id.remove(&id))
            .map(|PartialLine(label, points, pool, key)| PlotLine {
                peak: points.iter().map(|(_, c)| *c).max().unwrap_or(0),
                label,
                points,
                pool,
                key,
                wide: false,
            })
            .collect()
    }
}

/// Parse a record (NDJSON samples of `--watch --json/--record`).
pub fn read_record(input: impl BufRead, metric: TcpState) -> Record {
    let mut rec = Record::default();
    let mut series = Builder::default();
    for (i, line) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                rec.bad(n, format!("read error: {e}"));
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                rec.bad(n, format!("not JSON ({e})"));
                continue;
            }
        };
        let sample = match parse_sample(&v) {
            Ok(s) => s,
            Err(why) => {
                rec.bad(n, why);
                continue;
            }
        };
        let start = *rec.start.get_or_insert(sample.time);
        let x = sample
            .time
            .duration_since(start)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if rec.pool_size.is_none() {
            rec.pool_size = sample.pool_size;
        }
        series.add(x, &sample, metric);
        rec.samples += 1;
    }
    rec.series = series.finish();
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(time: &str, groups: &str) -> String {
        format!("{{\"version\":1,\"sample\":1,\"time\":\"{time}\",\"groups\":[{groups}]}}\n")
    }

    #[test]
    fn reads_samples_and_reports_bad_lines() {
        let g = |n: u64| {
            format!(
                "{{\"pid\":7,\"process\":\"x\",\"remote\":\"10.0.0.1:5432\",\"states\":{{\"close_wait\":{n}}}}}"
            )
        };
        let mut text = String::new();
        text += &sample("2026-01-01T00:00:00Z", &g(1));
        text += "garbage\n";
        text += &sample("2026-01-01T00:00:02Z", &g(3));
        text += "{\"foreign\": true}\n";
        text += &sample("2026-01-01T00:00:04Z", "");
        text += &sample("2026-01-01T00:00:06Z", &g(5))[..30]; // torn last line
        let rec = read_record(text.as_bytes(), TcpState::CloseWait);
        assert_eq!(rec.samples, 3);
        assert_eq!(
            rec.bad_lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![2, 4, 6]
        );
        assert_eq!(rec.series.len(), 1);
        assert_eq!(rec.series[0].label, "7 x -> 10.0.0.1:5432");
        assert_eq!(rec.series[0].points, vec![(0.0, 1), (2.0, 3), (4.0, 0)]);
        assert_eq!(rec.series[0].peak, 3);
    }

    #[test]
    fn a_path_named_like_a_label_is_its_own_series() {
        let g = |extra: &str| {
            format!(
                "{{\"pid\":7,\"process\":\"(x)\",\"remote\":\"(socketpair)\",{extra}\"states\":{{\"close_wait\":1}}}}"
            )
        };
        let groups = [g(""), g("\"unix_name_hex\":\"28736f636b65747061697229\",")].join(",");
        let rec = read_record(
            sample("2026-01-01T00:00:00Z", &groups).as_bytes(),
            TcpState::CloseWait,
        );
        let mut labels: Vec<_> = rec.series.iter().map(|s| s.label.as_str()).collect();
        labels.sort_unstable();
        assert_eq!(
            labels,
            ["7 \\x28x) -> (socketpair)", "7 \\x28x) -> \\x28socketpair)"]
        );
    }

    #[test]
    fn tcp_and_unix_groups_alike_in_every_other_field_are_two_series() {
        let g = |proto: &str| {
            format!(
                "{{\"pid\":7,\"process\":\"x\",\"proto\":\"{proto}\",\"states\":{{\"close_wait\":1}}}}"
            )
        };
        let groups = [g("tcp"), g("unix")].join(",");
        let rec = read_record(
            sample("2026-01-01T00:00:00Z", &groups).as_bytes(),
            TcpState::CloseWait,
        );
        assert_eq!(rec.series.len(), 2);
    }

    #[test]
    fn random_bytes_never_panic() {
        let base = sample(
            "2026-01-01T00:00:00Z",
            "{\"pid\":1,\"states\":{\"close_wait\":2}}",
        );
        let mut seed = 0x9E3779B97F4A7C15u64;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = base.clone().into_bytes();
            let i = (seed as usize) % b.len();
            b[i] = (seed >> 40) as u8;
            b.truncate(((seed >> 20) as usize) % (b.len() + 1));
            let _ = read_record(b.as_slice(), TcpState::CloseWait);
        }
    }
}
