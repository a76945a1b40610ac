//! The JSON document (schema version 1, see docs/json.md).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use crate::model::escape;
use crate::model::report::Report;

/// Write `report` as one pretty-printed JSON document followed by a newline, with
/// at most `top` groups.
pub fn write(out: &mut dyn Write, report: &Report, top: Option<usize>) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, Safe(PrettyFormatter::new()));
    match top.filter(|t| *t < report.groups.len()) {
        Some(top) => {
            let mut cut = report.clone();
            cut.groups.truncate(top);
            cut.serialize(&mut ser)?;
        }
        None => report.serialize(&mut ser)?,
    }
    out.write_all(b"\n")
}

/// A JSON formatter that also escapes DEL and the C1 controls (U+007F to U+009F),
/// and the characters `model::escape` makes visible (format characters such as
/// U+202E, line separators, spaces but U+0020), which serde_json writes raw: JSON
/// allows them, but a terminal showing `sockleak --json` would act on them (0x9b
/// is a CSI) or reorder the line, and names are other processes' text. The
/// string read back is the same. Everything else is the wrapped formatter's.
struct Safe<F>(F);

impl<F: Formatter> Formatter for Safe<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in s.char_indices() {
            if ('\u{7f}'..='\u{9f}').contains(&ch) || escape::is_invisible(ch) {
                w.write_all(&s.as_bytes()[start..i])?;
                // Above U+FFFF (tags, musical format characters): a surrogate pair.
                for unit in ch.encode_utf16(&mut [0; 2]) {
                    write!(w, "\\u{:04x}", unit)?;
                }
                start = i + ch.len_utf8();
            }
        }
        w.write_all(&s.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Write `value` as one compact line (NDJSON), followed by a newline.
pub fn write_line<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut line = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut line,
        Safe(CompactFormatter),
    ))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn del_and_c1_controls_are_escaped() {
        let mut out = Vec::new();
        write_line(
            &mut out,
            &serde_json::json!({"p": "a\u{9b}2J\u{7f}\u{1b}é"}),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "{\"p\":\"a\\u009b2J\\u007f\\u001bé\"}\n");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back["p"], "a\u{9b}2J\u{7f}\u{1b}é",
            "the same string, read back"
        );
    }

    #[test]
    fn format_characters_are_escaped_and_read_back_the_same() {
        let raw = "a\u{202e}b\u{2028}c\u{e0041}d\u{a0}";
        let mut out = Vec::new();
        write_line(&mut out, &serde_json::json!({ "p": raw })).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"p\":\"a\\u202eb\\u2028c\\udb40\\udc41d\\u00a0\"}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["p"], raw);
    }
}
