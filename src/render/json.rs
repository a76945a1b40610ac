//! The JSON document (schema version 1, see README "JSON schema").

use std::io::{self, Write};

use crate::model::report::Report;

/// Write `report` as one pretty-printed JSON document followed by a newline, with
/// at most `top` groups.
pub fn write(out: &mut dyn Write, report: &Report, top: Option<usize>) -> io::Result<()> {
    match top.filter(|t| *t < report.groups.len()) {
        Some(top) => {
            let mut cut = report.clone();
            cut.groups.truncate(top);
            serde_json::to_writer_pretty(&mut *out, &cut)?;
        }
        None => serde_json::to_writer_pretty(&mut *out, report)?,
    }
    out.write_all(b"\n")
}

/// Write `value` as one compact line (NDJSON), followed by a newline.
pub fn write_line<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    // One write call per line, so that a concurrent reader of an appended file never
    // sees half a line from us.
    out.write_all(&line)
}

/// One NDJSON line of `--watch --json` and `--record`: the v1 document plus the
/// sample number.
#[derive(serde::Serialize)]
struct SampleDoc<'a> {
    sample: u64,
    /// Seconds since the epoch with milliseconds: `time` has whole seconds only, and
    /// sub-second samples would plot as steps.
    unix_time: f64,
    /// `--pool-size`, so that `sockleak plot` can draw it without being told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pool_size: Option<u64>,
    #[serde(flatten)]
    report: &'a Report,
}

/// Sample `n` as one NDJSON line.
pub fn sample_line(n: u64, pool_size: Option<u64>, report: &Report) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    write_line(
        &mut v,
        &SampleDoc {
            sample: n,
            unix_time: report
                .taken_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0),
            pool_size,
            report,
        },
    )?;
    Ok(v)
}
