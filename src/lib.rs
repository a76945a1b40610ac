//! sockleak: find the process leaking TCP connections.
//!
//! Data flows one way: [`collect`] reads the kernel's socket table and the fd
//! tables, [`aggregate`] classifies, filters and groups, [`render`] writes the
//! result. [`snapshot`] wires them for one run.

pub mod aggregate;
pub mod check;
pub mod cli;
pub mod collect;
pub mod exit;
pub mod filter;
pub mod generate;
pub mod model;
pub mod output;
pub mod plot;
pub mod render;
pub mod serve;
pub mod snapshot;
pub mod watch;
