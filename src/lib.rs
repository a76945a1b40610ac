//! sockleak: find the process leaking TCP connections.
//!
//! The crate is built in one-way layers: each module uses only itself and the
//! layers below it (`tests/layers.rs` holds this table and fails on an upward
//! `use crate::`), and the commands never use each other.
//!
//! | layer | modules | what it is |
//! |---|---|---|
//! | 0 base | [`model`], [`exit`], [`output`] | plain data (states, sockets, processes, the report, watch stats, warnings), exit codes, atomic file output |
//! | 1 collect | [`collect`], [`filter`], [`poollog`] | reading the kernel's tables and the fd tables; socket and owner filters; reading and judging HttpClient pool logs |
//! | 2 report | [`report`] | aggregation into groups keyed by `--by`; the [`sample::Sampler`] every command samples with |
//! | 3 policy | [`policy`] | threshold levels and the `--watch` tracker: pure judgements of reports |
//! | 4 render | [`render`] | table, JSON, Prometheus, check lines, Nagios, watch frames: one file per format |
//! | 5 config | [`config`] | clap flags ([`config::cli`]) turned once into a validated [`config::Config`] |
//! | 6 app | [`app`] | the commands: snapshot, check, watch, serve, plot, pool-log (siblings) |
//!
//! `main.rs` parses, builds the config once, dispatches once and maps errors to
//! exit codes. ARCHITECTURE.md maps every JSON field and table column to the
//! function that computes it.

pub mod app;
pub mod collect;
pub mod config;
pub mod exit;
pub mod filter;
pub mod model;
pub mod output;
pub mod policy;
pub mod poollog;
pub mod render;
pub mod report;
pub mod sample;
