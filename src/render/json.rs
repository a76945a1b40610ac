//! The JSON document (schema version 1, see README "JSON schema").

use std::io::{self, Write};

use crate::aggregate::Report;

/// Write `report` as one pretty-printed JSON document followed by a newline.
pub fn write(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
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
