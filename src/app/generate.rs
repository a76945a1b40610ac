//! `sockleak completions SHELL` and `sockleak man`: the shell completion script and
//! the man page, generated from the clap definition itself so that they never drift
//! from the flags.

use std::io::{self, Write};

use anyhow::Result;
use clap::CommandFactory;

use crate::config::cli::Cli;
use crate::config::generate;
use crate::exit;

pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let out = &mut io::stdout().lock();
    generate::completions(shell, &mut Cli::command(), out)?;
    out.flush()?;
    Ok(exit::OK)
}

pub fn man() -> Result<i32> {
    let out = &mut io::stdout().lock();
    generate::man(&Cli::command(), out)?;
    out.flush()?;
    Ok(exit::OK)
}
