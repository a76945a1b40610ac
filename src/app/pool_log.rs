//! `sockleak pool-log`: read Apache HttpClient's DEBUG logs in one streaming pass,
//! and say which route's leases never come back, which request they carried, and
//! the verdict as the exit code (0 healthy, 1 leak, 2 exhausted, 3 not enough data
//! or unreadable input).

use std::fs::File;
use std::io::{self, Read, Write};

use anyhow::Result;

use crate::config::PoolLog;
use crate::exit::UsageError;
use crate::poollog::{self, analyze::Analyzer};
use crate::render::pool_log as render;

pub fn run(c: PoolLog) -> Result<i32> {
    let mut an = Analyzer::new();
    let mut names = Vec::new();
    for path in &c.files {
        let name = crate::model::printable(&path.display().to_string()).into_owned();
        let input: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(io::stdin().lock())
        } else {
            let f = File::open(path).map_err(|e| {
                UsageError(format!(
                    "{name}: cannot read it: {e} (give an HttpClient DEBUG log, or - for stdin)"
                ))
            })?;
            Box::new(f)
        };
        poollog::read_log(input, &mut an).map_err(|e| UsageError(format!("{name}: {e:#}")))?;
        names.push(name);
    }
    let rep = an.finish();
    let mut out = io::stdout().lock();
    if c.json {
        // Serialised first: a closed pipe is then an io::Error (quietly exit 0).
        let text = serde_json::to_string_pretty(&render::to_json(&rep, &names))?;
        writeln!(out, "{text}")?;
    } else {
        render::write_table(&mut out, &rep, &names, c.show)?;
    }
    out.flush()?;
    Ok(rep.verdict.exit_code())
}
