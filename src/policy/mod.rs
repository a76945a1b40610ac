//! Policy: how a report is judged. Threshold levels for checks and the `--watch`
//! tracker's flags, and what `--watch` ranks first and alerts on beyond them. Pure functions of reports: no I/O, no clock of their own.

pub mod levels;
pub mod pool;
pub mod rank;
pub mod tracker;
pub mod verdict;
