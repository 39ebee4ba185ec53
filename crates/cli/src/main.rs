//! The `marketcache` binary: the composition root. It parses the command line, resolves
//! settings, and is the only place that picks concrete stores and providers.

#[macro_use]
mod output;
mod args;
mod command_line;
mod commands;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use marketcache_config::{OpenError, UsageError, dotenv, settings, usage, wiring};

fn init_tracing(verbosity: u8) {
    let default_level = match verbosity {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colour codes are for a person at a terminal; in a file or a pipe they are noise.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = command_line::parse();
    if let Err(error) = dotenv::load(std::path::Path::new(".env")) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            let opening_usage =
                matches!(error.downcast_ref::<OpenError>(), Some(OpenError::Usage(_)));
            if opening_usage || error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
