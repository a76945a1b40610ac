//! `sockleak pool-log`: reads Apache HttpClient's DEBUG log (4.x and 5.x pool and
//! connection lines) and names the route whose leases never come back, and the
//! request and response those leases carried.
//!
//! [`parse`] recognises lines and [`analyze`] keeps the per-route state and draws
//! the verdict (both pure); [`read_log`] feeds them a log (plain or `.gz`) in one
//! streaming pass. It sits beside the socket collection: another input read and
//! judged. `render::pool_log` writes the table or JSON, `app::pool_log` is the
//! command, and `app::plot` draws a pool-log JSON document.

pub mod analyze;
pub mod parse;

use std::io::{self, BufRead, BufReader, Read};

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

use analyze::Analyzer;

pub use crate::model::pool_log::KIND;

/// A line longer than this is cut (the rest skipped): a file without newlines
/// must not make one line hold the whole file.
pub const MAX_LINE: usize = 64 * 1024;

/// Feed every line of `input` (gzip, by its magic bytes, is decompressed) to `an`.
pub fn read_log(input: impl Read, an: &mut Analyzer) -> Result<()> {
    let mut r = BufReader::with_capacity(256 * 1024, input);
    let gz = r
        .fill_buf()
        .context("cannot read it")?
        .starts_with(&[0x1f, 0x8b]);
    if gz {
        let mut dec = BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(r));
        for_each_line(&mut dec, an).context("cannot decompress it (a .gz cut short?)")
    } else {
        for_each_line(&mut r, an).context("cannot read it")
    }
}

/// Split into lines of at most [`MAX_LINE`] bytes without reading the file whole.
fn for_each_line(r: &mut impl BufRead, an: &mut Analyzer) -> io::Result<()> {
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut cut = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if !line.is_empty() || cut {
                feed(&line, an);
            }
            return Ok(());
        }
        let (chunk, used, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        cut |= chunk.len() > room;
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        r.consume(used);
        if end {
            feed(&line, an);
            line.clear();
            cut = false;
        }
    }
}

fn feed(line: &[u8], an: &mut Analyzer) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(s) => an.line(s),
        Err(_) => an.line(&String::from_utf8_lossy(line)),
    }
}
