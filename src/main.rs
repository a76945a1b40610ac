//! Entry point: parse arguments, dispatch, map errors to exit codes.

use std::io::Write;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use sockleak::cli::{Cli, Command};
use sockleak::exit;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::OK,
                _ => exit::FAILURE,
            };
            // A Nagios plugin answers on stdout even for a bad argument, or Nagios
            // shows "(No output returned from plugin)".
            if code == exit::FAILURE && sockleak::cli::wants_nagios(std::env::args_os()) {
                // clap's message without its usage and help hints, on one line
                // ("...not provided:" is followed by the argument's name).
                let detail = e.to_string();
                let why: Vec<&str> = detail
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                    .filter(|l| !l.is_empty())
                    .collect();
                let why = why.join(" ");
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "SOCKLEAK UNKNOWN - {}",
                    sockleak::check::plugin_text(why.trim_start_matches("error: "))
                );
            }
            std::process::exit(code);
        }
    };
    let result = match &cli.command {
        None => match cli.watch.watch {
            Some(interval) => sockleak::watch::run(&cli, interval),
            None => sockleak::snapshot::run(&cli),
        },
        Some(Command::Serve(args)) => sockleak::serve::run(args),
        Some(Command::Plot(args)) => sockleak::plot::run(args),
        Some(Command::Completions { shell }) => {
            let out = &mut std::io::stdout().lock();
            sockleak::generate::completions(*shell, &mut Cli::command(), out)
                .map(|()| exit::OK)
                .map_err(Into::into)
        }
        Some(Command::Man) => {
            let out = &mut std::io::stdout().lock();
            sockleak::generate::man(&Cli::command(), out)
                .map(|()| exit::OK)
                .map_err(Into::into)
        }
    };
    std::process::exit(match result {
        Ok(code) => code,
        Err(e) if exit::is_broken_pipe(&e) => exit::OK,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sockleak: error: {e:#}");
            exit::FAILURE
        }
    });
}
