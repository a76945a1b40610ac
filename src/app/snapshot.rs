//! The default command: one snapshot, collected, aggregated and rendered in the
//! chosen format.

use anyhow::Result;

use crate::config::Snapshot;
use crate::exit;
use crate::output;
use crate::policy::{rank, verdict};

pub fn run(mut s: Snapshot) -> Result<i32> {
    let mut report = s.sampler.take()?;
    verdict::attach(&mut report, &s.verdicts);
    rank::worst_first(&mut report);
    let readers = output::Readers::for_peek(s.sampler.peek.is_some());
    output::emit(
        s.output_file.as_deref(),
        readers,
        &s.renderer.render(&report)?,
    )?;
    // After the table, next to the footer, where they are read; the machine
    // formats carry them inside.
    if s.renderer.warns_on_stderr() {
        crate::output::to_stderr(&s.warnings.lines(&report.warnings));
    }
    Ok(exit::OK)
}
