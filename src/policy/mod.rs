//! Policy: how a report is judged. Threshold levels for checks and the `--watch`
//! tracker's flags. Pure functions of reports: no I/O, no clock of their own.

pub mod levels;
pub mod pool;
pub mod tracker;
