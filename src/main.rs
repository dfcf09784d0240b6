//! The `certctl` binary: logging setup, argument parsing, and errors mapped to exit codes.

use std::process::ExitCode;

use certctl::cli::{self, Cli, Exit};
use clap::Parser;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Error
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // CERTCTL_LOG takes `tracing` target directives, e.g. `info` or `warn,certctl=debug`.
    let filter: Targets = std::env::var("CERTCTL_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| level.parse().unwrap_or_default());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    // Unlocked handles: they lock per write, so log lines from worker threads never wait on
    // a lock held here for the whole command.
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let tty = std::io::IsTerminal::is_terminal(&out);
    let mut session = cli::Session {
        out: &mut out,
        err: &mut err,
        tty,
        daemon: None,
    };
    let result = cli::run(&cli, &mut session);
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        // A closed pipe (`certctl list | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(Exit::Ok as u8)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(Exit::Error as u8)
        }
    }
}
