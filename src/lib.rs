//! sockleak: find the process leaking TCP connections.
//!
//! The crate is built in one-way layers: each module uses only itself and the
//! layers below it, and the commands never use each other. This table is the one
//! place the layers are written: `tests/it/docs/layers.rs` reads it (the `modules`
//! column) and fails on an upward `use crate::`, on I/O in the pure layers
//! (report, policy, render), and on `render` using anything of the crate but
//! `model`.
//!
//! | layer | modules | what it is |
//! |---|---|---|
//! | 0 base | [`model`], [`exit`], [`output`] | plain data (states, sockets, processes, the report, check and pool-log outcomes, watch stats, warnings), exit codes, atomic file output and the terminal's size |
//! | 1 collect | [`collect`], [`filter`], [`poollog`] | reading the kernel's tables and the fd tables, peeks and the recorder's map; socket and owner filters; reading and judging HttpClient pool logs |
//! | 2 report | [`report`] | aggregation into groups keyed by `--by`, peek plans and their outcomes folded in: pure, no I/O |
//! | 3 policy | [`policy`] | threshold levels, pools, verdicts and the `--watch` tracker: pure judgements attached to reports |
//! | 4 render | [`render`] | table, JSON, Prometheus, check lines, Nagios, watch frames, pool-log reports: one file per format, reading only [`model`] |
//! | 5 sample | [`sample`] | the [`sample::Sampler`] every command samples with: collect, aggregate, peek, join the recorder (where a sample's I/O is driven) |
//! | 6 config | [`config`] | clap flags ([`config::cli`]) turned once into a validated [`config::Config`] |
//! | 7 app | [`app`] | the commands: snapshot, check, watch, serve, plot, pool-log, trace, generate (siblings) |
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
