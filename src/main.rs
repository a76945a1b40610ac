//! Entry point: parse arguments, build the config once, dispatch once, map errors
//! to exit codes.

use std::io::Write;

use clap::Parser;
use clap::error::ErrorKind;

use sockleak::config::Config;
use sockleak::config::cli::{self, Cli};
use sockleak::{app, exit};

fn main() {
    // Before anything opens a file: the fd scan and `serve` need room (issue 17).
    sockleak::collect::raise_fd_limit();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(parse_error(&e)),
    };
    // A Nagios plugin answers on stdout even for a bad flag, or Nagios shows
    // "(No output returned from plugin)".
    let nagios = cli.is_nagios_check();
    let result = Config::from_cli(cli).and_then(app::run);
    std::process::exit(match result {
        Ok(code) => code,
        Err(e) if exit::is_broken_pipe(&e) => exit::OK,
        Err(e) if nagios => {
            let _ = std::io::stdout().write_all(app::check::unknown(&e).as_bytes());
            exit::FAILURE
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sockleak: error: {e:#}");
            exit::FAILURE
        }
    });
}

/// Print clap's message (and for `-o nagios` an UNKNOWN line); the exit code.
fn parse_error(e: &clap::Error) -> i32 {
    let _ = e.print();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return exit::OK;
    }
    if cli::wants_nagios(std::env::args_os()) {
        let _ = writeln!(
            std::io::stdout().lock(),
            "SOCKLEAK UNKNOWN - {}",
            sockleak::render::check::plugin_text(&cli::one_line_reason(e))
        );
    }
    exit::FAILURE
}
