//! `sockleak pool-log`: reads Apache HttpClient's DEBUG log (4.x and 5.x pool and
//! connection lines) and names the route whose leases never come back, and the
//! request and response those leases carried.
//!
//! [`parse`] recognises lines and [`analyze`] keeps the per-route state and draws
//! the verdict (both pure); this module reads the files (plain, `.gz`, or stdin) in
//! one streaming pass, and [`render`] writes the table or JSON. [`plot`] turns a
//! pool-log JSON document into `sockleak plot`'s series.

pub mod analyze;
pub mod parse;
pub mod plot;
pub mod render;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

use crate::cli::PoolLogArgs;
use crate::exit::UsageError;
use analyze::Analyzer;

/// A line longer than this is cut (the rest skipped): a file without newlines
/// must not make one line hold the whole file.
pub const MAX_LINE: usize = 64 * 1024;

pub fn run(args: &PoolLogArgs) -> Result<i32> {
    let mut an = Analyzer::new();
    let mut names = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let input: Box<dyn Read> = if name == "-" {
            Box::new(io::stdin().lock())
        } else {
            let f = File::open(path).map_err(|e| {
                UsageError(format!(
                    "{name}: cannot read it: {e} (give an HttpClient DEBUG log, or - for stdin)"
                ))
            })?;
            Box::new(f)
        };
        read_log(input, &mut an).map_err(|e| UsageError(format!("{name}: {e:#}")))?;
        names.push(name);
    }
    let rep = an.finish();
    let mut out = io::stdout().lock();
    if args.json {
        // Serialised first: a closed pipe is then an io::Error (quietly exit 0).
        let text = serde_json::to_string_pretty(&render::to_json(&rep, &names))?;
        writeln!(out, "{text}")?;
    } else {
        render::write_table(&mut out, &rep, &names, args.show)?;
    }
    out.flush()?;
    Ok(rep.verdict.exit_code())
}

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
